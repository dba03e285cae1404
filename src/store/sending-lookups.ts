import type { Executor } from './db.js';
import type { ConnectionTable } from './schema.js';

/**
 * What accepting and sending messages read of tables other parts own (connections, workspaces,
 * API keys), and the one connection write sending makes (pausing its queue). Each belongs in the
 * repository of its table; they live here until those repositories offer them.
 */
export function createSendingLookups(db: Executor) {
  return {
    async connection(id: string): Promise<ConnectionTable | undefined> {
      return db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
    },

    /**
     * The workspace's default connection, else its only one. `several` when there are connections
     * but none is the default; `none` when there is none.
     */
    async defaultConnection(workspaceId: string): Promise<ConnectionTable | 'several' | 'none'> {
      // One query: the default connection first, then whatever else exists (to tell "only one").
      const all = await db
        .selectFrom('connections')
        .innerJoin('workspaces', 'workspaces.id', 'connections.workspace_id')
        .selectAll('connections')
        .select((eb) =>
          eb
            .case()
            .when('connections.id', '=', eb.ref('workspaces.default_connection_id'))
            .then(1)
            .else(0)
            .end()
            .as('is_default'),
        )
        .where('connections.workspace_id', '=', workspaceId)
        .orderBy('is_default', 'desc')
        .limit(2)
        .execute();
      const first = all[0];
      if (!first) return 'none';
      if (first.is_default !== 1 && all.length > 1) return 'several';
      const { is_default: _d, ...row } = first;
      return row;
    },

    /** Connections whose queue waits: paused, or a role not (or no longer) proven to require its External ID. */
    async heldConnections(): Promise<string[]> {
      const rows = await db
        .selectFrom('connections')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('paused_reason', 'is not', null),
            eb.and([
              eb('mode', '=', 'role'),
              eb.or([
                eb('status', '=', 'unsafe'),
                eb('role_arn', 'is', null),
                eb('external_id_proven_at', 'is', null),
                eb('external_id_proven_role_arn', 'is', null),
                eb('external_id_proven_role_arn', '!=', eb.ref('role_arn')),
              ]),
            ]),
          ]),
        )
        .execute();
      return rows.map((r) => r.id);
    },

    /** Pause a running connection's queue; false when it was already paused (or is gone). */
    async pauseConnection(id: string, reason: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('connections')
        .set({ paused_reason: reason, paused_at: at })
        .where('id', '=', id)
        .where('paused_reason', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** Whether an API key may send right now: `revoked` when it is gone or revoked. */
    async apiKeyMaySend(id: string): Promise<boolean | 'revoked'> {
      const k = await db
        .selectFrom('api_keys')
        .select(['can_send', 'revoked_at'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!k || k.revoked_at) return 'revoked';
      return k.can_send !== 0;
    },
  };
}

export type SendingLookups = ReturnType<typeof createSendingLookups>;
