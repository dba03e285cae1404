import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { systemClock } from './clock.js';
import type { Config } from './config.js';
import type { Container } from './container.js';
import { AppError } from './errors.js';
import { buildServer } from './http/server.js';
import { createSmtpRelay, type SmtpRelay } from './smtp/relay.js';

/**
 * Starts and stops the roles of one process (API, worker, SMTP, background loops). `sesame start`
 * and `sesame worker` both run through here, so start-up is all or nothing the same way for both:
 * every port is checked before anything opens, and a failure once something is open closes it all.
 */

/** A port a role binds, with the setting that changes it (so a conflict says what to do). */
export interface PortClaim {
  /** Who wants it, as a person reads it: "the API". */
  what: string;
  host: string;
  /** 0 means any free port, which is never a conflict. */
  port: number;
  /** The flag and environment variable that change the port: "--port (SESAME_PORT)". */
  setting: string;
  /** The same for the address, when it has one. */
  hostSetting?: string;
  /** Also UDP on the same port (DNS). */
  udp?: boolean;
  /**
   * A development default (sandbox mode, no flag or variable given): when busy, any free port is
   * taken instead and said, so a first run works beside other programs. A port a person chose is
   * never moved.
   */
  movable?: boolean;
}

/** A development default that was busy, and the port used instead. */
export interface PortMove {
  what: string;
  from: number;
  to: number;
}

/**
 * One part of the process. Roles start in list order and stop in the same order: listeners first,
 * so no new work arrives while the worker finishes what it holds, then the loops.
 */
export interface Role {
  name: string;
  /** Resolves once the role is up, with what to tell the operator (its address), if anything. */
  start(): Promise<string | undefined>;
  stop(): Promise<void>;
}

export function serverPorts(
  config: Pick<Config, 'host' | 'port' | 'smtpHost' | 'smtpPort'>,
  opts: { smtp: boolean },
): PortClaim[] {
  return [apiPort(config), ...(opts.smtp ? [smtpPort(config)] : [])];
}

const apiPort = (config: Pick<Config, 'host' | 'port'>): PortClaim => ({
  what: 'the API',
  host: config.host,
  port: config.port,
  setting: '--port (SESAME_PORT)',
  hostSetting: '--host (SESAME_HOST)',
});

const smtpPort = (config: Pick<Config, 'smtpHost' | 'smtpPort'>): PortClaim => ({
  what: 'the SMTP relay',
  host: config.smtpHost,
  port: config.smtpPort,
  setting: '--smtp-port (SESAME_SMTP_PORT), or --no-smtp',
  hostSetting: 'SESAME_SMTP_HOST',
});

/** What `sesame start` runs. */
export function serverRoles(c: Container, opts: { smtp: boolean; worker: boolean }): Role[] {
  return [apiRole(c), ...(opts.smtp ? [smtpRole(c)] : []), runnerRole(c, opts.worker ? [] : SENDING_LOOPS)];
}

/** What `sesame worker` runs: the send worker and the background loops, no listener. */
export function workerRoles(c: Container): Role[] {
  return [runnerRole(c, [])];
}

/** Loops that only a process running the send worker runs (`start --no-worker` leaves them out). */
const SENDING_LOOPS = ['send'];

/** The loops registered on the container's runner, but those left out; stopped after the listeners. */
function runnerRole(c: Container, leaveOut: readonly string[]): Role {
  return {
    name: 'loops',
    start: async () => {
      c.runner.start(c.runner.names().filter((n) => !leaveOut.includes(n)));
      return undefined;
    },
    stop: async () => {
      // Sends waiting for their pacing window give their job back instead of holding the stop.
      c.sending.stopTaking();
      await c.runner.stop();
    },
  };
}

