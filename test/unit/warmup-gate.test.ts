import { describe, expect, it } from 'vitest';
import { manualClock } from '../../src/clock.js';
import { createWarmupGate } from '../../src/modules/warmup/gate.js';
import type { UsageKey, WarmupPlan } from '../../src/store/warmup.js';

const plan = (over: Partial<WarmupPlan> = {}): WarmupPlan => ({
  id: 'wup_1',
  workspaceId: 'ws_1',
  connectionId: 'conn_a',
  domain: '',
  schedule: [2],
  startVolume: 2,
  doublingDays: 1,
  startDate: '2026-01-01',
  heldDays: 0,
  rolledOn: '2026-01-01',
  holdReason: null,
  pausedAt: null,
  accountQuota: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

/** The gate over stand-ins: plans as the test sets them, counters in memory. */
function setup() {
  const clock = manualClock(new Date('2026-01-01T12:00:00Z'));
  let plans: WarmupPlan[] = [plan()];
  let reads = 0;
  const used = new Map<string, number>();
  const id = (k: UsageKey) => `${k.connectionId}|${k.domain}|${k.day}`;
  const gate = createWarmupGate({
    clock,
    repo: {
      plansOf: async () => {
        reads++;
        return plans;
      },
      noteQuota: async () => undefined,
    },
    ramp: { roll: async (p) => p },
    usage: {
      take: async (k, n, allowance) => {
        const u = used.get(id(k)) ?? 0;
        if (u + n > allowance) return false;
        used.set(id(k), u + n);
        return true;
      },
      giveBack: async (k, n) => void used.set(id(k), Math.max(0, (used.get(id(k)) ?? 0) - n)),
    },
  });
  const admit = () => gate.admit({ connectionId: 'conn_a', from: 'app@example.com', recipients: 1, quota: null });
  return {
    clock,
    gate,
    admit,
    setPlans: (p: WarmupPlan[]) => void (plans = p),
    reads: () => reads,
  };
}

describe('warmup gate', () => {
  it("reads a connection's plans again once they are 2 s old on the injected clock, or when told they changed", async () => {
    const t = setup();
    expect((await t.admit()).ok).toBe(true);
    expect((await t.admit()).ok).toBe(true);
    expect(t.reads()).toBe(1);
    const held = await t.admit();
    expect(held).toMatchObject({ ok: false, until: new Date('2026-01-02T00:00:00Z') });

    // The plan is removed elsewhere: this process still holds to its copy until the copy is 2 s old.
    t.setPlans([]);
    t.clock.advance(1999);
    expect((await t.admit()).ok).toBe(false);
    t.clock.advance(2);
    expect((await t.admit()).ok).toBe(true);
    expect(t.reads()).toBe(2);

    t.setPlans([plan({ schedule: [0] })]);
    t.gate.forget('conn_a');
    expect((await t.admit()).ok).toBe(false);
    expect(t.reads()).toBe(3);
  });
});
