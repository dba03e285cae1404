import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { WarmupPlan, WarmupRepo } from '../../store/warmup.js';
import type { Audit } from '../audit/audit.js';
import type { Connection as ConnectionRow, Connections } from '../connections/service.js';
import {
  allowanceOf,
  DEFAULT_DOUBLING_DAYS,
  DEFAULT_START_VOLUME,
  daysBetween,
  dayIndex,
  nextDayStart,
  rampComplete,
  scheduleOf,
  stepOn,
  stepVolume,
  utcDay,
} from './plan.js';
import { planShape, type Ramp } from './ramp.js';
import { setWarmupSchema, warmupDomain, type WarmupView } from './schemas.js';
import type { WarmupUsage } from './usage.js';

export type { WarmupView } from './schemas.js';

/** The longest a start date may lie in the past or future. */
const MAX_START_OFFSET_DAYS = 366;

/**
 * Warmup plans for people (API and CLI): show, set, pause, resume, remove. Pausing holds the ramp
 * at its current step (sending goes on at that step's volume); resuming lets it advance again
 * from the next day. The worker enforces the plans through the warmup gate.
 */
export function createWarmup(deps: {
  repo: Pick<WarmupRepo, 'plan' | 'plansOf' | 'upsert' | 'setPaused' | 'delete'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
  connections: Pick<Connections, 'row' | 'subject'>;
  ramp: Pick<Ramp, 'roll'>;
  usage: Pick<WarmupUsage, 'used' | 'waiting'>;
  /** A plan changed: a worker in this process should not wait for its cache to expire. */
  onChange?: (connectionId: string) => void;
}) {
  const { repo, clock, audit } = deps;

  async function view(r: WarmupPlan): Promise<WarmupView> {
    const p = await deps.ramp.roll(r);
    const now = clock.now();
    const today = utcDay(now);
    const shape = planShape(p);
    const step = stepOn(shape, today);
    const volume = stepVolume(shape, step);
    const allowance = allowanceOf(volume, p.accountQuota);
    const sentToday = await deps.usage.used({ connectionId: p.connectionId, domain: p.domain, day: today });
    const index = dayIndex(shape, today);
    // A pause decided today's step; once resumed, that is no longer a reason to show (the ramp advances from tomorrow).
    const heldToday =
      p.holdReason !== null && p.rolledOn === today && !(p.pausedAt === null && p.holdReason === 'paused');
    return {
      id: p.id,
      connectionId: p.connectionId,
      domain: p.domain || null,
      mode: shape.schedule ? 'custom' : 'ramp',
      schedule: scheduleOf(shape, p.accountQuota),
      startVolume: shape.schedule ? null : p.startVolume,
      doublingDays: shape.schedule ? null : p.doublingDays,
      startedAt: `${p.startDate}T00:00:00.000Z`,
      started: index >= 0,
      currentDay: Math.max(0, index),
      currentStep: step,
      heldDays: p.heldDays,
      stepVolume: volume,
      accountQuota: p.accountQuota,
      todayAllowance: allowance,
      sentToday,
      remainingToday: Math.max(0, allowance - sentToday),
      waiting: await deps.usage.waiting(p.connectionId, p.domain),
      held: p.pausedAt !== null || heldToday,
      holdReason: p.pausedAt !== null ? 'paused' : heldToday ? p.holdReason : null,
      paused: p.pausedAt !== null,
      pausedAt: p.pausedAt,
      rampComplete: rampComplete(shape, step, p.accountQuota),
      nextDayAt: nextDayStart(now).toISOString(),
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
    };
  }

  function scopeOf(domain: string | undefined): string {
    if (domain === undefined) return '';
    const parsed = warmupDomain.safeParse(domain);
    if (!parsed.success)
      throw new AppError('validation_failed', `"${domain.slice(0, 100)}" is not a domain name.`, {
        details: { issues: [{ path: 'domain', message: 'must be a domain name such as example.com' }] },
      });
    return parsed.data;
  }

  async function plan(conn: Pick<ConnectionRow, 'id' | 'name'>, domain: string): Promise<WarmupPlan> {
    const p = await repo.plan(conn.id, domain);
    if (p) return p;
    const others = (await repo.plansOf(conn.id)).map((o) => o.domain);
    const what = domain ? `for ${domain}` : 'for the whole connection';
    throw new AppError('warmup_not_found', `Connection ${conn.name} has no warmup plan ${what}.`, {
      details: { plans: others.map((o) => o || '(whole connection)') },
      ...(others.length
        ? {
            hint: `Its plans: ${others.map((o) => o || '(whole connection, no domain)').join(', ')}. Name one with domain (--domain), or create this one with PUT /v1/connections/:id/warmup (sesame warmup set).`,
          }
        : {}),
    });
  }

  function parseInput(body: unknown) {
    const parsed = setWarmupSchema.safeParse(body ?? {});
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues.map((x) => ({ path: x.path.join('.') || 'body', message: x.message }));
    throw new AppError(
      'validation_failed',
      `The warmup plan is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { details: { issues } },
    );
  }

  async function setPaused(
    workspaceId: string,
    ref: string,
    domain: string | undefined,
    actor: string,
    paused: boolean,
  ): Promise<WarmupView> {
    const conn = await deps.connections.row(workspaceId, ref);
    // Decide the days up to today under the old state first: a pause holds from tomorrow on,
    // and the days a plan was paused stay held when it resumes.
    const p = await deps.ramp.roll(await plan(conn, scopeOf(domain)));
    const now = clock.now().toISOString();
    await repo.setPaused(p.id, paused ? (p.pausedAt ?? now) : null, now);
    deps.onChange?.(conn.id);
    await audit.record({
      workspaceId,
      connectionId: conn.id,
      actor,
      action: paused ? 'warmup.paused' : 'warmup.resumed',
      outcome: (p.pausedAt !== null) === paused ? 'unchanged' : 'ok',
      details: { planId: p.id, domain: p.domain || null },
    });
    return view(await plan(conn, p.domain));
  }

  return {
    /** The plans of a connection (one, with a domain). */
    async list(workspaceId: string, ref: string, domain?: string): Promise<WarmupView[]> {
      const conn = await deps.connections.row(workspaceId, ref);
      if (domain !== undefined) return [await view(await plan(conn, scopeOf(domain)))];
      const out: WarmupView[] = [];
      for (const p of await repo.plansOf(conn.id)) out.push(await view(p));
      return out;
    },

    /** Create or replace the plan for the connection (or one of its domains); it starts afresh. */
    async set(
      workspaceId: string,
      ref: string,
      body: unknown,
      actor: string,
    ): Promise<{ created: boolean; plan: WarmupView }> {
      const input = parseInput(body);
      const conn = await deps.connections.row(workspaceId, ref);
      const domain = input.domain ?? '';
      const sendDomains = deps.connections.subject(conn).sendDomains;
      if (domain && sendDomains.length && !sendDomains.includes(domain)) {
        throw new AppError(
          'validation_failed',
          `Connection ${conn.name} sends only from ${sendDomains.join(', ')}; a plan for ${domain} would never apply.`,
          { details: { issues: [{ path: 'domain', message: "not one of the connection's send domains" }] } },
        );
      }
      const now = clock.now();
      const iso = now.toISOString();
      const today = utcDay(now);
      const startDate = input.startAt ? utcDay(new Date(input.startAt)) : today;
      if (Math.abs(daysBetween(today, startDate)) > MAX_START_OFFSET_DAYS) {
        throw new AppError(
          'validation_failed',
          `startAt ${input.startAt} is more than ${MAX_START_OFFSET_DAYS} days away.`,
          {
            details: {
              issues: [{ path: 'startAt', message: `must be within ${MAX_START_OFFSET_DAYS} days of today` }],
            },
          },
        );
      }
      const settings = {
        schedule: input.schedule ?? null,
        startVolume: input.schedule ? input.schedule[0]! : (input.startVolume ?? DEFAULT_START_VOLUME),
        doublingDays: input.schedule ? 1 : (input.doublingDays ?? DEFAULT_DOUBLING_DAYS),
        startDate,
        heldDays: 0,
        // A plan starting later is decided from its first day; one started earlier from today.
        rolledOn: startDate > today ? startDate : today,
        holdReason: null,
        pausedAt: null,
        updatedAt: iso,
      };
      // A replaced plan keeps its id: a different id back means this call created it.
      const { created } = await repo.upsert({
        id: newId('wup', now.getTime()),
        workspaceId,
        connectionId: conn.id,
        domain,
        createdAt: iso,
        ...settings,
      });
      deps.onChange?.(conn.id);
      await audit.record({
        workspaceId,
        connectionId: conn.id,
        actor,
        action: 'warmup.set',
        outcome: created ? 'created' : 'replaced',
        details: {
          domain: domain || null,
          startDate,
          ...(input.schedule
            ? { schedule: input.schedule }
            : { startVolume: settings.startVolume, doublingDays: settings.doublingDays }),
        },
      });
      return { created, plan: await view(await plan(conn, domain)) };
    },

    pause: (workspaceId: string, ref: string, domain: string | undefined, actor: string) =>
      setPaused(workspaceId, ref, domain, actor, true),
    resume: (workspaceId: string, ref: string, domain: string | undefined, actor: string) =>
      setPaused(workspaceId, ref, domain, actor, false),

    /** Remove a plan. Messages it holds keep their place at the start of the next warmup day. */
    async remove(
      workspaceId: string,
      ref: string,
      domain: string | undefined,
      actor: string,
    ): Promise<{ connectionId: string; domain: string | null; deleted: true }> {
      const conn = await deps.connections.row(workspaceId, ref);
      const p = await plan(conn, scopeOf(domain));
      await repo.delete(p.id);
      deps.onChange?.(conn.id);
      await audit.record({
        workspaceId,
        connectionId: conn.id,
        actor,
        action: 'warmup.deleted',
        details: { planId: p.id, domain: p.domain || null },
      });
      return { connectionId: conn.id, domain: p.domain || null, deleted: true };
    },
  };
}

export type Warmup = ReturnType<typeof createWarmup>;
