/**
 * The CLI's log destination: pino still redacts and filters, but a person reads one line of words
 * per entry ("warning: AssumeRole failed (connectionId=conn_…, purpose=read)") instead of JSON.
 */
const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
};
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);
const MAX_VALUE = 200;

export function formatLogLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const label = LEVELS[Number(entry.level)] ?? 'log';
  const fields = Object.entries(entry)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${describe(v)}`);
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  return `${label}: ${msg}${fields.length ? ` (${fields.join(', ')})` : ''}`.trimEnd();
}

function describe(v: unknown): string {
  // An error serialised by pino: its message says enough; the stack is for SESAME_DEBUG.
  if (v && typeof v === 'object' && 'message' in v && typeof v.message === 'string') return v.message;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** A pino destination writing plain lines to `out`. */
export function plainLogDestination(out: NodeJS.WritableStream): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim()) out.write(`${formatLogLine(line)}\n`);
      return true;
    },
  };
}
