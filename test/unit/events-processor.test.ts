import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createLogger } from '../../src/logger.js';
import { createEventProcessor } from '../../src/modules/events/processor.js';
import type { StoredNotification } from '../../src/store/events.js';

describe('event processor', () => {
  it('retries a notification it cannot apply 5 s later, doubling, and gives up at the 10th attempt', async () => {
    const clock = manualClock(new Date('2026-06-01T12:00:00Z'));
    const n: StoredNotification = {
      id: 'sns-1',
      connectionId: 'conn_1',
      workspaceId: 'ws_1',
      topicArn: 't',
      type: 'Notification',
      body: { Message: '{}' } as StoredNotification['body'],
      receivedAt: clock.now().toISOString(),
      attempts: 0,
    };
    const retries: Array<[number, number]> = [];
    let final: { outcome: string; attempts: number } | undefined;
    let applied = 0;
    const p = createEventProcessor({
      notifications: {
        due: async () => (final ? [] : [n]),
        retryAt: async (_id, attempts, at) => {
          retries.push([attempts, (Date.parse(at) - clock.ms()) / 1000]);
          n.attempts = attempts;
        },
        markProcessed: async (_id, outcome, attempts) => void (final = { outcome, attempts }),
      },
      events: { timeline: async () => [] },
      transaction: async () => {
        throw new Error('database is locked');
      },
      suppressions: { addFromEvent: async () => [] },
      clock,
      logger: createLogger('silent'),
      config: { transientBounceLimit: 3, transientBounceWindowDays: 7 },
      onApplied: () => void applied++,
    });
    while (await p.pass());
    expect(retries).toEqual([
      [1, 5],
      [2, 10],
      [3, 20],
      [4, 40],
      [5, 80],
      [6, 160],
      [7, 320],
      [8, 600],
      [9, 600],
    ]);
    expect(final).toEqual({ outcome: 'failed: database is locked', attempts: 10 });
    // Each batch ends by letting webhook deliveries start, failed or not.
    expect(applied).toBe(10);
  });
});
