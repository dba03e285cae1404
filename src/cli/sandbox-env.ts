import { AppError } from '../errors.js';
import { portError, type PortClaim } from '../main.js';
import { createSandbox, TEMPLATE_BUCKET } from '../sandbox/index.js';
import { runningEndpoint } from '../sandbox/admin-client.js';

/**
 * Where `sesame start --sandbox` and `sesame sandbox serve` listen unless told otherwise: a fixed
 * port a second terminal can rely on. Clear of LocalStack's ports (4566, 4510-4559 and the old
 * per-service 4567-4599), which the README suggests for other work, and of Sesame's own 3000 (API)
 * and 2587 (SMTP).
 */
export const SANDBOX_PORT = 3566;

/** The sandbox DNS port unless told otherwise: any free one (Sesame finds it in the data directory). */
export const SANDBOX_DNS_PORT = 0;

export interface SandboxListen {
  port: number;
  dnsPort: number;
}

/** The ports a sandbox served by this process binds, for the start-up check. */
export function sandboxPorts(
  l: SandboxListen,
  flags = { port: '--sandbox-port', dnsPort: '--sandbox-dns-port' },
): PortClaim[] {
  return [
    { what: 'the local AWS sandbox', host: '127.0.0.1', port: l.port, setting: flags.port },
    { what: 'the sandbox DNS server', host: '127.0.0.1', port: l.dnsPort, setting: flags.dnsPort, udp: true },
  ];
}

/** Whether a sandbox for this data directory already runs in another process (then this one serves none). */
export function sandboxRunning(dataDir: string): boolean {
  const info = runningEndpoint(dataDir);
  return info !== undefined && info.pid !== process.pid;
}

/** A commander parser for a port flag: a wrong value names the flag instead of failing later. */
export function portFlag(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535)
      throw new AppError('config_invalid', `${flag} must be a port number from 0 to 65535, got ${JSON.stringify(v)}.`, {
        hint: `Give ${flag} a port number (0 picks any free port).`,
        details: { flag },
      });
    return n;
  };
}

export interface SandboxHandle {
  url: string;
  platform: { accessKeyId: string; secretAccessKey: string; arn: string };
  templateBucket: string;
  /** The sandbox's DNS server (`127.0.0.1:<port>`), where published records are looked up. */
  dns?: string;
  /** Whether this process serves the sandbox (false: another process, e.g. `sesame start --sandbox`). */
  owned: boolean;
  close(): Promise<void>;
}

/**
 * Find the sandbox for a data directory: the one another process serves (so `sesame …` in a second
 * terminal acts on what `sesame start --sandbox` serves), or one started in this process.
 */
export async function attachSandbox(dataDir: string, listen?: SandboxListen): Promise<SandboxHandle> {
  const running = await findRunning(dataDir);
  if (running) return running;
  // Commands other than `start` that find no sandbox serve one for themselves, on any free ports.
  const l = listen ?? { port: 0, dnsPort: 0 };
  const sandbox = createSandbox({
    dataDir,
    serveDns: { port: l.dnsPort },
    log: process.env.SESAME_SANDBOX_LOG ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  let url: string;
  try {
    url = await sandbox.listen(l.port, '127.0.0.1');
  } catch (e) {
    // The HTTP listener may be open when the DNS one fails: close what opened.
    await sandbox.close().catch(() => undefined);
    const [http, dns] = sandboxPorts(l);
    const onDnsPort = l.dnsPort !== 0 && (e as { port?: unknown }).port === l.dnsPort;
    throw portError(onDnsPort ? dns! : http!, e);
  }
  const p = sandbox.admin.platformCredentials();
  return {
    url,
    platform: { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey, arn: p.arn },
    templateBucket: TEMPLATE_BUCKET,
    ...(sandbox.dnsAddress ? { dns: sandbox.dnsAddress } : {}),
    owned: true,
    close: () => sandbox.close(),
  };
}

async function findRunning(dataDir: string): Promise<SandboxHandle | undefined> {
  const info = runningEndpoint(dataDir);
  if (!info || info.pid === process.pid) return undefined;
  try {
    const res = await fetch(`${info.url}/_sandbox/platform-credentials`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return undefined;
    const p = (await res.json()) as { accessKeyId: string; secretAccessKey: string; arn: string };
    return {
      url: info.url,
      platform: p,
      templateBucket: TEMPLATE_BUCKET,
      ...(info.dns ? { dns: info.dns } : {}),
      owned: false,
      close: async () => undefined,
    };
  } catch {
    return undefined;
  }
}
