import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId } from '../../src/ids.js';
import { type Harness, sendingSetup, startHarness } from '../helpers/harness.js';
import { skippable, withoutPostgres } from '../helpers/skip.js';

const DAY = 86_400_000;
let h: Harness;
let connId: string;
afterEach(async () => {
  await h?.close();
  vi.useRealTimers();
});

/**
 * Sesame and the sandbox follow the injected clock, but the AWS SDK signs with the system time and
 * the sandbox refuses signatures 15 minutes off its clock: moving to another day moves both (the
 * system time keeps running from there, so timeouts still work).
 */
function setTime(ms: number): void {
  h.clock.set(new Date(ms));
  vi.setSystemTime(ms);
}

/** A harness whose clock stands at noon UTC, so nothing crosses a warmup day by accident. */
async function start(
  env: Record<string, string> = {},
  setup: Parameters<typeof sendingSetup>[1] = {},
  backend: 'sqlite' | 'postgres' = 'sqlite',
): Promise<void> {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  h = await startHarness({ backend, env: { SESAME_WORKER_POLL_MS: '20', ...env } });
  const now = h.clock.now().getTime();
  const noon = Math.floor(now / DAY) * DAY + DAY / 2;
  setTime(noon > now ? noon : noon + DAY);
  connId = (await sendingSetup(h, setup)).id;
}

/** To one second past the start of the next UTC day. */
function nextDay(): void {
  setTime((Math.floor(h.clock.now().getTime() / DAY) + 1) * DAY + 1000);
}

const send = async (to: string, from = 'app@example.com') => {
  const r = await h.call('POST', '/v1/emails', { from, to, subject: 's', text: 't' });
  expect(r.status, r.text).toBe(202);
  return r.json.id as string;
};
const plans = async (query = '') => (await h.call('GET', `/v1/connections/${connId}/warmup${query}`)).json.data;
const put = (body: unknown) => h.call('PUT', `/v1/connections/${connId}/warmup`, body);
const message = async (id: string) => (await h.call('GET', `/v1/emails/${id}`)).json;
const heldByWarmup = async (id: string) => {
  const m = await message(id);
  expect(m.lastError?.code, `message ${id} held by warmup`).toBe('warmup_held');
  return m;
};
/** Send what is due now, then read the message. */
const drained = async (id: string) => {
  await h.drain();
  return message(id);
};

