import type { CredentialSubject } from '../aws/credentials.js';

/** What sending needs of a connection. */
export interface SendConnection {
  id: string;
  workspaceId: string;
  region: string;
  configurationSet: string | null;
  /** Sesame paused its queue (SES paused sending, the reputation guard, a wrong endpoint). */
  paused: boolean;
  subject: CredentialSubject;
}

export interface SendingOptions {
  /** Sends in flight at once. */
  concurrency: number;
  /** How long a leased job is held; an in-flight job whose lease ran out is recovered. */
  leaseMs: number;
  /** How often an idle process looks for due jobs. */
  pollMs: number;
  maxAttempts: number;
  /** How often the SES quota is read again (GetAccount). */
  quotaRefreshMs: number;
}

export interface SendStats {
  sent: number;
  failed: number;
  retried: number;
  deferred: number;
}

/**
 * Pause a connection's queue (the connections part owns the write and its audit); false when it
 * was already paused.
 */
export type PauseConnection = (connectionId: string, code: string, reason: string) => Promise<boolean>;
