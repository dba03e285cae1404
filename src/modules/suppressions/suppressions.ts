import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import type { Db } from '../../store/db.js';
import type { Audit } from '../audit/audit.js';
import { checkAddress } from '../messages/address.js';

export interface Suppression {
  email: string;
  reason: string;
  source: string;
  createdAt: string;
}

export const SUPPRESSION_REASONS = ['bounce', 'complaint', 'manual', 'unsubscribe', 'import'] as const;

const normalise = (email: string): string => {
  const c = checkAddress(email.trim());
  if (!c.ok) throw new AppError('validation_failed', `"${email.slice(0, 100)}" ${c.reason}.`);
  return c.address.toLowerCase();
};

/** The workspace suppression list: addresses Sesame will not send to until a person removes them. */
export function createSuppressions(deps: { db: Db; clock: Clock; audit: Pick<Audit, 'record'> }) {
  const { db, clock, audit } = deps;
  const view = (r: { email: string; reason: string; source: string; created_at: string }): Suppression => ({
    email: r.email,
    reason: r.reason,
    source: r.source,
    createdAt: r.created_at,
  });

  return {
    normalise,

    /** Which of these addresses are suppressed (lowercased addresses in, map of hits out). */
    async check(workspaceId: string, emails: string[]): Promise<Map<string, Suppression>> {
      if (emails.length === 0) return new Map();
      const rows = await db
        .selectFrom('suppressions')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('email', 'in', emails)
        .execute();
      return new Map(rows.map((r) => [r.email, view(r)]));
    },

    async add(
      workspaceId: string,
      input: { email: string; reason?: string; source?: string },
      actor: string,
    ): Promise<{ suppression: Suppression; created: boolean }> {
      const email = normalise(input.email);
      const reason = (input.reason ?? 'manual').slice(0, 200);
      const existing = await db
        .selectFrom('suppressions')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('email', '=', email)
        .executeTakeFirst();
      if (existing) return { suppression: view(existing), created: false };
      const row = {
        workspace_id: workspaceId,
        email,
        reason,
        source: input.source ?? 'api',
        created_at: clock.now().toISOString(),
      };
      await db
        .insertInto('suppressions')
        .values(row)
        .onConflict((oc) => oc.columns(['workspace_id', 'email']).doNothing())
        .execute();
      await audit.record({
        workspaceId,
        actor,
        action: 'suppression.added',
        details: { email, reason, source: row.source },
      });
      return { suppression: view(row), created: true };
    },

    async remove(workspaceId: string, email: string, actor: string): Promise<void> {
      const e = normalise(email);
      const res = await db
        .deleteFrom('suppressions')
        .where('workspace_id', '=', workspaceId)
        .where('email', '=', e)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFound(`Suppression for ${e}`);
      await audit.record({ workspaceId, actor, action: 'suppression.removed', details: { email: e } });
    },

    async list(
      workspaceId: string,
      q: { email?: string; limit?: number; cursor?: string } = {},
    ): Promise<{ data: Suppression[]; nextCursor: string | null }> {
      const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
      let query = db.selectFrom('suppressions').selectAll().where('workspace_id', '=', workspaceId);
      if (q.email) query = query.where('email', 'like', `%${q.email.toLowerCase().replace(/[%_]/g, '')}%`);
      if (q.cursor) query = query.where('email', '>', q.cursor);
      const rows = await query
        .orderBy('email')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit).map(view);
      return { data: page, nextCursor: rows.length > limit ? page[page.length - 1]!.email : null };
    },

    /** CSV with a header row: email[,reason]. Bad lines are reported, good ones imported. */
    async importCsv(
      workspaceId: string,
      csv: string,
      actor: string,
    ): Promise<{ imported: number; existing: number; errors: Array<{ line: number; message: string }> }> {
      const lines = csv.split(/\r?\n/);
      const header = parseCsvLine(lines[0] ?? '').map((h) => h.trim().toLowerCase());
      const emailCol = header.indexOf('email');
      if (emailCol < 0)
        throw new AppError(
          'validation_failed',
          'The CSV needs a header row with an "email" column (and optionally "reason").',
        );
      const reasonCol = header.indexOf('reason');
      let imported = 0;
      let existing = 0;
      const errors: Array<{ line: number; message: string }> = [];
      const now = clock.now().toISOString();
      const batch: Array<{ workspace_id: string; email: string; reason: string; source: string; created_at: string }> =
        [];
      for (let i = 1; i < lines.length; i++) {
        if (!lines[i]!.trim()) continue;
        const cells = parseCsvLine(lines[i]!);
        try {
          const email = normalise(cells[emailCol] ?? '');
          batch.push({
            workspace_id: workspaceId,
            email,
            reason: (reasonCol >= 0 ? cells[reasonCol] : undefined)?.slice(0, 200) || 'import',
            source: 'import',
            created_at: now,
          });
        } catch (e) {
          if (errors.length < 100) errors.push({ line: i + 1, message: e instanceof Error ? e.message : String(e) });
        }
      }
      for (let i = 0; i < batch.length; i += 500) {
        const chunk = batch.slice(i, i + 500);
        const res = await db
          .insertInto('suppressions')
          .values(chunk)
          .onConflict((oc) => oc.columns(['workspace_id', 'email']).doNothing())
          .executeTakeFirst();
        const n = Number(res.numInsertedOrUpdatedRows ?? 0);
        imported += n;
        existing += chunk.length - n;
      }
      await audit.record({
        workspaceId,
        actor,
        action: 'suppression.imported',
        details: { imported, existing, errors: errors.length },
      });
      return { imported, existing, errors };
    },

    async exportCsv(workspaceId: string): Promise<string> {
      const rows = await db
        .selectFrom('suppressions')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('email')
        .execute();
      return (
        [
          'email,reason,source,created_at',
          ...rows.map((r) => [r.email, r.reason, r.source, r.created_at].map(csvCell).join(',')),
        ].join('\n') + '\n'
      );
    },
  };
}

export type Suppressions = ReturnType<typeof createSuppressions>;

function csvCell(v: string): string {
  // A leading =, +, - or @ would be a formula in a spreadsheet.
  const safe = /^[=+\-@]/.test(v) ? `'${v}` : v;
  return /[",\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((c) => c.trim());
}
