/**
 * How output looks on this terminal: colour and the width tables must fit. Both are decided once
 * per invocation from the stream and the environment, so piped output stays plain and unwrapped.
 */

export type Tone = 'pass' | 'warn' | 'fail' | 'muted';

const SGR: Record<Tone, [number, number]> = {
  pass: [32, 39],
  warn: [33, 39],
  fail: [31, 39],
  muted: [2, 22],
};

interface Stream {
  isTTY?: boolean;
  columns?: number;
}

type Env = Record<string, string | undefined>;

/**
 * Colour on a terminal only. NO_COLOR (any non-empty value, https://no-color.org) turns it off,
 * FORCE_COLOR turns it on (FORCE_COLOR=0 off), TERM=dumb off.
 */
export function colourEnabled(stream: Stream, env: Env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  if (env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}

/**
 * The width tables wrap to: COLUMNS when set (a forced width), else the terminal's width;
 * undefined when piped, so scripts get whole lines.
 */
export function outputWidth(stream: Stream, env: Env): number | undefined {
  const forced = Number(env.COLUMNS);
  if (env.COLUMNS && Number.isInteger(forced) && forced >= 20) return forced;
  if (stream.isTTY && stream.columns && stream.columns >= 20) return stream.columns;
  return undefined;
}

export function paint(on: boolean, tone: Tone | undefined, text: string): string {
  if (!on || !tone || text === '') return text;
  const [open, close] = SGR[tone];
  return `\x1b[${open}m${text}\x1b[${close}m`;
}

const ANSI = /\x1b\[[0-9;]*m/g;
export const visibleLength = (s: string): number => s.replace(ANSI, '').length;

/**
 * Word-wraps text to `width` columns: at spaces when it can, and inside a word (after / : . - = ,
 * when one is near the end, else anywhere) when a word alone is longer than the line.
 */
export function wrapText(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/ +/)) {
      let w = word;
      if (line && line.length + 1 + w.length <= width) {
        line += ` ${w}`;
        continue;
      }
      if (line) out.push(line);
      line = '';
      while (w.length > width) {
        const cut = breakAt(w, width);
        out.push(w.slice(0, cut));
        w = w.slice(cut);
      }
      line = w;
    }
    out.push(line);
  }
  return out;
}

function breakAt(word: string, width: number): number {
  for (let i = width; i > Math.floor(width / 2); i--) if ('/:.-=,&?'.includes(word[i - 1]!)) return i;
  return width;
}

/**
 * Column widths (content only, without padding and borders) so that a table fits `total`
 * columns: narrow columns keep their natural width, the wide ones share what is left. A column
 * is not made narrower than `minimum` (e.g. its longest identifier), so short words stay whole.
 */
export function fitColumns(natural: number[], total: number, minimum: number[] = []): number[] {
  const n = natural.length;
  const available = total - (3 * n + 1);
  if (natural.reduce((a, b) => a + b, 0) <= available) return natural;
  const floor = natural.map((w, i) => Math.min(w, Math.max(minimum[i] ?? 0, 6)));
  // Floors that cannot all be met give way, widest first (of equals, the longest text), down to 6.
  for (let over = floor.reduce((a, b) => a + b, 0) - available; over > 0; over--) {
    let widest = 0;
    for (let i = 1; i < n; i++)
      if (floor[i]! > floor[widest]! || (floor[i] === floor[widest] && natural[i]! > natural[widest]!)) widest = i;
    if (floor[widest]! <= 6) break;
    floor[widest]!--;
  }
  const widths = [...natural];
  const order = natural.map((w, i) => ({ w, i })).sort((a, b) => a.w - b.w);
  let remaining = available - floor.reduce((a, b) => a + b, 0);
  let left = n;
  for (const { w, i } of order) {
    // Each column gets its floor plus a fair share of what is left above the floors.
    const extra = Math.min(w - floor[i]!, Math.max(0, Math.floor(remaining / left)));
    widths[i] = floor[i]! + extra;
    remaining -= extra;
    left--;
  }
  return widths;
}

/** The longest run without a space, up to `cap`: the narrowest a column should get. */
export function longestWord(text: string, cap = 24): number {
  let longest = 0;
  for (const w of text.replace(ANSI, '').split(/[\s]+/)) longest = Math.max(longest, w.length);
  return Math.min(longest, cap);
}
