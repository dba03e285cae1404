import type { Executor } from './db.js';

/** The stored answer of a request, or the mark of one still being processed (a batch). */
export type IdempotentResponse = { pending: true } | { pending?: false; status: number; body: unknown };

export interface IdempotencyRecord {
  workspaceId: string;
  key: string;
  /** SHA-256 of the request body (canonical JSON). */
  requestHash: string;
  response: IdempotentResponse;
  createdAt: string;
  expiresAt: string;
}

/** Another request stored the same key first (the caller's transaction is rolled back). */
export class IdempotencyKeyTaken extends Error {
  override readonly name = 'IdempotencyKeyTaken';
}

const UNIQUE_VIOLATION = /unique|duplicate|constraint/i;

function readResponse(text: string): IdempotentResponse {
  const v = JSON.parse(text) as { pending?: boolean; status?: number; body?: unknown };
  return v.pending ? { pending: true } : { status: Number(v.status), body: v.body };
}

/**
 * Idempotency keys: the answer given to a request, replayed for the same key and body for 24 hours.
 * The only writer of `idempotency_keys`.
 */
export function createIdempotencyRepo(db: Executor) {
  return {
    async find(workspaceId: string, key: string): Promise<IdempotencyRecord | undefined> {
      const r = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!r) return undefined;
      return {
        workspaceId: r.workspace_id,
        key: r.key,
        requestHash: r.request_hash,
        response: readResponse(r.response),
        createdAt: r.created_at,
        expiresAt: r.expires_at,
      };
    },

    /** Store a key; throws IdempotencyKeyTaken when the key is already there. */
    async insert(rec: IdempotencyRecord): Promise<void> {
      try {
        await db
          .insertInto('idempotency_keys')
          .values({
            workspace_id: rec.workspaceId,
            key: rec.key,
            request_hash: rec.requestHash,
            response: JSON.stringify(rec.response),
            created_at: rec.createdAt,
            expires_at: rec.expiresAt,
          })
          .execute();
      } catch (e) {
        if (UNIQUE_VIOLATION.test(String((e as Error)?.message))) throw new IdempotencyKeyTaken(rec.key);
        throw e;
      }
    },

    /** The answer of a request that held the key while it ran (a batch). */
    async complete(workspaceId: string, key: string, response: { status: number; body: unknown }): Promise<void> {
      await db
        .updateTable('idempotency_keys')
        .set({ response: JSON.stringify(response) })
        .where('workspace_id', '=', workspaceId)
        .where('key', '=', key)
        .execute();
    },

    async forget(workspaceId: string, key: string): Promise<void> {
      await db.deleteFrom('idempotency_keys').where('workspace_id', '=', workspaceId).where('key', '=', key).execute();
    },

    /** Forget keys that expired before `now` (through the expiry index); returns how many. */
    async deleteExpired(now: string): Promise<number> {
      const res = await db.deleteFrom('idempotency_keys').where('expires_at', '<', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}

export type IdempotencyRepo = ReturnType<typeof createIdempotencyRepo>;
