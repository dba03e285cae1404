import Table from 'cli-table3';
import { AppError, isAppError } from '../errors.js';

/** Output for one command invocation: human tables by default, JSON with --json. */
export interface Output {
  json: boolean;
  /** Print a value: JSON as is, or through `human` for people. */
  result(value: unknown, human?: () => void): void;
  table(rows: object[], columns: { key: string; label: string }[]): void;
  line(text?: string): void;
  warn(text: string): void;
  /** What a long operation is doing now; on stderr, so --json output stays parseable. */
  progress(text: string): void;
}

export function createOutput(
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Output {
  const write = (s: string) => out.write(s + '\n');
  return {
    json,
    result(value, human) {
      if (json || !human) write(JSON.stringify(value, null, 2));
      else human();
    },
    table(rows, columns) {
      if (rows.length === 0) {
        write('(none)');
        return;
      }
      const t = new Table({ head: columns.map((c) => c.label), style: { head: [], border: [] } });
      for (const r of rows) t.push(columns.map((c) => formatCell((r as Record<string, unknown>)[c.key])));
      write(t.toString());
    },
    line(text = '') {
      write(text);
    },
    warn(text) {
      err.write(`warning: ${text}\n`);
    },
    progress(text) {
      err.write(`${text}\n`);
    },
  };
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Key/value block for one record. */
export function printRecord(o: Output, rec: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(rec).map((k) => k.length));
  for (const [k, v] of Object.entries(rec)) o.line(`${k.padEnd(width)}  ${formatCell(v)}`);
}

/** Print an error the way users see it: code, message, hint; never a stack trace for an AppError. */
export function printError(e: unknown, json: boolean, err: NodeJS.WritableStream = process.stderr): number {
  const app: AppError = isAppError(e) ? e : new AppError('internal_error', e instanceof Error ? e.message : String(e));
  if (json) err.write(JSON.stringify({ error: app.toJSON() }) + '\n');
  else {
    err.write(`error [${app.code}]: ${app.message}\n`);
    if (app.hint) err.write(`hint: ${app.hint}\n`);
    if (app.details) err.write(`details: ${JSON.stringify(app.details)}\n`);
  }
  if (!isAppError(e) && process.env.SESAME_DEBUG && e instanceof Error) err.write(`${e.stack}\n`);
  return app.status >= 500 ? 2 : 1;
}
