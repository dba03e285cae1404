import { Command, Option } from 'commander';
import { AppError } from '../../errors.js';
import {
  MODES,
  createConnectionSchema,
  rotateKeysSchema,
  updateConnectionSchema,
} from '../../modules/connections/schemas.js';
import type { TestReport } from '../../modules/connections/test-connection.js';
import type { ConnectionView } from '../../modules/connections/view.js';
import type { WiringResult } from '../../modules/connections/schemas.js';
import { systemClock } from '../../clock.js';
import { seg } from '../api-client.js';
import { action, Cancelled, type CliContext } from '../context.js';
import { cliHint } from '../hints.js';
import { printRecord } from '../output.js';
import type { Tone } from '../style.js';
import { createWizard } from '../setup-wizard.js';

const MARK: Record<string, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };
const TONE: Record<string, Tone> = { PASS: 'pass', WARN: 'warn', FAIL: 'fail', SKIP: 'muted' };

export function printReport(ctx: CliContext, report: TestReport, connection?: string): void {
  ctx.out.result(report, () => {
    ctx.out.table(
      report.checks.map((c) => ({
        status: MARK[c.status],
        id: c.id,
        message: c.message,
        hint: cliHint(c.code, c.hint, connection ? { connection } : {}),
      })),
      [
        { key: 'status', label: 'STATUS', tone: (v) => TONE[v] },
        { key: 'id', label: 'CHECK' },
        { key: 'message', label: 'RESULT' },
        { key: 'hint', label: 'WHAT TO DO', below: true },
      ],
    );
    ctx.out.line(`Overall: ${ctx.out.tone(TONE[MARK[report.status]!], MARK[report.status]!)}`);
  });
}

/** What the server tells a client of its settings (GET /v1/server). */
export interface ServerSettings {
  sandbox: boolean;
  region: string;
  modes: (typeof MODES)[number][];
  webhooksAllowPrivate: boolean;
  publicUrl: string | null;
}

/**
 * Test a connection on the server. While IAM propagates a new role the test retries AssumeRole:
 * the server streams each retry (NDJSON) so the wait is said, not mistaken for a hang.
 */
export async function testConnection(ctx: CliContext, id: string): Promise<TestReport> {
  return ctx.api().stream<TestReport>('POST', `/v1/connections/${seg(id)}/test/stream`, (line) => {
    const p = line as { progress?: { retry: number; of: number; waitMs: number } };
    if (p.progress)
      ctx.out.progress(
        `AssumeRole denied, IAM may still be propagating the new role: retry ${p.progress.retry} of ${p.progress.of} in ${(p.progress.waitMs / 1000).toFixed(1)} s`,
      );
  });
}

function printConnection(ctx: CliContext, v: ConnectionView): void {
  ctx.out.result(v, () => {
    printRecord(ctx.out, {
      id: v.id,
      name: v.name,
      mode: v.mode,
      region: v.region,
      status: v.status,
      ...(v.role ? { 'role ARN': v.role.roleArn, 'External ID': v.role.externalId } : {}),
      ...(v.accessKey ? { 'access key': v.accessKey.accessKeyId, 'key age (days)': v.accessKey.ageDays } : {}),
      ...(v.secretArn !== undefined ? { secret: v.secretArn } : {}),
      'send domains': v.sendDomains.join(', ') || '(any verified identity)',
      'last assumed': v.health.lastAssumedAt,
      'credentials expire': v.health.credentialsExpireAt,
      'last error': v.health.lastError ? `${v.health.lastError.code}: ${v.health.lastError.message ?? ''}` : null,
      'last test': v.health.lastTestedAt ? `${v.health.lastTestStatus} at ${v.health.lastTestedAt}` : null,
      ...(v.paused ? { paused: `${v.paused.reason} (since ${v.paused.at})` } : {}),
      ...(v.secretBinding ? { 'sesameExternalId (put in the secret)': v.secretBinding.sesameExternalId } : {}),
    });
    for (const w of v.warnings) ctx.out.warn(w);
    if (v.onboarding) printOnboarding(ctx, v);
    for (const s of v.nextSteps ?? []) ctx.out.line(`next: ${s}`);
  });
}

