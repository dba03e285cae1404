import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, sendingSetup, startHarness, waitFor } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const start = (env: Record<string, string> = {}, realClock = false) =>
  startHarness({ env: { SESAME_WORKER_POLL_MS: '20', ...env }, realClock });
const send = async (to: string | string[] = 'x@customer.test', extra: Record<string, unknown> = {}) =>
  (await h.call('POST', '/v1/emails', { from: 'app@example.com', to, subject: 's', text: 't', ...extra })).json
    .id as string;
const message = async (id: string) => (await h.call('GET', `/v1/emails/${id}`)).json;
/** Send what is due now, then read the message. */
const drained = async (id: string) => {
  await h.drain();
  return message(id);
};
/** Move time past each backoff (measured on the injected clock) until the message reaches `status`. */
const pumpUntil = async (id: string, status: string) => {
  let m = await drained(id);
  for (let i = 0; i < 20 && m.status !== status; i++) {
    h.clock.advance(60_000);
    m = await drained(id);
  }
  expect(m.status).toBe(status);
  return m;
};

describe('worker: SES errors', () => {
  it('retries throttling with backoff, then sends', async () => {
    h = await start();
    await sendingSetup(h);
    h.sandbox.admin.inject('ses', 'SendEmail', 'TooManyRequestsException', 2);
    const id = await send();
    const m = await pumpUntil(id, 'sent');
    expect(m.attempts).toBe(3);
    expect(m.lastError).toBeNull();
    expect(h.sandbox.admin.mailbox()).toHaveLength(1);
  });

  it('gives up after the configured attempts with the reason', async () => {
    h = await start({ SESAME_SEND_MAX_ATTEMPTS: '3' });
    await sendingSetup(h);
    h.sandbox.admin.inject('ses', 'SendEmail', 'ServiceUnavailable', 100);
    const id = await send();
    const m = await pumpUntil(id, 'failed');
    expect(m.attempts).toBe(3);
    expect(m.lastError.code).toBe('ses_unavailable');
    expect(m.lastError.message).toMatch(/gave up after 3 attempts/);
  });

  it('treats MessageRejected as permanent, with a hint', async () => {
    h = await start();
    await sendingSetup(h, { production: false });
    const id = await send('unverified@customer.test');
    const m = await drained(id);
    expect(m.status).toBe('failed');
    expect(m.attempts).toBe(1);
    expect(m.lastError.code).toBe('ses_message_rejected');
    expect(m.lastError.message).toMatch(/not verified/);
    expect(m.lastError.hint).toMatch(/unverified recipient/);
  });

  it('refreshes expired credentials once and sends', async () => {
    h = await start();
    await sendingSetup(h);
    expect((await drained(await send())).status).toBe('sent');
    const before = h.sandbox.admin.stsCalls().filter((c) => c.roleSessionName?.endsWith('-send')).length;
    // AWS now refuses the cached session as expired (revoked, or the host clock is off).
    h.sandbox.admin.inject('ses', 'SendEmail', 'ExpiredTokenException', 1);
    const m = await drained(await send());
    expect(m).toMatchObject({ status: 'sent', attempts: 1 });
    expect(h.sandbox.admin.stsCalls().filter((c) => c.roleSessionName?.endsWith('-send')).length).toBe(before + 1);
  });

  it('pauses the connection when SES pauses sending, instead of burning through the queue', async () => {
    h = await start({ SESAME_QUOTA_REFRESH_SECONDS: '3600' });
    const { id: connId } = await sendingSetup(h);
    expect((await drained(await send())).status).toBe('sent');
    h.sandbox.admin.setAccount({ account: '222222222222', region: 'us-east-1', sendingEnabled: false });
    const a = await send('a@customer.test');
    const b = await send('b@customer.test');
    await h.drain();
    // Time passes: the paused queue is skipped, nothing more is tried.
    h.clock.advance(60_000);
    await h.drain();
    for (const id of [a, b]) expect((await message(id)).status).toBe('queued');
    expect(h.sandbox.admin.mailbox()).toHaveLength(1);
    const conn = (await h.call('GET', `/v1/connections/${connId}`)).json;
    expect(conn.paused.reason).toMatch(/^ses_sending_paused/);
    expect((await h.call('GET', '/v1/audit?action=connection.paused')).json.data).toHaveLength(1);
    h.sandbox.admin.setAccount({ account: '222222222222', region: 'us-east-1', sendingEnabled: true });
    expect((await h.call('POST', `/v1/connections/${connId}/resume`)).json.paused).toBeNull();
    // Sending sees the resume once its cached view of the connection expires.
    h.clock.advance(2000);
    expect((await drained(a)).status).toBe('sent');
    expect((await message(b)).status).toBe('sent');
  });
});

