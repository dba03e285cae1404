import type { Suppression } from './schemas.js';
import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import type { SuppressionRow, SuppressionsRepo } from '../../store/suppressions.js';
import type { Audit } from '../audit/audit.js';
import { checkAddress } from '../messages/address.js';

export type { Suppression } from './schemas.js';

export const SUPPRESSION_REASONS = ['bounce', 'complaint', 'manual', 'unsubscribe', 'import'] as const;

const normalise = (email: string): string => {
  const c = checkAddress(email.trim());
  if (!c.ok) throw new AppError('validation_failed', `"${email.slice(0, 100)}" ${c.reason}.`);
  return c.address.toLowerCase();
};

/** The workspace suppression list: addresses Sesame will not send to until a person removes them. */
export function createSuppressions(deps: {
  repo: Pick<SuppressionsRepo, 'find' | 'insert' | 'insertMany' | 'delete' | 'page' | 'all'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
}) {
  const { repo, clock, audit } = deps;
  const view = (r: SuppressionRow): Suppression => ({
    email: r.email,
    reason: r.reason,
    source: r.source,
    createdAt: r.createdAt,
  });

  return {
    normalise,

    /** Which of these addresses are suppressed (lowercased addresses in, map of hits out). */
    async check(workspaceId: string, emails: string[]): Promise<Map<string, Suppression>> {
      const rows = await repo.find(workspaceId, emails);
      return new Map(rows.map((r) => [r.email, view(r)]));
    },

    async add(
      workspaceId: string,
      input: { email: string; reason?: string; source?: string },
      actor: string,
    ): Promise<{ suppression: Suppression; created: boolean }> {
      const email = normalise(input.email);
      const [existing] = await repo.find(workspaceId, [email]);
      if (existing) return { suppression: view(existing), created: false };
      const row: SuppressionRow = {
        workspaceId,
        email,
        reason: (input.reason ?? 'manual').slice(0, 200),
        source: input.source ?? 'api',
        createdAt: clock.now().toISOString(),
      };
      if (!(await repo.insert(row))) {
        // Added meanwhile by another request: report that one.
        const [now] = await repo.find(workspaceId, [email]);
        return { suppression: view(now ?? row), created: false };
      }
      await audit.record({
        workspaceId,
        actor,
        action: 'suppression.added',
        details: { email, reason: row.reason, source: row.source },
      });
      return { suppression: view(row), created: true };
    },

    async remove(workspaceId: string, email: string, actor: string): Promise<void> {
      const e = normalise(email);
      if (!(await repo.delete(workspaceId, e))) throw notFound(`Suppression for ${e}`);
      await audit.record({ workspaceId, actor, action: 'suppression.removed', details: { email: e } });
    },

    async list(
      workspaceId: string,
      q: { email?: string; limit?: number; cursor?: string } = {},
    ): Promise<{ data: Suppression[]; nextCursor: string | null }> {
      const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
      const rows = await repo.page(workspaceId, {
        ...(q.email ? { contains: q.email.toLowerCase() } : {}),
        ...(q.cursor ? { after: q.cursor } : {}),
        limit: limit + 1,
      });
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
      const errors: Array<{ line: number; message: string }> = [];
      const now = clock.now().toISOString();
      const batch: SuppressionRow[] = [];
      for (let i = 1; i < lines.length; i++) {
        if (!lines[i]!.trim()) continue;
        const cells = parseCsvLine(lines[i]!);
        try {
          const email = normalise(cells[emailCol] ?? '');
          batch.push({
            workspaceId,
            email,
            reason: (reasonCol >= 0 ? cells[reasonCol] : undefined)?.slice(0, 200) || 'import',
            source: 'import',
            createdAt: now,
          });
        } catch (e) {
          if (errors.length < 100) errors.push({ line: i + 1, message: e instanceof Error ? e.message : String(e) });
        }
      }
      const imported = await repo.insertMany(batch);
      const existing = batch.length - imported;
      await audit.record({
        workspaceId,
        actor,
        action: 'suppression.imported',
        details: { imported, existing, errors: errors.length },
      });
      return { imported, existing, errors };
    },

    async exportCsv(workspaceId: string): Promise<string> {
      const rows = await repo.all(workspaceId);
      return (
        [
          'email,reason,source,created_at',
          ...rows.map((r) => [r.email, r.reason, r.source, r.createdAt].map(csvCell).join(',')),
        ].join('\n') + '\n'
      );
    },

    /**
     * Addresses an SES bounce or complaint puts on the list, in the event's own transaction (`tx`):
     * each address this adds is audited there too (`suppression.added`, source `event`); one
     * already listed gets neither a row nor an audit entry. Returns the addresses added.
     */
    async addFromEvent(
      tx: { suppressions: Pick<SuppressionsRepo, 'insert'>; auditLog: Pick<Audit, 'record'> },
      workspaceId: string,
      input: { emails: readonly string[]; reason: string; sesMessageId: string },
    ): Promise<string[]> {
      const createdAt = clock.now().toISOString();
      const reason = input.reason.slice(0, 200);
      const source = `ses:${input.sesMessageId}`.slice(0, 200);
      const added: string[] = [];
      for (const email of input.emails) {
        if (!(await tx.suppressions.insert({ workspaceId, email, reason, source, createdAt }))) continue;
        added.push(email);
        await tx.auditLog.record({
          workspaceId,
          actor: 'system',
          action: 'suppression.added',
          details: { email, reason, source: 'event', sesMessageId: input.sesMessageId },
        });
      }
      return added;
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
