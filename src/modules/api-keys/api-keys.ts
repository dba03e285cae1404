import { createHash } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import { newId, randomAlnum } from '../../ids.js';
import type { ApiKeyRow, ApiKeysRepo } from '../../store/workspaces.js';
import { SCOPES, type Scope } from '../../store/operators.js';
import type { z } from 'zod';
import type { Audit } from '../audit/audit.js';
import type { apiKeyInfo } from './schemas.js';

/** What the API and CLI show of a key (the response schema), and its workspace. */
export type ApiKeyInfo = z.infer<typeof apiKeyInfo> & { workspaceId: string };

/** What an API key may do: its scopes, and the connections it may use (null: all). */
export interface KeyAccess {
  scopes: Scope[];
  connectionIds: string[] | null;
}

/** Who an authenticated API key is. */
export interface KeyPrincipal extends KeyAccess {
  workspaceId: string;
  apiKeyId: string;
  prefix: string;
  name: string;
}

/** Scopes a new key gets when none are asked for: sending and reading, nothing that changes settings. */
export const DEFAULT_SCOPES: Scope[] = ['send', 'read'];

const KEY_SHAPE = /^ses_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/;
/** Last-used is written at most this often per key, so authentication stays a read. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Keys look like `ses_<8 id chars>_<40 secret chars>` (~238 bits of randomness in the secret).
 * Only a SHA-256 of the whole key is stored: with that much entropy a slow hash adds nothing.
 */
const hashKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

