import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.js';
import { backends } from '../helpers/store.js';

/** One way to pause a connection's queue, for every part of Sesame that must (worker, reputation guard). */
describe.each(backends())('pausing a connection (%s)', (backend) => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ backend });
  });
  afterEach(async () => {
    await h.close();
  });

  const audited = async (action: string) => (await h.call('GET', `/v1/audit?action=${action}`)).json.data;

  it('pauses once however many ask at once, audits that once, and changes nothing else', async () => {
    const created = (
      await h.call('POST', '/v1/connections', { name: 'host', region: 'us-east-1', mode: 'default_chain' })
    ).json;
    const pause = h.container.connections.pause;
    const results = await Promise.all([
      pause(created.id, 'ses_sending_paused', 'SES paused sending for this account.'),
      pause(created.id, 'reputation_guard', 'bounces 5.00 %', { sample: 40 }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const won = results[0] ? 'ses_sending_paused' : 'reputation_guard';

    const conn = (await h.call('GET', `/v1/connections/${created.id}`)).json;
    expect(conn.paused.reason).toMatch(new RegExp(`^${won}: `));
    expect(conn.paused.at).toBe(h.clock.now().toISOString());
    // Nothing but the pause: the status and the credential-cache version stay as they were.
    expect(conn.status).toBe(created.status);
    expect(conn.updatedAt).toBe(created.updatedAt);
    const entries = await audited('connection.paused');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ connectionId: created.id, actor: 'system', outcome: won });
    expect(entries[0].details.reason).toBeTypeOf('string');

    // Already paused: not again, and not audited again.
    expect(await pause(created.id, 'ses_sending_paused', 'again')).toBe(false);
    expect(await audited('connection.paused')).toHaveLength(1);

    // A person resumes it (once, however often asked); then it may be paused again.
    expect((await h.call('POST', `/v1/connections/${created.id}/resume`)).json.paused).toBeNull();
    expect((await h.call('POST', `/v1/connections/${created.id}/resume`)).json.paused).toBeNull();
    expect(await audited('connection.resumed')).toHaveLength(1);
    expect(await pause(created.id, 'aws_endpoint_not_aws', 'x'.repeat(600))).toBe(true);
    const again = (await h.call('GET', `/v1/connections/${created.id}`)).json;
    expect(again.paused.reason).toHaveLength(500);
    expect(await audited('connection.paused')).toHaveLength(2);
  });

  it('pauses nothing for a connection that does not exist', async () => {
    expect(await h.container.connections.pause('conn_missing', 'ses_sending_paused', 'why')).toBe(false);
    expect(await audited('connection.paused')).toEqual([]);
  });
});
