import { createSandbox, TEMPLATE_BUCKET } from '../sandbox/index.js';
import { listening } from './output.js';
import { runningEndpoint } from '../sandbox/admin-client.js';

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
export async function attachSandbox(dataDir: string, opts: { port?: number | undefined } = {}): Promise<SandboxHandle> {
  const running = await findRunning(dataDir);
  if (running) return running;
  const sandbox = createSandbox({
    dataDir,
    serveDns: {},
    log: process.env.SESAME_SANDBOX_LOG ? (l) => process.stderr.write(`${l}\n`) : undefined,
  });
  const port = opts.port ?? 0;
  const url = await listening('local AWS sandbox', port, '--sandbox-port', () => sandbox.listen(port, '127.0.0.1'));
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
