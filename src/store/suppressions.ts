import type { Executor } from './db.js';

export interface SuppressionRow {
  workspaceId: string;
  email: string;
  reason: string;
  source: string;
  createdAt: string;
}

const toRow = (r: { workspace_id: string; email: string; reason: string; source: string; created_at: string }) => ({
  workspaceId: r.workspace_id,
  email: r.email,
  reason: r.reason,
  source: r.source,
  createdAt: r.created_at,
});

const toTable = (s: SuppressionRow) => ({
  workspace_id: s.workspaceId,
  email: s.email,
  reason: s.reason,
  source: s.source,
  created_at: s.createdAt,
});

/** The suppression list of each workspace; the only writer of `suppressions`. Emails are stored lowercased. */
export function createSuppressionsRepo(db: Executor) {
  return {
    async find(workspaceId: string, emails: readonly string[]): Promise<SuppressionRow[]> {
      if (emails.length === 0) return [];
      const rows = await db
        .selectFrom('suppressions')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('email', 'in', [...emails])
        .execute();
      return rows.map(toRow);
    },

    /** Insert unless the address is already listed; true when this call added it. */
    async insert(s: SuppressionRow): Promise<boolean> {
      const res = await db
        .insertInto('suppressions')
        .values(toTable(s))
        .onConflict((oc) => oc.columns(['workspace_id', 'email']).doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /** Insert many (existing addresses are left as they are); returns how many were added. */
    async insertMany(rows: readonly SuppressionRow[]): Promise<number> {
      let added = 0;
      for (let i = 0; i < rows.length; i += 500) {
        const res = await db
          .insertInto('suppressions')
          .values(rows.slice(i, i + 500).map(toTable))
          .onConflict((oc) => oc.columns(['workspace_id', 'email']).doNothing())
          .executeTakeFirst();
        added += Number(res.numInsertedOrUpdatedRows ?? 0);
      }
      return added;
    },

    async delete(workspaceId: string, email: string): Promise<boolean> {
      const res = await db
        .deleteFrom('suppressions')
        .where('workspace_id', '=', workspaceId)
        .where('email', '=', email)
        .executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },

    /** A page in address order: `contains` filters by substring, `after` is the last address of the previous page. */
    async page(
      workspaceId: string,
      q: { contains?: string; after?: string; limit: number },
    ): Promise<SuppressionRow[]> {
      let query = db.selectFrom('suppressions').selectAll().where('workspace_id', '=', workspaceId);
      if (q.contains) query = query.where('email', 'like', `%${q.contains.replace(/[%_\\]/g, '')}%`);
      if (q.after) query = query.where('email', '>', q.after);
      const rows = await query.orderBy('email').limit(q.limit).execute();
      return rows.map(toRow);
    },

    async all(workspaceId: string): Promise<SuppressionRow[]> {
      const rows = await db
        .selectFrom('suppressions')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('email')
        .execute();
      return rows.map(toRow);
    },
  };
}

export type SuppressionsRepo = ReturnType<typeof createSuppressionsRepo>;
