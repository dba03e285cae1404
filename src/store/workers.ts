import type { Executor } from './db.js';

/** Processes that send, each announcing itself; the only writer of `workers`. */
export function createWorkersRepo(db: Executor) {
  return {
    /** Announce `id` as alive at `at` (its first beat also records when it started). */
    async beat(id: string, at: string): Promise<void> {
      await db
        .insertInto('workers')
        .values({ id, heartbeat_at: at, started_at: at })
        .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: at }))
        .execute();
    },

    /** Workers heard from after `since`. */
    async liveSince(since: string): Promise<number> {
      const r = await db
        .selectFrom('workers')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('heartbeat_at', '>', since)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    /** Forget workers silent since before `before`. */
    async prune(before: string): Promise<void> {
      await db.deleteFrom('workers').where('heartbeat_at', '<', before).execute();
    },

    async remove(id: string): Promise<void> {
      await db.deleteFrom('workers').where('id', '=', id).execute();
    },
  };
}

export type WorkersRepo = ReturnType<typeof createWorkersRepo>;
