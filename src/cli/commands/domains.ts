import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { addDomainSchema, addEmailSchema, type DomainView } from '../../modules/domains/schemas.js';
import { seg } from '../api-client.js';
import { action, type CliContext } from '../context.js';
import { printRecord } from '../output.js';
import type { Tone } from '../style.js';
import { parseOrThrow } from './aws.js';

const CHECK: Record<string, string> = {
  ok: 'OK',
  mismatch: 'DIFFERENT',
  missing: 'MISSING',
  lookup_failed: 'LOOKUP FAILED',
};
const CHECK_TONE: Record<string, Tone> = { OK: 'pass', DIFFERENT: 'fail', MISSING: 'fail', 'LOOKUP FAILED': 'warn' };

function printDomain(ctx: CliContext, d: DomainView): void {
  ctx.out.result(d, () => {
    printDomainHuman(ctx, d);
    if (d.sendDomainsChanged) {
      ctx.out.line();
      ctx.out.line(`Note: ${d.sendDomainsChanged.message}`);
      if (d.sendDomainsChanged.before.length === 0)
        ctx.out.line(
          `To allow more domains, add and verify them too (sesame domains add <domain> --connection ${d.sendDomainsChanged.connection}).`,
        );
    }
  });
}

function printDomainHuman(ctx: CliContext, d: DomainView): void {
  printRecord(ctx.out, {
    id: d.id,
    [d.kind === 'email' ? 'address' : 'domain']: d.name,
    status: d.status,
    DKIM:
      d.kind === 'domain' ? `${d.dkim.status} (${d.dkim.origin === 'EXTERNAL' ? 'your own key' : 'Easy DKIM'})` : null,
    'MAIL FROM': d.mailFrom.domain ? `${d.mailFrom.domain} (${d.mailFrom.status})` : null,
    origin: d.origin,
    'last checked': d.checkedAt,
    'next check': d.nextCheckAt,
  });
  if (d.kind === 'email') {
    if (d.status !== 'verified')
      ctx.out.line(
        `SES sent a verification email to ${d.name}: click its link, then run \`sesame domains verify ${d.name}\`.`,
      );
    return;
  }
  ctx.out.line();
  ctx.out.table(
    d.records.map((r) => ({
      check: r.check ? (CHECK[r.check.status] ?? r.check.status) : '-',
      type: r.type,
      name: r.name,
      value: r.type === 'MX' ? `${r.priority} ${r.value}` : r.value,
      found: r.check && r.check.status !== 'ok' && r.check.found.length ? r.check.found.join(' | ') : '',
      need: r.required ? 'required' : 'recommended',
    })),
    [
      { key: 'check', label: 'CHECK', tone: (v) => CHECK_TONE[v] },
      { key: 'type', label: 'TYPE' },
      { key: 'name', label: 'NAME' },
      { key: 'value', label: 'VALUE TO PUBLISH' },
      { key: 'found', label: 'FOUND INSTEAD' },
      { key: 'need', label: '' },
    ],
  );
  for (const p of d.problems) ctx.out.warn(`${p.name}: ${p.message} ${p.hint}`.trim());
  const dmarc = d.records.find((r) => r.purpose === 'dmarc');
  if (dmarc?.note) ctx.out.line(`DMARC: ${dmarc.note}`);
  ctx.out.line();
  ctx.out.line('As a zone-file snippet, ready to paste:');
  ctx.out.line(d.zone.trimEnd());
}

