import type { CredentialProvider as AwsCredentialIdentityProvider } from './aws/credentials.js';
import { createClientFactory } from './aws/clients.js';
import { createCredentialBroker } from './aws/credentials.js';
import { createAwsGateway } from './aws/gateway.js';
import { createPlatform } from './aws/platform.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { createEnvelope } from './crypto/envelope.js';
import { createLogger, type Logger } from './logger.js';
import { createApiKeys } from './modules/api-keys/api-keys.js';
import { createAuthFailureLimit } from './modules/api-keys/failure-limit.js';
import { createMembers } from './modules/operators/members.js';
import { createSessions } from './modules/operators/sessions.js';
import { createSignIn } from './modules/operators/sign-in.js';
import { createAudit } from './modules/audit/audit.js';
import { createConnections } from './modules/connections/service.js';
import { createConnectionTester } from './modules/connections/test-connection.js';
import { createWorkspaces } from './modules/workspaces/workspaces.js';
import { createIdentityCache } from './modules/messages/identities.js';
import { createMessages } from './modules/messages/service.js';
import { createSuppressions } from './modules/suppressions/suppressions.js';
import { createSending } from './sending/sending.js';
import { createSnsVerifier } from './aws/sns-verify.js';
import { createEventWiringGateway } from './aws/event-wiring.js';
import { createEventWiring } from './modules/connections/event-wiring.js';
import { createIdentityGateway } from './aws/identities.js';
import { createDnsChecker } from './modules/domains/dns-check.js';
import { createDomains } from './modules/domains/service.js';
import { createSnsInbox } from './modules/events/inbox.js';
import { createSnsRefusals } from './modules/events/refusals.js';
import { createEventProcessor, type EventTx } from './modules/events/processor.js';
import { createReputationGuard } from './modules/events/reputation.js';
import { createWebhookDelivery } from './modules/webhooks/delivery.js';
import { createWebhooks } from './modules/webhooks/webhooks.js';
import { createWarmupGate } from './modules/warmup/gate.js';
import { createRamp } from './modules/warmup/ramp.js';
import { createWarmup } from './modules/warmup/service.js';
import { createWarmupUsage } from './modules/warmup/usage.js';
import { migrate, openStore, type Store } from './store/db.js';
import { createRepositories } from './store/repos.js';
import { createRunner } from './runner.js';

export interface ContainerOptions {
  clock?: Clock;
  logger?: Logger;
  /** Sesame's own AWS credentials; defaults to the SDK default chain. */
  platformCredentials?: AwsCredentialIdentityProvider;
  store?: Store;
  sleep?: (ms: number) => Promise<void>;
  /** Called when pacing lets a message go (tests read the pacing windows from it). */
  onAdmit?: (e: { connectionId: string; recipients: number; at: number }) => void;
}

