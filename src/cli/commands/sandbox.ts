import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { AppError } from '../../errors.js';
import { createOutput, printError, printRecord, type Output } from '../output.js';
import { preflight, portError } from '../../main.js';
import { connectAdmin, runningEndpoint } from '../../sandbox/admin-client.js';
import { portFlag, SANDBOX_DNS_PORT, SANDBOX_PORT, sandboxPorts } from '../sandbox-env.js';
import { isSandboxError } from '../../sandbox/errors.js';
import {
  createSandbox,
  SANDBOX_LABEL,
  type DeployResult,
  type MailboxMessage,
  type SandboxStatus,
  type SesAccountView,
} from '../../sandbox/index.js';

/**
 * `sesame sandbox …`: run the local AWS stand-in and poke at it. Every subcommand works on the
 * running sandbox of the data directory (admin HTTP API) or, when none runs, on its state file.
 */

interface Ctx {
  dataDir: () => string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Sandbox errors become AppErrors so the CLI prints code, message and hint, never a stack. */
function toAppError(e: unknown): unknown {
  if (!isSandboxError(e)) return e;
  const code = e.status === 404 ? 'not_found' : e.status >= 500 ? 'internal_error' : 'validation_failed';
  return new AppError(code, `${e.code}: ${e.message}`, {
    hint:
      e.code === 'SandboxUnreachable'
        ? 'Start it with `sesame sandbox serve`, or stop the stale process.'
        : 'Fix the input named in the message and run the command again.',
    details: { sandboxCode: e.code },
  });
}

function run<A extends unknown[]>(fn: (out: Output, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const json = Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);
    try {
      await fn(createOutput(json), ...args);
    } catch (e) {
      process.exitCode = printError(toAppError(e), json);
    }
  };
}

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      throw new AppError('validation_failed', `--${name} must be a non-negative number, got ${v}`);
    return n;
  };
}

function bool(name: string) {
  return (v: string): boolean => {
    if (v === 'true' || v === 'false') return v === 'true';
    throw new AppError('validation_failed', `--${name} must be true or false, got ${v}`);
  };
}

