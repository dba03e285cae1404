import { createHash } from 'node:crypto';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { isExpiredError, roleNotUsable } from '../../aws/credentials.js';
import type { Clock } from '../../clock.js';
import { AppError, isAppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { SendQueue } from '../../queue/send-queue.js';
import type { Db } from '../../store/db.js';
import type { Connection } from '../../store/connections.js';
import type { MessageTable } from '../../store/schema.js';
import type { Audit } from '../audit/audit.js';
import type { Connections } from '../connections/service.js';
import type { Suppressions } from '../suppressions/suppressions.js';
import { formatMailbox } from './address.js';
import type { IdentityCache } from './identities.js';
import { type Draft, type EmailInput, emailInputSchema, recipientsOf, toDraft } from './input.js';

export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'failed',
  'suppressed',
  'cancelled',
  'delayed',
  'delivered',
  'bounced',
  'complained',
  'rejected',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface Submitter {
  workspaceId: string;
  apiKeyId: string | null;
  actor: string;
  /** Known when the key was just authenticated; otherwise read from the key. */
  canSend?: boolean;
}

export interface MessageView {
  id: string;
  status: string;
  connectionId: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  tags: Record<string, string>;
  source: string;
  scheduledAt: string | null;
  sesMessageId: string | null;
  attempts: number;
  lastError: { code: string; message: string | null; hint: string | null } | null;
  suppressed: Array<{ email: string; reason: string }>;
  sizeBytes: number;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  events?: Array<{ kind: string; occurredAt: string; recipients: string[]; details: Record<string, unknown> }>;
}

const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
const PENDING = '{"pending":true}';
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface MessagesDeps {
  db: Db;
  clock: Clock;
  queue: Pick<SendQueue, 'enqueue' | 'cancel'>;
  suppressions: Pick<Suppressions, 'check'>;
  connections: Pick<Connections, 'resolve' | 'find' | 'subject'>;
  identities: Pick<IdentityCache, 'covers'>;
  credentials: (conn: Connection) => Promise<AwsCredentialIdentityProvider>;
  audit: Pick<Audit, 'record'>;
  dropCredentials?: (connectionId: string) => void;
  /** The message's SES events, oldest first. */
  timeline?: (messageId: string) => Promise<NonNullable<MessageView['events']>>;
  /** Called after a message is queued, so a worker in this process can pick it up at once. */
  onQueued?: () => void;
}

/**
 * Accepting messages: validation, governance (connection, verified sender, suppression list,
 * API key permission), idempotency, and a durable write of message + send job in one transaction.
 */
export function createMessages(deps: MessagesDeps) {
  const { db, clock } = deps;

  async function govern(workspaceId: string, conn: Connection, draft: Draft): Promise<void> {
    if (conn.mode === 'role' && !conn.roleArn)
      throw new AppError('connection_not_ready', `Connection ${conn.name} has no role ARN yet.`);
    // Before anything else reaches AWS or the queue: a role not proven to require its External ID is never used.
    const refused = roleNotUsable(deps.connections.subject(conn));
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
    void workspaceId;
  }

  async function requireSendPermission(s: Submitter): Promise<void> {
    if (!s.apiKeyId) return;
    let canSend = s.canSend;
    if (canSend === undefined) {
      // Long-lived sessions (SMTP) authenticated earlier: the key may have been revoked since.
      const k = await db
        .selectFrom('api_keys')
        .select(['can_send', 'revoked_at'])
        .where('id', '=', s.apiKeyId)
        .executeTakeFirst();
      if (!k || k.revoked_at) throw new AppError('unauthorized', 'The API key was revoked.');
      canSend = k.can_send !== 0;
    }
    if (!canSend)
      throw new AppError('forbidden', 'This API key may not send email.', {
        hint: 'Use a key created with sending allowed (sesame api-keys create --can-send).',
      });
  }

  /** Validate, govern and store one message; returns what the API answers. */
  async function accept(
    s: Submitter,
    input: EmailInput,
    source: string,
    idem?: { key: string; hash: string },
  ): Promise<{ id: string; status: MessageStatus }> {
    const now = clock.now();
    const { draft, scheduledAt, sizeBytes } = toDraft(input, now);
    const conn = await deps.connections.resolve(s.workspaceId, input.connection);
    await govern(s.workspaceId, conn, draft);
    return store(s, conn, draft, { scheduledAt, sizeBytes, source, ...(idem ? { idem } : {}) });
  }

  async function store(
    s: Submitter,
    conn: Connection,
    draft: Draft,
    o: {
      scheduledAt: string | null;
      sizeBytes: number;
      source: string;
      idem?: { key: string; hash: string };
      responseFor?: (id: string, status: MessageStatus) => unknown;
    },
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
    const row: MessageTable = {
      id,
      workspace_id: s.workspaceId,
      connection_id: conn.id,
      api_key_id: s.apiKeyId,
      source: o.source,
      status,
      from_address: formatMailbox(draft.from),
      subject: draft.subject,
      recipients: JSON.stringify({
        to: draft.to.map(formatMailbox),
        cc: draft.cc.map(formatMailbox),
        bcc: draft.bcc.map(formatMailbox),
      }),
      recipient_count: remaining,
      tags: JSON.stringify(draft.tags),
      payload: JSON.stringify(sendDraft),
      size_bytes: o.sizeBytes,
      scheduled_at: o.scheduledAt,
      ses_message_id: null,
      attempts: 0,
      last_error_code: status === 'suppressed' ? 'recipients_suppressed' : null,
      last_error_message:
        status === 'suppressed'
          ? `Every recipient is on the suppression list: ${suppressed.map((x) => `${x.email} (${x.reason})`).join(', ')}.`
          : null,
      last_error_hint:
        status === 'suppressed'
          ? 'Remove the addresses from the suppression list (DELETE /v1/suppressions/:email) only if you are sure they accept mail again.'
          : null,
      suppressed: suppressed.length ? JSON.stringify(suppressed) : null,
      created_at: iso,
      updated_at: iso,
      sent_at: null,
    };
    const response = { id, status };
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('messages').values(row).execute();
      await trx
        .insertInto('message_recipients')
        .values(recipients.map((email) => ({ message_id: id, workspace_id: s.workspaceId, email })))
        .execute();
      const tags = Object.entries(draft.tags).map(([k, v]) => ({
        message_id: id,
        workspace_id: s.workspaceId,
        tag: `${k}=${v}`,
      }));
      if (tags.length) await trx.insertInto('message_tags').values(tags).execute();
      if (status === 'queued')
        await deps.queue.enqueue(trx, { messageId: id, connectionId: conn.id, runAt: o.scheduledAt ?? iso, now: iso });
      if (o.idem) {
        await trx
          .insertInto('idempotency_keys')
          .values({
            workspace_id: s.workspaceId,
            key: o.idem.key,
            request_hash: o.idem.hash,
            response: JSON.stringify({ status: 202, body: response }),
            created_at: iso,
            expires_at: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
          })
          .execute();
      }
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
    const lookup = async () => {
      const row = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) return undefined;
      if (row.expires_at <= clock.now().toISOString()) {
        await db
          .deleteFrom('idempotency_keys')
          .where('workspace_id', '=', workspaceId)
          .where('key', '=', key)
          .execute();
        return undefined;
      }
      if (row.request_hash !== hash)
        throw new AppError('idempotency_conflict', 'This Idempotency-Key was used with a different request.');
      if (row.response === PENDING)
        throw new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed.');
      return (JSON.parse(row.response) as { body: T }).body;
    };
    const prior = await lookup();
    if (prior !== undefined) return { replayed: true, value: prior };
    try {
      return { replayed: false, value: await run({ key, hash }) };
    } catch (e) {
      // Two requests with one key raced: the loser answers with the winner's result.
      if (!isAppError(e) && /unique|duplicate|constraint/i.test(String((e as Error)?.message))) {
        const winner = await lookup();
        if (winner !== undefined) return { replayed: true, value: winner };
      }
      throw e;
    }
  }

  function view(r: MessageTable): MessageView {
    const rec = JSON.parse(r.recipients) as { to: string[]; cc: string[]; bcc: string[] };
    return {
      id: r.id,
      status: r.status,
      connectionId: r.connection_id,
      from: r.from_address,
      to: rec.to,
      cc: rec.cc,
      bcc: rec.bcc,
      subject: r.subject,
      tags: JSON.parse(r.tags) as Record<string, string>,
      source: r.source,
      scheduledAt: r.scheduled_at,
      sesMessageId: r.ses_message_id,
      attempts: r.attempts,
      lastError: r.last_error_code
        ? { code: r.last_error_code, message: r.last_error_message, hint: r.last_error_hint }
        : null,
      suppressed: r.suppressed ? (JSON.parse(r.suppressed) as Array<{ email: string; reason: string }>) : [],
      sizeBytes: r.size_bytes,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      sentAt: r.sent_at,
    };
  }

  async function row(workspaceId: string, id: string): Promise<MessageTable> {
    const r = await db
      .selectFrom('messages')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!r) throw notFound(`Message ${id}`);
    return r;
  }

  return {
    view,

    async submit(
      s: Submitter,
      body: unknown,
      opts: { idempotencyKey?: string; source?: string } = {},
    ): Promise<{ replayed: boolean; value: { id: string; status: MessageStatus } }> {
      await requireSendPermission(s);
      return withIdempotency(s.workspaceId, opts.idempotencyKey, body, (idem) =>
        accept(s, parseEmail(body), opts.source ?? 'api', idem),
      );
    },

    /** Up to 100 messages, each validated and stored on its own; one result per input, in order. */
    async submitBatch(s: Submitter, bodies: unknown[], opts: { idempotencyKey?: string } = {}) {
      await requireSendPermission(s);
      return withIdempotency(s.workspaceId, opts.idempotencyKey, bodies, async (idem) => {
        // A batch spans many transactions: claim the key first, so a concurrent retry with the same
        // key waits for this answer instead of storing the messages a second time.
        const now = clock.now();
        if (idem) {
          await db
            .insertInto('idempotency_keys')
            .values({
              workspace_id: s.workspaceId,
              key: idem.key,
              request_hash: idem.hash,
              response: PENDING,
              created_at: now.toISOString(),
              expires_at: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
            })
            .execute();
        }
        try {
          const results: Array<{
            index: number;
            id?: string;
            status?: MessageStatus;
            error?: { code: string; message: string; hint: string };
          }> = [];
          for (let i = 0; i < bodies.length; i++) {
            try {
              results.push({ index: i, ...(await accept(s, parseEmail(bodies[i]), 'batch')) });
            } catch (e) {
              const err = isAppError(e) ? e : new AppError('internal_error', 'The message could not be stored.');
              results.push({ index: i, error: { code: err.code, message: err.message, hint: err.hint } });
            }
          }
          const value = { data: results };
          if (idem)
            await db
              .updateTable('idempotency_keys')
              .set({ response: JSON.stringify({ status: 200, body: value }) })
              .where('workspace_id', '=', s.workspaceId)
              .where('key', '=', idem.key)
              .execute();
          return value;
        } catch (e) {
          if (idem)
            await db
              .deleteFrom('idempotency_keys')
              .where('workspace_id', '=', s.workspaceId)
              .where('key', '=', idem.key)
              .execute();
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
      await requireSendPermission(s);
      const conn = await deps.connections.resolve(s.workspaceId, connectionRef);
      await govern(s.workspaceId, conn, draft);
      return store(s, conn, draft, { scheduledAt: null, sizeBytes, source: 'smtp' });
    },

    async get(workspaceId: string, id: string): Promise<MessageView> {
      const v = view(await row(workspaceId, id));
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
      const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
      let query = db.selectFrom('messages').selectAll().where('workspace_id', '=', workspaceId);
      if (q.status) query = query.where('status', '=', q.status);
      if (q.since) query = query.where('created_at', '>=', new Date(q.since).toISOString());
      if (q.until) query = query.where('created_at', '<', new Date(q.until).toISOString());
      if (q.cursor) query = query.where('id', '<', q.cursor);
      if (q.recipient) {
        const email = q.recipient.toLowerCase();
        query = query.where(
          'id',
          'in',
          db
            .selectFrom('message_recipients')
            .select('message_id')
            .where('workspace_id', '=', workspaceId)
            .where('email', '=', email),
        );
      }
      if (q.tag) {
        const tag = q.tag.includes('=') ? q.tag : q.tag.replace(':', '=');
        query = query.where(
          'id',
          'in',
          db
            .selectFrom('message_tags')
            .select('message_id')
            .where('workspace_id', '=', workspaceId)
            .where('tag', '=', tag),
        );
      }
      const rows = await query
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      return { data: page.map(view), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
    },

    async cancel(workspaceId: string, id: string, actor: string): Promise<MessageView> {
      const r = await row(workspaceId, id);
      if (r.status !== 'queued') throw new AppError('not_cancellable', `Message ${id} is ${r.status}.`);
      const now = clock.now();
      const cancelled = await db.transaction().execute(async (trx) => {
        if (!(await deps.queue.cancel(trx, id, now))) return false;
        const res = await trx
          .updateTable('messages')
          .set({ status: 'cancelled', updated_at: now.toISOString() })
          .where('id', '=', id)
          .where('status', '=', 'queued')
          .executeTakeFirst();
        return Number(res.numUpdatedRows) === 1;
      });
      if (!cancelled) throw new AppError('not_cancellable', `Message ${id} is being sent right now.`);
      await deps.audit.record({ workspaceId, actor, action: 'message.cancelled', details: { messageId: id } });
      return view(await row(workspaceId, id));
    },

    /** A person decides to send a failed message again (for example one whose outcome was unknown). */
    async retry(s: Submitter, id: string): Promise<MessageView> {
      await requireSendPermission(s);
      const { workspaceId, actor } = s;
      const r = await row(workspaceId, id);
      if (r.status !== 'failed') throw new AppError('not_retryable', `Message ${id} is ${r.status}.`);
      const conn = await deps.connections.find(workspaceId, r.connection_id);
      const refused = conn ? roleNotUsable(deps.connections.subject(conn)) : null;
      if (refused) throw refused;
      const now = clock.now().toISOString();
      const requeued = await db.transaction().execute(async (trx) => {
        // Conditional: of two concurrent retries only one re-queues the message.
        const res = await trx
          .updateTable('messages')
          .set({
            status: 'queued',
            last_error_code: null,
            last_error_message: null,
            last_error_hint: null,
            updated_at: now,
          })
          .where('id', '=', id)
          .where('status', '=', 'failed')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return false;
        await deps.queue.enqueue(trx, { messageId: id, connectionId: r.connection_id, runAt: now, now });
        return true;
      });
      if (!requeued) throw new AppError('not_retryable', `Message ${id} is no longer failed.`);
      await deps.audit.record({
        workspaceId,
        actor,
        action: 'message.retried',
        details: { messageId: id, previousError: r.last_error_code },
      });
      deps.onQueued?.();
      return view(await row(workspaceId, id));
    },
  };
}

export type Messages = ReturnType<typeof createMessages>;

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
