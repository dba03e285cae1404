import { readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Command } from 'commander';
import { AppError } from '../../errors.js';
import { MESSAGE_STATUSES, type MessageView } from '../../modules/messages/service.js';
import type { Suppression as SuppressionView } from '../../modules/suppressions/schemas.js';
import { seg } from '../api-client.js';
import { action, type CliContext } from '../context.js';
import { cliHint } from '../hints.js';
import { printRecord } from '../output.js';
import type { Tone } from '../style.js';

const TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.html': 'text/html',
  '.json': 'application/json',
  '.zip': 'application/zip',
  '.ics': 'text/calendar',
  '.xml': 'application/xml',
};

function readFile(path: string, what: string): Buffer {
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    return readFileSync(path);
  } catch (e) {
    throw new AppError('validation_failed', `${what} ${path} cannot be read: ${(e as Error).message}.`);
  }
}

const STATUS_TONE: Partial<Record<string, Tone>> = {
  sent: 'pass',
  delivered: 'pass',
  delayed: 'warn',
  suppressed: 'warn',
  cancelled: 'muted',
  failed: 'fail',
  bounced: 'fail',
  complained: 'fail',
  rejected: 'fail',
};

const EVENT_LABEL: Record<string, string> = { delivery_delay: 'delayed', rendering_failure: 'rendering failure' };

/** One line per SES event: what happened, to whom, and for a bounce what the receiving server said. */
function describeEvent(e: NonNullable<MessageView['events']>[number]): string[] {
  const d = e.details;
  const head = `${e.occurredAt}  ${EVENT_LABEL[e.kind] ?? e.kind}`;
  if (e.kind === 'bounce') {
    const kind = [d.type, d.subType].filter(Boolean).join('/');
    const rcpts = (d.recipients as Array<{ email: string; status: string | null; diagnostic: string | null }>) ?? [];
    if (!rcpts.length) return [`${head} (${kind}) ${e.recipients.join(', ')}`];
    return rcpts.map(
      (r) => `${head} (${kind}) ${r.email}${r.status ? ` ${r.status}` : ''}${r.diagnostic ? `: ${r.diagnostic}` : ''}`,
    );
  }
  const why =
    (d.feedbackType as string | undefined) ??
    (d.reason as string | undefined) ??
    (d.errorMessage as string | undefined) ??
    (d.link as string | undefined) ??
    (d.type as string | undefined);
  return [`${head}${e.recipients.length ? ` ${e.recipients.join(', ')}` : ''}${why ? ` (${why})` : ''}`];
}

function printMessage(ctx: CliContext, m: MessageView): void {
  ctx.out.result(m, () => {
    printRecord(ctx.out, {
      id: m.id,
      status: ctx.out.tone(STATUS_TONE[m.status], m.status),
      from: m.from,
      to: m.to.join(', '),
      ...(m.cc.length ? { cc: m.cc.join(', ') } : {}),
      ...(m.bcc.length ? { bcc: m.bcc.join(', ') } : {}),
      subject: m.subject,
      connection: m.connectionId,
      'scheduled at': m.scheduledAt,
      'SES message id': m.sesMessageId,
      attempts: m.attempts,
      'last error': m.lastError ? `${m.lastError.code}: ${m.lastError.message ?? ''}` : null,
      'what to do': m.lastError
        ? cliHint(m.lastError.code, m.lastError.hint, { id: m.id, email: m.suppressed[0]?.email ?? '<email>' }) || null
        : null,
      suppressed: m.suppressed.length ? m.suppressed.map((s) => `${s.email} (${s.reason})`).join(', ') : null,
      created: m.createdAt,
      sent: m.sentAt,
    });
    if (m.events?.length) {
      ctx.out.line();
      ctx.out.line('Events:');
      for (const e of m.events)
        for (const l of describeEvent(e))
          ctx.out.line(`  ${e.kind === 'bounce' || e.kind === 'complaint' ? ctx.out.tone('fail', l) : l}`);
    }
  });
}

