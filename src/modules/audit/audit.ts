import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { AuditRepo } from '../../store/audit.js';
import type { z } from 'zod';
import type { auditEntry } from './schemas.js';

/** What the API and CLI show of an entry (the response schema), and the workspace it belongs to. */
export type AuditEntry = z.infer<typeof auditEntry> & { workspaceId: string | null };

export interface AuditInput {
  workspaceId: string | null;
  connectionId?: string | null;
  actor: string;
  action: string;
  outcome?: string;
  details?: Record<string, unknown>;
}

export interface AuditQuery {
  workspaceId: string;
  connectionId?: string;
  action?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

function normaliseTime(t: string): string {
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new AppError('validation_failed', `"${t}" is not an ISO-8601 time.`);
  return new Date(ms).toISOString();
}

/** Keys whose values never belong in an audit row, whatever a caller passes. */
const FORBIDDEN = /secret|password|token|externalid|external_id|credential|sessiontoken/i;

export function scrub(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (FORBIDDEN.test(k)) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? scrub(v as Record<string, unknown>) : v;
  }
  return out;
}

/** The audit log: every AWS session and every change, with its actor; never a secret. */
export function createAudit(deps: { repo: Pick<AuditRepo, 'insert' | 'page'>; clock: Clock }) {
  const { repo, clock } = deps;
  return {
    async record(input: AuditInput): Promise<void> {
      const now = clock.now();
      await repo.insert({
        id: newId('aud', now.getTime()),
        workspaceId: input.workspaceId,
        connectionId: input.connectionId ?? null,
        actor: input.actor,
        action: input.action,
        outcome: input.outcome ?? 'ok',
        details: scrub(input.details ?? {}),
        createdAt: now.toISOString(),
      });
    },

    /** Newest first; `cursor` is the id of the last row of the previous page. */
    async list(q: AuditQuery): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
      const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
      const rows = await repo.page({
        workspaceId: q.workspaceId,
        ...(q.connectionId ? { connectionId: q.connectionId } : {}),
        ...(q.action ? { action: q.action } : {}),
        // Stored times are toISOString() text; normalise bounds so they compare as times.
        ...(q.since ? { since: normaliseTime(q.since) } : {}),
        ...(q.until ? { until: normaliseTime(q.until) } : {}),
        ...(q.cursor ? { before: q.cursor } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return { entries: page, nextCursor: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null };
    },
  };
}

export type Audit = ReturnType<typeof createAudit>;
