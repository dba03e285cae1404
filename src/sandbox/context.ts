import type { Caller, RawRequest } from './auth.js';
import type { Faults } from './faults.js';
import type { StateStore } from './state.js';
import type { MailboxMessage } from './state.js';

/** Long-lived collaborators shared by every service handler. */
export interface SandboxDeps {
  store: StateStore;
  clock: { now(): Date };
  faults: Faults;
  defaultRegion: string;
  /**
   * Extension point: called after SES accepts a message. Future work (SNS event publishing of
   * mailbox-simulator outcomes) plugs in here without touching the SES handler.
   */
  sendListeners: Set<(msg: MailboxMessage) => void>;
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