export function createApiKeys(deps: {
  repo: Pick<ApiKeysRepo, 'insert' | 'list' | 'find' | 'byHash' | 'revoke' | 'touch' | 'setAccess'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
  /** The id of the workspace's connection with this id or name, if there is one. */
  connectionId?: (workspaceId: string, idOrName: string) => Promise<string | undefined>;
}) {
  const { repo, clock, audit } = deps;

  /** Connection ids or names, resolved to ids of this workspace's connections; null stays null (all). */
  const checkConnections = async (workspaceId: string, refs: string[] | null): Promise<string[] | null> => {
    if (refs === null) return null;
    const ids: string[] = [];
    for (const ref of refs) {
      const id = deps.connectionId ? await deps.connectionId(workspaceId, ref) : ref;
      if (!id)
        throw new AppError('validation_failed', `There is no connection "${ref}" in this workspace.`, {
          hint: 'List the connections with GET /v1/connections (sesame aws list) and name them by id or name.',
          details: { field: 'connectionIds' },
        });
      if (!ids.includes(id)) ids.push(id);
    }
    return ids;
  };

  const toInfo = (r: ApiKeyRow): ApiKeyInfo => ({
    id: r.id,
    workspaceId: r.workspaceId,
    name: r.name,
    prefix: r.prefix,
    last4: r.last4,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
    scopes: r.scopes,
    connectionIds: r.connectionIds,
  });

  /** Scopes as stored: known ones, each once, in catalogue order. */
  const normalise = (scopes: readonly string[]): Scope[] => {
    const unknown = scopes.filter((x) => !(SCOPES as readonly string[]).includes(x));
    if (unknown.length)
      throw new AppError('validation_failed', `Unknown scope ${unknown.map((u) => `"${u}"`).join(', ')}.`, {
        hint: `Scopes are ${SCOPES.join(', ')}.`,
      });
    if (scopes.length === 0)
      throw new AppError('validation_failed', 'A key needs at least one scope.', {
        hint: `Scopes are ${SCOPES.join(', ')}.`,
      });
    return SCOPES.filter((x) => scopes.includes(x));
  };

  return {
    /** Returns the key in full exactly once; it cannot be recovered afterwards. */
    async create(
      workspaceId: string,
      name: string,
      actor: string,
      opts: { scopes?: readonly string[]; connectionIds?: string[] | null } = {},
    ): Promise<{ key: string; info: ApiKeyInfo }> {
      const trimmed = name.trim();
      if (trimmed.length < 1 || trimmed.length > 100)
        throw new AppError('validation_failed', 'API key name must be 1-100 characters.');
      const key = `ses_${randomAlnum(8)}_${randomAlnum(40)}`;
      const now = clock.now();
      const row: ApiKeyRow = {
        id: newId('key', now.getTime()),
        workspaceId,
        name: trimmed,
        prefix: key.slice(0, 12),
        last4: key.slice(-4),
        hash: hashKey(key),
        createdAt: now.toISOString(),
        lastUsedAt: null,
        revokedAt: null,
        scopes: normalise(opts.scopes ?? DEFAULT_SCOPES),
        connectionIds: await checkConnections(workspaceId, opts.connectionIds ?? null),
      };
      await repo.insert(row);
      await audit.record({
        workspaceId,
        actor,
        action: 'api_key.created',
        details: {
          apiKeyId: row.id,
          name: trimmed,
          prefix: row.prefix,
          scopes: row.scopes,
          connectionIds: row.connectionIds,
        },
      });
      return { key, info: toInfo(row) };
    },

    /** Change what a key may do (its scopes, its connections); audited with before and after. */
    async setAccess(
      workspaceId: string,
      id: string,
      change: { scopes?: readonly string[]; connectionIds?: string[] | null },
      actor: string,
    ): Promise<ApiKeyInfo> {
      const row = await repo.find(workspaceId, id);
      if (!row) throw notFound(`API key ${id}`);
      if (row.revokedAt)
        throw new AppError('conflict', `API key ${row.prefix}… is revoked.`, { hint: 'Create a new key instead.' });
      const scopes = change.scopes === undefined ? row.scopes : normalise(change.scopes);
      const connectionIds =
        change.connectionIds === undefined
          ? row.connectionIds
          : await checkConnections(workspaceId, change.connectionIds);
      await repo.setAccess(workspaceId, id, scopes, connectionIds);
      await audit.record({
        workspaceId,
        actor,
        action: 'api_key.access_changed',
        details: {
          apiKeyId: id,
          prefix: row.prefix,
          before: { scopes: row.scopes, connectionIds: row.connectionIds },
          after: { scopes, connectionIds },
        },
      });
      return toInfo({ ...row, scopes, connectionIds });
    },

    async find(workspaceId: string, id: string): Promise<ApiKeyInfo | undefined> {
      const r = await repo.find(workspaceId, id);
      return r && toInfo(r);
    },

    async list(workspaceId: string): Promise<ApiKeyInfo[]> {
      return (await repo.list(workspaceId)).map(toInfo);
    },

    async revoke(workspaceId: string, id: string, actor: string): Promise<ApiKeyInfo> {
      const row = await repo.find(workspaceId, id);
      if (!row) throw notFound(`API key ${id}`);
      if (row.revokedAt) return toInfo(row);
      const revokedAt = clock.now().toISOString();
      // Of two revocations at once, one records it; the other reports the key as it now is.
      if (!(await repo.revoke(workspaceId, id, revokedAt))) return toInfo((await repo.find(workspaceId, id)) ?? row);
      await audit.record({
        workspaceId,
        actor,
        action: 'api_key.revoked',
        details: { apiKeyId: id, prefix: row.prefix },
      });
      return toInfo({ ...row, revokedAt });
    },

    /** Resolve a presented key to its workspace, or throw unauthorized (same error for every failure). */
    async authenticate(presented: string | undefined): Promise<KeyPrincipal> {
      const fail = () => new AppError('unauthorized', 'A valid API key is required.');
      if (!presented || !KEY_SHAPE.test(presented)) throw fail();
      const row = await repo.byHash(hashKey(presented));
      if (!row || row.revokedAt) throw fail();
      const now = clock.ms();
      if (!row.lastUsedAt || now - Date.parse(row.lastUsedAt) > LAST_USED_RESOLUTION_MS) {
        await repo.touch(row.id, new Date(now).toISOString(), new Date(now - LAST_USED_RESOLUTION_MS).toISOString());
      }
      return {
        workspaceId: row.workspaceId,
        apiKeyId: row.id,
        prefix: row.prefix,
        name: row.name,
        scopes: row.scopes,
        connectionIds: row.connectionIds,
      };
    },
  };
}

export type ApiKeys = ReturnType<typeof createApiKeys>;
