import type { Caller, RawRequest } from './auth.js';
import type { Faults } from './faults.js';
import type { DnsServer } from './dns-server.js';
import type { IdentityVerifier } from './identity-dns.js';
import type { StateStore } from './state.js';
import type { MailboxMessage } from './state.js';

/** Long-lived collaborators shared by every service handler. */
export interface SandboxDeps {
  store: StateStore;
  clock: { now(): Date };
  faults: Faults;
  defaultRegion: string;
  /**
   * Extension point: called after SES accepts a message (tests and tools observe sends here).
   */
  sendListeners: Set<(msg: MailboxMessage) => void>;
  /** How identities become verified: by hand, by looking their DNS records up, or at once. */
  identities: IdentityVerifier;
  /** The DNS server the sandbox serves while listening (when asked to). */
  dns?: DnsServer;
  /** The sandbox's own base URL once listening (SubscribeURLs point back at it). */
  url: () => string | undefined;
  /** HTTP deliveries made by the sandbox SNS, newest last (bounded), for inspection. */
  snsDeliveries: SnsDelivery[];
  /** Deliveries still being attempted, so close() and tests can wait for them. */
  snsInFlight: Set<Promise<void>>;
}

export interface SnsDelivery {
  topicArn: string;
  subscriptionArn: string;
  endpoint: string;
  type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  messageId: string;
  attempts: number;
  status: number | null;
  error?: string;
  at: string;
}

/** One authenticated AWS request. */
export interface RequestContext {
  deps: SandboxDeps;
  now: Date;
  region: string;
  caller: Caller;
  requestId: string;
  req: RawRequest;
}
