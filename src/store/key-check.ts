import type { Executor } from './db.js';

export interface KeyCheckRow {
  /** Fingerprint of the master key, for messages. */
  keyId: string;
  /** A known text sealed under the key (envelope JSON). */
  checkValue: string;
  createdAt: string;
}

/** A value sealed under the master key, with where it is stored. */
export interface SealedColumn {
  kind: 'connection' | 'webhook';
  id: string;
  /** What a person knows it by: the connection's name, the webhook's URL. */
  label: string;
  sealed: string;
}

/** One check value per database. */
const CHECK_ID = 'master';

/** The master key check value: the only writer of `master_key_check`. */
export function createKeyCheckRepo(db: Executor) {
  return {
    async read(): Promise<KeyCheckRow | undefined> {
      const r = await db
        .selectFrom('master_key_check')
        .select(['key_id', 'check_value', 'created_at'])
        .where('id', '=', CHECK_ID)
        .executeTakeFirst();
      return r && { keyId: r.key_id, checkValue: r.check_value, createdAt: r.created_at };
    },

    /** Record the check value unless one is recorded already (another process may have been first); true when this call did. */
    async recordIfAbsent(c: KeyCheckRow): Promise<boolean> {
      const res = await db
        .insertInto('master_key_check')
        .values({ id: CHECK_ID, key_id: c.keyId, check_value: c.checkValue, created_at: c.createdAt })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /** Record the check value in place of any earlier one. */
    async replace(c: KeyCheckRow): Promise<void> {
      const row = { key_id: c.keyId, check_value: c.checkValue, created_at: c.createdAt };
      await db
        .insertInto('master_key_check')
        .values({ id: CHECK_ID, ...row })
        .onConflict((oc) => oc.column('id').doUpdateSet(row))
        .execute();
    },

    /** Every value sealed under the master key, wherever it is stored (connections, then webhooks, by id). */
    async sealedValues(): Promise<SealedColumn[]> {
      const connections = await db
        .selectFrom('connections')
        .select(['id', 'name', 'secret_ciphertext', 'pending_secret_ciphertext'])
        .where((eb) =>
          eb.or([eb('secret_ciphertext', 'is not', null), eb('pending_secret_ciphertext', 'is not', null)]),
        )
        .orderBy('id')
        .execute();
      const webhooks = await db
        .selectFrom('webhooks')
        .select(['id', 'url', 'secret_ciphertext'])
        .orderBy('id')
        .execute();
      const out: SealedColumn[] = [];
      for (const c of connections)
        for (const sealed of [c.secret_ciphertext, c.pending_secret_ciphertext])
          if (sealed) out.push({ kind: 'connection', id: c.id, label: c.name, sealed });
      for (const w of webhooks) out.push({ kind: 'webhook', id: w.id, label: w.url, sealed: w.secret_ciphertext });
      return out;
    },
  };
}

export type KeyCheckRepo = ReturnType<typeof createKeyCheckRepo>;
