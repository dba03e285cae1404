import { Command } from 'commander';
import type { Container } from '../../container.js';
import { exitIfStuck, runProcess, serverPorts, serverRoles } from '../../main.js';
import { action, type FlagNames } from '../context.js';
import { portFlag, SANDBOX_DNS_PORT, SANDBOX_PORT, sandboxPorts, sandboxRunning } from '../sandbox-env.js';
import { initialize, printInit, signInLinkFor } from './init.js';
import { removeLocalServer, writeLocalServer } from '../local-server.js';

const FLAGS: FlagNames = { port: '--port', host: '--host', smtpPort: '--smtp-port' };

export function startCommand(): Command {
  return new Command('start')
    .description('start the Sesame server (initialises the embedded setup on first run)')
    .option('--sandbox', 'use the local AWS sandbox (a development stand-in for STS and SES; never production)')
    .option('--port <port>', 'HTTP port (SESAME_PORT, default 3000)')
    .option('--host <host>', 'HTTP address to bind (SESAME_HOST)')
    .option('--sandbox-port <port>', 'port of the local AWS sandbox', portFlag('--sandbox-port'), SANDBOX_PORT)
    .option(
      '--sandbox-dns-port <port>',
      'port of the sandbox DNS server, UDP and TCP (0: any free port)',
      portFlag('--sandbox-dns-port'),
      SANDBOX_DNS_PORT,
    )
    .option('--no-worker', 'do not run the send worker in this process (run `sesame worker` separately)')
    .option('--smtp-port <port>', 'SMTP relay port (SESAME_SMTP_PORT, default 2587)')
    .option('--no-smtp', 'do not run the SMTP relay')
    .option('--owner-email <email>', 'make this person an owner and print a one-time sign-in link to the console')
    .action(
      action(
        async (
          ctx,
          opts: {
            sandbox?: boolean;
            port?: string;
            host?: string;
            sandboxPort: number;
            sandboxDnsPort: number;
            worker: boolean;
            smtp: boolean;
            smtpPort?: string;
            ownerEmail?: string;
          },
        ) => {
          if (opts.sandbox) ctx.globals.sandbox = true;
          const overrides: Record<string, unknown> = {};
          if (opts.port !== undefined) overrides.port = opts.port;
          if (opts.host !== undefined) overrides.host = opts.host;
          if (opts.smtpPort !== undefined) overrides.smtpPort = opts.smtpPort;
          const settings = ctx.settings(overrides, FLAGS);
          // A sandbox another process serves for this data directory is used as it is.
          if (ctx.sandboxMode && !sandboxRunning(ctx.dataDir()))
            ctx.sandboxListen = { port: opts.sandboxPort, dnsPort: opts.sandboxDnsPort };
          // In sandbox mode a default port that is busy moves to a free one (said at once), so a first
          // run works beside other programs; a port given by flag or variable is never moved.
          const env = process.env;
          const movable = {
            api: ctx.sandboxMode && opts.port === undefined && !env.SESAME_PORT,
            smtp: ctx.sandboxMode && opts.smtpPort === undefined && !env.SESAME_SMTP_PORT,
            sandbox: opts.sandboxPort === SANDBOX_PORT,
          };
          const [api, smtp] = serverPorts(settings, { smtp: opts.smtp });
          api!.movable = movable.api;
          if (smtp) smtp.movable = movable.smtp;
          const sandboxClaims = ctx.sandboxListen ? sandboxPorts(ctx.sandboxListen) : [];
          if (sandboxClaims[0]) sandboxClaims[0].movable = movable.sandbox;
          let c: Container | undefined;
          try {
            await runProcess({
              ports: [api!, ...(smtp ? [smtp] : []), ...sandboxClaims],
              moved: (moves) => {
                for (const m of moves)
                  ctx.out.line(`Port ${m.from} is in use by another program: ${m.what} uses ${m.to} instead.`);
              },
              prepare: async () => {
                // The ports as the start-up check left them (a busy development default moved).
                if (api!.port !== settings.port) overrides.port = api!.port;
                if (smtp && smtp.port !== settings.smtpPort) overrides.smtpPort = smtp.port;
                if (ctx.sandboxListen && sandboxClaims[0]) ctx.sandboxListen.port = sandboxClaims[0].port;
                c = await ctx.services(overrides, { flags: FLAGS, masterKey: 'create' });
                const first = await initialize(ctx);
                if (first.created || first.masterKey.created) printInit(ctx, first);
                if (opts.ownerEmail) await c.members.addOwner(first.workspace.id, opts.ownerEmail, ctx.actor);
                return serverRoles(c, { smtp: opts.smtp, worker: opts.worker });
              },
              started: async (up) => {
                const config = c!.config;
                writeLocalServer(ctx.dataDir(), { api: up.api!, ...(up.smtp ? { smtp: up.smtp } : {}) });
                ctx.out.line(
                  `Sesame is listening on ${up.api}${config.sandbox ? ` (AWS: local sandbox at ${config.endpoints.sts}; a development stand-in, not AWS)` : ''}`,
                );
                ctx.out.line(`Health: ${up.api}/healthz. Stop with Ctrl-C.`);
                if (up.smtp)
                  ctx.out.line(
                    `SMTP relay on ${up.smtp} (AUTH PLAIN/LOGIN, user "sesame", an API key as password${config.smtpTlsCert ? ', STARTTLS' : ''}).`,
                  );
                if (opts.ownerEmail) {
                  const link = await signInLinkFor(ctx, opts.ownerEmail);
                  ctx.out.line(
                    `Console: sign in as ${opts.ownerEmail} with this one-time link (until ${link.expiresAt}): ${link.url}`,
                  );
                } else
                  ctx.out.line(
                    `Console: ${up.api}/ (to sign in, make yourself an owner: sesame init --owner-email you@example.com prints a one-time link).`,
                  );
              },
              stopping: (signal) =>
                c?.logger.info({ signal }, 'shutting down: closing listeners, finishing in-flight sends'),
            });
          } finally {
            removeLocalServer(ctx.dataDir());
            exitIfStuck();
          }
        },
      ),
    );
}
