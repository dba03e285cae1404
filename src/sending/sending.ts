import { randomBytes } from 'node:crypto';
import type { CredentialBroker } from '../aws/credentials.js';
import type { AwsGateway } from '../aws/gateway.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { WarmupGate } from '../modules/warmup/gate.js';
import type { Runner } from '../runner.js';
import type { Repositories } from '../store/repos.js';
import { createConnectionCache } from './connections.js';
import { createHeartbeat } from './heartbeat.js';
import { createLeaseLoop } from './lease-loop.js';
import { createOutcomes } from './outcome.js';
import { createPacers } from './quota.js';
import { createRecovery } from './recovery.js';
import { createSend, type SendDeps } from './send.js';
import type { PauseConnection, SendConnection, SendingOptions, SendStats } from './types.js';
import { createWarmupCheck } from './warmup.js';

export interface SendingDeps {
  clock: Clock;
  logger: Logger;
  runner: Pick<Runner, 'add'>;
  repos: Pick<Repositories, 'jobs' | 'messages' | 'workers' | 'idempotency' | 'analytics' | 'transaction'>;
  broker: Pick<CredentialBroker, 'provider' | 'drop' | 'withCredentials'>;
  gateway: Pick<AwsGateway, 'sendEmail' | 'getAccount'>;
  connection: (id: string) => Promise<SendConnection | undefined>;
  /** Connections whose queue waits: paused, or a role not proven to require its External ID. */
  heldConnections: () => Promise<string[]>;
  pause: PauseConnection;
  health?: SendDeps['health'];
  /** Warmup plans: each day's allowance per connection (and sending domain). */
  warmup?: Pick<WarmupGate, 'admit' | 'noteQuota'>;
  options: SendingOptions;
  random?: () => number;
  /** Called when pacing lets a message go (metrics, tests). */
  onAdmit?: SendDeps['onAdmit'];
}

/**
 * Sending: two loops on the runner. `send` leases due jobs and sends each message (pacing, warmup,
 * credentials, SES, outcome); `housekeeping` recovers sends abandoned in flight and forgets expired
 * idempotency keys. At most once: see send.ts.
 */
export function createSending(deps: SendingDeps) {
  const { clock, logger, repos, options } = deps;
  const owner = `worker-${randomBytes(6).toString('hex')}`;
  const stats: SendStats = { sent: 0, failed: 0, retried: 0, deferred: 0 };
  let stopping = false;

  const connections = createConnectionCache({ clock, load: deps.connection, held: deps.heldConnections });
  async function pause(connectionId: string, code: string, reason: string): Promise<void> {
    const paused = await deps.pause(connectionId, code, reason);
    connections.forget(connectionId);
    if (paused) logger.warn({ connectionId, code }, 'connection paused');
  }
  const pacers = createPacers({
    clock,
    logger,
    broker: deps.broker,
    gateway: deps.gateway,
    ...(deps.warmup ? { warmup: deps.warmup } : {}),
    pause,
    quotas: repos.analytics,
    quotaRefreshMs: options.quotaRefreshMs,
  });
  const outcomes = createOutcomes({ clock, logger, repos, transaction: repos.transaction, stats });
  const send = createSend({
    clock,
    logger,
    owner,
    options,
    stats,
    transaction: repos.transaction,
    broker: deps.broker,
    gateway: deps.gateway,
    connections,
    pacers,
    warmup: createWarmupCheck({ logger, ...(deps.warmup ? { gate: deps.warmup } : {}) }),
    outcomes,
    pause,
    ...(deps.health ? { health: deps.health } : {}),
    stopping: () => stopping,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.onAdmit ? { onAdmit: deps.onAdmit } : {}),
  });
  const heartbeat = createHeartbeat({ clock, workers: repos.workers, owner, onShare: (n) => pacers.setShare(n) });
  const leaseLoop = createLeaseLoop({
    clock,
    logger,
    owner,
    options,
    jobs: repos.jobs,
    messages: repos.messages,
    held: () => connections.held(),
    beforePass: () => heartbeat.beatIfDue(),
    send,
    onFree: () => loop.kick(),
  });
  const recovery = createRecovery({ clock, logger, transaction: repos.transaction, idempotency: repos.idempotency });

  const loop = deps.runner.add({
    name: 'send',
    everyMs: options.pollMs,
    pass: () => leaseLoop.pass(),
    settled: async () => {
      await leaseLoop.settled();
      await outcomes.flushed();
    },
  });
  deps.runner.add({ name: 'housekeeping', everyMs: options.leaseMs / 2, pass: () => recovery.pass() });

  return {
    /** This process's name in the jobs it leases and in `workers`. */
    owner,
    stats,
    /** A new message is queued: look now instead of at the next poll. */
    kick: () => loop.kick(),
    /** A connection was paused, resumed or tested elsewhere in this process: stop trusting the cache. */
    connectionChanged: (connectionId: string) => connections.forget(connectionId),
    /** Stop taking jobs; sends in flight finish (the runner's stop waits for them). */
    stopTaking(): void {
      stopping = true;
      leaseLoop.stop();
    },
    /** After the runner stopped: leave the workers' count, so the others take this share. */
    async close(): Promise<void> {
      await heartbeat.leave().catch((e: unknown) => logger.warn({ err: e }, 'could not leave the workers list'));
    },
  };
}
