import { Command } from 'commander';
import { action } from '../context.js';

/** Run the send worker alone (beside `sesame start --no-worker`, or several for more throughput). */
export function workerCommand(): Command {
  return new Command('worker')
    .description('run the send worker alone: takes queued messages and sends them through SES')
    .option('--concurrency <n>', 'sends in flight at once (SESAME_WORKER_CONCURRENCY)')
    .action(
      action(async (ctx, opts: { concurrency?: string }) => {
        const c = await ctx.services(opts.concurrency ? { workerConcurrency: opts.concurrency } : {});
        c.worker.start();
        c.events.start();
        c.webhookDelivery.start();
        c.domains.start();
        ctx.out.line(
          `Sesame worker ${c.worker.owner} is running (concurrency ${c.config.workerConcurrency}). Stop with Ctrl-C or SIGTERM: in-flight sends finish first.`,
        );
        await waitForSignal();
        ctx.out.line('Stopping: no new jobs are taken; waiting for in-flight sends…');
        await c.worker.stop();
        await c.events.stop();
        await c.webhookDelivery.stop();
        await c.domains.stop();
        ctx.out.line(
          `Stopped. Sent ${c.worker.stats.sent}, failed ${c.worker.stats.failed}, retried ${c.worker.stats.retried}.`,
        );
      }),
    );
}

export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = () => on('SIGINT');
    const onTerm = () => on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}