function scopeQuery(o: { account?: string; region?: string }): string {
  const q = new URLSearchParams();
  if (o.account) q.set('account', o.account);
  if (o.region) q.set('region', o.region);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Reads a CloudFormation quick-create URL's hash: templateURL, stackName and param_* values. */
export function parseQuickCreateUrl(url: string): {
  templateURL: string;
  stackName?: string;
  parameters: Record<string, string>;
  region?: string;
} {
  const u = new URL(url);
  const hash = u.hash.replace(/^#/, '');
  const qi = hash.indexOf('?');
  if (!hash.startsWith('/stacks/quickcreate') || qi < 0)
    throw new AppError('validation_failed', 'Not a quick-create URL: expected #/stacks/quickcreate?templateURL=…');
  const params = new URLSearchParams(hash.slice(qi + 1));
  const templateURL = params.get('templateURL');
  if (!templateURL) throw new AppError('validation_failed', 'The quick-create URL has no templateURL.');
  const parameters: Record<string, string> = {};
  for (const [k, v] of params) if (k.startsWith('param_')) parameters[k.slice(6)] = v;
  const stackName = params.get('stackName') ?? undefined;
  const region = u.searchParams.get('region') ?? undefined;
  return { templateURL, parameters, ...(stackName ? { stackName } : {}), ...(region ? { region } : {}) };
}

export function sandboxCommand(ctx: Ctx): Command {
  const cmd = new Command('sandbox').description(
    `${SANDBOX_LABEL}: STS, SES v2 (with the mailbox simulator), SNS, IAM, Secrets Manager, S3, DNS and CloudFormation for local work`,
  );

  cmd
    .command('serve')
    .description('run the sandbox in the foreground until Ctrl-C')
    .option('--port <port>', 'port to listen on (0: any free port)', portFlag('--port'), SANDBOX_PORT)
    .option('--host <host>', 'address to bind (the admin API is unauthenticated: keep it local)', '127.0.0.1')
    .option(
      '--dns-port <port>',
      'port of the sandbox DNS server on 127.0.0.1, UDP and TCP (0: any free port)',
      portFlag('--dns-port'),
      SANDBOX_DNS_PORT,
    )
    .addOption(
      new Option(
        '--identity-verification <mode>',
        'how SES identities get verified: from the records in the sandbox DNS (as SES does), at once, or only by `sandbox verify-identity`',
      )
        .choices(['dns', 'immediate', 'manual'])
        .default('dns'),
    )
    .option('--quiet', 'do not print a line per request')
    .action(
      run(
        async (
          out,
          opts: {
            port: number;
            host: string;
            dnsPort: number;
            identityVerification: 'dns' | 'immediate' | 'manual';
            quiet?: boolean;
          },
        ) => {
          const dataDir = ctx.dataDir();
          const other = runningEndpoint(dataDir);
          if (other)
            throw new AppError(
              'conflict',
              `A sandbox for ${dataDir} already runs at ${other.url} (pid ${other.pid}).`,
              { hint: 'Use that one, or stop it first.' },
            );
          const ports = sandboxPorts(
            { port: opts.port, dnsPort: opts.dnsPort },
            { port: '--port', dnsPort: '--dns-port' },
          );
          await preflight([{ ...ports[0]!, host: opts.host, hostSetting: '--host' }, ports[1]!], 'The sandbox');
          const sandbox = createSandbox({
            dataDir,
            serveDns: { port: opts.dnsPort },
            identityVerification: opts.identityVerification,
            ...(opts.quiet ? {} : { log: (l: string) => process.stderr.write(`${l}\n`) }),
          });
          const url = await sandbox.listen(opts.port, opts.host).catch(async (e: unknown) => {
            await sandbox.close().catch(() => undefined);
            throw portError({ ...ports[0]!, host: opts.host, hostSetting: '--host' }, e);
          });
          const p = sandbox.admin.platformCredentials();
          out.result(
            { label: SANDBOX_LABEL, url, dns: sandbox.dnsAddress, platform: p, console: `${url}/cloudformation/home` },
            () => {
              out.line(`${SANDBOX_LABEL}`);
              out.line(`listening on ${url}   (data: ${dataDir}/sandbox/state.json)`);
              out.line(
                `DNS on ${sandbox.dnsAddress} (SES verifies identities from the records published there: sesame sandbox dns …)`,
              );
              out.line('');
              out.line('Platform credentials (a local development key of the sandbox, not an AWS key):');
              out.line(`export AWS_ACCESS_KEY_ID=${p.accessKeyId}`);
              out.line(`export AWS_SECRET_ACCESS_KEY=${p.secretAccessKey}`);
              out.line('export AWS_REGION=us-east-1');
              out.line(`export AWS_ENDPOINT_URL=${url}`);
              out.line('');
              out.line(`Console quick-create page: ${url}/cloudformation/home#/stacks/quickcreate?templateURL=…`);
              out.line('Press Ctrl-C to stop.');
            },
          );
          await new Promise<void>((resolve) => {
            const stop = () => resolve();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          await sandbox.close();
          process.stderr.write('[sandbox] stopped\n');
        },
      ),
    );

  cmd
    .command('deploy <template>')
    .description('create or update a stack from a template file or a CloudFormation quick-create URL')
    .option('--stack-name <name>', 'stack name (a quick-create URL may carry one)')
    .option('--param <key=value>', 'template parameter, repeatable', collect)
    .option('--capabilities <cap>', 'acknowledged capabilities, repeatable', collect)
    .option('--region <region>', 'region of the stack')
    .option('--account <id>', 'account of the stack (default: the customer account)')
    .action(
      run(
        async (
          out,
          template: string,
          opts: { stackName?: string; param?: string[]; capabilities?: string[]; region?: string; account?: string },
        ) => {
          const body: Record<string, unknown> = {};
          const parameters: Record<string, string> = {};
          let stackName = opts.stackName;
          let region = opts.region;
          if (/^https?:\/\//.test(template)) {
            const q = parseQuickCreateUrl(template);
            body['templateURL'] = q.templateURL;
            Object.assign(parameters, q.parameters);
            stackName ??= q.stackName;
            region ??= q.region;
          } else {
            try {
              body['templateBody'] = readFileSync(template, 'utf8');
            } catch (e) {
              throw new AppError('validation_failed', `Cannot read template file ${template}: ${(e as Error).message}`);
            }
          }
          for (const kv of opts.param ?? []) {
            const eq = kv.indexOf('=');
            if (eq <= 0) throw new AppError('validation_failed', `--param expects Key=Value, got ${kv}`);
            parameters[kv.slice(0, eq)] = kv.slice(eq + 1);
          }
          if (!stackName) throw new AppError('validation_failed', 'A stack name is required: --stack-name <name>.');
          const client = connectAdmin(ctx.dataDir());
          const res = await client.call<DeployResult>('POST', '/stacks', {
            ...body,
            stackName,
            parameters,
            capabilities: opts.capabilities ?? ['CAPABILITY_NAMED_IAM'],
            ...(region ? { region } : {}),
            ...(opts.account ? { account: opts.account } : {}),
          });
          out.result(res, () => {
            printRecord(out, {
              stack: res.stackName,
              stackId: res.stackId,
              ...Object.fromEntries(Object.entries(res.outputs).map(([k, v]) => [`output ${k}`, v])),
            });
            for (const n of res.notes) out.warn(n);
          });
        },
      ),
    );

  cmd
    .command('verify-identity <identity>')
    .description('create an SES identity (domain or address) and mark it verified')
    .option('--region <region>', 'SES region')
    .option('--account <id>', 'account (default: the customer account)')
    .action(
      run(async (out, identity: string, opts: { region?: string; account?: string }) => {
        const res = await connectAdmin(ctx.dataDir()).call<Record<string, unknown>>('POST', '/identities', {
          identity,
          ...opts,
        });
        out.result(res, () => printRecord(out, res));
      }),
    );

  const dns = cmd.command('dns').description('the sandbox DNS: publish records as you would at your DNS provider');
  dns.command('list').action(
    run(async (out) => {
      const recs = await connectAdmin(ctx.dataDir()).call<Array<{ name: string; type: string; value: string }>>(
        'GET',
        '/dns',
      );
      out.result(recs, () =>
        out.table(recs, [
          { key: 'name', label: 'NAME' },
          { key: 'type', label: 'TYPE' },
          { key: 'value', label: 'VALUE' },
        ]),
      );
    }),
  );
  dns
    .command('add <name> <type> <value>')
    .description('publish one record (MX value: "10 host")')
    .action(
      run(async (out, name: string, type: string, value: string) => {
        const res = await connectAdmin(ctx.dataDir()).call('POST', '/dns', {
          records: [{ name, type: type.toUpperCase(), value }],
        });
        out.result(res, () => out.line(`Published ${name} ${type.toUpperCase()} ${value}`));
      }),
    );
  dns
    .command('load <file>')
    .description(
      'publish a zone-file snippet (`-` for standard input), e.g. the output of `sesame domains show <domain> --zone`',
    )
    .action(
      run(async (out, file: string) => {
        const zone = readFileSync(file === '-' ? 0 : file, 'utf8');
        const res = await connectAdmin(ctx.dataDir()).call<unknown[]>('POST', '/dns', { zone });
        out.result(res, () => out.line(`Published ${res.length} records.`));
      }),
    );
  dns
    .command('remove <name>')
    .option('--type <type>', 'only records of this type')
    .action(
      run(async (out, name: string, opts: { type?: string }) => {
        const res = await connectAdmin(ctx.dataDir()).call<{ removed: number }>(
          'DELETE',
          `/dns/${encodeURIComponent(name)}${opts.type ? `?type=${opts.type.toUpperCase()}` : ''}`,
        );
        out.result(res, () => out.line(`Removed ${res.removed} records.`));
      }),
    );

  cmd
    .command('mailbox')
    .description('list the messages SES accepted')
    .option('--region <region>', 'only this region')
    .option('--account <id>', 'only this account')
    .option('--clear', 'empty the mailbox')
    .action(
      run(async (out, opts: { region?: string; account?: string; clear?: boolean }) => {
        const client = connectAdmin(ctx.dataDir());
        if (opts.clear) {
          await client.call('DELETE', '/mailbox');
          out.result({ cleared: true }, () => out.line('Mailbox cleared.'));
          return;
        }
        const rows = await client.call<MailboxMessage[]>('GET', `/mailbox${scopeQuery(opts)}`);
        out.result(rows, () =>
          out.table(
            rows.map((m) => ({ ...m, to: [...m.to, ...m.cc, ...m.bcc].join(', ') })),
            [
              { key: 'sentAt', label: 'SENT' },
              { key: 'from', label: 'FROM' },
              { key: 'to', label: 'TO' },
              { key: 'subject', label: 'SUBJECT' },
              { key: 'region', label: 'REGION' },
              { key: 'messageId', label: 'MESSAGE ID' },
            ],
          ),
        );
      }),
    );

  cmd
    .command('create-user <name>')
    .description('create an IAM user (administrator of its account) and print its access key once')
    .option('--account <id>', 'account (default: the customer account)')
    .option('--key-created-at <time>', "the access key's CreateDate, ISO-8601 (default: now), to play an old key")
    .action(
      run(async (out, userName: string, opts: { account?: string; keyCreatedAt?: string }) => {
        const res = await connectAdmin(ctx.dataDir()).call<{
          arn: string;
          accessKeyId: string;
          secretAccessKey: string;
        }>('POST', '/users', { userName, ...opts });
        out.result(res, () => {
          printRecord(out, res);
          out.line('The secret is shown once (a sandbox key, not an AWS key).');
        });
      }),
    );

  cmd
    .command('put-secret <name> <json>')
    .description('store a Secrets Manager secret (platform account)')
    .option('--region <region>', 'region (default us-east-1)')
    .action(
      run(async (out, name: string, json: string, opts: { region?: string }) => {
        try {
          JSON.parse(json);
        } catch {
          throw new AppError(
            'validation_failed',
            'The secret value must be JSON, e.g. \'{"accessKeyId":"…","secretAccessKey":"…"}\'.',
          );
        }
        const res = await connectAdmin(ctx.dataDir()).call<{ arn: string }>('POST', '/secrets', {
          name,
          value: json,
          ...opts,
        });
        out.result(res, () => printRecord(out, res));
      }),
    );

  cmd
    .command('set-account')
    .description('change the SES account state (sandbox/production, quotas, pause, enforcement)')
    .option('--production', 'grant production access (leave the SES sandbox)')
    .option('--no-production', 'back to the SES sandbox')
    .option('--max-send-rate <n>', 'MaxSendRate per second', int('max-send-rate'))
    .option('--max-24h <n>', 'Max24HourSend', int('max-24h'))
    .option('--sending-enabled <bool>', 'true or false', bool('sending-enabled'))
    .option('--enforcement <status>', 'HEALTHY, PROBATION or SHUTDOWN')
    .option('--region <region>', 'SES region')
    .option('--account <id>', 'account (default: the customer account)')
    .action(
      run(
        async (
          out,
          opts: {
            production?: boolean;
            maxSendRate?: number;
            max24h?: number;
            sendingEnabled?: boolean;
            enforcement?: string;
            region?: string;
            account?: string;
          },
        ) => {
          const res = await connectAdmin(ctx.dataDir()).call<SesAccountView>('PUT', '/account', {
            ...(opts.production !== undefined ? { productionAccessEnabled: opts.production } : {}),
            ...(opts.maxSendRate !== undefined ? { maxSendRate: opts.maxSendRate } : {}),
            ...(opts.max24h !== undefined ? { max24HourSend: opts.max24h } : {}),
            ...(opts.sendingEnabled !== undefined ? { sendingEnabled: opts.sendingEnabled } : {}),
            ...(opts.enforcement !== undefined ? { enforcementStatus: opts.enforcement.toUpperCase() } : {}),
            ...(opts.region ? { region: opts.region } : {}),
            ...(opts.account ? { account: opts.account } : {}),
          });
          out.result(res, () => printRecord(out, res as unknown as Record<string, unknown>));
        },
      ),
    );

  cmd
    .command('status')
    .description('whether a sandbox runs for this data directory, and what it holds')
    .action(
      run(async (out) => {
        const client = connectAdmin(ctx.dataDir());
        const s = await client.call<SandboxStatus>('GET', '/status');
        const view = {
          running: client.mode === 'running',
          ...(client.pid ? { pid: client.pid } : {}),
          ...s,
          platform: s.platform.arn,
          platformAccessKeyId: s.platform.accessKeyId,
        };
        out.result(view, () => printRecord(out, view));
      }),
    );

  return cmd;
}