export function sendCommand(): Command {
  return new Command('send')
    .description('send an email through the same pipeline as POST /v1/emails')
    .requiredOption('--from <address>', 'sender, e.g. "Acme <hello@example.com>"')
    .requiredOption('--to <address...>', 'recipients')
    .option('--cc <address...>', 'copy recipients')
    .option('--bcc <address...>', 'blind copy recipients')
    .option('--reply-to <address...>', 'reply-to addresses')
    .requiredOption('--subject <text>', 'subject line')
    .option('--text <text>', 'plain-text body')
    .option('--html-file <file>', 'HTML body from a file')
    .option('--attach <file...>', 'attach files')
    .option('--tag <name=value...>', 'tags (SES message tags)')
    .option('--connection <id|name>', 'connection to send through (default: the workspace default)')
    .option('--at <time>', 'send later: ISO-8601 time')
    .option('--idempotency-key <key>', 'send at most once for this key (24 h)')
    .action(
      action(
        async (
          ctx,
          o: {
            from: string;
            to: string[];
            cc?: string[];
            bcc?: string[];
            replyTo?: string[];
            subject: string;
            text?: string;
            htmlFile?: string;
            attach?: string[];
            tag?: string[];
            connection?: string;
            at?: string;
            idempotencyKey?: string;
          },
        ) => {
          if (o.text === undefined && !o.htmlFile)
            throw new AppError('validation_failed', 'Give --text, --html-file or both.');
          const body: Record<string, unknown> = { from: o.from, to: o.to, subject: o.subject };
          if (o.cc) body.cc = o.cc;
          if (o.bcc) body.bcc = o.bcc;
          if (o.replyTo) body.reply_to = o.replyTo;
          if (o.text !== undefined) body.text = o.text;
          if (o.htmlFile) body.html = readFile(o.htmlFile, 'HTML file').toString('utf8');
          if (o.attach)
            body.attachments = o.attach.map((f) => ({
              filename: basename(f),
              content: readFile(f, 'Attachment').toString('base64'),
              content_type: TYPES[extname(f).toLowerCase()] ?? 'application/octet-stream',
            }));
          if (o.tag) {
            body.tags = Object.fromEntries(
              o.tag.map((t) => {
                const i = t.indexOf('=');
                if (i < 1) throw new AppError('validation_failed', `--tag ${t} must be name=value.`);
                return [t.slice(0, i), t.slice(i + 1)];
              }),
            );
          }
          if (o.connection) body.connection = o.connection;
          if (o.at) body.scheduled_at = o.at;
          const api = ctx.api();
          const res = await api.request<{ id: string; status: string }>('POST', '/v1/emails', {
            body,
            ...(o.idempotencyKey ? { headers: { 'idempotency-key': o.idempotencyKey } } : {}),
          });
          const r = { value: res.body, replayed: res.headers.get('idempotent-replayed') === 'true' };
          if (r.value.status === 'suppressed') {
            // Stored for the record, but nothing goes out: a failure for whoever ran the command.
            const m = await api.get<MessageView>(`/v1/emails/${seg(r.value.id)}`);
            ctx.out.result(r.value, () => {
              process.stderr.write(
                `Not sent: every recipient is on the suppression list: ${m.suppressed.map((x) => `${x.email} (${x.reason})`).join(', ')}.\n`,
              );
              process.stderr.write(
                `Only if you are sure an address accepts mail again: ${m.suppressed.map((x) => `sesame suppressions remove ${x.email}`).join('; ')}; then send again. The message is ${m.id}.\n`,
              );
            });
            process.exitCode = 1;
            return;
          }
          ctx.out.result(r.value, () =>
            ctx.out.line(
              `${r.replayed ? 'Already accepted' : 'Accepted'}: ${r.value.id} (${r.value.status}). Follow it with: sesame emails show ${r.value.id}`,
            ),
          );
        },
      ),
    );
}