describe('warmup plans', () => {
  it("holds messages over the day's allowance until the next warmup day, then sends them", async () => {
    await start();
    const created = await put({ schedule: [3, 6] });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      mode: 'custom',
      schedule: [3, 6],
      domain: null,
      currentDay: 0,
      currentStep: 0,
      todayAllowance: 3,
      sentToday: 0,
      waiting: 0,
      held: false,
      paused: false,
    });

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await send(`r${i}@customer.test`));
    await h.drain();
    expect(h.sandbox.admin.mailbox()).toHaveLength(3);
    // The three that went are `sent`; the other two wait, still `queued`.
    const now = await Promise.all(ids.map(async (id) => (await h.call('GET', `/v1/emails/${id}`)).json));
    const waiting = await Promise.all(now.filter((m) => m.status === 'queued').map((m) => heldByWarmup(m.id)));
    expect(waiting).toHaveLength(2);
    const nextDayStart = new Date((Math.floor(h.clock.now().getTime() / DAY) + 1) * DAY).toISOString();
    for (const m of waiting) {
      // Not failed, and no attempt counted: the message waits, saying why and until when.
      expect(m).toMatchObject({ status: 'queued', attempts: 0, lastError: { code: 'warmup_held' } });
      expect(m.lastError.message).toContain(nextDayStart);
      expect(m.lastError.message).toMatch(/allowance of 3 recipients/);
    }
    expect((await plans())[0]).toMatchObject({
      currentDay: 0,
      todayAllowance: 3,
      sentToday: 3,
      remainingToday: 0,
      waiting: 2,
      nextDayAt: nextDayStart,
    });
    // Time within the day does not release them.
    setTime(h.clock.now().getTime() + 3 * 3600_000);
    await h.drain();
    expect(h.sandbox.admin.mailbox()).toHaveLength(3);

    nextDay();
    await h.drain();
    for (const m of waiting) {
      const sent = await message(m.id);
      expect(sent.status).toBe('sent');
      expect(sent.lastError).toBeNull();
      expect(sent.attempts).toBe(1);
    }
    expect(h.sandbox.admin.mailbox()).toHaveLength(5);
    expect(h.admitted.slice(3).every((a) => a.at >= Date.parse(nextDayStart))).toBe(true);
    expect((await plans())[0]).toMatchObject({
      currentDay: 1,
      currentStep: 1,
      todayAllowance: 6,
      sentToday: 2,
      remainingToday: 4,
      waiting: 0,
      held: false,
    });
  });

  it('two workers sharing one store never send past the allowance together', async () => {
    await start({ SESAME_WORKER_CONCURRENCY: '8' });
    await put({ schedule: [7] });
    const { createContainer } = await import('../../src/container.js');
    const { createLogger } = await import('../../src/logger.js');
    const platform = h.sandbox.admin.platformCredentials();
    const second = await createContainer(h.container.config, {
      clock: h.clock,
      store: h.container.store,
      logger: createLogger('silent'),
      platformCredentials: async () => ({
        accessKeyId: platform.accessKeyId,
        secretAccessKey: platform.secretAccessKey,
      }),
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await send(`t${i}@customer.test`));
    try {
      // Both send at once, each with its own cache and pacing.
      await Promise.all([h.drain(), second.runner.drainOnce()]);
      expect(h.sandbox.admin.mailbox()).toHaveLength(7);
      expect((await plans())[0]).toMatchObject({ sentToday: 7, waiting: 13 });
    } finally {
      await second.runner.stop();
      await second.sending.close();
    }
  });

  it('the default ramp starts at 50 and doubles every day (or two) up to the SES quota', async () => {
    await start({}, { max24HourSend: 150 });
    verifyOther();
    const ramp = await put({});
    expect(ramp.json).toMatchObject({
      mode: 'ramp',
      startVolume: 50,
      doublingDays: 1,
      todayAllowance: 50,
      accountQuota: null,
      rampComplete: false,
    });
    expect(ramp.json.schedule.slice(0, 4)).toEqual([50, 100, 200, 400]);
    const slow = await put({ domain: 'other.com', doublingDays: 2, startVolume: 10 });
    expect(slow.json).toMatchObject({ domain: 'other.com', mode: 'ramp', todayAllowance: 10 });
    expect(slow.json.schedule.slice(0, 5)).toEqual([10, 10, 20, 20, 40]);

    // Once a worker has read the SES quota (Max24HourSend 150), the ramp stops there.
    expect((await drained(await send('q@customer.test'))).status).toBe('sent');
    expect((await plans())[0].accountQuota).toBe(150);
    nextDay();
    let [own, other] = await plans();
    expect(own).toMatchObject({
      domain: null,
      currentDay: 1,
      currentStep: 1,
      todayAllowance: 100,
      rampComplete: false,
    });
    expect(other).toMatchObject({ domain: 'other.com', currentStep: 1, todayAllowance: 10 });
    nextDay();
    [own, other] = await plans();
    expect(own).toMatchObject({
      currentStep: 2,
      stepVolume: 200,
      todayAllowance: 150,
      rampComplete: true,
      schedule: [50, 100, 150],
    });
    expect(other).toMatchObject({ currentStep: 2, todayAllowance: 20 });
  });

  it('a plan for a domain holds only messages from that domain', async () => {
    await start();
    verifyOther();
    await put({ domain: 'example.com', schedule: [1] });
    const a = [
      await send('a1@customer.test', 'Shop <shop@example.com>'),
      await send('a2@customer.test', 'shop@EXAMPLE.com'),
    ];
    const b = [await send('b1@customer.test', 'app@other.com'), await send('b2@customer.test', 'app@other.com')];
    await h.drain();
    for (const id of b) expect((await message(id)).status).toBe('sent');
    expect(h.sandbox.admin.mailbox()).toHaveLength(3);
    const statuses = await Promise.all(a.map(async (id) => (await h.call('GET', `/v1/emails/${id}`)).json));
    const queued = statuses.filter((m) => m.status === 'queued');
    expect(queued).toHaveLength(1);
    await heldByWarmup(queued[0].id);
    expect(await plans('?domain=example.com')).toEqual([
      expect.objectContaining({ domain: 'example.com', todayAllowance: 1, sentToday: 1, waiting: 1 }),
    ]);
  });

  it('bounces at the warning level hold the ramp at its step; it advances again once rates are fine', async () => {
    await start({ SESAME_REPUTATION_MIN_SENDS: '20' });
    await put({ schedule: [3, 6, 12] });
    for (let i = 0; i < 3; i++) expect((await drained(await send(`r${i}@customer.test`))).status).toBe('sent');
    // Earlier sends: one bounce in 43 (2.3 %) is above the warning line (2 %), below the pause line.
    const bounced = await pastSends(40, 1);
    nextDay();
    expect((await plans())[0]).toMatchObject({
      currentDay: 1,
      currentStep: 0,
      heldDays: 1,
      todayAllowance: 3,
      held: true,
      holdReason: expect.stringMatching(/^reputation_warn: bounces 2\.33 %/),
    });
    // The step of a day is decided once: better rates later that day do not change it.
    await h.container.store.db.updateTable('messages').set({ status: 'delivered' }).where('id', '=', bounced).execute();
    expect((await plans())[0]).toMatchObject({ currentStep: 0, held: true });
    nextDay();
    expect((await plans())[0]).toMatchObject({
      currentDay: 2,
      currentStep: 1,
      heldDays: 1,
      todayAllowance: 6,
      held: false,
      holdReason: null,
    });
  });

  it('pause holds the ramp at its step (sending goes on); resume lets it advance from the next day', async () => {
    await start();
    await put({ schedule: [3, 6, 12, 24] });
    const paused = await h.call('POST', `/v1/connections/${connId}/warmup/pause`);
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({
      paused: true,
      held: true,
      holdReason: 'paused',
      currentStep: 0,
      todayAllowance: 3,
    });
    nextDay();
    nextDay();
    expect((await plans())[0]).toMatchObject({
      currentDay: 2,
      currentStep: 0,
      heldDays: 2,
      todayAllowance: 3,
      paused: true,
    });
    // Paused is not stopped: today's allowance still sends.
    expect((await drained(await send('p@customer.test'))).status).toBe('sent');
    const resumed = await h.call('POST', `/v1/connections/${connId}/warmup/resume`);
    // Today's step stays where the pause left it, but the plan is no longer held.
    expect(resumed.json).toMatchObject({
      paused: false,
      held: false,
      holdReason: null,
      currentStep: 0,
      heldDays: 2,
      todayAllowance: 3,
      sentToday: 1,
    });
    nextDay();
    expect((await plans())[0]).toMatchObject({
      currentDay: 3,
      currentStep: 1,
      todayAllowance: 6,
      held: false,
      paused: false,
    });
    const audit = (await h.call('GET', '/v1/audit?limit=50')).json.data.map((e: { action: string }) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['warmup.set', 'warmup.paused', 'warmup.resumed']));
  });

  it('replaces and removes plans; refuses bad input with stable codes', async () => {
    await start();
    const bad: Array<[unknown, string]> = [
      [{ schedule: [] }, 'schedule'],
      [{ schedule: [50, -1] }, 'schedule.1'],
      [{ schedule: [0] }, 'schedule.0'],
      [{ schedule: [1.5] }, 'schedule.0'],
      [{ schedule: [50], doublingDays: 2 }, 'schedule'],
      [{ doublingDays: 3 }, 'doublingDays'],
      [{ startVolume: -50 }, 'startVolume'],
      [{ domain: 'not a domain' }, 'domain'],
      [{ startAt: 'yesterday' }, 'startAt'],
      // A day that does not exist is refused, not rolled over to March 2.
      [{ startAt: '2026-02-30' }, 'startAt'],
      // A time without an offset would be read in the server's time zone.
      [{ startAt: '2026-03-01T10:00:00' }, 'startAt'],
      [{ volume: 5 }, 'volume'],
    ];
    for (const [body, field] of bad) {
      const r = await put(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('validation_failed');
      // The issue names the field at fault (an unknown key is named in the message of the body's issue).
      const issues = r.json.error.details.issues as Array<{ path: string; message: string }>;
      expect(
        issues.some((i) => i.path === `body.${field}` || i.message === `Unrecognized key: "${field}"`),
        `${JSON.stringify(body)}: ${JSON.stringify(issues)}`,
      ).toBe(true);
    }
    expect((await h.call('PUT', '/v1/connections/conn_nope/warmup', { schedule: [5] })).json.error.code).toBe(
      'not_found',
    );
    expect((await h.call('POST', `/v1/connections/${connId}/warmup/pause`)).json.error).toMatchObject({
      code: 'warmup_not_found',
      hint: expect.stringContaining('sesame warmup set'),
    });

    // Started ten days ago: the plan continues a warmup already under way.
    const started = new Date(h.clock.now().getTime() - 10 * DAY).toISOString().slice(0, 10);
    expect((await put({ domain: 'example.com', startAt: started })).json).toMatchObject({
      currentDay: 10,
      currentStep: 10,
      todayAllowance: 50 * 2 ** 10,
    });
    // A time with an offset counts by its UTC day: late evening in New York is tomorrow in UTC.
    const today = h.clock.now().toISOString().slice(0, 10);
    const tomorrow = new Date(h.clock.now().getTime() + DAY).toISOString().slice(0, 10);
    expect((await put({ domain: 'example.com', startAt: `${today}T23:30:00-05:00` })).json).toMatchObject({
      startedAt: `${tomorrow}T00:00:00.000Z`,
      started: false,
    });
    const replaced = await put({ domain: 'EXAMPLE.com', schedule: [7] });
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({ domain: 'example.com', currentDay: 0, todayAllowance: 7 });
    const missing = await h.call('GET', `/v1/connections/${connId}/warmup?domain=other.com`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('warmup_not_found');
    expect(missing.json.error.hint).toContain('example.com');

    // Another workspace sees nothing of it.
    const ws = await h.container.workspaces.create('other', 'test');
    const { key } = await h.container.apiKeys.create(ws.id, 'other', 'test', { scopes: ['admin'] });
    for (const [method, path] of [
      ['GET', ''],
      ['PUT', ''],
      ['POST', '/pause'],
      ['DELETE', '?domain=example.com'],
    ] as const) {
      const r = await h.call(
        method,
        `/v1/connections/${connId}/warmup${path}`,
        method === 'PUT' ? { schedule: [1] } : undefined,
        { key },
      );
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json.error.code).toBe('not_found');
    }

    const removed = await h.call('DELETE', `/v1/connections/${connId}/warmup?domain=example.com`);
    expect(removed.json).toEqual({ connectionId: connId, domain: 'example.com', deleted: true });
    expect(await plans()).toEqual([]);
    const audit = (await h.call('GET', '/v1/audit?limit=50')).json.data.filter((e: { action: string }) =>
      e.action.startsWith('warmup.'),
    );
    expect(audit.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`)).toEqual([
      'warmup.deleted:ok',
      'warmup.set:replaced',
      'warmup.set:replaced',
      'warmup.set:created',
    ]);
  });

  it('without a quota reading of its own, the worker holds to the quota last noted on the plan, as the plan shows', async () => {
    await start();
    await put({ schedule: [5] });
    // A worker read Max24HourSend 2 earlier; this one cannot read it (its guess would be the SES sandbox's 200).
    await h.container.repos.warmup.noteQuota(connId, 2);
    h.sandbox.admin.inject('ses', 'GetAccount', 'AccessDeniedException', 1000);
    expect((await plans())[0]).toMatchObject({ accountQuota: 2, todayAllowance: 2 });
    for (let i = 0; i < 3; i++) await send(`q${i}@customer.test`);
    await h.drain();
    expect(h.sandbox.admin.mailbox()).toHaveLength(2);
    expect((await plans())[0].waiting).toBe(1);
    const held = (await h.call('GET', '/v1/emails?status=queued')).json.data;
    expect(held).toHaveLength(1);
    expect((await heldByWarmup(held[0].id)).lastError.message).toMatch(/allowance of 2 recipients/);
  });

  it("gives the day's share back when sending fails before SES is called", async () => {
    await start();
    await put({ schedule: [1] });
    const id = await send('corrupt@customer.test');
    await h.container.store.db.updateTable('messages').set({ payload: '{not json' }).where('id', '=', id).execute();
    expect((await drained(id)).lastError.code).toBe('message_unreadable');
    expect((await plans())[0]).toMatchObject({ sentToday: 0, remainingToday: 1 });
  });

  it('two requests setting the same plan at once: one creates it, the other replaces it', async () => {
    await start();
    for (const domain of [undefined, 'example.com']) {
      const rs = await Promise.all([
        put({ domain, schedule: [3] }),
        put({ domain, schedule: [4] }),
        put({ domain, schedule: [5] }),
      ]);
      expect(rs.map((r) => r.status).sort(), rs.map((r) => r.text).join('\n')).toEqual([200, 200, 201]);
    }
    expect((await plans()).map((p: { domain: string | null }) => p.domain)).toEqual([null, 'example.com']);
  });
});

describe.skipIf(withoutPostgres)(skippable('warmup on PostgreSQL', withoutPostgres), () => {
  it('two requests setting the same plan at once: one creates it, the other replaces it', async () => {
    await start({}, {}, 'postgres');
    const rs = await Promise.all([put({ schedule: [3] }), put({ schedule: [4] }), put({ schedule: [5] })]);
    expect(rs.map((r) => r.status).sort(), rs.map((r) => r.text).join('\n')).toEqual([200, 200, 201]);
    expect(await plans()).toHaveLength(1);
  });

  it('holds messages over the allowance: their jobs wait for the next warmup day', async () => {
    await start({}, {}, 'postgres');
    await put({ domain: 'example.com', schedule: [2] });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await send(`pg${i}@customer.test`));
    await h.drain();
    expect(h.sandbox.admin.mailbox()).toHaveLength(2);
    expect((await plans())[0]).toMatchObject({ sentToday: 2, todayAllowance: 2, waiting: 2 });
    const next = new Date((Math.floor(h.clock.now().getTime() / DAY) + 1) * DAY).toISOString();
    // The two that went left the queue once their outcome was written; the two held stay, for tomorrow.
    const jobs = await h.container.store.db
      .selectFrom('jobs')
      .select(['id', 'run_at'])
      .where('queue', '=', 'send')
      .where('id', 'in', ids)
      .execute();
    expect(jobs.map((j) => j.run_at)).toEqual([next, next]);
  });
});

function verifyOther(): void {
  h.sandbox.admin.verifyIdentity('other.com', { account: '222222222222', region: 'us-east-1' });
}

/** Sends of the connection from the day before, `bounces` of them bounced; returns a bounced id. */
async function pastSends(n: number, bounces: number): Promise<string> {
  const at = new Date(h.clock.now().getTime() - DAY).toISOString();
  const rows = Array.from({ length: n }, (_, i) => ({
    id: newId('msg', h.clock.ms()),
    workspace_id: h.workspaceId,
    connection_id: connId,
    api_key_id: null,
    source: 'api',
    status: i < bounces ? 'bounced' : 'delivered',
    from_address: 'app@example.com',
    subject: 'earlier',
    recipients: JSON.stringify({ to: [`old${i}@customer.test`], cc: [], bcc: [] }),
    recipient_count: 1,
    tags: '{}',
    payload: '{}',
    size_bytes: 1,
    scheduled_at: null,
    ses_message_id: null,
    attempts: 1,
    last_error_code: null,
    last_error_message: null,
    last_error_hint: null,
    suppressed: null,
    created_at: at,
    updated_at: at,
    sent_at: at,
  }));
  await h.container.store.db.insertInto('messages').values(rows).execute();
  return rows[0]!.id;
}
