import { createHash } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import { newId, randomAlnum } from '../../ids.js';
import type { ApiKeyRow, ApiKeysRepo } from '../../store/workspaces.js';
import type { z } from 'zod';
import type { Audit } from '../audit/audit.js';
import type { apiKeyInfo } from './schemas.js';

/** What the API and CLI show of a key (the response schema), and its workspace. */
export type ApiKeyInfo = z.infer<typeof apiKeyInfo> & { workspaceId: string };

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

export function createApiKeys(deps: {
  repo: Pick<ApiKeysRepo, 'insert' | 'list' | 'find' | 'byHash' | 'revoke' | 'touch'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
}) {
  const { repo, clock, audit } = deps;

  const toInfo = (r: ApiKeyRow): ApiKeyInfo => ({
    id: r.id,
    workspaceId: r.workspaceId,
    name: r.name,
    prefix: r.prefix,
    last4: r.last4,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
    canSend: r.canSend,
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
        canSend: opts.canSend !== false,
      };
      await repo.insert(row);
      await audit.record({
        workspaceId,
        actor,
        action: 'api_key.created',
        details: { apiKeyId: row.id, name: trimmed, prefix: row.prefix, canSend: row.canSend },
      });
      return { key, info: toInfo(row) };
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
    async authenticate(presented: string | undefined): Promise<Principal> {
      const fail = () => new AppError('unauthorized', 'A valid API key is required.');
      if (!presented || !KEY_SHAPE.test(presented)) throw fail();
      const row = await repo.byHash(hashKey(presented));
      if (!row || row.revokedAt) throw fail();
      const now = clock.ms();
      if (!row.lastUsedAt || now - Date.parse(row.lastUsedAt) > LAST_USED_RESOLUTION_MS) {
        await repo.touch(row.id, new Date(now).toISOString(), new Date(now - LAST_USED_RESOLUTION_MS).toISOString());
      }
      return { workspaceId: row.workspaceId, apiKeyId: row.id, canSend: row.canSend };
    },
  };
}

export type ApiKeys = ReturnType<typeof createApiKeys>;
