import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { AppError } from '../../src/errors.js';
import { createConnectionTester, type PropagationProgress } from '../../src/modules/connections/test-connection.js';
import type { Connection } from '../../src/store/connections.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const refuse = () => Promise.reject(new Error('not in this test'));

/**
 * While IAM may still be propagating a new role, the connection test waits on Sesame's clock
 * (500 ms doubling to 8 s): moving the clock is what lets it go on, never real time.
 */
describe('waiting for IAM to propagate a new role', () => {
  it('waits on the clock, 500 ms then 1 s, and goes on once the role can be assumed', async () => {
    const clock = manualClock(new Date('2026-03-01T00:00:00Z'));
    const assumableAt = clock.ms() + 1500;
    const conn = {
      id: 'conn_a',
      workspaceId: 'ws_1',
      name: 'prod',
      region: 'us-east-1',
      mode: 'role',
      status: 'untested',
      roleArn: 'arn:aws:iam::123456789012:role/SesameSES-prod',
      roleArnSetAt: clock.now().toISOString(),
      roleName: null,
      roleAccountId: null,
      externalId: 'x'.repeat(48),
      sendDomains: [],
      sourceIdentity: false,
      accessKeyId: null,
    } as unknown as Connection;
    const tester = createConnectionTester({
      clock,
      config: { propagationRetrySeconds: 10, region: 'us-east-1', keyAgeWarnDays: 90 },
      platform: { identity: refuse, credentials: refuse },
      gateway: {
        callerIdentity: refuse,
        assumeRoleRaw: refuse,
        getAccount: refuse,
        simulate: refuse,
        probeSend: refuse,
        listConfigurationSets: refuse,
        listOwnAccessKeys: refuse,
      },
      connections: {
        row: async () => conn,
        subject: () => ({}) as never,
        recordTest: async () => undefined,
        recordExternalIdCheck: async () => ({ before: 'unproven', after: 'unproven' }),
        recordAccessKeyCreated: async () => undefined,
      },
      broker: {
        providerForTest: async () => async () => {
          if (clock.ms() < assumableAt) throw new AppError('aws_trust_policy_denied', 'AccessDenied');
          return { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret' };
        },
        drop: () => undefined,
      },
      audit: { record: async () => undefined },
    });

    const progress: Array<Parameters<PropagationProgress>[0]> = [];
    const report = tester.test('ws_1', 'conn_a', 'test', { onPropagationRetry: (p) => progress.push(p) });
    await nextTurn();
    expect(progress).toEqual([{ retry: 1, of: 5, waitMs: 500 }]);
    await nextTurn();
    expect(progress).toHaveLength(1); // still waiting: time has not moved
    clock.advance(500);
    await nextTurn();
    expect(progress).toEqual([
      { retry: 1, of: 5, waitMs: 500 },
      { retry: 2, of: 5, waitMs: 1000 },
    ]);
    clock.advance(1000);
    const done = await report;
    expect(done.checks.find((c) => c.id === 'role_assumable')).toMatchObject({
      status: 'pass',
      message: expect.stringMatching(/after 2 retries over 2 s while IAM propagated the new role/),
    });
  });
});
