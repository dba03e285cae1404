import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Db } from '../../store/db.js';

export interface AuditEntry {
  id: string;
  workspaceId: string | null;
  connectionId: string | null;
  actor: string;
  action: string;
  outcome: string;
  details: Record<string, unknown>;
  createdAt: string;
}

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
export function createAudit(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  return {
    async record(input: AuditInput): Promise<void> {
      const now = clock.now();
      await db
        .insertInto('audit_log')
        .values({
          id: newId('aud', now.getTime()),
          workspace_id: input.workspaceId,
          connection_id: input.connectionId ?? null,
          actor: input.actor,
          action: input.action,
          outcome: input.outcome ?? 'ok',
          details: JSON.stringify(scrub(input.details ?? {})),
          created_at: now.toISOString(),
        })
        .execute();
    },

    /** Newest first; `cursor` is the id of the last row of the previous page. */
    async list(q: AuditQuery): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
      const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
      let query = db.selectFrom('audit_log').selectAll().where('workspace_id', '=', q.workspaceId);
      if (q.connectionId) query = query.where('connection_id', '=', q.connectionId);
      if (q.action)
        query = q.action.endsWith('*')
          ? query.where('action', 'like', `${q.action.slice(0, -1)}%`)
          : query.where('action', '=', q.action);
      // Stored times are toISOString() text; normalise bounds so they compare as times.
      if (q.since) query = query.where('created_at', '>=', normaliseTime(q.since));
      if (q.until) query = query.where('created_at', '<', normaliseTime(q.until));
      if (q.cursor) query = query.where('id', '<', q.cursor);
      const rows = await query
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      return {
        entries: page.map((r) => ({
          id: r.id,
          workspaceId: r.workspace_id,
          connectionId: r.connection_id,
          actor: r.actor,
          action: r.action,
          outcome: r.outcome,
          details: JSON.parse(r.details) as Record<string, unknown>,
          createdAt: r.created_at,
        })),
        nextCursor: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null,
      };
    },
  };
}

export type Audit = ReturnType<typeof createAudit>;
