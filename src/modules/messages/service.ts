import { createHash } from 'node:crypto';
import type { CredentialProvider as AwsCredentialIdentityProvider } from '../../aws/credentials.js';
import { isExpiredError, roleNotUsable } from '../../aws/credentials.js';
import type { Clock } from '../../clock.js';
import { AppError, CATALOGUE, isAppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { JobWriter } from '../../queue/job-queue.js';
import type { AnalyticsRepo } from '../../store/analytics.js';
import { IdempotencyKeyTaken, type IdempotencyRepo } from '../../store/idempotency.js';
import {
  MESSAGE_STATUSES,
  type Message,
  type MessageSource,
  type MessageStatus,
  type MessagesRepo,
} from '../../store/messages.js';
import type { Connection } from '../../store/connections.js';
import type { ApiKeysRepo } from '../../store/workspaces.js';
import type { KeyAccess } from '../api-keys/api-keys.js';
import type { Audit } from '../audit/audit.js';
import type { Connections } from '../connections/service.js';
import type { Suppressions } from '../suppressions/suppressions.js';
import { formatMailbox } from './address.js';
import type { MessageView } from './schemas.js';
export type { MessageView } from './schemas.js';
import type { IdentityCache } from './identities.js';
import { type Draft, type EmailInput, emailInputSchema, recipientsOf, toDraft } from './input.js';

export { MESSAGE_STATUSES, type MessageStatus } from '../../store/messages.js';

export interface Submitter {
  workspaceId: string;
  apiKeyId: string | null;
  actor: string;
  /** What the key may do, when it was just authenticated; otherwise read from the key. */
  access?: KeyAccess;
}

const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The repositories a message is written with, bound to one transaction. */
export interface MessageRepos {
  messages: Pick<MessagesRepo, 'insert' | 'moveStatus' | 'requeueFailed'>;
  jobs: Pick<JobWriter, 'enqueue' | 'cancel'>;
  idempotency: Pick<IdempotencyRepo, 'insert'>;
  analytics: Pick<AnalyticsRepo, 'add'>;
}

export interface MessagesDeps {
  clock: Clock;
  messages: Pick<MessagesRepo, 'get' | 'list'>;
  idempotency: Pick<IdempotencyRepo, 'find' | 'insert' | 'complete' | 'forget'>;
  transaction: <T>(fn: (r: MessageRepos) => Promise<T>) => Promise<T>;
  apiKeys: Pick<ApiKeysRepo, 'find'>;
  suppressions: Pick<Suppressions, 'check'>;
  connections: Pick<Connections, 'resolve' | 'find' | 'subject'>;
  identities: Pick<IdentityCache, 'covers'>;
  credentials: (conn: Connection) => Promise<AwsCredentialIdentityProvider>;
  audit: Pick<Audit, 'record'>;
  dropCredentials?: (connectionId: string) => void;
  /** The message's SES events, oldest first. */
  timeline?: (messageId: string) => Promise<NonNullable<MessageView['events']>>;
  /** Called after a message is queued, so sending in this process can pick it up at once. */
  onQueued?: () => void;
}

function view(m: Message): MessageView {
  return {
    id: m.id,
    status: m.status,
    connectionId: m.connectionId,
    from: m.from,
    to: m.recipients.to,
    cc: m.recipients.cc,
    bcc: m.recipients.bcc,
    subject: m.subject,
    tags: m.tags,
    source: m.source,
    scheduledAt: m.scheduledAt,
    sesMessageId: m.sesMessageId,
    attempts: m.attempts,
    lastError: m.lastError,
    suppressed: m.suppressed,
    sizeBytes: m.sizeBytes,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    sentAt: m.sentAt,
  };
}

/**
 * Accepting messages: validation, governance (connection, verified sender, suppression list,
 * API key permission), idempotency, and a durable write of message + send job in one transaction.
 */
export function createMessages(deps: MessagesDeps) {
  const { clock } = deps;

  async function govern(conn: Connection, draft: Draft): Promise<void> {
    if (conn.mode === 'role' && !conn.roleArn)
      throw new AppError('connection_not_ready', `Connection ${conn.name} has no role ARN yet.`);
    // Before anything else reaches AWS or the queue: a role not proven to require its External ID is never used.
    const subject = deps.connections.subject(conn);
    const refused = roleNotUsable(subject);
    if (refused) throw refused;
    const from = draft.from.address;
    const domains = conn.sendDomains;
    const fromDomain = from.slice(from.lastIndexOf('@') + 1);
    if (domains.length && !domains.includes(fromDomain)) {
      throw new AppError(
        'from_not_allowed',
        `Connection ${conn.name} may send only from ${domains.map((d) => `*@${d}`).join(', ')}.`,
      );
    }
    const creds = () => deps.credentials(conn);
    let ok: boolean;
    try {
      ok = await deps.identities.covers(conn.id, creds, conn.region, from);
    } catch (e) {
      // A session AWS already considers expired (revoked, clock skew): mint a new one, once.
      if (!isExpiredError(e)) throw e;
      deps.dropCredentials?.(conn.id);
      ok = await deps.identities.covers(conn.id, creds, conn.region, from, true);
    }
    if (!ok) ok = await deps.identities.covers(conn.id, creds, conn.region, from, true);
    if (!ok)
      throw new AppError(
        'from_not_verified',
        `${from} is not a verified identity (address or domain) in the SES account of connection ${conn.name} (${conn.region}).`,
      );
  }

  /**
   * A key must have the `send` scope (people are checked by role before they get here), and may
   * use only its connections. Returns the connections it may use (null: all).
   */
  async function requireSendPermission(s: Submitter): Promise<string[] | null> {
    if (!s.apiKeyId) return null;
    // Long-lived sessions (SMTP) authenticated earlier: the key may have been revoked or changed since.
    let access = s.access;
    if (access === undefined) {
      const key = await deps.apiKeys.find(s.workspaceId, s.apiKeyId);
      if (!key || key.revokedAt) throw new AppError('unauthorized', 'The API key was revoked.');
      access = key;
    }
    if (!access.scopes.includes('send') && !access.scopes.includes('admin'))
      throw new AppError('forbidden', 'This API key may not send email (it lacks the send scope).', {
        hint: 'Use a key with the send scope, or add it: PATCH /v1/api-keys/:id { "scopes": [...] } (sesame api-keys update).',
        details: { permission: 'emails.send', scope: 'send' },
      });
    return access.connectionIds;
  }

  function requireConnectionAllowed(allowed: string[] | null, conn: Connection): void {
    if (allowed === null || allowed.includes(conn.id)) return;
    throw new AppError('forbidden', `This API key may not use connection ${conn.name}.`, {
      hint: 'Send through one of the key\'s connections, or add this one to the key (PATCH /v1/api-keys/:id { "connectionIds": [...] }).',
      details: { connectionId: conn.id },
    });
  }

  /** Validate, govern and store one message; returns what the API answers. */
  async function accept(
    s: Submitter,
    input: EmailInput,
    source: MessageSource,
    idem?: { key: string; hash: string },
    allowed: string[] | null = null,
  ): Promise<{ id: string; status: MessageStatus }> {
    const { draft, scheduledAt, sizeBytes } = toDraft(input, clock.now());
    const conn = await deps.connections.resolve(s.workspaceId, input.connection);
    requireConnectionAllowed(allowed, conn);
    await govern(conn, draft);
    return store(s, conn, draft, { scheduledAt, sizeBytes, source, ...(idem ? { idem } : {}) });
  }

  async function store(
    s: Submitter,
    conn: Connection,
    draft: Draft,
    o: { scheduledAt: string | null; sizeBytes: number; source: MessageSource; idem?: { key: string; hash: string } },
  ): Promise<{ id: string; status: MessageStatus }> {
    const now = clock.now();
    const iso = now.toISOString();
    const recipients = recipientsOf(draft);
    const hits = await deps.suppressions.check(s.workspaceId, recipients);
    const suppressed = [...hits.values()].map((h) => ({ email: h.email, reason: h.reason }));
    let sendDraft = draft;
    if (suppressed.length) {
      const keep = (m: { address: string }) => !hits.has(m.address.toLowerCase());
      sendDraft = { ...draft, to: draft.to.filter(keep), cc: draft.cc.filter(keep), bcc: draft.bcc.filter(keep) };
    }
    const remaining = recipientsOf(sendDraft).length;
    const status: MessageStatus = remaining === 0 ? 'suppressed' : 'queued';
    const id = newId('msg', now.getTime());
    const response = { id, status };
    await deps.transaction(async (r) => {
      await r.messages.insert({
        id,
        workspaceId: s.workspaceId,
        connectionId: conn.id,
        apiKeyId: s.apiKeyId,
        source: o.source,
        status,
        from: formatMailbox(draft.from),
        subject: draft.subject,
        recipients: {
          to: draft.to.map(formatMailbox),
          cc: draft.cc.map(formatMailbox),
          bcc: draft.bcc.map(formatMailbox),
        },
        recipientEmails: recipients,
        recipientCount: remaining,
        tags: draft.tags,
        draft: sendDraft,
        sizeBytes: o.sizeBytes,
        scheduledAt: o.scheduledAt,
        lastError:
          status === 'suppressed'
            ? {
                code: 'recipients_suppressed',
                message: `Every recipient is on the suppression list: ${suppressed.map((x) => `${x.email} (${x.reason})`).join(', ')}.`,
                hint: CATALOGUE.recipients_suppressed.hint,
              }
            : null,
        suppressed,
        createdAt: iso,
      });
      const counted = { workspaceId: s.workspaceId, connectionId: conn.id, at: iso };
      await r.analytics.add([
        { ...counted, kind: 'accepted' },
        ...(status === 'suppressed' ? [{ ...counted, kind: 'suppressed' as const }] : []),
      ]);
      if (status === 'queued') await r.jobs.enqueue('send', { id, group: conn.id, runAt: o.scheduledAt ?? iso });
      if (o.idem)
        await r.idempotency.insert({
          workspaceId: s.workspaceId,
          key: o.idem.key,
          requestHash: o.idem.hash,
          response: { status: 202, body: response },
          createdAt: iso,
          expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
        });
    });
    if (status === 'queued') deps.onQueued?.();
    return response;
  }

  /** Same key + same body → the stored answer; same key + other body → 409; expired keys are forgotten. */
  async function withIdempotency<T>(
    workspaceId: string,
    key: string | undefined,
    body: unknown,
    run: (idem?: { key: string; hash: string }) => Promise<T>,
  ): Promise<{ replayed: boolean; value: T }> {
    if (key === undefined) return { replayed: false, value: await run() };
    if (!IDEMPOTENCY_KEY.test(key))
      throw new AppError(
        'idempotency_key_invalid',
        'The Idempotency-Key header is not 1-255 printable ASCII characters.',
      );
    const hash = createHash('sha256').update(canonicalJson(body)).digest('hex');
    const lookup = async (): Promise<T | undefined> => {
      const rec = await deps.idempotency.find(workspaceId, key);
      if (!rec) return undefined;
      if (rec.expiresAt <= clock.now().toISOString()) {
        await deps.idempotency.forget(workspaceId, key);
        return undefined;
      }
      if (rec.requestHash !== hash)
        throw new AppError('idempotency_conflict', 'This Idempotency-Key was used with a different request.');
      if (rec.response.pending)
        throw new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed.');
      return rec.response.body as T;
    };
    const prior = await lookup();
    if (prior !== undefined) return { replayed: true, value: prior };
    try {
      return { replayed: false, value: await run({ key, hash }) };
    } catch (e) {
      // Two requests with one key raced: the loser answers with the winner's result.
      if (e instanceof IdempotencyKeyTaken) {
        const winner = await lookup();
        if (winner !== undefined) return { replayed: true, value: winner };
        throw new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed.');
      }
      throw e;
    }
  }

  async function get(workspaceId: string, id: string): Promise<Message> {
    const m = await deps.messages.get(workspaceId, id);
    if (!m) throw notFound(`Message ${id}`);
    return m;
  }

  return {
    async submit(
      s: Submitter,
      body: unknown,
      opts: { idempotencyKey?: string; source?: MessageSource } = {},
    ): Promise<{ replayed: boolean; value: { id: string; status: MessageStatus } }> {
      const allowed = await requireSendPermission(s);
      return withIdempotency(s.workspaceId, opts.idempotencyKey, body, (idem) =>
        accept(s, parseEmail(body), opts.source ?? 'api', idem, allowed),
      );
    },

    /** Up to 100 messages, each validated and stored on its own; one result per input, in order. */
    async submitBatch(s: Submitter, bodies: unknown[], opts: { idempotencyKey?: string } = {}) {
      const allowed = await requireSendPermission(s);
      return withIdempotency(s.workspaceId, opts.idempotencyKey, bodies, async (idem) => {
        // A batch spans many transactions: claim the key first, so a concurrent retry with the same
        // key waits for this answer instead of storing the messages a second time.
        const now = clock.now();
        if (idem)
          await deps.idempotency.insert({
            workspaceId: s.workspaceId,
            key: idem.key,
            requestHash: idem.hash,
            response: { pending: true },
            createdAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
          });
        try {
          const results: Array<{
            index: number;
            id?: string;
            status?: MessageStatus;
            error?: { code: string; message: string; hint: string };
          }> = [];
          for (let i = 0; i < bodies.length; i++) {
            try {
              results.push({ index: i, ...(await accept(s, parseEmail(bodies[i]), 'batch', undefined, allowed)) });
            } catch (e) {
              const err = isAppError(e) ? e : new AppError('internal_error', 'The message could not be stored.');
              results.push({ index: i, error: { code: err.code, message: err.message, hint: err.hint } });
            }
          }
          const value = { data: results };
          if (idem) await deps.idempotency.complete(s.workspaceId, idem.key, { status: 200, body: value });
          return value;
        } catch (e) {
          if (idem) await deps.idempotency.forget(s.workspaceId, idem.key);
          throw e;
        }
      });
    },

    /** For the SMTP relay: a draft already parsed from MIME, through the same governance and queue. */
    async submitDraft(
      s: Submitter,
      draft: Draft,
      sizeBytes: number,
      connectionRef?: string,
    ): Promise<{ id: string; status: MessageStatus }> {
      const allowed = await requireSendPermission(s);
      const conn = await deps.connections.resolve(s.workspaceId, connectionRef);
      requireConnectionAllowed(allowed, conn);
      await govern(conn, draft);
      return store(s, conn, draft, { scheduledAt: null, sizeBytes, source: 'smtp' });
    },

    async get(workspaceId: string, id: string): Promise<MessageView> {
      const v = view(await get(workspaceId, id));
      if (deps.timeline) v.events = await deps.timeline(v.id);
      return v;
    },

    async list(
      workspaceId: string,
      q: {
        status?: string;
        recipient?: string;
        tag?: string;
        since?: string;
        until?: string;
        limit?: number;
        cursor?: string;
      },
    ): Promise<{ data: MessageView[]; nextCursor: string | null }> {
      const page = await deps.messages.list(workspaceId, {
        limit: Math.min(Math.max(q.limit ?? 50, 1), 200),
        ...(q.status ? { status: messageStatus(q.status) } : {}),
        ...(q.recipient ? { recipient: q.recipient.toLowerCase() } : {}),
        ...(q.tag ? { tag: q.tag.includes('=') ? q.tag : q.tag.replace(':', '=') } : {}),
        ...(q.since ? { since: new Date(q.since).toISOString() } : {}),
        ...(q.until ? { until: new Date(q.until).toISOString() } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return { data: page.data.map(view), nextCursor: page.nextCursor };
    },

    async cancel(workspaceId: string, id: string, actor: string): Promise<MessageView> {
      const m = await get(workspaceId, id);
      if (m.status !== 'queued') throw new AppError('not_cancellable', `Message ${id} is ${m.status}.`);
      const now = clock.now();
      const cancelled = await deps.transaction(async (r) => {
        if (!(await r.jobs.cancel('send', id, now))) return false;
        return r.messages.moveStatus(id, 'queued', 'cancelled', now.toISOString());
      });
      if (!cancelled) throw new AppError('not_cancellable', `Message ${id} is being sent right now.`);
      await deps.audit.record({ workspaceId, actor, action: 'message.cancelled', details: { messageId: id } });
      return view(await get(workspaceId, id));
    },

    /** A person decides to send a failed message again (for example one whose outcome was unknown). */
    async retry(s: Submitter, id: string): Promise<MessageView> {
      const allowed = await requireSendPermission(s);
      const { workspaceId, actor } = s;
      const m = await get(workspaceId, id);
      if (m.status !== 'failed') throw new AppError('not_retryable', `Message ${id} is ${m.status}.`);
      const conn = await deps.connections.find(workspaceId, m.connectionId);
      if (conn) requireConnectionAllowed(allowed, conn);
      const refused = conn ? roleNotUsable(deps.connections.subject(conn)) : null;
      if (refused) throw refused;
      const now = clock.now().toISOString();
      // Conditional: of two concurrent retries only one re-queues the message.
      const requeued = await deps.transaction(async (r) => {
        if (!(await r.messages.requeueFailed(id, now))) return false;
        await r.jobs.enqueue('send', { id, group: m.connectionId, runAt: now });
        return true;
      });
      if (!requeued) throw new AppError('not_retryable', `Message ${id} is no longer failed.`);
      await deps.audit.record({
        workspaceId,
        actor,
        action: 'message.retried',
        details: { messageId: id, previousError: m.lastError?.code ?? null },
      });
      deps.onQueued?.();
      return view(await get(workspaceId, id));
    },
  };
}

export type Messages = ReturnType<typeof createMessages>;

function messageStatus(s: string): MessageStatus {
  const known = MESSAGE_STATUSES.find((x) => x === s);
  if (!known)
    throw new AppError('validation_failed', `${s} is not a message status.`, {
      hint: `Use one of: ${MESSAGE_STATUSES.join(', ')}.`,
    });
  return known;
}

export function parseEmail(body: unknown): EmailInput {
  const parsed = emailInputSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((x) => ({ path: x.path.join('.') || 'body', message: x.message }));
  throw new AppError(
    'validation_failed',
    `The message is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
}

/** JSON with sorted keys, so the same body hashes the same whatever the key order. */
export function canonicalJson(v: unknown, depth = 0): string {
  // No valid message nests deeper; a body that does is refused before it can exhaust the stack.
  if (depth > 16) throw new AppError('validation_failed', 'The request body nests too deeply.');
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x, depth + 1)).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k], depth + 1)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
