import { Resolver } from 'node:dns/promises';
import type { SandboxDeps } from './context.js';
import type { SesAccountRecord, SesIdentityRecord } from './state.js';

/**
 * How SES verifies a domain: it looks up the DKIM records it asked for (Easy DKIM: three CNAMEs
 * to <token>.dkim.amazonses.com; BYODKIM: the selector's TXT key) and, for a custom MAIL FROM
 * domain, its MX to feedback-smtp.<region>.amazonses.com. The sandbox does the same against the
 * DNS servers it is given, so the add → publish → verify loop runs offline.
 */
export type VerificationMode = 'manual' | 'dns' | 'immediate';

const norm = (s: string) => s.toLowerCase().replace(/\.$/, '');

export function createIdentityVerifier(opts: {
  mode: VerificationMode;
  dnsServers?: readonly string[];
  explicit?: boolean;
}) {
  let mode = opts.mode;
  const explicit = opts.explicit ?? false;
  let servers = opts.dnsServers ? [...opts.dnsServers] : undefined;
  const resolver = (): Resolver => {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    if (servers?.length) r.setServers(servers);
    return r;
  };
  const cnames = async (r: Resolver, name: string) =>
    (await r.resolveCname(name).catch(() => [] as string[])).map(norm);
  const txts = async (r: Resolver, name: string) =>
    (await r.resolveTxt(name).catch(() => [] as string[][])).map((parts) => parts.join(''));
  const mxs = async (r: Resolver, name: string) =>
    (await r.resolveMx(name).catch(() => [] as { exchange: string; priority: number }[])).map((m) => norm(m.exchange));

  async function dkimPublished(r: Resolver, i: SesIdentityRecord): Promise<boolean> {
    if (i.dkimOrigin === 'EXTERNAL') {
      const key = (i.dkimPublicKey ?? '').replace(/\s+/g, '');
      return (await txts(r, `${i.dkimSelector}._domainkey.${i.identity}`)).some((t) =>
        t.replace(/\s+/g, '').includes(`p=${key}`),
      );
    }
    const tokens = i.dkimTokens ?? [];
    const found = await Promise.all(
      tokens.map(async (t) => (await cnames(r, `${t}._domainkey.${i.identity}`)).includes(`${t}.dkim.amazonses.com`)),
    );
    return tokens.length > 0 && found.every(Boolean);
  }

  return {
    get mode(): VerificationMode {
      return mode;
    },
    /** The sandbox serving its own DNS verifies against it. */
    useDns(list: string[]): void {
      servers = list;
      if (mode === 'manual' && opts.mode === 'manual' && !explicit) mode = 'dns';
    },
    /** Called when an identity is created: `immediate` verifies at once. */
    onCreate(i: SesIdentityRecord): void {
      if (mode === 'immediate') {
        i.verified = true;
        if (i.mailFromDomain) i.mailFromVerified = true;
      }
    },
    /** Look pending identities (and MAIL FROM domains) up again before SES reports them. */
    async refresh(deps: Pick<SandboxDeps, 'store'>, account: SesAccountRecord, only?: string): Promise<void> {
      if (mode !== 'dns') return;
      const r = resolver();
      let changed = false;
      for (const i of Object.values(account.identities)) {
        if (only !== undefined && i.identity !== only) continue;
        if (!i.verified && i.type === 'DOMAIN' && (await dkimPublished(r, i))) {
          i.verified = true;
          changed = true;
        }
        if (
          i.mailFromDomain &&
          !i.mailFromVerified &&
          (await mxs(r, i.mailFromDomain)).includes(`feedback-smtp.${account.region}.amazonses.com`)
        ) {
          i.mailFromVerified = true;
          changed = true;
        }
      }
      if (changed) deps.store.save();
    },
  };
}

export type IdentityVerifier = ReturnType<typeof createIdentityVerifier>;
