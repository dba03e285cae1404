import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { API_ONLY, cliHint, cliHintFor } from '../../src/cli/hints.js';
import { formatLogLine } from '../../src/cli/log-format.js';
import { createOutput } from '../../src/cli/output.js';
import { colourEnabled, fitColumns, outputWidth, wrapText } from '../../src/cli/style.js';
import { CATALOGUE } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { plainLogDestination } from '../../src/cli/log-format.js';
import { propagationRetries } from '../../src/modules/connections/test-connection.js';

/** A stream that remembers what was written, posing as a terminal or a pipe. */
function sink(tty: boolean, columns?: number) {
  let text = '';
  const s = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  s.isTTY = tty;
  if (columns) s.columns = columns;
  return {
    stream: s,
    get text() {
      return text;
    },
  };
}

const REQUEST = /\b(GET|POST|PUT|PATCH|DELETE)\s+(\/v1\/|\{)/;

describe('CLI hints', () => {
  it('every catalogue hint a CLI user can meet names a CLI command when it names an API request', () => {
    for (const [code, { hint }] of Object.entries(CATALOGUE)) {
      if (!REQUEST.test(hint) || API_ONLY.has(code)) continue;
      const shown = cliHint(code, hint);
      expect(shown, code).toMatch(/sesame [a-z]/);
    }
  });

  it('keeps hints that already name a command, and fills in what the CLI knows', () => {
    const events = CATALOGUE.events_not_wired.hint;
    expect(cliHint('events_not_wired', events)).toBe(events);
    expect(
      cliHint(
        'recipients_suppressed',
        'Remove the addresses from the suppression list (DELETE /v1/suppressions/:email) only if you are sure they accept mail again.',
        { email: 'ann@example.com' },
      ),
    ).toContain('`sesame suppressions remove ann@example.com`');
    expect(cliHint('send_outcome_unknown', 'send it again with POST /v1/emails/:id/retry.', { id: 'msg_1' })).toContain(
      'sesame emails retry msg_1',
    );
    expect(cliHint('aws_source_identity_denied', 'turn it off (PATCH { "sourceIdentity": false }).')).toBe(
      cliHintFor('aws_source_identity_denied'),
    );
    expect(cliHint(undefined, 'Retry later.')).toBe('Retry later.');
  });
});

describe('tables and colour', () => {
  it('wraps long cells so a table fits the terminal width', () => {
    const out = sink(true, 80);
    const o = createOutput(false, { out: out.stream, err: sink(false).stream, env: {} });
    o.table(
      [
        {
          status: 'WARN',
          id: 'ses_production_access',
          message:
            'The SES account is in the sandbox: it may only send to verified addresses, 200 messages a day, 1 per second.',
          hint: 'Request production access: SES console > Account dashboard > Request production access (or `aws sesv2 put-account-details --production-access-enabled ...`).',
        },
      ],
      [
        { key: 'status', label: 'STATUS', tone: () => 'warn' },
        { key: 'id', label: 'CHECK' },
        { key: 'message', label: 'RESULT' },
        { key: 'hint', label: 'WHAT TO DO', below: true },
      ],
    );
    const lines = out.text
      .replace(/\x1b\[[0-9;]*m/g, '')
      .trimEnd()
      .split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(out.text).toContain('ses_production_access'); // identifiers are not split
    expect(out.text).toContain('\x1b[33mWARN\x1b[39m');
    expect(out.text).toContain('WHAT TO DO: Request production access');
  });

  it('prints whole lines without colour when piped', () => {
    const out = sink(false);
    const o = createOutput(false, { out: out.stream, err: sink(false).stream, env: {} });
    const long = 'x '.repeat(100).trim();
    o.table(
      [{ a: 'PASS', b: long }],
      [
        { key: 'a', label: 'A', tone: () => 'pass' },
        { key: 'b', label: 'B' },
      ],
    );
    expect(out.text).toContain(long);
    expect(out.text).not.toContain('\x1b[');
  });

  it('decides colour and width from the stream and the environment', () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
    expect(colourEnabled({ isTTY: true }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(outputWidth({ isTTY: true, columns: 120 }, {})).toBe(120);
    expect(outputWidth({ isTTY: false, columns: 120 }, {})).toBeUndefined();
    expect(outputWidth({ isTTY: false }, { COLUMNS: '80' })).toBe(80);
  });

  it('shares the width: narrow columns whole, wide ones split what is left', () => {
    const w = fitColumns([6, 21, 120, 150], 80, [4, 21, 24, 24]);
    expect(w.reduce((a, b) => a + b, 0) + 3 * 4 + 1).toBeLessThanOrEqual(80);
    expect(w[0]).toBe(6);
    expect(w[1]).toBe(21);
    expect(fitColumns([5, 5], 80)).toEqual([5, 5]);
    expect(wrapText('arn:aws:iam::222222222222:role/SesameSES-production', 20)).toEqual([
      'arn:aws:iam::',
      '222222222222:role/',
      'SesameSES-production',
    ]);
    expect(wrapText('one two three', 7)).toEqual(['one two', 'three']);
  });
});

describe('CLI log lines', () => {
  it('are words, not JSON, and still redacted', () => {
    expect(
      formatLogLine(
        '{"level":40,"time":1,"pid":2,"hostname":"h","connectionId":"conn_1","purpose":"read","msg":"AssumeRole failed"}',
      ),
    ).toBe('warning: AssumeRole failed (connectionId=conn_1, purpose=read)');
    const err = sink(false);
    const logger = createLogger('warn', plainLogDestination(err.stream) as unknown as NodeJS.WritableStream);
    logger.warn({ secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', err: new Error('boom') }, 'it failed');
    logger.info('not shown');
    expect(err.text).toBe('warning: it failed (secretAccessKey=[redacted], err=boom)\n');
  });
});

describe('propagation retries', () => {
  it('counts the waits the budget allows, to say "retry 3 of 7"', () => {
    expect(propagationRetries(30_000)).toBe(7);
    expect(propagationRetries(0)).toBe(0);
    expect(propagationRetries(1_000)).toBe(2);
  });
});
