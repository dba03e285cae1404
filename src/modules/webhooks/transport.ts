import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Clock } from '../../clock.js';
import type { ResolvedAddress } from './url-policy.js';

export interface PostResult {
  /** Null when no response arrived (refused, reset, TLS failure, timeout before headers). */
  statusCode: number | null;
  error: string | null;
  /** The start of the response body, for the attempt log. */
  excerpt: string | null;
}

export type PostWebhook = (
  target: { url: URL; addresses: ResolvedAddress[] },
  body: string,
  headers: Record<string, string>,
  opts: { timeoutMs: number; maxResponseBytes: number; clock: Pick<Clock, 'setTimer'> },
) => Promise<PostResult>;

/**
 * Resolve only to the addresses already checked: the connection cannot land on an address a
 * second DNS answer (rebinding) would supply. Node 20 asks for every address (`all`) when it
 * races IPv4 and IPv6, one otherwise.
 */
export function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = typeof options === 'number' ? options : options?.family;
    const wanted =
      family === 4 || family === 6 || family === 'IPv4' || family === 'IPv6'
        ? addresses.filter((a) => a.family === (family === 'IPv6' || family === 6 ? 6 : 4))
        : addresses;
    if (wanted.length === 0) {
      callback(Object.assign(new Error('no checked address of the requested family'), { code: 'ENOTFOUND' }), '', 4);
      return;
    }
    if (typeof options === 'object' && options?.all)
      (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, wanted);
    else callback(null, wanted[0]!.address, wanted[0]!.family);
  };
}

/**
 * One POST, no redirects (http.request never follows them), no connection reuse, a hard deadline
 * over the whole exchange, and at most `maxResponseBytes` of the answer read: a receiver cannot
 * hold a delivery slot open or make Sesame buffer a large body.
 */
export const postWebhook: PostWebhook = (target, body, headers, opts) =>
  new Promise((resolve) => {
    const client = target.url.protocol === 'https:' ? https : http;
    let statusCode: number | null = null;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const excerpt = () =>
      chunks.length
        ? Buffer.concat(chunks)
            .toString('utf8')
            .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
            .slice(0, 256)
        : null;
    const done = (error: string | null) => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      resolve({ statusCode, error, excerpt: excerpt() });
      req.destroy();
    };
    const req = client.request(
      target.url,
      {
        method: 'POST',
        agent: false,
        lookup: pinnedLookup(target.addresses),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'Sesame-Webhooks/1',
        },
      },
      (res) => {
        statusCode = res.statusCode ?? null;
        res.on('data', (c: Buffer) => {
          if (size < opts.maxResponseBytes) chunks.push(c.subarray(0, opts.maxResponseBytes - size));
          size += c.length;
          if (size >= opts.maxResponseBytes) done(null);
        });
        res.on('end', () => done(null));
        // The status already arrived; a body cut short does not change the outcome.
        res.on('error', () => done(null));
      },
    );
    // On the injected clock, like every other deadline.
    const deadline = opts.clock.setTimer(opts.timeoutMs, () =>
      done(statusCode === null ? `timed out after ${opts.timeoutMs} ms` : null),
    );
    req.on('error', (e: NodeJS.ErrnoException) => done(`${e.code ? `${e.code}: ` : ''}${e.message}`.slice(0, 300)));
    req.end(body);
  });
