import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectedRole, type Harness, sendingSetup, startHarness, waitFor, waitForStatus } from '../helpers/harness.js';
import { backends } from '../helpers/store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let h: Harness;
afterEach(async () => {
  await h?.close();
  vi.useRealTimers();
});

const analytics = async (query = '', key?: string) => {
  const res = await h.call('GET', `/v1/analytics${query}`, undefined, key ? { key } : {});
  expect(res.status, res.text).toBe(200);
  return res.json;
};
const send = async (to: string, extra: Record<string, unknown> = {}) => {
  const res = await h.call('POST', '/v1/emails', {
    from: 'app@example.com',
    to,
    subject: 'hello',
    text: 'hi',
    ...extra,
  });
  expect(res.status, res.text).toBe(202);
  return res.json as { id: string; status: string };
};
const sumOf = (series: Array<{ counts: Record<string, number> }>, kind: string) =>
  series.reduce((n, b) => n + b.counts[kind]!, 0);

/**
 * Sesame and the sandbox follow the injected clock, but the AWS SDK signs with the system time and
 * the sandbox refuses signatures 15 minutes off its clock: moving the clock moves both.
 */
function setTime(ms: number): void {
  h.clock.set(new Date(ms));
  vi.setSystemTime(ms);
}

describe('GET /v1/analytics', () => {
  // On every store: the counts are written by the same statements on SQLite and PostgreSQL.
  it.each(backends())(
    'counts what the mailbox simulator did to real sends, with rates against the SES and guard lines and the quota SES reported (%s)',
    async (backend) => {
      h = await startHarness({ backend, listen: true, env: { SESAME_WORKER_POLL_MS: '20' } });
      const connId = (await sendingSetup(h, { maxSendRate: 14, max24HourSend: 50_000 })).id;
      const wiring = await h.call('POST', `/v1/connections/${connId}/events`);
      expect(wiring.status, wiring.text).toBe(200);
      await waitFor(
        async () =>
          h.sandbox.admin
            .snsTopics()
            .find((t) => t.arn === wiring.json.topicArn)
            ?.subscriptions.some((s) => s.confirmed),
        'the subscription to be confirmed',
      );

      const ids = [];
      for (const to of ['success', 'success+2', 'bounce', 'complaint'])
        ids.push((await send(`${to}@simulator.amazonses.com`)).id);
      for (const [id, status] of [
        [ids[0]!, 'delivered'],
        [ids[1]!, 'delivered'],
        [ids[2]!, 'bounced'],
        [ids[3]!, 'complained'],
      ] as const) {
        await waitForStatus(h, id, status);
      }
      await h.sandbox.admin.snsSettled();
      await h.drain();
      // The bounced address is suppressed now: accepted, never sent.
      expect((await send('bounce@simulator.amazonses.com')).status).toBe('suppressed');

      const a = await analytics();
      expect(a).toMatchObject({ bucket: 'day', timeZone: 'UTC' });
      expect(a.totals).toEqual({
        accepted: 5,
        suppressed: 1,
        sent: 4,
        failed: 0,
        delivered: 3, // the complaint's message was delivered first
        bounced: 1,
        bouncedPermanent: 1,
        bouncedTransient: 0,
        bouncedUndetermined: 0,
        complained: 1,
        rejected: 0,
        delayed: 0,
        opened: 0,
        clicked: 0,
      });
      expect(a.rates).toEqual({
        sent: 4,
        bounced: 1,
        complained: 1,
        bounceRate: 0.25,
        complaintRate: 0.25,
        level: 'ses_pause',
      });
      expect(a.thresholds).toMatchObject({
        sesReview: { bounceRate: 0.05, complaintRate: 0.001 },
        sesPause: { bounceRate: 0.1, complaintRate: 0.005 },
        guardWarn: { bounceRate: 0.02, complaintRate: 0.0005 },
        guardPause: { bounceRate: 0.04, complaintRate: 0.0008 },
      });
      // The default range: the last 7 days, in whole UTC days, today included.
      const today = Math.floor(h.clock.ms() / DAY) * DAY;
      expect(a.to).toBe(new Date(today + DAY).toISOString());
      expect(a.from).toBe(new Date(Math.floor((h.clock.ms() - 7 * DAY) / DAY) * DAY).toISOString());
      expect(a.series.at(-1)).toEqual({ start: new Date(today).toISOString(), counts: a.totals });
      expect(sumOf(a.series, 'sent')).toBe(4);

      expect(a.connections).toHaveLength(1);
      const c = a.connections[0];
      expect(c).toMatchObject({ id: connId, name: 'prod', paused: false, totals: a.totals, rates: a.rates });
      expect(c.quota).toMatchObject({ maxSendRate: 14, max24HourSend: 50_000, readAt: expect.any(String) });
      expect(c.quota.sentLast24Hours).toBeGreaterThanOrEqual(0);
      expect(a.queue).toEqual({
        depth: 0,
        inFlight: 0,
        due: 0,
        waiting: { warmup: 0, quota: 0, paused: 0, scheduled: 0, retry: 0 },
      });
    },
  );

  it('puts counts in the UTC hour or day they happened, as the clock moves', async () => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
    // Ten minutes into an hour of a day's middle, so nothing crosses a day by accident.
    const t0 = Math.floor(h.clock.ms() / DAY) * DAY + 10 * HOUR + 10 * 60_000;
    setTime(t0);
    await sendingSetup(h);
    const hour0 = t0 - 10 * 60_000;

    await waitForStatus(h, (await send('a@customer.test')).id, 'sent');
    setTime(t0 + 2 * HOUR);
    await waitForStatus(h, (await send('b@customer.test')).id, 'sent');

    const iso = (ms: number) => new Date(ms).toISOString();
    const hours = await analytics(`?from=${iso(hour0 - HOUR)}&to=${iso(hour0 + 3 * HOUR)}&bucket=hour`);
    expect(hours).toMatchObject({ from: iso(hour0 - HOUR), to: iso(hour0 + 3 * HOUR), bucket: 'hour' });
    expect(hours.series.map((b: { start: string }) => b.start)).toEqual(
      [0, 1, 2, 3].map((i) => iso(hour0 + (i - 1) * HOUR)),
    );
    expect(hours.series.map((b: { counts: { sent: number } }) => b.counts.sent)).toEqual([0, 1, 0, 1]);
    // A range that starts inside an hour takes that whole hour (the counts are hourly).
    const inside = await analytics(`?from=${iso(hour0 + 2 * HOUR + 30 * 60_000)}&to=${iso(hour0 + 3 * HOUR)}`);
    expect(inside).toMatchObject({ from: iso(hour0 + 2 * HOUR), bucket: 'hour' });
    expect(inside.totals.sent).toBe(1);
    // A day is the sum of its UTC hours.
    const day = await analytics(`?from=${iso(hour0)}&to=${iso(hour0 + HOUR)}&bucket=day`);
    expect(day).toMatchObject({ from: iso(hour0 - 10 * HOUR), to: iso(hour0 + 14 * HOUR), bucket: 'day' });
    expect(day.series).toHaveLength(1);
    expect(day.series[0].counts).toMatchObject({ accepted: 2, sent: 2 });

    // Eight days later the default range (the last 7 days) no longer holds them.
    setTime(t0 + 8 * DAY);
    await waitForStatus(h, (await send('c@customer.test')).id, 'sent');
    const week = await analytics();
    expect(week.bucket).toBe('day');
    expect(week.totals).toMatchObject({ accepted: 1, sent: 1 });
    expect(week.series).toHaveLength(8);
    expect((await analytics(`?from=${iso(hour0)}`)).totals.sent).toBe(3);
    // A short range is shown by the hour unless asked otherwise.
    const recent = await analytics(`?from=${iso(h.clock.ms() - 2 * HOUR)}`);
    expect(recent.bucket).toBe('hour');
    expect(recent.series).toHaveLength(3);
  });

  it('filters by connection (repeated or as a list) and shows each queue waiting by reason', async () => {
    h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
    const prod = (await sendingSetup(h)).id;
    const second = (await connectedRole(h, 'second')).id;
    // A warmup plan lets one message a day through `prod`; `second` is paused.
    expect((await h.call('PUT', `/v1/connections/${prod}/warmup`, { schedule: [1] })).status).toBe(201);
    const first = await send('a@customer.test');
    await waitForStatus(h, first.id, 'sent');
    await waitForStatus(h, (await send('b@customer.test', { connection: 'second' })).id, 'sent');
    await h.container.connections.pause(second, 'reputation_guard', 'paused for the test');
    h.container.sending.connectionChanged(second); // as the guard tells sending when it pauses
    await send('c@customer.test', { connection: 'second' });
    await send('d@customer.test', { connection: 'second' });
    const held = await send('e@customer.test');
    await h.drain();
    expect((await h.call('GET', `/v1/emails/${held.id}`)).json.lastError?.code).toBe('warmup_held');

    const all = await analytics();
    expect(all.totals).toMatchObject({ accepted: 5, sent: 2 });
    expect(all.queue).toEqual({
      depth: 3,
      inFlight: 0,
      due: 0,
      waiting: { warmup: 1, quota: 0, paused: 2, scheduled: 0, retry: 0 },
    });
    const byId = Object.fromEntries(all.connections.map((c: { id: string }) => [c.id, c]));
    expect(byId[prod]).toMatchObject({ name: 'prod', paused: false, totals: { accepted: 2, sent: 1 } });
    expect(byId[prod].queue.waiting).toMatchObject({ warmup: 1, paused: 0 });
    expect(byId[second]).toMatchObject({ name: 'second', paused: true, totals: { accepted: 3, sent: 1 } });
    expect(byId[second].queue).toMatchObject({ depth: 2, waiting: { paused: 2, warmup: 0 } });

    const only = await analytics(`?connectionId=${second}`);
    expect(only.connections.map((c: { id: string }) => c.id)).toEqual([second]);
    expect(only.totals).toMatchObject({ accepted: 3, sent: 1 });
    expect(only.queue.depth).toBe(2);
    for (const q of [`?connectionId=${prod},${second}`, `?connectionId=${prod}&connectionId=${second}`]) {
      const both = await analytics(q);
      expect(both.totals).toMatchObject({ accepted: 5, sent: 2 });
      expect(both.connections).toHaveLength(2);
    }
  });

  it('counts a message SES refused as failed, in the hour it failed', async () => {
    h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
    // In the SES sandbox, an unverified recipient is refused for good (MessageRejected).
    await sendingSetup(h, { production: false });
    const refused = await waitForStatus(h, (await send('unverified@customer.test')).id, 'failed');
    expect(refused.lastError.code).toBe('ses_message_rejected');
    await waitForStatus(h, (await send('success@simulator.amazonses.com')).id, 'sent');
    const a = await analytics();
    expect(a.totals).toMatchObject({ accepted: 2, sent: 1, failed: 1 });
    const hour = new Date(Math.floor(Date.parse(refused.updatedAt) / HOUR) * HOUR).toISOString();
    const hourly = await analytics(`?from=${hour}&to=${new Date(Date.parse(hour) + HOUR).toISOString()}`);
    expect(hourly.series).toEqual([{ start: hour, counts: expect.objectContaining({ failed: 1 }) }]);
  });

  it('refuses bad input with validation_failed naming the field', async () => {
    h = await startHarness();
    const refused = async (query: string, path: string) => {
      const res = await h.call('GET', `/v1/analytics${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json.error.code).toBe('validation_failed');
      expect(
        res.json.error.details.issues.map((i: { path: string }) => i.path),
        query,
      ).toContain(path);
      return res.json.error;
    };
    await refused('?from=yesterday', 'querystring.from');
    await refused('?to=2026-13-01T00:00:00Z', 'querystring.to');
    await refused('?bucket=week', 'querystring.bucket');
    await refused('?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', 'querystring.from');
    const tooMany = await refused('?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=hour', 'querystring.from');
    expect(tooMany.message).toMatch(/bucket=day/);
    await refused('?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'querystring.from');
    await refused('?connectionId=conn_nope', 'querystring.connectionId');
    expect((await h.call('GET', '/v1/analytics?since=2026-01-01T00:00:00Z')).json.error.code).toBe('validation_failed');
    expect((await h.call('GET', '/v1/analytics', undefined, { key: null })).status).toBe(401);
  });

  it("never shows another workspace's numbers, nor lets it name this workspace's connections", async () => {
    h = await startHarness({ env: { SESAME_WORKER_POLL_MS: '20' } });
    const connId = (await sendingSetup(h)).id;
    await waitForStatus(h, (await send('a@customer.test')).id, 'sent');
    await send('b@customer.test', { scheduled_at: new Date(h.clock.ms() + DAY).toISOString() });
    expect((await analytics()).totals).toMatchObject({ accepted: 2, sent: 1 });
    expect((await analytics()).queue.waiting.scheduled).toBe(1);

    const other = await h.container.workspaces.create('other', 'test');
    const { key } = await h.container.apiKeys.create(other.id, 'other', 'test');
    const theirs = await analytics('', key);
    expect(theirs.connections).toEqual([]);
    expect(Object.values(theirs.totals).every((n) => n === 0)).toBe(true);
    expect(theirs.queue.depth).toBe(0);
    const named = await h.call('GET', `/v1/analytics?connectionId=${connId}`, undefined, { key });
    expect(named.status).toBe(400);
    expect(named.json.error.code).toBe('validation_failed');
  });
});
