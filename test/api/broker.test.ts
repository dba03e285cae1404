import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectedRole, type Harness, startHarness } from '../helpers/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const assumeCalls = (h: Harness, suffix: string) =>
  h.sandbox.admin
    .stsCalls()
    .filter((c) => c.action === 'AssumeRole' && c.outcome === 'ok' && c.roleSessionName?.endsWith(suffix));

describe('credential broker', () => {
  it('makes exactly one AssumeRole for 1,000 concurrent callers on one connection', async () => {
    const { id } = await connectedRole(h);
    const before = assumeCalls(h, '-read').length;
    const results = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const creds = await h.container.connections.credentials(h.workspaceId, id, 'read');
        return (await creds()).accessKeyId;
      }),
    );
    expect(new Set(results).size).toBe(1);
    expect(assumeCalls(h, '-read').length - before).toBe(1);
    // …and 200 concurrent SES calls through those credentials still share it.
    const creds = await h.container.connections.credentials(h.workspaceId, id, 'read');
    await Promise.all(Array.from({ length: 200 }, () => h.container.gateway.getAccount(creds, 'us-east-1')));
    expect(assumeCalls(h, '-read').length - before).toBe(1);
    // Each purpose has its own session.
    await (
      await h.container.connections.credentials(h.workspaceId, id, 'send')
    )();
    expect(assumeCalls(h, '-send')).toHaveLength(1);
  });

  it('asks STS for the session duration the connection wants when Sesame is not on role credentials', async () => {
    const { id } = await connectedRole(h, 'prod', { sessionDurationSeconds: 7200 }, { MaxSessionDuration: '7200' });
    expect(
      await h.container.broker.durationFor(
        h.container.connections.subject(await h.container.connections.row(h.workspaceId, id)),
      ),
    ).toBe(7200);
  });

  it('retries AccessDenied while a new role propagates, and says so', async () => {
    await h.close();
    h = await startHarness({ propagationDelayMs: 1500, env: { SESAME_PROPAGATION_RETRY_SECONDS: '10' } });
    const { id } = await connectedRole(h);
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    const c = report.checks.find((x: any) => x.id === 'role_assumable');
    expect(c.status).toBe('pass');
    expect(c.message).toMatch(/after \d+ retries over \d+ s while IAM propagated the new role/);
  });

  it('gives up after the propagation budget with a clear message', async () => {
    await h.close();
    h = await startHarness({ propagationDelayMs: 60_000, env: { SESAME_PROPAGATION_RETRY_SECONDS: '1' } });
    const { id } = await connectedRole(h);
    const report = (await h.call('POST', `/v1/connections/${id}/test`)).json;
    const c = report.checks.find((x: any) => x.id === 'role_assumable');
    expect(c.status).toBe('fail');
    expect(c.message).toMatch(/still denied after \d+ retries/);
  });

  it('gives no more credentials for a connection once it is disconnected', async () => {
    const { id } = await connectedRole(h);
    await (
      await h.container.connections.credentials(h.workspaceId, id, 'read')
    )();
    await h.call('DELETE', `/v1/connections/${id}`);
    await expect(h.container.connections.credentials(h.workspaceId, id, 'read')).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});