function apiRole(c: Container): Role {
  let app: FastifyInstance | undefined;
  return {
    name: 'api',
    async start() {
      const server = await buildServer(c);
      try {
        const address = await server.listen({ port: c.config.port, host: c.config.host });
        app = server;
        return address;
      } catch (e) {
        await server.close().catch(() => undefined);
        throw portError(apiPort(c.config), e);
      }
    },
    async stop() {
      await app?.close();
      app = undefined;
    },
  };
}

function smtpRole(c: Container): Role {
  let relay: SmtpRelay | undefined;
  return {
    name: 'smtp',
    async start() {
      const r = createSmtpRelay({
        config: c.config,
        apiKeys: c.apiKeys,
        authLimit: c.authLimit,
        messages: c.messages,
        logger: c.logger,
      });
      try {
        const { port } = await r.listen();
        relay = r;
        return `${c.config.smtpHost}:${port}`;
      } catch (e) {
        await r.close().catch(() => undefined);
        throw portError(smtpPort(c.config), e);
      }
    },
    async stop() {
      await relay?.close();
      relay = undefined;
    },
  };
}

export interface RunOptions {
  /**
   * Every port the process will bind; checked before `prepare`, all conflicts reported together.
   * A movable claim that was busy has its port changed in place before `prepare` runs.
   */
  ports: PortClaim[];
  /** Development defaults that were busy and moved (said before anything else). */
  moved?(moves: PortMove[]): void;
  /** Opens what the roles share (database, sandbox) and returns the roles to run. */
  prepare(): Promise<Role[]>;
  /** Every role is up: what each reported (its address), by role name. */
  started?(details: Record<string, string>): void | Promise<void>;
  stopping?(signal: string): void;
}

/**
 * Run a process until SIGTERM or SIGINT: check the ports, prepare, start the roles, then stop them in
 * order. Throws (having stopped whatever had started) when anything fails; the caller closes what
 * `prepare` opened.
 */
export async function runProcess(opts: RunOptions): Promise<void> {
  const moves = await preflight(opts.ports);
  if (moves.length > 0) opts.moved?.(moves);
  const signals = watchSignals();
  try {
    const roles = await opts.prepare();
    if (signals.received) return;
    const running = await startRoles(roles);
    await opts.started?.(running.details);
    const signal = await signals.next;
    opts.stopping?.(signal);
    await running.stop();
  } finally {
    signals.dispose();
  }
}

/** Start roles in order; if one fails, stop those already started and rethrow its error. */
export async function startRoles(roles: Role[]): Promise<{ details: Record<string, string>; stop(): Promise<void> }> {
  const started: Role[] = [];
  const details: Record<string, string> = {};
  try {
    for (const role of roles) {
      const detail = await role.start();
      started.push(role);
      if (detail !== undefined) details[role.name] = detail;
    }
  } catch (e) {
    await stopRoles(started).catch(() => undefined);
    throw e;
  }
  return { details, stop: () => stopRoles(started) };
}

/** In list order; one role failing to stop does not leave the others running. */
async function stopRoles(roles: Role[]): Promise<void> {
  const errors: unknown[] = [];
  for (const role of roles) await role.stop().catch((e: unknown) => errors.push(e));
  if (errors.length > 0) throw errors[0];
}

/**
 * Once everything is closed the process ends by itself. Should some handle linger (a client socket,
 * a pool), end it anyway rather than leave a process that no supervisor would restart.
 */
export function exitIfStuck(ms = 10_000): void {
  systemClock.setTimer(
    ms,
    () => {
      process.stderr.write('Sesame stopped, but something kept the process alive; exiting.\n');
      process.exit(Number(process.exitCode ?? 0));
    },
    { background: true },
  );
}

/** The first SIGTERM/SIGINT stops in order; a second one ends the process at once. */
function watchSignals(): { readonly received: boolean; next: Promise<string>; dispose(): void } {
  let received: string | undefined;
  let resolve!: (s: string) => void;
  const next = new Promise<string>((r) => (resolve = r));
  const on = (signal: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`${signal} again: exiting without waiting.\n`);
      process.exit(130);
    }
    received = signal;
    resolve(signal);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    get received() {
      return received !== undefined;
    },
    next,
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/**
 * Try every claimed port (binding and releasing it at once) before anything opens, and report every
 * conflict in one error, each with the setting to change.
 */
