import type { Executor } from './db.js';
import type { AuditTable } from './schema.js';

export interface AuditRow {
  id: string;
  workspaceId: string | null;
  connectionId: string | null;
  actor: string;
  action: string;
  outcome: string;
  /** Never a secret: the audit module scrubs details before they reach here. */
  details: Record<string, unknown>;
  createdAt: string;
}

export interface AuditFilter {
  /** null: entries of no workspace (platform calls, refused sign-ins of unknown people). */
  workspaceId: string | null;
  connectionId?: string;
  /** One action, or with a trailing `*` every action starting with what comes before it. */
  action?: string;
  /** ISO-8601 UTC (toISOString()), inclusive. */
  since?: string;
  /** ISO-8601 UTC (toISOString()), exclusive. */
  until?: string;
  /** The id of the last row of the previous page. */
  before?: string;
  limit: number;
}

function details(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const toRow = (r: AuditTable): AuditRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  connectionId: r.connection_id,
  actor: r.actor,
  action: r.action,
  outcome: r.outcome,
  details: details(r.details),
  createdAt: r.created_at,
});

/** The audit log: the only writer of `audit_log`, which it only ever appends to. */
export function createAuditRepo(db: Executor) {
  return {
    async insert(e: AuditRow): Promise<void> {
      await db
        .insertInto('audit_log')
        .values({
          id: e.id,
          workspace_id: e.workspaceId,
          connection_id: e.connectionId,
          actor: e.actor,
          action: e.action,
          outcome: e.outcome,
          details: JSON.stringify(e.details),
          created_at: e.createdAt,
        })
        .execute();
    },

    /** Newest first (ids are time-ordered). */
    async page(f: AuditFilter): Promise<AuditRow[]> {
      let q =
        f.workspaceId === null
          ? db.selectFrom('audit_log').selectAll().where('workspace_id', 'is', null)
          : db.selectFrom('audit_log').selectAll().where('workspace_id', '=', f.workspaceId);
      if (f.connectionId) q = q.where('connection_id', '=', f.connectionId);
      if (f.action?.endsWith('*')) {
        // A literal prefix: with LIKE, the "_" of action names would match any character.
        const prefix = f.action.slice(0, -1);
        q = q.where((eb) => eb(eb.fn<string>('substr', ['action', eb.lit(1), eb.lit(prefix.length)]), '=', prefix));
      } else if (f.action) q = q.where('action', '=', f.action);
      if (f.since) q = q.where('created_at', '>=', f.since);
      if (f.until) q = q.where('created_at', '<', f.until);
      if (f.before) q = q.where('id', '<', f.before);
      return (await q.orderBy('id', 'desc').limit(f.limit).execute()).map(toRow);
    },
  };
}

export type AuditRepo = ReturnType<typeof createAuditRepo>;
