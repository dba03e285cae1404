import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import { newId, randomAlnum } from '../../ids.js';
import type { Db } from '../../store/db.js';
import type { Audit } from '../audit/audit.js';

export interface ApiKeyInfo {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  last4: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  canSend: boolean;
}

export interface Principal {
  workspaceId: string;
  apiKeyId: string;
  canSend: boolean;
}

const KEY_SHAPE = /^ses_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/;
/** Last-used is written at most this often per key, so authentication stays a read. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Keys look like `ses_<8 id chars>_<40 secret chars>` (~238 bits of randomness in the secret).
 * Only a SHA-256 of the whole key is stored: with that much entropy a slow hash adds nothing.
 */
const hashKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

export function createApiKeys(deps: { db: Db; clock: Clock; audit: Pick<Audit, 'record'> }) {
  const { db, clock, audit } = deps;

  const toInfo = (r: {
    id: string;
    workspace_id: string;
    name: string;
    prefix: string;
    last4: string;
    created_at: string;
    last_used_at: string | null;
    revoked_at: string | null;
    can_send?: number;
  }): ApiKeyInfo => ({
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    prefix: r.prefix,
    last4: r.last4,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    canSend: r.can_send !== 0,
  });

  return {
    /** Returns the key in full exactly once; it cannot be recovered afterwards. */
    async create(
      workspaceId: string,
      name: string,
      actor: string,
      opts: { canSend?: boolean } = {},
    ): Promise<{ key: string; info: ApiKeyInfo }> {
      const trimmed = name.trim();
      if (trimmed.length < 1 || trimmed.length > 100)
        throw new AppError('validation_failed', 'API key name must be 1-100 characters.');
      const key = `ses_${randomAlnum(8)}_${randomAlnum(40)}`;
      const now = clock.now();
      const row = {
        id: newId('key', now.getTime()),
        workspace_id: workspaceId,
        name: trimmed,
        prefix: key.slice(0, 12),
        last4: key.slice(-4),
        hash: hashKey(key),
        created_at: now.toISOString(),
        last_used_at: null,
        revoked_at: null,
        can_send: opts.canSend === false ? 0 : 1,
      };
      await db.insertInto('api_keys').values(row).execute();
      await audit.record({
        workspaceId,
        actor,
        action: 'api_key.created',
        details: { apiKeyId: row.id, name: trimmed, prefix: row.prefix, canSend: row.can_send === 1 },
      });
      return { key, info: toInfo(row) };
    },

    async list(workspaceId: string): Promise<ApiKeyInfo[]> {
      const rows = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('id')
        .execute();
      return rows.map(toInfo);
    },

    async revoke(workspaceId: string, id: string, actor: string): Promise<ApiKeyInfo> {
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw notFound(`API key ${id}`);
      if (row.revoked_at) return toInfo(row);
      const revokedAt = clock.now().toISOString();
      await db.updateTable('api_keys').set({ revoked_at: revokedAt }).where('id', '=', id).execute();
      await audit.record({
        workspaceId,
        actor,
        action: 'api_key.revoked',
        details: { apiKeyId: id, prefix: row.prefix },
      });
      return toInfo({ ...row, revoked_at: revokedAt });
    },

    /** Resolve a presented key to its workspace, or throw unauthorized (same error for every failure). */
    async authenticate(presented: string | undefined): Promise<Principal> {
      const fail = () => new AppError('unauthorized', 'A valid API key is required.');
      if (!presented || !KEY_SHAPE.test(presented)) throw fail();
      const hash = hashKey(presented);
      const row = await db
        .selectFrom('api_keys')
        .select(['id', 'workspace_id', 'hash', 'revoked_at', 'last_used_at', 'can_send'])
        .where('hash', '=', hash)
        .executeTakeFirst();
      if (!row || row.revoked_at || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) throw fail();
      const now = clock.now();
      if (!row.last_used_at || now.getTime() - Date.parse(row.last_used_at) > LAST_USED_RESOLUTION_MS) {
        await db.updateTable('api_keys').set({ last_used_at: now.toISOString() }).where('id', '=', row.id).execute();
      }
      return { workspaceId: row.workspace_id, apiKeyId: row.id, canSend: row.can_send !== 0 };
    },
  };
}

export type ApiKeys = ReturnType<typeof createApiKeys>;
