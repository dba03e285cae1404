import { Command } from 'commander';
import { buildServer } from '../../http/server.js';
import { action } from '../context.js';
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
    .action(
      action(async (ctx, opts: { sandbox?: boolean; port?: string; host?: string; sandboxPort: string; worker: boolean }) => {
        if (opts.sandbox) ctx.globals.sandbox = true;
        const overrides: Record<string, unknown> = { sandboxPort: Number(opts.sandboxPort) };
        if (opts.port !== undefined) overrides.port = opts.port;
        if (opts.host !== undefined) overrides.host = opts.host;
        // The master key must exist before the config is read, or the first run could not encrypt.
        ctx.ensureMasterKey();
        const c = await ctx.services(overrides);
        const first = await initialize(ctx);
        if (first.created || first.masterKey.created) printInit(ctx, first);
        const app = await buildServer(c);
        const address = await app.listen({ port: c.config.port, host: c.config.host });
        ctx.out.line(`Sesame is listening on ${address}${c.config.sandbox ? ` (AWS: local sandbox at ${c.config.endpoints.sts}; a development stand-in, not AWS)` : ''}`);
        ctx.out.line(`Health: ${address}/healthz. Stop with Ctrl-C.`);
        if (opts.worker) c.worker.start();
        const signal = await waitForSignal();
        c.logger.info({ signal }, 'shutting down: closing listeners, finishing in-flight sends');
        await app.close();
        await c.worker.stop();
      }),
    );
}