/** The composition root: one create<Module>() per module, wired with only what each uses. */
export async function createContainer(config: Config, opts: ContainerOptions = {}) {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const store = opts.store ?? openStore(config.databaseUrl);
  await migrate(store.db, store.schema ?? (store.dialect === 'postgres' ? 'public' : undefined));
  const repos = createRepositories(store);
  // Every background loop of the process runs on this one runner (main.ts starts the ones a role needs).
  const runner = createRunner({ clock, logger });

  const audit = createAudit({ repo: repos.audit, clock });
  const workspaces = createWorkspaces({ repo: repos.workspaces, clock, audit });
  const apiKeys = createApiKeys({
    repo: repos.apiKeys,
    clock,
    audit,
    connectionId: async (workspaceId, ref) => (await repos.connections.find(workspaceId, ref))?.id,
  });
  const sessions = createSessions({
    repo: repos.sessions,
    users: repos.members,
    clock,
    policy: {
      maxMs: config.sessionMaxHours * 3600_000,
      idleMs: config.sessionIdleMinutes * 60_000,
      cliMaxMs: config.cliSessionDays * 86_400_000,
    },
  });
  const members = createMembers({ repo: repos.members, invitations: repos.invitations, sessions, clock, audit });
  const signIn = createSignIn({
    config,
    grants: repos.signInGrants,
    workspaces: repos.workspaces,
    users: repos.members,
    invitations: repos.invitations,
    members,
    sessions,
    clock,
    audit,
    logger,
  });
  // One budget for both doors (API and SMTP): guessing through either counts against the address.
  const authLimit = createAuthFailureLimit({
    clock,
    max: config.authFailureLimit,
    windowMs: config.authFailureWindowSeconds * 1000,
  });
  const envelope = createEnvelope(config.masterKey);

  const clients = createClientFactory(config);
  const gateway = createAwsGateway({ clients });
  const platform = createPlatform({
    config,
    clients,
    ...(opts.platformCredentials ? { credentials: opts.platformCredentials } : {}),
    onCallerIdentity: (e) =>
      audit.record({
        workspaceId: null,
        actor: 'system',
        action: 'sts.get_caller_identity',
        outcome: e.outcome,
        details: { purpose: 'platform', ...(e.arn ? { arn: e.arn } : {}) },
      }),
  });

  // The broker reports sessions to the connections module, which is built after it.
  const connectionsHolder: { ref?: ReturnType<typeof createConnections> } = {};
  const broker = createCredentialBroker({
    config,
    clock,
    clients,
    platform,
    onSession: async (e) => {
      await audit.record({
        workspaceId: e.workspaceId,
        connectionId: e.connectionId,
        actor: 'system',
        action: 'sts.assume_role',
        outcome: e.outcome,
        details: {
          purpose: e.purpose,
          roleSessionName: e.roleSessionName,
          assumedRoleId: e.assumedRoleId,
          expiresAt: e.expiresAt,
          durationSeconds: e.durationSeconds,
          error: e.errorMessage,
        },
      });
      await connectionsHolder.ref?.recordSession(e);
      if (e.outcome !== 'ok')
        logger.warn({ connectionId: e.connectionId, purpose: e.purpose, outcome: e.outcome }, 'AssumeRole failed');
    },
    onSecretRead: async (e) => {
      await audit.record({
        workspaceId: e.workspaceId,
        connectionId: e.connectionId,
        actor: 'system',
        action: 'secretsmanager.get_secret_value',
        outcome: e.outcome,
      });
    },
  });
  const connectionsDeps: Parameters<typeof createConnections>[0] = {
    repo: repos.connections,
    workspaces: repos.workspaces,
    transaction: repos.transaction,
    clock,
    config,
    audit,
    envelope,
    broker,
    platform,
    gateway,
  };
  const connections = createConnections(connectionsDeps);
  connectionsHolder.ref = connections;
  const suppressions = createSuppressions({ repo: repos.suppressions, clock, audit });
  const identities = createIdentityCache({ clock, gateway });
  // Warmup: the ramp reads the reputation guard, built below (called only once everything is up).
  const warmupRamp = createRamp({
    repo: repos.warmup,
    clock,
    reputation: { measure: (id) => reputation.measure(id) },
  });
  const warmupUsage = createWarmupUsage({ repo: repos.warmup });
  const warmupGate = createWarmupGate({ repo: repos.warmup, clock, ramp: warmupRamp, usage: warmupUsage });
  const warmup = createWarmup({
    repo: repos.warmup,
    clock,
    audit,
    connections,
    ramp: warmupRamp,
    usage: warmupUsage,
    onChange: (id) => warmupGate.forget(id),
  });
  const sending = createSending({
    clock,
    logger,
    runner,
    repos,
    broker,
    gateway,
    connection: async (id) => {
      const row = await repos.connections.byId(id);
      return (
        row && {
          id: row.id,
          workspaceId: row.workspaceId,
          region: row.region,
          configurationSet: row.configurationSet,
          paused: row.pausedReason !== null,
          subject: connections.subject(row),
        }
      );
    },
    heldConnections: () => repos.connections.heldIds(),
    pause: (id, code, reason) => connections.pause(id, code, reason),
    health: connections,
    warmup: warmupGate,
    options: {
      concurrency: config.workerConcurrency,
      leaseMs: config.workerLeaseSeconds * 1000,
      pollMs: config.workerPollMs,
      maxAttempts: config.sendMaxAttempts,
      quotaRefreshMs: config.quotaRefreshSeconds * 1000,
    },
    ...(opts.onAdmit ? { onAdmit: opts.onAdmit } : {}),
  });
  // The timeline comes from the event processor, built just below.
  let eventsRef: {
    timeline: (
      id: string,
    ) => Promise<Array<{ kind: string; occurredAt: string; recipients: string[]; details: Record<string, unknown> }>>;
  } = { timeline: async () => [] };
  const messages = createMessages({
    clock,
    messages: repos.messages,
    idempotency: repos.idempotency,
    transaction: repos.transaction,
    apiKeys: repos.apiKeys,
    suppressions,
    connections,
    identities,
    audit,
    credentials: (row) => broker.provider(connections.subject(row), 'read'),
    dropCredentials: (id) => broker.drop(id),
    timeline: (id) => eventsRef.timeline(id),
    onQueued: () => sending.kick(),
  });
  const snsVerifier = createSnsVerifier({
    clock,
    maxAgeSeconds: config.snsMaxAgeSeconds,
    ...(config.snsCertDir ? { certDir: config.snsCertDir } : {}),
    ...(config.endpoints.sns ? { snsEndpoint: config.endpoints.sns } : {}),
  });
  // The SNS endpoint has no workspace: it finds the connection by id alone.
  const connectionForEvents = async (id: string) => {
    const r = await repos.connections.byId(id);
    return r && { workspaceId: r.workspaceId, snsTopicArns: r.snsTopicArns };
  };
  const snsRefusals = createSnsRefusals({ repo: repos.snsRefusals, clock });
  connectionsDeps.refusals = snsRefusals;
  const reputation = createReputationGuard({
    messages: repos.messages,
    config,
    pause: (id, code, reason) => connections.pause(id, code, reason),
    onPause: (id) => sending.connectionChanged(id),
  });
  connectionsDeps.reputation = reputation;
  const webhooks = createWebhooks({
    repo: repos.webhooks,
    transaction: repos.transaction,
    clock,
    config,
    envelope,
    audit,
  });
  const webhookDelivery = createWebhookDelivery({
    webhooks: repos.webhooks,
    jobs: repos.jobs,
    transaction: repos.transaction,
    clock,
    logger,
    config,
    envelope,
  });
  const events = createEventProcessor({
    notifications: repos.snsMessages,
    events: repos.messageEvents,
    // The event's writes and their audit rows (suppressions it adds) commit together.
    transaction: (fn) =>
      repos.transaction((r) =>
        fn(Object.create(r, { auditLog: { value: createAudit({ repo: r.audit, clock }) } }) as EventTx),
      ),
    suppressions,
    clock,
    logger,
    config,
    onReputationEvent: (id) => reputation.check(id),
    onEvent: (tx, e) => webhooks.enqueue(tx, e).then(() => undefined),
    // Webhook deliveries the events enqueued are committed with them: start delivering.
    onApplied: () => webhooksLoop.kick(),
  });
  eventsRef = events;
  const eventsLoop = runner.add(events.loop);
  const webhooksLoop = runner.add(webhookDelivery.loop);
  const snsInbox = createSnsInbox({
    notifications: repos.snsMessages,
    connection: connectionForEvents,
    clock,
    verifier: snsVerifier,
    audit,
    logger,
    ...(config.endpoints.sns ? { snsEndpoint: config.endpoints.sns } : {}),
    // Processing happens off the request path.
    onStored: () => eventsLoop.kick(),
    refusals: snsRefusals,
  });
  const eventWiring = createEventWiring({
    config,
    gateway: createEventWiringGateway(gateway),
    connections,
    credentials: (subject, purpose) => broker.provider(subject, purpose),
    audit,
    refusals: snsRefusals,
  });
  const domains = createDomains({
    repo: repos.domains,
    transaction: repos.transaction,
    jobs: repos.jobs,
    clock,
    logger,
    audit,
    connections,
    credentials: (subject, purpose) => broker.provider(subject, purpose),
    identities: createIdentityGateway({ ses: gateway.ses }),
    dns: createDnsChecker({ ...(config.dnsServers ? { servers: config.dnsServers } : {}), clock }),
    onIdentitiesChanged: (id) => identities.forget(id),
  });
  // Pending domains are looked at again on this beat (each still waits for its own backoff).
  runner.add({ name: 'domains', everyMs: 30_000, pass: async () => (await domains.checkDue()) > 0 });
  const tester = createConnectionTester({
    clock,
    config,
    platform,
    gateway,
    connections,
    broker,
    audit,
    events: eventWiring,
    onSafetyChanged: (id) => {
      sending.connectionChanged(id);
      sending.kick();
    },
  });
  connectionsDeps.proveRole = (workspaceId, id, actor) => tester.proveRole(workspaceId, id, actor);

  return {
    config,
    clock,
    runner,
    repos,
    logger,
    store,
    audit,
    workspaces,
    apiKeys,
    sessions,
    members,
    signIn,
    authLimit,
    connections,
    tester,
    eventWiring,
    domains,
    suppressions,
    identities,
    messages,
    sending,
    events,
    snsInbox,
    reputation,
    warmup,
    webhooks,
    webhookDelivery,
    broker,
    platform,
    gateway,
    async close(): Promise<void> {
      sending.stopTaking();
      await runner.stop();
      await sending.close();
      await store.close();
    },
  };
}

export type Container = Awaited<ReturnType<typeof createContainer>>;
