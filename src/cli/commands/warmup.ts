import { Command } from 'commander';
import { AppError } from '../../errors.js';
import { setWarmupSchema, type WarmupView } from '../../modules/warmup/schemas.js';
import { seg } from '../api-client.js';
import { action, type CliContext } from '../context.js';
import { printRecord } from '../output.js';

const columns = [
  { key: 'scope', label: 'DOMAIN' },
  { key: 'mode', label: 'PLAN' },
  { key: 'currentDay', label: 'DAY' },
  { key: 'currentStep', label: 'STEP' },
  { key: 'todayAllowance', label: 'ALLOWANCE' },
  { key: 'sentToday', label: 'SENT TODAY' },
  { key: 'waiting', label: 'WAITING' },
  { key: 'state', label: 'RAMP' },
];

const scope = (p: WarmupView) => p.domain ?? '(all)';
const state = (p: WarmupView) =>
  p.paused ? 'paused' : p.held ? `held (${p.holdReason})` : p.rampComplete ? 'complete' : 'ramping';
const shortSchedule = (s: number[]) =>
  s.length > 8 ? `${s.slice(0, 8).join(', ')}, … (${s.length} steps)` : s.join(', ');

/** One plan, for people (callers print JSON themselves). */
function printPlan(ctx: CliContext, p: WarmupView): void {
  printRecord(ctx.out, {
    domain: scope(p),
    plan:
      p.mode === 'ramp'
        ? `default ramp from ${p.startVolume}, doubling every ${p.doublingDays === 1 ? 'day' : `${p.doublingDays} days`} up to the SES quota`
        : 'custom',
    schedule: shortSchedule(p.schedule),
    started: p.startedAt.slice(0, 10) + (p.started ? '' : ' (not yet)'),
    'day / step': `${p.currentDay} / ${p.currentStep}${p.heldDays ? ` (${p.heldDays} days held)` : ''}`,
    'SES quota': p.accountQuota ?? 'not read yet',
    'today allowance': p.todayAllowance,
    'sent today': p.sentToday,
    waiting: p.waiting,
    ramp: state(p),
    'next day at': p.nextDayAt,
  });
}

const opts = (o: { domain?: string }) => o.domain;

/** "50,100,200" → [50, 100, 200]; whatever is not a number is left for the plan's validation to name. */
const numbers = (s: string) => s.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x.trim())));

export function warmupCommand(): Command {
  const cmd = new Command('warmup').description(
    "daily sending volume plans for new connections or domains: over the day's allowance messages wait for the next day (UTC); bounce or complaint rates at the warning level hold the ramp",
  );

  cmd
    .command('show <connection>')
    .description("the connection's plans: today's allowance, what was sent and what waits")
    .option('--domain <domain>', 'only the plan for this sending domain')
    .action(
      action(async (ctx, connection: string, o: { domain?: string }) => {
        const plans = (
          await ctx.api().get<{ data: WarmupView[] }>(`/v1/connections/${seg(connection)}/warmup`, { domain: opts(o) })
        ).data;
        ctx.out.result(plans, () => {
          if (plans.length === 1) return printPlan(ctx, plans[0]!);
          ctx.out.table(
            plans.map((p) => ({ ...p, scope: scope(p), state: state(p) })),
            columns,
          );
        });
      }),
    );

  cmd
    .command('set <connection>')
    .description(
      'create or replace a plan (it starts afresh): by default 50 a day, doubling every day up to the SES quota',
    )
    .option(
      '--domain <domain>',
      'only messages from this domain (exact match: example.com does not cover mail.example.com)',
    )
    .option('--schedule <volumes>', 'custom daily volumes, comma-separated (the last one holds): 50,100,200,500')
    .option('--doubling-days <n>', 'default ramp: double every 1 or 2 days')
    .option('--start-volume <n>', "default ramp: the first day's volume (50)")
    .option(
      '--start-at <date>',
      'first warmup day, YYYY-MM-DD (UTC; default today; an earlier date continues a warmup already under way)',
    )
    .action(
      action(
        async (
          ctx,
          connection: string,
          o: { domain?: string; schedule?: string; doublingDays?: string; startVolume?: string; startAt?: string },
        ) => {
          const body = {
            ...(o.domain !== undefined ? { domain: o.domain } : {}),
            ...(o.schedule !== undefined ? { schedule: numbers(o.schedule) } : {}),
            ...(o.doublingDays !== undefined ? { doublingDays: Number(o.doublingDays) } : {}),
            ...(o.startVolume !== undefined ? { startVolume: Number(o.startVolume) } : {}),
            ...(o.startAt !== undefined ? { startAt: o.startAt } : {}),
          };
          // Checked here with the plan's own schema, so a mistake is named as the flags put it.
          const parsed = setWarmupSchema.safeParse(body);
          if (!parsed.success) {
            const issues = parsed.error.issues.map((x) => ({ path: x.path.join('.') || 'body', message: x.message }));
            throw new AppError(
              'validation_failed',
              `The warmup plan is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
              { details: { issues } },
            );
          }
          const res = await ctx.api().request<WarmupView>('PUT', `/v1/connections/${seg(connection)}/warmup`, { body });
          const r = { created: res.status === 201, plan: res.body };
          ctx.out.result(r.plan, () => {
            ctx.out.line(
              `${r.created ? 'Created' : 'Replaced'} the warmup plan for ${r.plan.domain ?? `connection ${connection}`}.`,
            );
            printPlan(ctx, r.plan);
          });
        },
      ),
    );

  cmd
    .command('pause <connection>')
    .description(
      "hold the ramp at its current step: sending goes on at today's volume, the plan stops advancing until resumed",
    )
    .option('--domain <domain>', "the plan for this sending domain (default: the connection's own plan)")
    .action(
      action(async (ctx, connection: string, o: { domain?: string }) => {
        const p = await ctx
          .api()
          .post<WarmupView>(`/v1/connections/${seg(connection)}/warmup/pause`, undefined, { domain: opts(o) });
        ctx.out.result(p, () => {
          ctx.out.line(
            `The ramp holds at step ${p.currentStep} (${p.todayAllowance} a day) until \`sesame warmup resume\`.`,
          );
          printPlan(ctx, p);
        });
      }),
    );

  cmd
    .command('resume <connection>')
    .description('let a paused ramp advance again, from the next day')
    .option('--domain <domain>', "the plan for this sending domain (default: the connection's own plan)")
    .action(
      action(async (ctx, connection: string, o: { domain?: string }) => {
        const p = await ctx
          .api()
          .post<WarmupView>(`/v1/connections/${seg(connection)}/warmup/resume`, undefined, { domain: opts(o) });
        ctx.out.result(p, () => {
          ctx.out.line('The ramp advances again from the next warmup day.');
          printPlan(ctx, p);
        });
      }),
    );

  cmd
    .command('remove <connection>')
    .description('remove a plan (messages it holds still wait for the next warmup day)')
    .option('--domain <domain>', "the plan for this sending domain (default: the connection's own plan)")
    .action(
      action(async (ctx, connection: string, o: { domain?: string }) => {
        const r = await ctx
          .api()
          .delete<{ domain: string | null }>(`/v1/connections/${seg(connection)}/warmup`, { domain: opts(o) });
        ctx.out.result(r, () => ctx.out.line(`Removed the warmup plan for ${r.domain ?? `connection ${connection}`}.`));
      }),
    );
  return cmd;
}
