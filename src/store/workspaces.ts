import type { Executor } from './db.js';
import type { Scope } from './operators.js';
import type { ApiKeyTable, WorkspaceTable } from './schema.js';

export interface WorkspaceRow {
  id: string;
  name: string;
  createdAt: string;
  /** Where a send that names no connection goes. */
  defaultConnectionId: string | null;
}

const toWorkspace = (r: WorkspaceTable): WorkspaceRow => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  defaultConnectionId: r.default_connection_id,
});

/** Workspaces: the only writer of `workspaces`. */
export function createWorkspacesRepo(db: Executor) {
  return {
    /** Insert unless the name is taken; true when this call added it. */
    async insert(w: WorkspaceRow): Promise<boolean> {
      const res = await db
        .insertInto('workspaces')
        .values({ id: w.id, name: w.name, created_at: w.createdAt, default_connection_id: w.defaultConnectionId })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    async list(): Promise<WorkspaceRow[]> {
      return (await db.selectFrom('workspaces').selectAll().orderBy('id').execute()).map(toWorkspace);
    },

    async find(idOrName: string): Promise<WorkspaceRow | undefined> {
      const r = await db
        .selectFrom('workspaces')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      return r && toWorkspace(r);
    },

    async setDefaultConnection(workspaceId: string, connectionId: string): Promise<void> {
      await db
        .updateTable('workspaces')
        .set({ default_connection_id: connectionId })
        .where('id', '=', workspaceId)
        .execute();
    },

    /**
     * Make `connectionId` the default only when the workspace has none (never had one, or its
     * default was deleted); true when it became the default.
     */
    async adoptDefaultConnection(workspaceId: string, connectionId: string): Promise<boolean> {
      const res = await db
        .updateTable('workspaces')
        .set({ default_connection_id: connectionId })
        .where('id', '=', workspaceId)
        .where((eb) =>
          eb.or([
            eb('default_connection_id', 'is', null),
            eb('default_connection_id', 'not in', eb.selectFrom('connections').select('connections.id')),
          ]),
        )
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** The database answers (for health checks). */
    async ping(): Promise<void> {
      await db.selectFrom('workspaces').select('id').limit(1).execute();
    },
  };
}

export type WorkspacesRepo = ReturnType<typeof createWorkspacesRepo>;

export interface ApiKeyRow {
  id: string;
  workspaceId: string;
  name: string;
  /** `ses_` and the 8 id characters: enough to recognise a key, never to use it. */
  prefix: string;
  last4: string;
  /** SHA-256 of the whole key, hex. */
  hash: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  scopes: Scope[];
  /** The connections the key may use; null: all of the workspace's. */
  connectionIds: string[] | null;
}

const toApiKey = (r: ApiKeyTable): ApiKeyRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  prefix: r.prefix,
  last4: r.last4,
  hash: r.hash,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
  scopes: JSON.parse(r.scopes) as Scope[],
  connectionIds: r.connection_ids === null ? null : (JSON.parse(r.connection_ids) as string[]),
});

/** API keys: the only writer of `api_keys`. The key itself is never stored, only its hash. */
export function createApiKeysRepo(db: Executor) {
  return {
    async insert(k: ApiKeyRow): Promise<void> {
      await db
        .insertInto('api_keys')
        .values({
          id: k.id,
          workspace_id: k.workspaceId,
          name: k.name,
          prefix: k.prefix,
          last4: k.last4,
          hash: k.hash,
          created_at: k.createdAt,
          last_used_at: k.lastUsedAt,
          revoked_at: k.revokedAt,
          scopes: JSON.stringify(k.scopes),
          connection_ids: k.connectionIds === null ? null : JSON.stringify(k.connectionIds),
        })
        .execute();
    },

    async list(workspaceId: string): Promise<ApiKeyRow[]> {
      const rows = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('id')
        .execute();
      return rows.map(toApiKey);
    },

    async find(workspaceId: string, id: string): Promise<ApiKeyRow | undefined> {
      const r = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r && toApiKey(r);
    },

    /** The key with this hash, revoked or not (the caller decides what a revoked key means). */
    async byHash(hash: string): Promise<ApiKeyRow | undefined> {
      const r = await db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
      return r && toApiKey(r);
    },

    /** Revoke unless already revoked; true when this call revoked it. */
    async revoke(workspaceId: string, id: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('api_keys')
        .set({ revoked_at: at })
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    async setAccess(
      workspaceId: string,
      id: string,
      scopes: Scope[],
      connectionIds: string[] | null,
    ): Promise<boolean> {
      const res = await db
        .updateTable('api_keys')
        .set({
          scopes: JSON.stringify(scopes),
          connection_ids: connectionIds === null ? null : JSON.stringify(connectionIds),
        })
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** Record a use at `at`, unless one at or after `notBefore` is already recorded (authentication stays a read). */
    async touch(id: string, at: string, notBefore: string): Promise<boolean> {
      const res = await db
        .updateTable('api_keys')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', notBefore)]))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
  };
}

export type ApiKeysRepo = ReturnType<typeof createApiKeysRepo>;
