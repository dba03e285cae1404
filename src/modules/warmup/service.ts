import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Db } from '../../store/db.js';
import type { Connection } from '../../store/connections.js';
import type { WarmupPlanTable } from '../../store/schema.js';
import type { Audit } from '../audit/audit.js';
import type { Connections } from '../connections/service.js';
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
import { setWarmupSchema, warmupDomain } from './schemas.js';
import type { WarmupUsage } from './usage.js';

export interface WarmupView {
  id: string;
  connectionId: string;
  /** null: the plan covers every message of the connection. */
  domain: string | null;
  mode: 'ramp' | 'custom';
  /** Daily volumes, step by step (the default ramp: as far as the account quota). */
  schedule: number[];
  startVolume: number | null;
  doublingDays: number | null;
  startedAt: string;
  started: boolean;
  /** Days since the start (0 on the first day). */
  currentDay: number;
  /** Index into schedule: the day's step, behind currentDay by the days the ramp was held. */
  currentStep: number;
  heldDays: number;
  stepVolume: number;
  accountQuota: number | null;
  todayAllowance: number;
  sentToday: number;
  remainingToday: number;
  /** Queued messages of this plan's scope held by warmup for a later day (the connection's plan counts those its domain plans hold too). */
  waiting: number;
  /** True when the ramp did not advance today, or will not while paused. */
  held: boolean;
  holdReason: string | null;
  paused: boolean;
  pausedAt: string | null;
  rampComplete: boolean;
  nextDayAt: string;
  createdAt: string;
  updatedAt: string;
}

/** The longest a start date may lie in the past or future. */
const MAX_START_OFFSET_DAYS = 366;

/**
 * Warmup plans for people (API and CLI): show, set, pause, resume, remove. Pausing holds the ramp
 * at its current step (sending goes on at that step's volume); resuming lets it advance again
 * from the next day. The worker enforces the plans through the warmup gate.
 */