export function domainsCommand(): Command {
  const cmd = new Command('domains').description(
    'sending domains and addresses: SES identities, the DNS records to publish, their checks',
  );
  cmd
    .command('add <domain>')
    .description(
      'create the SES identity (Easy DKIM, custom MAIL FROM) and print the records to publish; an address adds an email identity',
    )
    .requiredOption('--connection <connection>', 'the connection whose SES account holds the identity')
    .option('--mail-from <label>', 'MAIL FROM subdomain label', 'mail')
    .option('--no-mail-from', 'no custom MAIL FROM domain')
    .option('--dmarc-email <address>', 'where DMARC aggregate reports should go')
    .option('--dkim-selector <selector>', 'bring your own DKIM key: its selector')
    .option('--dkim-private-key-file <file>', 'bring your own DKIM key: the RSA private key (PEM)')
    .option('--import', 'take an identity that already exists in the SES account instead of creating it')
    .action(
      action(
        async (
          ctx,
          domain: string,
          o: {
            connection: string;
            mailFrom: string | false;
            dmarcEmail?: string;
            dkimSelector?: string;
            dkimPrivateKeyFile?: string;
            import?: boolean;
          },
        ) => {
          const api = ctx.api();
          if (domain.includes('@')) {
            printDomain(
              ctx,
              await api.post<DomainView>(
                '/v1/identities/email',
                parseOrThrow(addEmailSchema, { email: domain, connection: o.connection }),
              ),
            );
            return;
          }
          const input = parseOrThrow(addDomainSchema, {
            domain,
            connection: o.connection,
            mailFromSubdomain: o.mailFrom === false ? null : o.mailFrom,
            ...(o.dmarcEmail ? { dmarcReportEmail: o.dmarcEmail } : {}),
            ...(o.dkimSelector || o.dkimPrivateKeyFile
              ? {
                  byodkim: {
                    selector: o.dkimSelector,
                    privateKey: o.dkimPrivateKeyFile ? readFileSync(o.dkimPrivateKeyFile, 'utf8') : undefined,
                  },
                }
              : {}),
            ...(o.import ? { import: true } : {}),
          });
          const d = await api.post<DomainView>('/v1/domains', input);
          printDomain(ctx, d);
          if (d.status !== 'verified')
            ctx.out.line(
              `\nPublish the records above, then run \`sesame domains verify ${d.name}\` (Sesame also checks by itself until SES verifies it).`,
            );
        },
      ),
    );
  cmd
    .command('list')
    .option('--connection <connection>', 'only this connection')
    .action(
      action(async (ctx, o: { connection?: string }) => {
        const all = (await ctx.api().get<{ data: DomainView[] }>('/v1/domains', { connection: o.connection })).data;
        ctx.out.result(all, () =>
          ctx.out.table(
            all.map((d) => ({
              ...d,
              dkimStatus: d.kind === 'domain' ? d.dkim.status : '-',
              mailFromStatus: d.mailFrom.domain ? `${d.mailFrom.domain} ${d.mailFrom.status}` : '-',
              failing: d.records.filter((r) => r.required && r.check && r.check.status !== 'ok').length,
            })),
            [
              { key: 'name', label: 'IDENTITY' },
              { key: 'kind', label: 'KIND' },
              { key: 'status', label: 'STATUS' },
              { key: 'dkimStatus', label: 'DKIM' },
              { key: 'mailFromStatus', label: 'MAIL FROM' },
              { key: 'failing', label: 'RECORDS NOT OK' },
              { key: 'checkedAt', label: 'CHECKED' },
            ],
          ),
        );
      }),
    );
  cmd
    .command('show <domain>')
    .description('the records with their last check, and a zone-file snippet')
    .option('--zone', 'print only the zone-file snippet')
    .action(
      action(async (ctx, id: string, o: { zone?: boolean }) => {
        const d = await ctx.api().get<DomainView>(`/v1/domains/${seg(id)}`);
        if (o.zone && !ctx.out.json) process.stdout.write(d.zone);
        else printDomain(ctx, d);
      }),
    );
  cmd
    .command('verify <domain>')
    .description('check now: SES verification status and every DNS record')
    .action(
      action(async (ctx, id: string) => {
        const d = await ctx.api().post<DomainView>(`/v1/domains/${seg(id)}/verify`);
        printDomain(ctx, d);
        if (d.status !== 'verified') process.exitCode = 1;
      }),
    );
  cmd
    .command('remove <domain>')
    .description('forget the domain; the SES identity is deleted when Sesame created it')
    .option('--keep-identity', 'keep the identity in SES')
    .option('--delete-identity', 'delete the identity from SES even if it was imported')
    .action(
      action(async (ctx, id: string, o: { keepIdentity?: boolean; deleteIdentity?: boolean }) => {
        const r = await ctx.api().delete<{ identityDeleted: boolean }>(`/v1/domains/${seg(id)}`, {
          deleteIdentity: o.keepIdentity ? 'false' : o.deleteIdentity ? 'true' : undefined,
        });
        ctx.out.result(r, () =>
          ctx.out.line(`Removed ${id}${r.identityDeleted ? ' and its SES identity' : ' (the SES identity stays)'}.`),
        );
      }),
    );
  return cmd;
}
