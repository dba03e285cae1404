import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AppError } from '../../errors.js';
import { classifyAddress } from './address.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a host name resolves to (the system resolver, as a connection would use). */
export type Resolve = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolve: Resolve = async (hostname) => {
  const all = await lookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Host without IPv6 brackets: `new URL('https://[::1]/').hostname` is `[::1]`. */
export const bareHost = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '');

/** The URL with its query and fragment cut: they may hold a receiver's token, so logs and audit rows get this. */
export const displayUrl = (url: URL): string => `${url.origin}${url.pathname}`;

/**
 * Parse a webhook URL and decide whether Sesame may call it. `allowPrivate` is the effective
 * allowance (server setting and webhook flag together). Every address the host resolves to is
 * checked, since a connection may use any of them; the caller connects only to these addresses,
 * so a second resolution (DNS rebinding) cannot swap in another.
 */
export async function checkWebhookUrl(
  raw: string,
  allowPrivate: boolean,
  resolve: Resolve,
): Promise<{ url: URL; addresses: ResolvedAddress[] }> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('validation_failed', 'The webhook URL is not a valid absolute URL.', {
      details: { issues: [{ path: 'body.url', message: 'invalid URL' }] },
    });
  }
  if (url.username || url.password) {
    throw new AppError('validation_failed', 'The webhook URL may not contain a user name or password.', {
      hint: 'Authenticate deliveries with the signature (Sesame-Webhook-Signature) instead of credentials in the URL.',
      details: { issues: [{ path: 'body.url', message: 'credentials in URL' }] },
    });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivate)) {
    throw new AppError(
      'webhook_url_not_allowed',
      `Webhook URLs must use https (got ${url.protocol.replace(/:$/, '')}).`,
      { details: { reason: 'scheme' } },
    );
  }
  const host = bareHost(url);
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (e) {
      throw new AppError(
        'webhook_host_unresolvable',
        `The webhook host ${host} could not be resolved (${(e as NodeJS.ErrnoException).code ?? 'DNS error'}).`,
      );
    }
    if (addresses.length === 0)
      throw new AppError('webhook_host_unresolvable', `The webhook host ${host} has no address.`);
  }
  for (const a of addresses) {
    const c = classifyAddress(a.address);
    if (c.kind === 'public' || (c.kind === 'private' && allowPrivate)) continue;
    // The resolved address is not named for a host name: the answer would map internal DNS for the caller.
    const what = isIP(host)
      ? `${host}: it is in the ${c.range} range`
      : `${host}: it resolves to an address in the ${c.range} range`;
    throw new AppError('webhook_url_not_allowed', `Sesame does not send webhooks to ${what}.`, {
      details: { reason: c.kind === 'never' ? 'address_never_allowed' : 'address_private', range: c.range },
      ...(c.kind === 'never'
        ? {
            hint: 'Metadata, unspecified, multicast and reserved addresses are never webhook receivers, whatever the settings. Use a public https URL.',
          }
        : {}),
    });
  }
  return { url, addresses };
}