function printOnboarding(ctx: CliContext, v: ConnectionView): void {
  const o = v.onboarding!;
  ctx.out.line();
  if (o.quickCreateUrl) {
    ctx.out.line(
      'Create the role in one click (CloudFormation quick-create; acknowledge IAM resources, then Create stack):',
    );
    ctx.out.line(`  ${o.quickCreateUrl}`);
  } else {
    ctx.out.line(
      `One-click link unavailable: ${o.quickCreateUnavailable?.message ?? ''} ${o.quickCreateUnavailable?.hint ?? ''}`.trim(),
    );
    ctx.out.line('Create the stack by uploading the template instead:');
    o.manual.steps.forEach((s, i) => ctx.out.line(`  ${i + 1}. ${s}`));
  }
  ctx.out.line(
    `Parameters: ExternalId=${o.externalId} TrustedPrincipalArn=${o.trustedPrincipalArn} RoleName=${o.roleName}`,
  );
  ctx.out.line(`Also as: sesame aws template ${v.name} --format terraform | aws-cli`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** The flag (or argument) that carries each API field, so an error names what the person typed. */
const FLAGS: Record<string, string> = {
  mode: '--mode',
  name: '--name',
  region: '--region',
  roleArn: '--role-arn',
  roleName: '--role-name',
  sendDomains: '--send-domain',
  accessKeyId: '--access-key-id',
  secretAccessKey: 'the secret access key',
  secretArn: '--secret-arn',
  sessionDurationSeconds: '--session-duration',
  sourceIdentity: '--source-identity',
  connection: '--connection',
  domain: '<domain>',
  email: '<address>',
  mailFromSubdomain: '--mail-from',
  dmarcReportEmail: '--dmarc-email',
  byodkim: '--dkim-selector / --dkim-private-key-file',
};

/** Validate input with the API's own schema so the CLI and the API agree on every rule. */
export function parseOrThrow<T>(
  schema: {
    safeParse(
      v: unknown,
    ): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  value: unknown,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const field = String(i.path[0] ?? '');
    return `${FLAGS[field] ?? (i.path.join('.') || 'value')}: ${i.message}`;
  });
  throw new AppError('validation_failed', `Invalid input: ${issues.join('; ')}`, { details: { issues } });
}

interface SetupOptions {
  connection?: string;
  mode?: string;
  name?: string;
  region?: string;
  roleArn?: string;
  roleName?: string;
  sendDomain?: string[];
  accessKeyId?: string;
  secretAccessKey?: string;
  secretAccessKeyStdin?: boolean;
  secretArn?: string;
  test: boolean;
  interactive?: boolean;
}

const missing = (flag: string, mode: string): AppError =>
  new AppError('validation_failed', `${flag} is required for the ${mode} mode when not interactive.`, {
    hint: `Give ${flag}, or run \`sesame aws setup\` on a terminal to be asked.`,
  });

async function setup(ctx: CliContext, opts: SetupOptions): Promise<void> {
  const api = ctx.api();
  const interactive = opts.interactive !== false && process.stdin.isTTY && process.stdout.isTTY && !ctx.globals.json;
  const wizard = interactive ? await createWizard() : undefined;
  let view: ConnectionView;

  if (opts.connection) {
    view = await api.get<ConnectionView>(`/v1/connections/${seg(opts.connection)}`);
  } else {
    const server = await api.get<ServerSettings>('/v1/server');
    // A mode the server refuses is not offered.
    const allowed = server.modes;
    // Flags given for mode and name mean a script: nothing more is asked unless it cannot go on without.
    const asking = Boolean(wizard && (!opts.mode || !opts.name));
    if (asking) wizard!.intro('Connect an AWS account to Sesame');
    const mode = opts.mode ?? (wizard ? await wizard.mode(allowed) : undefined);
    if (!mode)
      throw new AppError('validation_failed', '--mode is required when not interactive.', {
        hint: `Use one of: ${allowed.join(', ')}.`,
      });
    const taken = wizard ? (await api.get<{ data: ConnectionView[] }>('/v1/connections')).data.map((x) => x.name) : [];
    const name = opts.name ?? (wizard ? await wizard.name(taken) : undefined);
    if (!name)
      throw new AppError('validation_failed', '--name is required when not interactive.', {
        hint: 'Name the connection with --name, for example --name production.',
      });
    const region = opts.region ?? (asking ? await wizard!.region(server.region) : server.region);
    const input: Record<string, unknown> = { mode, name, region };
    if (opts.sendDomain?.length) input.sendDomains = opts.sendDomain;
    if (mode === 'role') {
      if (opts.roleArn) input.roleArn = opts.roleArn;
      if (opts.roleName) input.roleName = opts.roleName;
    }
    if (mode === 'access_keys') {
      let secret = opts.secretAccessKey;
      if (opts.secretAccessKeyStdin) secret = await readStdin();
      else if (secret)
        ctx.out.warn(
          '--secret-access-key leaves the secret in your shell history and process list; prefer --secret-access-key-stdin.',
        );
      const keyId = opts.accessKeyId ?? (await wizard?.accessKeyId());
      if (!keyId) throw missing('--access-key-id <AKIA…>', 'access_keys');
      if (!secret && wizard) secret = await wizard.secretAccessKey();
      if (!secret) throw missing('--secret-access-key-stdin (the secret on standard input)', 'access_keys');
      input.accessKeyId = keyId;
      input.secretAccessKey = secret;
    }
    if (mode === 'secrets_manager') {
      const arn = opts.secretArn ?? (await wizard?.secretArn());
      if (!arn) throw missing('--secret-arn <arn>', 'secrets_manager');
      input.secretArn = arn;
    }
    view = await api.post<ConnectionView>('/v1/connections', parseOrThrow(createConnectionSchema, input));
    if (!ctx.globals.json && (await api.get<{ data: unknown[] }>('/v1/connections')).data.length === 1)
      ctx.out.line(
        `${view.name} is the workspace's first connection, so it is its default: sends that name none use it.`,
      );
  }

  if (view.mode === 'role' && opts.roleArn && view.role?.roleArn !== opts.roleArn) {
    view = await api.patch<ConnectionView>(
      `/v1/connections/${seg(view.id)}`,
      parseOrThrow(updateConnectionSchema, { roleArn: opts.roleArn }),
    );
  }

  if (view.mode === 'role' && !view.role?.roleArn) {
    if (!interactive) {
      printConnection(ctx, view);
      if (!ctx.globals.json)
        ctx.out.line(
          `\nWhen the stack is created, finish with: sesame aws setup --connection ${view.name} --role-arn <RoleArn output>`,
        );
      return;
    }
    printOnboarding(ctx, view);
    const arn = await wizard!.roleArn(view.name);
    view = await api.patch<ConnectionView>(`/v1/connections/${seg(view.id)}`, { roleArn: arn });
  }

  if (!opts.test) {
    printConnection(ctx, view);
    return;
  }
  if (!ctx.globals.json) ctx.out.line(`Testing connection ${view.name}…`);
  const report = await testConnection(ctx, view.id);
  if (ctx.globals.json) {
    ctx.out.result({ connection: await api.get<ConnectionView>(`/v1/connections/${seg(view.id)}`), report });
  } else {
    printReport(ctx, report, view.name);
    ctx.out.line(
      report.status === 'fail'
        ? `Connection ${view.name} is not usable yet; fix the failures above and run \`sesame aws test ${view.name}\`.`
        : `Connection ${view.name} (${view.id}) is ready.`,
    );
  }
  if (report.status === 'fail') process.exitCode = 1;
}

export function awsCommand(): Command {
  const cmd = new Command('aws').description(
    'AWS connections: keyless IAM role (recommended), access keys, host credentials or Secrets Manager',
  );

  cmd
    .command('whoami')
    .description("Sesame's own AWS principal (the one customer roles must trust)")
    .action(
      action(async (ctx) => {
        const id = await ctx.api().get<{
          callerArn: string;
          account: string;
          trustedPrincipalArn: string;
          principalSource: string;
          roleChaining: boolean;
        }>('/v1/platform');
        ctx.out.result(id, () =>
          printRecord(ctx.out, {
            'caller ARN': id.callerArn,
            account: id.account,
            'roles must trust': id.trustedPrincipalArn,
            source: id.principalSource,
            'role chaining (1 h cap)': id.roleChaining,
          }),
        );
      }),
    );

  cmd
    .command('setup')
    .description('connect an AWS account: interactive on a terminal, or entirely from flags')
    .option('--connection <id|name>', 'continue the setup of an existing connection')
    .addOption(new Option('--mode <mode>', 'how Sesame reaches the account').choices([...MODES]))
    .option('--name <name>', 'connection name')
    .option('--region <region>', 'SES region')
    .option('--role-arn <arn>', 'role mode: the RoleArn output of the stack')
    .option('--role-name <name>', 'role mode: name for the role the template creates')
    .option('--send-domain <domain...>', 'domains Sesame may send from (narrows ses:FromAddress)')
    .option('--access-key-id <id>', 'access_keys mode: the key id (AKIA…)')
    .option('--secret-access-key <secret>', 'access_keys mode: the secret (prefer --secret-access-key-stdin)')
    .option('--secret-access-key-stdin', 'access_keys mode: read the secret from standard input')
    .option('--secret-arn <arn>', 'secrets_manager mode: the secret holding {accessKeyId, secretAccessKey}')
    .option('--no-test', 'do not run the connection test at the end')
    .option('--no-interactive', 'never prompt, even on a terminal')
    .action(action(async (ctx, opts: SetupOptions) => setup(ctx, opts)));

  cmd
    .command('list')
    .description('list connections')
    .action(
      action(async (ctx) => {
        const rows = (await ctx.api().get<{ data: ConnectionView[] }>('/v1/connections')).data;
        ctx.out.result(rows, () =>
          ctx.out.table(
            rows.map((r) => ({
              ...r,
              detail: r.role?.roleArn ?? r.accessKey?.accessKeyId ?? r.secretArn ?? '',
              lastTest: r.health.lastTestStatus,
            })),
            [
              { key: 'id', label: 'ID' },
              { key: 'name', label: 'NAME' },
              { key: 'mode', label: 'MODE' },
              { key: 'region', label: 'REGION' },
              { key: 'status', label: 'STATUS' },
              { key: 'detail', label: 'ROLE / KEY / SECRET' },
              { key: 'lastTest', label: 'LAST TEST' },
            ],
          ),
        );
      }),
    );

  cmd
    .command('show <connection>')
    .description('show a connection, its credential health and onboarding links')
    .action(
      action(async (ctx, id: string) =>
        printConnection(ctx, await ctx.api().get<ConnectionView>(`/v1/connections/${seg(id)}`)),
      ),
    );

  cmd
    .command('test <connection>')
    .description('test a connection and explain every failure')
    .action(
      action(async (ctx, id: string) => {
        const report = await testConnection(ctx, id);
        printReport(ctx, report, id);
        if (report.status === 'fail') process.exitCode = 1;
      }),
    );

  cmd
    .command('events <connection>')
    .description(
      'wire SES events to Sesame: SNS topic, configuration-set event destination, subscription to SESAME_PUBLIC_URL',
    )
    .option('--no-wait', 'do not wait for SNS to confirm the subscription')
    .action(
      action(async (ctx, id: string, opts: { wait: boolean }) => {
        const api = ctx.api();
        const clock = systemClock;
        const w = await api.post<WiringResult>(`/v1/connections/${seg(id)}/events`);
        let subscription: string = w.subscription;
        if (subscription !== 'confirmed' && opts.wait) {
          // SNS posts the confirmation to the running server, which confirms it: watch for that.
          const waitMs = 20_000;
          ctx.out.progress(`Waiting for SNS to confirm the subscription to ${w.endpoint} (up to ${waitMs / 1000} s)…`);
          const started = clock.ms();
          let told = started;
          while (subscription !== 'confirmed' && clock.ms() - started < waitMs) {
            await clock.sleep(500);
            subscription = (await api.get<{ subscription: string }>(`/v1/connections/${seg(id)}/events`)).subscription;
            if (subscription !== 'confirmed' && clock.ms() - told >= 5000) {
              told = clock.ms();
              ctx.out.progress(
                `Still waiting for SNS to confirm (${Math.round((told - started) / 1000)} s of ${waitMs / 1000} s): Sesame must be running and reachable at ${w.endpoint}.`,
              );
            }
          }
        }
        const result = { ...w, subscription };
        ctx.out.result(result, () => {
          printRecord(ctx.out, {
            'SNS topic': w.topicArn,
            'configuration set': w.configurationSet,
            endpoint: w.endpoint,
            subscription: subscription === 'confirmed' ? 'confirmed' : 'pending confirmation',
          });
          for (const n of w.notes) ctx.out.warn(n);
          if (subscription !== 'confirmed')
            ctx.out.line(
              `SNS has not confirmed yet: is Sesame running and reachable at ${w.endpoint}? \`sesame aws test ${id}\` shows the state.`,
            );
          else
            ctx.out.line(
              'SES events now reach Sesame: bounces and complaints update messages and the suppression list.',
            );
        });
      }),
    );

  cmd
    .command('template <connection>')
    .description('print the role as a CloudFormation template (default), Terraform or AWS CLI commands')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['cloudformation', 'terraform', 'aws-cli'])
        .default('cloudformation'),
    )
    .action(
      action(async (ctx, id: string, opts: { format: string }) => {
        const api = ctx.api();
        const v = await api.get<ConnectionView>(`/v1/connections/${seg(id)}`);
        if (v.mode !== 'role') throw new AppError('validation_failed', 'Templates exist for role connections only.');
        const path = { terraform: 'terraform', 'aws-cli': 'aws-cli' }[opts.format] ?? 'cloudformation';
        process.stdout.write(await api.text('GET', `/v1/connections/${seg(v.id)}/${path}`));
      }),
    );

  cmd
    .command('update <connection>')
    .description('change a connection')
    .option('--name <name>', 'new name')
    .option('--role-arn <arn>', 'role ARN')
    .option('--send-domain <domain...>', 'domains Sesame may send from')
    .option('--session-duration <seconds>', 'session duration, 900-43200')
    .option('--source-identity <on|off>', 'stamp the workspace id as source identity')
    .option('--secret-arn <arn>', 'Secrets Manager secret ARN')
    .action(
      action(
        async (
          ctx,
          id: string,
          opts: {
            name?: string;
            roleArn?: string;
            sendDomain?: string[];
            sessionDuration?: string;
            sourceIdentity?: string;
            secretArn?: string;
          },
        ) => {
          const input = parseOrThrow(updateConnectionSchema, {
            ...(opts.name ? { name: opts.name } : {}),
            ...(opts.roleArn ? { roleArn: opts.roleArn } : {}),
            ...(opts.sendDomain ? { sendDomains: opts.sendDomain } : {}),
            ...(opts.sessionDuration ? { sessionDurationSeconds: Number(opts.sessionDuration) } : {}),
            ...(opts.sourceIdentity
              ? { sourceIdentity: opts.sourceIdentity === 'on' || opts.sourceIdentity === 'true' }
              : {}),
            ...(opts.secretArn ? { secretArn: opts.secretArn } : {}),
          });
          printConnection(ctx, await ctx.api().patch<ConnectionView>(`/v1/connections/${seg(id)}`, input));
        },
      ),
    );

  cmd
    .command('resume <connection>')
    .description('resume sending on a connection Sesame paused (after fixing the cause)')
    .action(
      action(async (ctx, id: string) =>
        printConnection(ctx, await ctx.api().post<ConnectionView>(`/v1/connections/${seg(id)}/resume`)),
      ),
    );

  cmd
    .command('default <connection>')
    .description('make this the connection messages go through when they name none')
    .action(
      action(async (ctx, id: string) =>
        printConnection(ctx, await ctx.api().post<ConnectionView>(`/v1/connections/${seg(id)}/default`)),
      ),
    );

  cmd
    .command('rotate-external-id <connection>')
    .description('generate a new External ID (update the stack afterwards)')
    .action(
      action(async (ctx, id: string) =>
        printConnection(ctx, await ctx.api().post<ConnectionView>(`/v1/connections/${seg(id)}/rotate-external-id`)),
      ),
    );

  cmd
    .command('rotate-keys <connection>')
    .description(
      'switch an access_keys connection to a new key pair after testing it; the new secret is read from standard input',
    )
    .requiredOption('--access-key-id <id>', 'the new key id')
    .action(
      action(async (ctx, id: string, opts: { accessKeyId: string }) => {
        let secret: string;
        if (process.stdin.isTTY) {
          const p = await import('@clack/prompts');
          const s = await p.password({ message: 'New secret access key' });
          if (p.isCancel(s)) {
            p.cancel('Rotation cancelled.');
            throw new Cancelled();
          }
          secret = String(s);
        } else secret = await readStdin();
        const input = parseOrThrow(rotateKeysSchema, { accessKeyId: opts.accessKeyId.trim(), secretAccessKey: secret });
        printConnection(ctx, await ctx.api().post<ConnectionView>(`/v1/connections/${seg(id)}/access-keys`, input));
      }),
    );

  cmd
    .command('disconnect <connection>')
    .description('delete a connection, drop its cached credentials and print the revoke-sessions policy')
    .action(
      action(async (ctx, id: string) => {
        const r = await ctx.api().delete<{
          id: string;
          revokeSessionsPolicy: Record<string, unknown> | null;
          instructions: string;
        }>(`/v1/connections/${seg(id)}`);
        ctx.out.result(r, () => {
          ctx.out.line(`Deleted connection ${r.id}.`);
          ctx.out.line(r.instructions);
          if (r.revokeSessionsPolicy) ctx.out.line(JSON.stringify(r.revokeSessionsPolicy, null, 2));
        });
      }),
    );

  return cmd;
}
