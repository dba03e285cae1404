import { Command } from 'commander';
import type { Container } from '../../container.js';
import { exitIfStuck, runProcess, workerRoles } from '../../main.js';
import { action } from '../context.js';

/** Run the send worker alone (beside `sesame start --no-worker`, or several for more throughput). */
export function workerCommand(): Command {
  return new Command('worker')
    .description('run the send worker alone: takes queued messages and sends them through SES')
    .option('--concurrency <n>', 'sends in flight at once (SESAME_WORKER_CONCURRENCY)')
    .action(
      action(async (ctx, opts: { concurrency?: string }) => {
        let c: Container | undefined;
        try {
          await runProcess({
            ports: [],
            prepare: async () => {
              c = await ctx.services(opts.concurrency ? { workerConcurrency: opts.concurrency } : {}, {
                flags: { workerConcurrency: '--concurrency' },
              });
              return workerRoles(c);
            },
            started: () =>
              ctx.out.line(
                `Sesame worker ${c!.sending.owner} is running (concurrency ${c!.config.workerConcurrency}). Stop with Ctrl-C or SIGTERM: in-flight sends finish first.`,
              ),
            stopping: () => ctx.out.line('Stopping: no new jobs are taken; waiting for in-flight sends…'),
          });
          const stats = c!.sending.stats;
          ctx.out.line(`Stopped. Sent ${stats.sent}, failed ${stats.failed}, retried ${stats.retried}.`);
        } finally {
          exitIfStuck();
        }
      }),
    );
}