describe('worker: pacing', () => {
  /** The most recipients let through in any one-second window. */
  const worstWindow = (admitted: Array<{ recipients: number; at: number }>) =>
    Math.max(
      ...admitted.map((a) =>
        admitted.filter((b) => b.at >= a.at && b.at < a.at + 1000).reduce((n, b) => n + b.recipients, 0),
      ),
    );

  it('never lets more than MaxSendRate recipients go in any one-second window', async () => {
    // Injected time: waits move the clock, so the windows are exact whatever the machine's load.
    h = await start({ SESAME_WORKER_CONCURRENCY: '8' });
    await sendingSetup(h, { maxSendRate: 5 });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await send(`r${i}@customer.test`));
    ids.push(
      await send([
        'a@customer.test',
        'b@customer.test',
        'c@customer.test',
        'd@customer.test',
        'e@customer.test',
        'f@customer.test',
        'g@customer.test',
      ] as never),
    );
    await h.drain();
    for (const id of ids) expect((await message(id)).status).toBe('sent');
    expect(h.admitted.reduce((n, a) => n + a.recipients, 0)).toBe(37);
    expect(worstWindow(h.admitted)).toBeLessThanOrEqual(7); // the 7-recipient message goes alone
    const singles = h.admitted.filter((a) => a.recipients === 1);
    expect(worstWindow(singles)).toBeLessThanOrEqual(5);
    // …and not slower than it must be: 37 recipients at 5/s, with the window's jitter guard.
    const span = h.admitted[h.admitted.length - 1]!.at - h.admitted[0]!.at;
    expect(span).toBeLessThan(10_000);
    // SES saw them all, in windows of the same size.
    expect(h.sandbox.admin.mailbox()).toHaveLength(31);
  });

  it('shares the rate between several workers sending for one connection', async () => {
    h = await start({ SESAME_WORKER_CONCURRENCY: '4' }, true);
    await sendingSetup(h, { maxSendRate: 4 });
    const { createContainer } = await import('../../src/container.js');
    const { createLogger } = await import('../../src/logger.js');
    const platform = h.sandbox.admin.platformCredentials();
    const second = await createContainer(h.container.config, {
      store: h.container.store,
      logger: createLogger('silent'),
      platformCredentials: async () => ({
        accessKeyId: platform.accessKeyId,
        secretAccessKey: platform.secretAccessKey,
      }),
      onAdmit: (e) => h.admitted.push(e),
    });
    second.runner.start();
    h.container.runner.start();
    // Both have announced themselves, and each has counted the other since: a heartbeat after both rows exist.
    const workers = () => h.container.store.db.selectFrom('workers').select('heartbeat_at').execute();
    await waitFor(async () => (await workers()).length === 2, 'both workers to announce themselves');
    const bothThere = new Date().toISOString();
    await waitFor(
      async () => (await workers()).every((w) => w.heartbeat_at > bothThere),
      'each worker to count the other',
    );
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await send(`w${i}@customer.test`));
    for (const id of ids) await waitFor(async () => (await message(id)).status === 'sent', `message ${id} sent`);
    second.sending.stopTaking();
    await second.runner.stop();
    await second.sending.close();
    expect(h.admitted).toHaveLength(12);
    expect(worstWindow(h.admitted)).toBeLessThanOrEqual(4);
  });

  it('holds messages over the daily quota until it frees up, without failing them', async () => {
    h = await start({ SESAME_QUOTA_REFRESH_SECONDS: '1' });
    await sendingSetup(h, { max24HourSend: 2 });
    const ids = [await send('a@customer.test'), await send('b@customer.test'), await send('c@customer.test')];
    await h.drain();
    expect((await message(ids[0]!)).status).toBe('sent');
    expect((await message(ids[1]!)).status).toBe('sent');
    expect((await message(ids[2]!)).status).toBe('queued');
    expect(h.sandbox.admin.mailbox()).toHaveLength(2);
    // Within the recheck period nothing changes.
    h.clock.advance(500);
    await h.drain();
    expect((await message(ids[2]!)).status).toBe('queued');
    // When the 24-hour count drops (here: the sandbox forgets what it sent), the quota read next frees the message.
    h.sandbox.admin.clearMailbox();
    h.clock.advance(2000);
    expect((await drained(ids[2]!)).status).toBe('sent');
  });
});

describe('housekeeping', () => {
  it('a send abandoned in flight fails as send_outcome_unknown once its lease runs out, and is never sent again on its own', async () => {
    h = await start({ SESAME_WORKER_LEASE_SECONDS: '30' });
    await sendingSetup(h);
    const id = await send();
    // A worker takes the job, marks it in flight and dies before SES answers.
    const { jobs, messages } = h.container.repos;
    expect(await jobs.lease('send', { owner: 'dead', limit: 1, now: h.clock.now(), leaseMs: 30_000 })).toHaveLength(1);
    expect(await jobs.claim('send', id, 'dead', h.clock.now(), 30_000)).toBe(true);
    await messages.markSending(id, 1, h.clock.now().toISOString());

    // Within the lease nobody can tell it is dead: nothing happens.
    h.clock.advance(29_000);
    expect(await drained(id)).toMatchObject({ status: 'sending', lastError: null });
    h.clock.advance(2000);
    const m = await drained(id);
    expect(m).toMatchObject({ status: 'failed', lastError: { code: 'send_outcome_unknown' } });
    expect(m.lastError.hint).toMatch(/X-Sesame-Message-Id/);
    // Nor later (the sandbox refuses a signature 15 minutes off its clock: stay within that).
    h.clock.advance(10 * 60_000);
    await h.drain();
    expect(h.sandbox.admin.mailbox()).toHaveLength(0);

    // A person checks and sends it again.
    expect((await h.call('POST', `/v1/emails/${id}/retry`)).json.status).toBe('queued');
    expect(await drained(id)).toMatchObject({ status: 'sent', lastError: null });
    expect(h.sandbox.admin.mailbox()).toHaveLength(1);
  });

  it('forgets idempotency keys after 24 hours, through housekeeping', async () => {
    h = await start();
    await sendingSetup(h);
    const body = { from: 'app@example.com', to: 'x@customer.test', subject: 's', text: 't' };
    await h.call('POST', '/v1/emails', body, { headers: { 'idempotency-key': 'once' } });
    const stored = () => h.container.repos.idempotency.find(h.workspaceId, 'once');
    h.clock.advance(23 * 3600_000);
    await h.drain();
    expect(await stored()).toBeDefined();
    h.clock.advance(2 * 3600_000);
    await h.drain();
    expect(await stored()).toBeUndefined();
  });
});
