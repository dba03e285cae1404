import { Command } from 'commander';
import { buildServer } from '../../http/server.js';
import { createSmtpRelay } from '../../smtp/relay.js';
import { action } from '../context.js';
import { listening } from '../output.js';
import { initialize, printInit } from './init.js';
import { waitForSignal } from './worker.js';

export function startCommand(): Command {
  return new Command('start')
    .description('start the Sesame server (initialises the embedded setup on first run)')
    .option('--sandbox', 'use the local AWS sandbox (a development stand-in for STS and SES; never production)')
    .option('--port <port>', 'HTTP port (SESAME_PORT)')
    .option('--host <host>', 'HTTP address to bind (SESAME_HOST)')
    .option('--sandbox-port <port>', 'port of the local AWS sandbox', '4566')
    .option('--no-worker', 'do not run the send worker in this process (run `sesame worker` separately)')
    .option('--smtp-port <port>', 'SMTP relay port (SESAME_SMTP_PORT, default 2587)')
    .option('--no-smtp', 'do not run the SMTP relay')
    .action(
      action(
        async (
          ctx,
          opts: {
            sandbox?: boolean;
            port?: string;
            host?: string;
            sandboxPort: string;
            worker: boolean;
            smtp: boolean;
            smtpPort?: string;
          },
        ) => {
          if (opts.sandbox) ctx.globals.sandbox = true;
          const overrides: Record<string, unknown> = { sandboxPort: Number(opts.sandboxPort) };
          if (opts.port !== undefined) overrides.port = opts.port;
          if (opts.host !== undefined) overrides.host = opts.host;
          if (opts.smtpPort !== undefined) overrides.smtpPort = opts.smtpPort;
          // The master key must exist before the config is read, or the first run could not encrypt.
          const masterKey = ctx.ensureMasterKey();
          const c = await ctx.services(overrides);
          const first = await initialize(ctx);
          if (first.created || masterKey.created) printInit(ctx, { ...first, masterKey });
          const app = await buildServer(c);
          const address = await listening('API', c.config.port, '--port (SESAME_PORT)', () =>
            app.listen({ port: c.config.port, host: c.config.host }),
          );
          ctx.out.line(
            `Sesame is listening on ${address}${c.config.sandbox ? ` (AWS: local sandbox at ${c.config.endpoints.sts}; a development stand-in, not AWS)` : ''}`,
          );
          ctx.out.line(`Health: ${address}/healthz. Stop with Ctrl-C.`);
          let smtp: ReturnType<typeof createSmtpRelay> | undefined;
          if (opts.smtp) {
            smtp = createSmtpRelay({
              config: c.config,
              apiKeys: c.apiKeys,
              authLimit: c.authLimit,
              messages: c.messages,
              logger: c.logger,
            });
            const relay = smtp;
            const { port } = await listening(
              'SMTP relay',
              c.config.smtpPort,
              '--smtp-port (SESAME_SMTP_PORT), or --no-smtp',
              () => relay.listen(),
            );
            ctx.out.line(
              `SMTP relay on ${c.config.smtpHost}:${port} (AUTH PLAIN/LOGIN, user "sesame", an API key as password${c.config.smtpTlsCert ? ', STARTTLS' : ''}).`,
            );
          }
          if (opts.worker) c.worker.start();
          c.events.start();
          c.webhookDelivery.start();
          c.domains.start();
          const signal = await waitForSignal();
          c.logger.info({ signal }, 'shutting down: closing listeners, finishing in-flight sends');
          await Promise.all([app.close(), smtp?.close()]);
          await c.worker.stop();
          await c.events.stop();
          await c.webhookDelivery.stop();
          await c.domains.stop();
        },
      ),
    );
}
