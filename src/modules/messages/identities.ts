import type { CredentialProvider as AwsCredentialIdentityProvider } from '../../aws/credentials.js';
import type { AwsGateway } from '../../aws/gateway.js';
import type { Clock } from '../../clock.js';

/** How long the list of verified identities is trusted before SES is asked again. */
const TTL_MS = 5 * 60_000;
/** A forced re-read (unknown sender) at most this often per connection: SES allows about 1 request/s for such calls. */
const MIN_FORCED_MS = 15_000;

/**
 * Which identities a connection may send as, read from SES with `read` credentials and cached,
 * so governance costs one SES call per connection every few minutes, not one per message.
 */
export function createIdentityCache(deps: { clock: Clock; gateway: Pick<AwsGateway, 'listIdentities'> }) {
  const cache = new Map<string, { at: number; verified: Set<string>; pending?: Promise<Set<string>> }>();

  async function load(key: string, creds: AwsCredentialIdentityProvider, region: string): Promise<Set<string>> {
    const list = await deps.gateway.listIdentities(creds, region);
    const verified = new Set(
      list.filter((i) => i.sendingEnabled && i.status === 'SUCCESS').map((i) => i.name.toLowerCase()),
    );
    cache.set(key, { at: deps.clock.now().getTime(), verified });
    return verified;
  }

  return {
    /** True when the address or its domain is a verified identity. `fresh` bypasses the cache. */
    async covers(
      connectionId: string,
      creds: () => Promise<AwsCredentialIdentityProvider>,
      region: string,
      address: string,
      fresh = false,
    ): Promise<boolean> {
      const key = `${connectionId}:${region}`;
      const hit = cache.get(key);
      let verified: Set<string>;
      const age = hit ? deps.clock.now().getTime() - hit.at : Infinity;
      if (hit && (fresh ? age < MIN_FORCED_MS : age < TTL_MS)) verified = hit.verified;
      else {
        // Concurrent submissions share one refresh.
        const pending = hit?.pending ?? load(key, await creds(), region);
        if (hit) hit.pending = pending;
        else cache.set(key, { at: 0, verified: new Set(), pending });
        try {
          verified = await pending;
        } finally {
          const entry = cache.get(key);
          if (entry) delete entry.pending;
        }
      }
      const lower = address.toLowerCase();
      const domain = lower.slice(lower.lastIndexOf('@') + 1);
      if (verified.has(lower) || verified.has(domain)) return true;
      // A parent domain covers its subdomains in SES only when verified itself; do not guess.
      return false;
    },
    forget(connectionId: string): void {
      for (const k of [...cache.keys()]) if (k.startsWith(`${connectionId}:`)) cache.delete(k);
    },
  };
}

export type IdentityCache = ReturnType<typeof createIdentityCache>;