export function emailsCommand(): Command {
  const cmd = new Command('emails').description('messages: list, show, cancel, retry');
  cmd
    .command('list')
    .description('messages, newest first')
    .option('--status <status>', MESSAGE_STATUSES.join(', '))
    .option('--recipient <address>', 'only messages to this address')
    .option('--tag <name=value>', 'only messages with this tag')
    .option('--limit <n>', 'rows (1-200)', '50')
    .option('--cursor <id>', 'continue after this message')
    .action(
      action(async (ctx, o: { status?: string; recipient?: string; tag?: string; limit: string; cursor?: string }) => {
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 200)
          throw new AppError('validation_failed', '--limit must be a whole number from 1 to 200.');
        if (o.status && !(MESSAGE_STATUSES as readonly string[]).includes(o.status))
          throw new AppError('validation_failed', `--status ${o.status} is not a message status.`, {
            hint: `Use one of: ${MESSAGE_STATUSES.join(', ')}.`,
          });
        const page = await ctx.api().get<{ data: MessageView[]; nextCursor: string | null }>('/v1/emails', {
          limit,
          status: o.status,
          recipient: o.recipient,
          tag: o.tag,
          cursor: o.cursor,
        });
        ctx.out.result(page, () => {
          ctx.out.table(
            page.data.map((m) => ({
              ...m,
              recipients: [...m.to, ...m.cc, ...m.bcc].join(', ').slice(0, 40),
              error: m.lastError?.code ?? '',
            })),
            [
              { key: 'id', label: 'ID' },
              { key: 'status', label: 'STATUS', tone: (v) => STATUS_TONE[v] },
              { key: 'recipients', label: 'TO' },
              { key: 'subject', label: 'SUBJECT' },
              { key: 'createdAt', label: 'CREATED' },
              { key: 'error', label: 'ERROR' },
            ],
          );
          if (page.nextCursor) ctx.out.line(`More: sesame emails list --cursor ${page.nextCursor}`);
        });
      }),
    );
  cmd
    .command('show <id>')
    .description('one message: its status, last error and SES events (bounce diagnostics included)')
    .action(
      action(async (ctx, id: string) => printMessage(ctx, await ctx.api().get<MessageView>(`/v1/emails/${seg(id)}`))),
    );
  cmd
    .command('cancel <id>')
    .description('cancel a queued or scheduled message')
    .action(
      action(async (ctx, id: string) =>
        printMessage(ctx, await ctx.api().post<MessageView>(`/v1/emails/${seg(id)}/cancel`)),
      ),
    );
  cmd
    .command('retry <id>')
    .description('queue a failed message again')
    .action(
      action(async (ctx, id: string) =>
        printMessage(ctx, await ctx.api().post<MessageView>(`/v1/emails/${seg(id)}/retry`)),
      ),
    );
  return cmd;
}

export function suppressionsCommand(): Command {
  const cmd = new Command('suppressions').description(
    'the workspace suppression list: addresses Sesame never sends to',
  );
  cmd
    .command('list')
    .option('--email <fragment>', 'filter')
    .option('--limit <n>', 'rows (1-1000)', '100')
    .option('--cursor <email>', 'continue after this address')
    .action(
      action(async (ctx, o: { email?: string; limit: string; cursor?: string }) => {
        const page = await ctx.api().get<{ data: SuppressionView[]; nextCursor: string | null }>('/v1/suppressions', {
          limit: Number(o.limit) || 100,
          email: o.email,
          cursor: o.cursor,
        });
        ctx.out.result(page, () => {
          ctx.out.table(page.data, [
            { key: 'email', label: 'EMAIL' },
            { key: 'reason', label: 'REASON' },
            { key: 'source', label: 'SOURCE' },
            { key: 'createdAt', label: 'ADDED' },
          ]);
          if (page.nextCursor) ctx.out.line(`More: sesame suppressions list --cursor ${page.nextCursor}`);
        });
      }),
    );
  cmd
    .command('add <email>')
    .option('--reason <reason>', 'why', 'manual')
    .action(
      action(async (ctx, email: string, o: { reason: string }) => {
        const res = await ctx.api().request<SuppressionView>('POST', '/v1/suppressions', {
          body: { email, reason: o.reason },
        });
        const r = { created: res.status === 201, suppression: res.body };
        ctx.out.result(r.suppression, () =>
          ctx.out.line(
            r.created
              ? `Suppressed ${r.suppression.email}.`
              : `${r.suppression.email} was already suppressed (${r.suppression.reason}).`,
          ),
        );
      }),
    );
  cmd.command('remove <email>').action(
    action(async (ctx, email: string) => {
      await ctx.api().delete(`/v1/suppressions/${seg(email)}`);
      ctx.out.result({ removed: email }, () => ctx.out.line(`Removed ${email}; Sesame may send to it again.`));
    }),
  );
  cmd
    .command('import <file>')
    .description('CSV with a header row: email[,reason]')
    .action(
      action(async (ctx, file: string) => {
        const csv = readFile(file, 'CSV file').toString('utf8');
        const r = (
          await ctx
            .api()
            .request<{ imported: number; existing: number; errors: { line: number; message: string }[] }>(
              'POST',
              '/v1/suppressions/import',
              { text: { body: csv, contentType: 'text/csv; charset=utf-8' } },
            )
        ).body;
        ctx.out.result(r, () => {
          ctx.out.line(`Imported ${r.imported}, already present ${r.existing}, refused ${r.errors.length}.`);
          for (const e of r.errors) ctx.out.line(`  line ${e.line}: ${e.message}`);
        });
        if (r.errors.length) process.exitCode = 1;
      }),
    );
  cmd
    .command('export')
    .description('CSV to standard output')
    .action(action(async (ctx) => void process.stdout.write(await ctx.api().text('GET', '/v1/suppressions/export'))));
  return cmd;
}
