import type { Clock } from '../clock.js';
import type { WorkersRepo } from '../store/workers.js';

/**
 * Workers announce themselves this often; one silent for three beats no longer counts. When a
 * worker joins or leaves, the others adjust their share within one beat.
 */
const HEARTBEAT_MS = 1000;

/** A sending process announces itself and learns how many share each connection's quota. */
export function createHeartbeat(deps: {
  clock: Clock;
  workers: Pick<WorkersRepo, 'beat' | 'liveSince' | 'prune' | 'remove'>;
  owner: string;
  onShare: (live: number) => void;
}) {
  const { clock, workers, owner } = deps;
  let lastAt: number | undefined;

  return {
    /** Beat when one is due. */
    async beatIfDue(): Promise<void> {
      const t = clock.ms();
      if (lastAt !== undefined && t - lastAt <= HEARTBEAT_MS) return;
      lastAt = t;
      await workers.beat(owner, new Date(t).toISOString());
      const live = await workers.liveSince(new Date(t - HEARTBEAT_MS * 3).toISOString());
      await workers.prune(new Date(t - HEARTBEAT_MS * 12).toISOString());
      deps.onShare(Math.max(1, live));
    },

    /** This process stops sending: the others take its share at their next beat. */
    async leave(): Promise<void> {
      if (lastAt === undefined) return;
      lastAt = undefined;
      await workers.remove(owner);
    },
  };
}
