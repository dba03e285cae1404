import type { Dialect, Executor, Store } from './db.js';
import { createDomainsRepo } from './domains.js';
import { createAuditRepo } from './audit.js';
import { createConnectionsRepo } from './connections.js';
import { createIdempotencyRepo } from './idempotency.js';
import { createJobs } from './jobs.js';
import { createKeyCheckRepo } from './key-check.js';
import { createMessagesRepo } from './messages.js';
import { createSuppressionsRepo } from './suppressions.js';
import { createWarmupRepo } from './warmup.js';
import { createMessageEventsRepo, createSnsMessagesRepo, createSnsRefusalsRepo } from './events.js';
import { createWebhooksRepo } from './webhooks.js';
import { createApiKeysRepo, createWorkspacesRepo } from './workspaces.js';
import { createWorkersRepo } from './workers.js';
import { createInvitationsRepo, createMembersRepo, createSessionsRepo, createSignInGrantsRepo } from './operators.js';
import { createAnalyticsRepo } from './analytics.js';

/**
 * Every repository, each the only writer of its tables. Services take the few methods they use
 * (`Pick<SuppressionsRepo, 'find'>`) and, where writes must commit together, `transaction`.
 */
const FACTORIES = {
  jobs: (db: Executor, dialect: Dialect) => createJobs(db, dialect),
  messages: (db: Executor) => createMessagesRepo(db),
  suppressions: (db: Executor) => createSuppressionsRepo(db),
  domains: (db: Executor) => createDomainsRepo(db),
  warmup: (db: Executor) => createWarmupRepo(db),
  snsMessages: (db: Executor) => createSnsMessagesRepo(db),
  messageEvents: (db: Executor) => createMessageEventsRepo(db),
  snsRefusals: (db: Executor) => createSnsRefusalsRepo(db),
  webhooks: (db: Executor) => createWebhooksRepo(db),
  workspaces: (db: Executor) => createWorkspacesRepo(db),
  apiKeys: (db: Executor) => createApiKeysRepo(db),
  connections: (db: Executor) => createConnectionsRepo(db),
  audit: (db: Executor) => createAuditRepo(db),
  keyCheck: (db: Executor) => createKeyCheckRepo(db),
  idempotency: (db: Executor) => createIdempotencyRepo(db),
  workers: (db: Executor) => createWorkersRepo(db),
  members: (db: Executor) => createMembersRepo(db),
  invitations: (db: Executor) => createInvitationsRepo(db),
  sessions: (db: Executor) => createSessionsRepo(db),
  signInGrants: (db: Executor) => createSignInGrantsRepo(db),
  analytics: (db: Executor) => createAnalyticsRepo(db),
} as const;

export type Repos = { readonly [K in keyof typeof FACTORIES]: ReturnType<(typeof FACTORIES)[K]> };

/** Run `fn` with repositories bound to one transaction: all its writes commit together or none do. */
export type Transaction = <T>(fn: (r: Repos) => Promise<T>) => Promise<T>;

export interface Repositories extends Repos {
  transaction: Transaction;
}

/** Repositories on `db`, each built on first use, so a transaction only builds the ones it touches. */
function bind(db: Executor, dialect: Dialect): Repos {
  const out = {} as Record<string, unknown>;
  for (const [name, make] of Object.entries(FACTORIES)) {
    let built: unknown;
    Object.defineProperty(out, name, { enumerable: true, get: () => (built ??= make(db, dialect)) });
  }
  return out as Repos;
}

export function createRepositories(store: Pick<Store, 'db' | 'dialect'>): Repositories {
  const repos = bind(store.db, store.dialect);
  return Object.assign(Object.create(null) as object, repos, {
    transaction: <T>(fn: (r: Repos) => Promise<T>) =>
      store.db.transaction().execute((trx) => fn(bind(trx, store.dialect))),
  }) as Repositories;
}