export async function preflight(claims: PortClaim[], who = 'Sesame'): Promise<PortMove[]> {
  const conflicts: Array<PortClaim & { reason: string }> = [];
  const moves: PortMove[] = [];
  const fixed = claims.filter((c) => c.port !== 0);
  for (const [i, c] of fixed.entries()) {
    const earlier = fixed.slice(0, i).find((o) => o.port === c.port && sameAddress(o.host, c.host));
    if (earlier) {
      conflicts.push({ ...c, reason: `${earlier.what} is set to use the same port` });
      continue;
    }
    const reason = await tryBind(c);
    if (reason && c.movable && /in use/.test(reason)) {
      const to = await freePortFor(c);
      moves.push({ what: c.what, from: c.port, to });
      c.port = to;
    } else if (reason) conflicts.push({ ...c, reason });
  }
  if (conflicts.length === 0) return moves;
  const lines = conflicts.map((c) => `  - ${conflictLine(c, c.reason)}`);
  const count = conflicts.length === 1 ? '1 port is' : `${conflicts.length} ports are`;
  throw new AppError('port_in_use', `${who} did not start: ${count} not available.\n${lines.join('\n')}`, {
    details: {
      conflicts: conflicts.map((c) => ({
        what: c.what,
        host: c.host,
        port: c.port,
        setting: c.setting,
        reason: c.reason,
      })),
    },
  });
}

/** A listen error that is about the port or address becomes the same error the preflight gives. */
export function portError(claim: PortClaim, e: unknown): unknown {
  const reason = bindReason(e, claim);
  if (!reason) return e;
  return new AppError('port_in_use', `${conflictLine(claim, reason)}`, {
    details: { conflicts: [{ what: claim.what, host: claim.host, port: claim.port, setting: claim.setting, reason }] },
  });
}

function conflictLine(c: PortClaim, reason: string): string {
  const addressProblem = /not an address|does not resolve/.test(reason);
  const fix = addressProblem && c.hostSetting ? c.hostSetting : c.setting;
  return `${c.what} on ${c.host}:${c.port}${c.udp ? ' (TCP and UDP)' : ''}: ${reason}. Change it with ${fix}.`;
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);
const sameAddress = (a: string, b: string): boolean => a === b || WILDCARD.has(a) || WILDCARD.has(b);

async function tryBind(c: PortClaim): Promise<string | undefined> {
  try {
    await bindTcp(c.host, c.port);
    if (c.udp) await bindUdp(c.host, c.port);
    return undefined;
  } catch (e) {
    return bindReason(e, c) ?? (e instanceof Error ? e.message : String(e));
  }
}

function bindReason(e: unknown, c: PortClaim): string | undefined {
  const code =
    (e as NodeJS.ErrnoException | undefined)?.code ??
    /EADDRINUSE|EACCES|EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN/.exec(String((e as Error | undefined)?.message))?.[0];
  switch (code) {
    case 'EADDRINUSE':
      return 'in use by another program';
    case 'EACCES':
      return 'not allowed for this user (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return `${c.host} is not an address of this machine`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${c.host} does not resolve`;
    default:
      return undefined;
  }
}

/** A port free on TCP (and UDP when the claim needs both), found by letting the system choose. */
async function freePortFor(c: PortClaim): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ port: 0, host: c.host, exclusive: true }, () => {
        const a = server.address();
        server.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if (!c.udp) return port;
    if (
      await bindUdp(c.host, port).then(
        () => true,
        () => false,
      )
    )
      return port;
  }
  throw new AppError('port_in_use', `No free port was found for ${c.what} on ${c.host}.`);
}

function bindTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

function bindUdp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', (e) => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      reject(e);
    });
    socket.bind(port, host, () => socket.close(() => resolve()));
  });
}
