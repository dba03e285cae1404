import { Command } from 'commander';
import { systemClock } from '../../clock.js';
import { AppError } from '../../errors.js';
import type { z } from 'zod';
import type { auditEntry } from '../../modules/audit/schemas.js';
import type { ConnectionView } from '../../modules/connections/view.js';
import { seg } from '../api-client.js';
import { action } from '../context.js';

export function auditCommand(): Command {
  return new Command('audit')
    .description('the audit log: every AWS session and every change, newest first')
    .option('--connection <id>', 'only this connection (id or name)')
    .option('--action <action>', 'only this action (a trailing * matches a prefix, e.g. "sts.*")')
    .option('--since <time>', 'ISO-8601 time, or a duration such as 1h, 7d')
    .option('--until <time>', 'ISO-8601 time')
    .option('--limit <n>', 'rows per page (1-200)', '50')
    .option('--cursor <id>', 'continue after this entry (from the previous page)')
    .action(
      action(
        async (
          ctx,
          opts: {
            connection?: string;
            action?: string;
            since?: string;
            until?: string;
            limit: string;
            cursor?: string;
          },
        ) => {
          const api = ctx.api();
          const limit = Number(opts.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 200)
            throw new AppError('validation_failed', '--limit must be a whole number from 1 to 200.');
          const now = systemClock.now();
          const since = opts.since ? parseTime(opts.since, now, '--since') : undefined;
          const until = opts.until ? parseTime(opts.until, now, '--until') : undefined;
          // People name connections; the log keeps their ids (a deleted one keeps its id).
          const connectionId = opts.connection
            ? (await api.get<ConnectionView>(`/v1/connections/${seg(opts.connection)}`)).id
            : undefined;
          const got = await api.get<{ data: z.infer<typeof auditEntry>[]; nextCursor: string | null }>('/v1/audit', {
            limit,
            connection: connectionId,
            action: opts.action,
            since,
            until,
            cursor: opts.cursor,
          });
          const page = { entries: got.data, nextCursor: got.nextCursor };
          const names = ctx.out.json
            ? new Map<string, string>()
            : new Map((await api.get<{ data: ConnectionView[] }>('/v1/connections')).data.map((x) => [x.id, x.name]));
          ctx.out.result(page, () => {
            ctx.out.table(
              page.entries.map((e) => ({
                ...e,
                time: e.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
                connection: e.connectionId ? (names.get(e.connectionId) ?? e.connectionId) : null,
                summary: summarize(e.details),
              })),
              [
                { key: 'time', label: 'TIME (UTC)' },
                { key: 'action', label: 'ACTION' },
                { key: 'outcome', label: 'OUTCOME', tone: (v) => (v === 'ok' ? 'pass' : 'warn') },
                { key: 'connection', label: 'CONNECTION' },
                { key: 'actor', label: 'ACTOR' },
                { key: 'summary', label: 'DETAILS', below: true },
              ],
            );
            if (page.nextCursor) ctx.out.line(`More: sesame audit --cursor ${page.nextCursor}`);
          });
        },
      ),
    );
}

function summarize(d: Record<string, unknown>): string {
  const s = Object.entries(d)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return s.length > 160 ? `${s.slice(0, 159)}…` : s;
}

export function parseTime(v: string, now: Date, flag: string): string {
  const rel = /^(\d+)([smhd])$/.exec(v);
  if (rel) {
    const ms = Number(rel[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    const t = now.getTime() - ms;
    if (!Number.isFinite(t) || t < Date.parse('1970-01-01T00:00:00Z'))
      throw new AppError('validation_failed', `${flag} ${v} reaches back too far.`);
    return new Date(t).toISOString();
  }
  const t = Date.parse(v);
  if (Number.isNaN(t) || Math.abs(t) > 8.64e15)
    throw new AppError('validation_failed', `${flag} must be an ISO-8601 time or a duration such as 1h or 7d.`);
  return new Date(t).toISOString();
}