export function createWarmup(deps: {
  db: Db;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
  connections: Pick<Connections, 'row'>;
  ramp: Pick<Ramp, 'roll'>;
  usage: Pick<WarmupUsage, 'used' | 'waiting'>;
  /** A plan changed: a worker in this process should not wait for its cache to expire. */
  onChange?: (connectionId: string) => void;
}) {
  const { db, clock, audit } = deps;

  async function view(r: WarmupPlanTable): Promise<WarmupView> {
    const p = await deps.ramp.roll(r);
    const now = clock.now();
    const today = utcDay(now);
    const shape = planShape(p);
    const step = stepOn(shape, today);
    const volume = stepVolume(shape, step);
    const allowance = allowanceOf(volume, p.account_quota);
    const sentToday = await deps.usage.used({ connectionId: p.connection_id, domain: p.domain, day: today });
    const index = dayIndex(shape, today);
    // A pause decided today's step; once resumed, that is no longer a reason to show (the ramp advances from tomorrow).
    const heldToday =
      p.hold_reason !== null && p.rolled_on === today && !(p.paused_at === null && p.hold_reason === 'paused');
    return {
      id: p.id,
      connectionId: p.connection_id,
      domain: p.domain || null,
      mode: shape.schedule ? 'custom' : 'ramp',
      schedule: scheduleOf(shape, p.account_quota),
      startVolume: shape.schedule ? null : p.start_volume,
      doublingDays: shape.schedule ? null : p.doubling_days,
      startedAt: `${p.start_date}T00:00:00.000Z`,
      started: index >= 0,
      currentDay: Math.max(0, index),
      currentStep: step,
      heldDays: p.held_days,
      stepVolume: volume,
      accountQuota: p.account_quota,
      todayAllowance: allowance,
      sentToday,
      remainingToday: Math.max(0, allowance - sentToday),
      waiting: await deps.usage.waiting(p.connection_id, p.domain),
      held: p.paused_at !== null || heldToday,
      holdReason: p.paused_at !== null ? 'paused' : heldToday ? p.hold_reason : null,
      paused: p.paused_at !== null,
      pausedAt: p.paused_at,
      rampComplete: rampComplete(shape, step, p.account_quota),
      nextDayAt: nextDayStart(now).toISOString(),
      createdAt: p.created_at,
      updatedAt: p.updated_at,
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

  async function plan(conn: Pick<Connection, 'id' | 'name'>, domain: string): Promise<WarmupPlanTable> {
    const r = await db
      .selectFrom('warmup_plans')
      .selectAll()
      .where('connection_id', '=', conn.id)
      .where('domain', '=', domain)
      .executeTakeFirst();
    if (r) return r;
    const others = await db.selectFrom('warmup_plans').select('domain').where('connection_id', '=', conn.id).execute();
    const what = domain ? `for ${domain}` : 'for the whole connection';
    throw new AppError('warmup_not_found', `Connection ${conn.name} has no warmup plan ${what}.`, {
      details: { plans: others.map((o) => o.domain || '(whole connection)') },
      ...(others.length
        ? {
            hint: `Its plans: ${others.map((o) => o.domain || '(whole connection, no domain)').join(', ')}. Name one with domain (--domain), or create this one with PUT /v1/connections/:id/warmup (sesame warmup set).`,
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
    await db
      .updateTable('warmup_plans')
      .set({ paused_at: paused ? (p.paused_at ?? now) : null, updated_at: now })
      .where('id', '=', p.id)
      .execute();
    deps.onChange?.(conn.id);
    await audit.record({
      workspaceId,
      connectionId: conn.id,
      actor,
      action: paused ? 'warmup.paused' : 'warmup.resumed',
      outcome: (p.paused_at !== null) === paused ? 'unchanged' : 'ok',
      details: { planId: p.id, domain: p.domain || null },
    });
    return view(await plan(conn, p.domain));
  }

  return {
    /** The plans of a connection (one, with a domain). */
    async list(workspaceId: string, ref: string, domain?: string): Promise<WarmupView[]> {
      const conn = await deps.connections.row(workspaceId, ref);
      if (domain !== undefined) return [await view(await plan(conn, scopeOf(domain)))];
      const rows = await db
        .selectFrom('warmup_plans')
        .selectAll()
        .where('connection_id', '=', conn.id)
        .orderBy('domain')
        .execute();
      const out: WarmupView[] = [];
      for (const r of rows) out.push(await view(r));
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
      const sendDomains = conn.sendDomains;
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
      const values = {
        schedule: input.schedule ? JSON.stringify(input.schedule) : null,
        start_volume: input.schedule ? input.schedule[0]! : (input.startVolume ?? DEFAULT_START_VOLUME),
        doubling_days: input.schedule ? 1 : (input.doublingDays ?? DEFAULT_DOUBLING_DAYS),
        start_date: startDate,
        held_days: 0,
        // A plan starting later is decided from its first day; one started earlier from today.
        rolled_on: startDate > today ? startDate : today,
        hold_reason: null,
        paused_at: null,
        updated_at: iso,
      };
      // The quota another plan of the connection already knows, so a new one shows it at once.
      const known = await db
        .selectFrom('warmup_plans')
        .select('account_quota')
        .where('connection_id', '=', conn.id)
        .where('account_quota', 'is not', null)
        .executeTakeFirst();
      // One statement, so two requests setting the same plan at once cannot both insert: the
      // connection-wide plan's domain is '' (not NULL), so the unique key holds on both dialects.
      // A replaced plan keeps its id: a different id back means this call created it.
      const id = newId('wup', now.getTime());
      const saved = await db
        .insertInto('warmup_plans')
        .values({
          id,
          workspace_id: workspaceId,
          connection_id: conn.id,
          domain,
          account_quota: known?.account_quota ?? null,
          created_at: iso,
          ...values,
        })
        .onConflict((oc) => oc.columns(['connection_id', 'domain']).doUpdateSet(values))
        .returning('id')
        .executeTakeFirstOrThrow();
      const created = saved.id === id;
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
            : { startVolume: values.start_volume, doublingDays: values.doubling_days }),
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
      await db.deleteFrom('warmup_plans').where('id', '=', p.id).execute();
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
