import Table from 'cli-table3';
import { AppError, isAppError } from '../errors.js';
import { cliHint } from './hints.js';
import {
  colourEnabled,
  fitColumns,
  longestWord,
  outputWidth,
  paint,
  visibleLength,
  wrapText,
  type Tone,
} from './style.js';

export interface Column {
  key: string;
  label: string;
  /** Colour for a cell's value (pass/warn/fail), applied on a terminal only. */
  tone?: (value: string) => Tone | undefined;
  /** Free text that, when the table is too wide for the terminal, goes on its own line under the row. */
  below?: boolean;
}

/** Output for one command invocation: human tables by default, JSON with --json. */
export interface Output {
  json: boolean;
  /** Print a value: JSON as is, or through `human` for people. */
  result(value: unknown, human?: () => void): void;
  /** A table that fits the terminal's width (long cells wrap); whole lines when piped. */
  table(rows: object[], columns: Column[]): void;
  line(text?: string): void;
  warn(text: string): void;
  /** What a long operation is doing now: on a terminal only, on stderr, so --json output stays parseable. */
  progress(text: string): void;
  /** Text in a tone (colour on a terminal, plain otherwise). */
  tone(tone: Tone | undefined, text: string): string;
}

export interface OutputStreams {
  out?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: Record<string, string | undefined>;
}

export function createOutput(json: boolean, streams: OutputStreams = {}): Output {
  const out = streams.out ?? process.stdout;
  const err = streams.err ?? process.stderr;
  const env = streams.env ?? process.env;
  const colour = !json && colourEnabled(out, env);
  const width = outputWidth(out, env);
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
      const text = rows.map((r) => columns.map((c) => formatCell((r as Record<string, unknown>)[c.key])));
      const measure = (i: number) => ({
        natural: Math.max(
          visibleLength(columns[i]!.label),
          ...text.map((row) => Math.max(...row[i]!.split('\n').map((l) => visibleLength(l)))),
        ),
        minimum: Math.max(longestWord(columns[i]!.label), ...text.map((row) => longestWord(row[i]!))),
      });
      let inline = columns.map((_, i) => i);
      let below: number[] = [];
      if (width) {
        const total = inline.reduce((n, i) => n + measure(i).natural + 3, 1);
        // Too wide: long free-text columns move to a full-width line under their row.
        if (total > width) {
          below = inline.filter((i) => columns[i]!.below);
          inline = inline.filter((i) => !columns[i]!.below);
        }
      }
      const m = inline.map(measure);
      const widths = width
        ? fitColumns(
            m.map((x) => x.natural),
            width,
            m.map((x) => x.minimum),
          )
        : undefined;
      const span = widths ? widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1) : 0;
      const t = new Table({
        head: inline.map((i, k) => (widths ? wrapText(columns[i]!.label, widths[k]!).join('\n') : columns[i]!.label)),
        style: { head: [], border: [] },
        ...(widths ? { colWidths: widths.map((w) => w + 2), wordWrap: false } : {}),
      });
      const cell = (value: string, i: number, w: number | undefined) => {
        const tone = columns[i]!.tone?.(value);
        return (w ? wrapText(value, w) : [value]).map((l) => paint(colour, tone, l)).join('\n');
      };
      for (const row of text) {
        t.push(inline.map((i, k) => cell(row[i]!, i, widths?.[k])));
        for (const i of below)
          if (row[i] && row[i] !== '-')
            t.push([{ colSpan: inline.length, content: cell(`${columns[i]!.label}: ${row[i]}`, i, span) }]);
      }
      write(t.toString());
    },
    line(text = '') {
      write(text);
    },
    warn(text) {
      err.write(`${paint(colourEnabled(err, env), 'warn', 'warning')}: ${text}\n`);
    },
    progress(text) {
      if (err.isTTY) err.write(`${text}\n`);
    },
    tone(tone, text) {
      return paint(colour, tone, text);
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
    const hint = cliHint(app.code, app.hint);
    if (hint) err.write(`hint: ${hint}\n`);
    // Issues the message already lists are not repeated.
    const details = Object.entries(app.details ?? {}).filter(
      ([k, v]) =>
        !(k === 'issues' && Array.isArray(v) && v.every((x) => typeof x === 'string' && app.message.includes(x))),
    );
    if (details.length) err.write(`details: ${JSON.stringify(Object.fromEntries(details))}\n`);
  }
  if (!isAppError(e) && process.env.SESAME_DEBUG && e instanceof Error) err.write(`${e.stack}\n`);
  return app.status >= 500 ? 2 : 1;
}
