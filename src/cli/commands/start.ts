import { Command } from 'commander';
import { buildServer } from '../../http/server.js';
import { action } from '../context.js';
import { initialize, printInit } from './init.js';

export function startCommand(): Command {
  return new Command('start')
    .description('start the Sesame server (initialises the embedded setup on first run)')
    .option('--sandbox', 'use the local AWS sandbox (a development stand-in for STS and SES; never production)')
    .option('--port <port>', 'HTTP port (SESAME_PORT)')
    .option('--host <host>', 'HTTP address to bind (SESAME_HOST)')
    .option('--sandbox-port <port>', 'port of the local AWS sandbox', '4566')
    .action(
      action(async (ctx, opts: { sandbox?: boolean; port?: string; host?: string; sandboxPort: string }) => {
        if (opts.sandbox) ctx.globals.sandbox = true;
        const overrides: Record<string, unknown> = { sandboxPort: Number(opts.sandboxPort) };
        if (opts.port !== undefined) overrides.port = opts.port;
        if (opts.host !== undefined) overrides.host = opts.host;
        const c = await ctx.services(overrides);
        const first = await initialize(ctx);
        if (first.created || first.masterKey.created) printInit(ctx, first);
        const app = await buildServer(c);
        const address = await app.listen({ port: c.config.port, host: c.config.host });
        ctx.out.line(`Sesame is listening on ${address}${c.config.sandbox ? ` (AWS: local sandbox at ${c.config.endpoints.sts}; a development stand-in, not AWS)` : ''}`);
        ctx.out.line(`Health: ${address}/healthz. Stop with Ctrl-C.`);
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            c.logger.info({ signal }, 'shutting down');
            void app.close().then(resolve, resolve);
          };
          process.once('SIGINT', () => stop('SIGINT'));
          process.once('SIGTERM', () => stop('SIGTERM'));
        });
      }),
    );
}
