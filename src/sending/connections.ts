import type { Clock } from '../clock.js';
import type { SendConnection } from './types.js';

/** A connection changes rarely; another process's change is seen within this long. */
const CONNECTION_TTL_MS = 2000;
/** Which queues wait is read at most this often while leasing. */
const HELD_TTL_MS = 1000;

/**
 * The connections sending reads for every job and every lease, cached briefly on the injected
 * clock. A change made in this process (a pause, a passing test) is told through forget().
 */
export function createConnectionCache(deps: {
  clock: Clock;
  load: (id: string) => Promise<SendConnection | undefined>;
  /** Connections whose queue waits: paused, or a role not proven to require its External ID. */
  held: () => Promise<string[]>;
}) {
  const { clock } = deps;
  const byId = new Map<string, { at: number; conn: SendConnection | undefined }>();
  let held: { at: number; ids: string[] } | undefined;

  return {
    async get(id: string): Promise<SendConnection | undefined> {
      const hit = byId.get(id);
      if (hit && clock.ms() - hit.at < CONNECTION_TTL_MS) return hit.conn;
      const conn = await deps.load(id);
      byId.set(id, { at: clock.ms(), conn });
      return conn;
    },

    async held(): Promise<string[]> {
      if (held && clock.ms() - held.at < HELD_TTL_MS) return held.ids;
      const ids = await deps.held();
      held = { at: clock.ms(), ids };
      return ids;
    },

    /** The connection was paused, resumed, tested or changed: read it (and the held list) again. */
    forget(id: string): void {
      byId.delete(id);
      held = undefined;
    },
  };
}

export type ConnectionCache = ReturnType<typeof createConnectionCache>;
