import { createServer, type Server } from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import { createAdmin, type SandboxAdmin } from './admin.js';
import type { SandboxDeps } from './context.js';
import { startDnsServer } from './dns-server.js';
import { createFaults } from './faults.js';
import { createIdentityVerifier, type VerificationMode } from './identity-dns.js';
import { createRequestHandler, SANDBOX_LABEL } from './server.js';
import { signingKey, writeCertificate } from './sns-publish.js';
import { createStateStore, endpointPath, snsCertDir, stateDir, writeFileAtomic, type MailboxMessage } from './state.js';

export { PLATFORM_ACCOUNT, CUSTOMER_ACCOUNT, PLATFORM_USER_ARN, TEMPLATE_BUCKET } from './state.js';
export type { MailboxMessage, StsCallRecord, RoleRecord } from './state.js';
export type {
  SandboxAdmin,
  Credentials,
  DeployTemplateInput,
  DeployResult,
  StackSummary,
  SesAccountView,
  SetAccountInput,
  SandboxStatus,
  TemplateSummary,
} from './admin.js';
export type { PolicyDocument, Statement } from './policy.js';
export { SandboxError } from './errors.js';
export { SANDBOX_LABEL } from './server.js';

/** amazonses.com's own SPF record, as Amazon publishes it (`dig TXT amazonses.com`). */
export const AMAZONSES_SPF =
  'v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 ip4:69.169.224.0/20 ip4:23.249.208.0/20 ip4:23.251.224.0/19 ip4:76.223.176.0/20 ip4:54.240.64.0/19 ip4:54.240.96.0/19 ip4:76.223.128.0/19 ip4:216.221.160.0/19 ip4:206.55.144.0/20 -all';

export interface SandboxOptions {
  /** Persist state as JSON under <dataDir>/sandbox/; without it state lives in memory only. */
  dataDir?: string;
  clock?: { now(): Date };
  /** Default region for admin operations (SES accounts, stacks). */
  region?: string;
  /** A role younger than this is not yet assumable, as right after creation in real IAM. */
  propagationDelayMs?: number;
  /** One line per request (`[sandbox] STS AssumeRole by … → 200`). */
  log?: (line: string) => void;
  /**
   * How SES identities get verified: `manual` (admin verify-identity), `dns` (their DKIM and
   * MAIL FROM records are looked up in `dnsServers`, as SES does) or `immediate`. Default: `dns`
   * when DNS servers are given, else `manual`.
   */
  identityVerification?: VerificationMode;
  dnsServers?: string[];
  /**
   * Also serve DNS while listening (UDP and TCP on loopback): the records published through the
   * admin API, against which the sandbox SES verifies identities. Port 0 picks a free one.
   */
  serveDns?: { port?: number };
}

export interface Sandbox {
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
  readonly url: string | undefined;
  /** `127.0.0.1:<port>` of the DNS server it serves, while listening with `serveDns`. */
  readonly dnsAddress: string | undefined;
  admin: SandboxAdmin;
  /** Extension point for event publishing: called with every message SES accepts. Returns an unsubscribe function. */
  onEmailSent(listener: (msg: MailboxMessage) => void): () => void;
}

export function createSandbox(opts: SandboxOptions = {}): Sandbox {
  const clock = opts.clock ?? { now: () => new Date() };
  const region = opts.region ?? 'us-east-1';
  const store = createStateStore({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), now: clock.now(), region });
  if (opts.propagationDelayMs !== undefined) {
    store.state.propagationDelayMs = opts.propagationDelayMs;
    store.save();
  }
  let url: string | undefined;
  const identities = createIdentityVerifier({
    mode: opts.identityVerification ?? (opts.dnsServers?.length ? 'dns' : 'manual'),
    explicit: opts.identityVerification !== undefined,
    ...(opts.dnsServers ? { dnsServers: opts.dnsServers } : {}),
  });
  const deps: SandboxDeps = {
    store,
    clock,
    faults: createFaults(),
    defaultRegion: region,
    sendListeners: new Set(),
    identities,
    url: () => url,
    snsDeliveries: [],
    snsInFlight: new Set(),
  };
  // Sesame in sandbox mode trusts SNS signatures through this directory, never by fetching.
  if (opts.dataDir) writeCertificate(signingKey(deps), snsCertDir(opts.dataDir));
  let server: Server | undefined;
  const admin = createAdmin(deps, () => url);

  return {
    get url() {
      return url;
    },
    get dnsAddress() {
      return deps.dns?.address;
    },
    admin,
    onEmailSent(listener) {
      deps.sendListeners.add(listener);
      return () => deps.sendListeners.delete(listener);
    },
    async listen(port = 0, host = '127.0.0.1') {
      if (server) throw new Error('The sandbox is already listening');
      const s = createServer(
        createRequestHandler({ deps, admin, url: () => url, ...(opts.log ? { log: opts.log } : {}) }),
      );
      // SDK clients keep connections alive; do not let idle sockets hold close() for long.
      s.keepAliveTimeout = 1000;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      server = s;
      if (opts.serveDns) {
        const dns = await startDnsServer({ host: '127.0.0.1', port: opts.serveDns.port ?? 0 });
        // The MAIL FROM SPF record SES asks for includes amazonses.com: without its SPF record here,
        // every domain checked against this DNS would be told its include is broken.
        dns.add('amazonses.com', 'TXT', AMAZONSES_SPF);
        for (const r of store.state.dnsRecords ?? []) dns.add(r.name, r.type, r.value);
        deps.dns = dns;
        identities.useDns([dns.address]);
      }
      store.deferWrites(true);
      const addr = s.address();
      const actualPort = typeof addr === 'object' && addr ? addr.port : port;
      const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      url = `http://${shownHost}:${actualPort}`;
      if (opts.dataDir) {
        mkdirSync(stateDir(opts.dataDir), { recursive: true, mode: 0o700 });
        writeFileAtomic(
          endpointPath(opts.dataDir),
          JSON.stringify({
            url,
            pid: process.pid,
            label: SANDBOX_LABEL,
            ...(deps.dns ? { dns: deps.dns.address } : {}),
          }),
        );
      }
      opts.log?.(`[sandbox] ${SANDBOX_LABEL} listening on ${url}`);
      return url;
    },
    async close() {
      const s = server;
      if (!s) return;
      server = undefined;
      store.deferWrites(false);
      if (opts.dataDir) rmSync(endpointPath(opts.dataDir), { force: true });
      // Let SNS deliveries under way finish (each is bounded by its own timeout), briefly.
      await Promise.race([Promise.allSettled([...deps.snsInFlight]), new Promise((r) => setTimeout(r, 2000).unref())]);
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
      url = undefined;
      await deps.dns?.close();
      delete deps.dns;
    },
  };
}
