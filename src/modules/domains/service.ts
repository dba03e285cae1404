import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { IdentityGateway, SesIdentity } from '../../aws/identities.js';
import type { Purpose } from '../../aws/policies.js';
import type { Clock } from '../../clock.js';
import { AppError, isAppError, notFound, type ErrorCode } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Logger } from '../../logger.js';
import type { Db } from '../../store/db.js';
import type { DomainTable } from '../../store/schema.js';
import type { Audit } from '../audit/audit.js';
import type { Connections } from '../connections/service.js';
import type { DnsChecker, DomainCheck, DomainProblem } from './dns-check.js';
import type { ExpectedRecord, RecordCheck } from './match.js';
import { dkimPublicKey } from './dkim.js';
import { renderZone } from './zone.js';

export type DomainRow = DomainTable;

export interface PublishRecord extends ExpectedRecord {
  purpose: 'dkim' | 'mail_from_mx' | 'mail_from_spf' | 'dmarc';
  /** DMARC is a recommendation: SES verifies without it, mailbox providers increasingly do not. */
  required: boolean;
  note?: string;
}

export interface DomainView {
  id: string;
  name: string;
  kind: 'domain' | 'email';
  connectionId: string;
  origin: 'created' | 'imported';
  status: 'pending' | 'verified' | 'failed' | 'temporary_failure';
  dkim: { origin: string; status: string };
  mailFrom: { domain: string | null; status: string | null };
  records: Array<PublishRecord & { check: Pick<RecordCheck, 'status' | 'found' | 'message' | 'hint'> | null }>;
  problems: DomainProblem[];
  zone: string;
  checkedAt: string | null;
  nextCheckAt: string | null;
  verifiedAt: string | null;
  createdAt: string;
  /** Present when this answer's check verified the identity and so changed the connection's send domains. */
  sendDomainsChanged?: SendDomainsChange;
}

export interface SendDomainsChange {
  connection: string;
  before: string[];
  after: string[];
  message: string;
}

export interface AddDomainInput {
  domain: string;
  connection: string;
  /** Label of the custom MAIL FROM subdomain (default `mail`, so `mail.<domain>`); null for none. */
  mailFromSubdomain?: string | null;
  /** Where DMARC aggregate reports go (the `rua=mailto:` of the recommended record). */
  dmarcReportEmail?: string;
  byodkim?: { selector: string; privateKey: string };
  /** Take an identity that already exists in the SES account instead of creating it. */
  import?: boolean;
}

const SPF = 'v=spf1 include:amazonses.com ~all';
/** SES gives up on a pending domain after 72 hours; so does the background check. */
const GIVE_UP_MS = 72 * 3_600_000;
const MAX_BACKOFF_MS = 6 * 3_600_000;
const FIRST_BACKOFF_MS = 60_000;

const withChange = (v: DomainView, note: { sendDomains?: SendDomainsChange }): DomainView =>
  note.sendDomains ? { ...v, sendDomainsChanged: note.sendDomains } : v;

/** The send domain an identity narrows its connection to: the domain itself, or an address's domain. */
const sendDomainOf = (d: Pick<DomainRow, 'name' | 'kind'>): string =>
  d.kind === 'email' ? d.name.slice(d.name.lastIndexOf('@') + 1) : d.name;

const STATUS: Record<string, DomainView['status']> = {
  SUCCESS: 'verified',
  FAILED: 'failed',
  TEMPORARY_FAILURE: 'temporary_failure',
};
const statusOf = (i: SesIdentity): DomainView['status'] =>
  STATUS[i.verificationStatus] ?? (i.verifiedForSending ? 'verified' : 'pending');

/** The records a person publishes for a domain identity, in the order a DNS console wants them. */
export function recordsFor(
  d: Pick<
    DomainRow,
    'name' | 'kind' | 'dkim_origin' | 'dkim_tokens' | 'dkim_public_key' | 'mail_from_domain' | 'dmarc_rua'
  >,
  region: string,
): PublishRecord[] {
  if (d.kind !== 'domain') return [];
  const tokens = JSON.parse(d.dkim_tokens) as string[];
  const out: PublishRecord[] =
    d.dkim_origin === 'EXTERNAL'
      ? // An imported identity with its own key: Sesame never saw the key, so it cannot say (or check) the value.
        d.dkim_public_key
        ? [
            {
              purpose: 'dkim',
              required: true,
              name: `${tokens[0]}._domainkey.${d.name}`,
              type: 'TXT',
              value: `v=DKIM1; k=rsa; p=${d.dkim_public_key}`,
            },
          ]
        : []
      : tokens.map((t) => ({
          purpose: 'dkim' as const,
          required: true,
          name: `${t}._domainkey.${d.name}`,
          type: 'CNAME' as const,
          value: `${t}.dkim.amazonses.com`,
        }));
  if (d.mail_from_domain) {
    out.push({
      purpose: 'mail_from_mx',
      required: true,
      name: d.mail_from_domain,
      type: 'MX',
      value: `feedback-smtp.${region}.amazonses.com`,
      priority: 10,
    });
    out.push({ purpose: 'mail_from_spf', required: true, name: d.mail_from_domain, type: 'TXT', value: SPF });
  }
  out.push({
    purpose: 'dmarc',
    required: false,
    name: `_dmarc.${d.name}`,
    type: 'TXT',
    value: `v=DMARC1; p=none;${d.dmarc_rua ? ` rua=mailto:${d.dmarc_rua};` : ''}`,
    note: 'Start at p=none and read the aggregate reports; once every legitimate source passes SPF or DKIM alignment, move to p=quarantine, then p=reject.',
  });
  return out;
}

/**
 * Sending domains and addresses: the SES identity (created with `manage` credentials, or
 * imported), the DNS records to publish, Sesame's own look-up of each, and a background
 * refresh until SES says verified. Verified domains narrow the connection's `send` sessions.
 */
export function createDomains(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  audit: Pick<Audit, 'record'>;
  connections: Pick<Connections, 'row' | 'subject' | 'update'>;
  credentials: (
    subject: ReturnType<Connections['subject']>,
    purpose: Purpose,
  ) => Promise<AwsCredentialIdentityProvider>;
  identities: IdentityGateway;
  dns: Pick<DnsChecker, 'checkDomain'>;
  /** Verified identities are cached for sending: forget them when one changes. */
  onIdentitiesChanged?: (connectionId: string) => void;
}) {
  const { db, clock } = deps;

  /** By id, or by name when only one connection of the workspace has that name. */
  async function row(workspaceId: string, id: string): Promise<DomainRow> {
    const byId = await db
      .selectFrom('domains')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (byId) return byId;
    const byName = await db
      .selectFrom('domains')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', id.toLowerCase())
      .limit(2)
      .execute();
    if (byName.length > 1)
      throw new AppError('conflict', `${id} belongs to more than one connection.`, {
        hint: 'Name the domain by its id (dom_…), shown by `sesame domains list --json` or GET /v1/domains.',
      });
    if (!byName[0]) throw notFound(`Domain ${id}`);
    return byName[0];
  }

  async function regionOf(d: DomainRow): Promise<string> {
    return (await deps.connections.row(d.workspace_id, d.connection_id)).region;
  }

  function view(d: DomainRow, region: string): DomainView {
    const checks = JSON.parse(d.checks) as Partial<DomainCheck>;
    const records = recordsFor(d, region).map((rec) => {
      const c = checks.records?.find((x) => x.name === rec.name.toLowerCase() && x.type === rec.type);
      return { ...rec, check: c ? { status: c.status, found: c.found, message: c.message, hint: c.hint } : null };
    });
    return {
      id: d.id,
      name: d.name,
      kind: d.kind as DomainView['kind'],
      connectionId: d.connection_id,
      origin: d.origin as DomainView['origin'],
      status: d.status as DomainView['status'],
      dkim: { origin: d.dkim_origin, status: d.dkim_status },
      mailFrom: { domain: d.mail_from_domain, status: d.mail_from_status },
      records,
      problems: checks.problems ?? [],
      zone: renderZone(records),
      checkedAt: d.checked_at,
      nextCheckAt: d.next_check_at,
      verifiedAt: d.verified_at,
      createdAt: d.created_at,
    };
  }

  /** A new identity row: pending, to be checked at once. */
  function newRow(
    workspaceId: string,
    connectionId: string,
    name: string,
    identity: Pick<
      DomainRow,
      | 'kind'
      | 'origin'
      | 'dkim_origin'
      | 'dkim_tokens'
      | 'dkim_public_key'
      | 'dkim_status'
      | 'mail_from_domain'
      | 'mail_from_status'
      | 'dmarc_rua'
    >,
  ): DomainRow {
    const iso = clock.now().toISOString();
    return {
      id: newId('dom'),
      workspace_id: workspaceId,
      connection_id: connectionId,
      name,
      status: 'pending',
      ...identity,
      checks: '{}',
      checked_at: null,
      check_attempts: 0,
      next_check_at: iso,
      verified_at: null,
      created_at: iso,
      updated_at: iso,
    };
  }

  /** Keep the connection's send domains (the session policy's ses:FromAddress) in step with its domains. */
  async function syncSendDomains(
    workspaceId: string,
    connectionId: string,
    add: string | null,
    remove: string | null,
    actor: string,
  ): Promise<SendDomainsChange | undefined> {
    const c = await deps.connections.row(workspaceId, connectionId);
    const current = c.sendDomains;
    let next = current;
    if (add && !current.includes(add)) next = [...current, add];
    if (remove) next = next.filter((x) => x !== remove);
    if (next === current) return undefined;
    await deps.connections.update(workspaceId, connectionId, { sendDomains: next }, actor);
    const list = next.map((x) => `*@${x}`).join(', ');
    return {
      connection: c.name,
      before: current,
      after: next,
      message:
        current.length === 0
          ? `Connection ${c.name} may now send only from ${list}: a verified domain narrows its send domains, so a From on any other domain is refused from now on (from_not_allowed).`
          : `Connection ${c.name} may now send from ${list || 'any verified identity'}.`,
    };
  }

  /** Ask SES and DNS again; record what changed. */
  async function refresh(d: DomainRow, actor: string, note?: { sendDomains?: SendDomainsChange }): Promise<DomainRow> {
    const conn = await deps.connections.row(d.workspace_id, d.connection_id);
    const now = clock.now();
    const ses = await deps.identities.get(
      await deps.credentials(deps.connections.subject(conn), 'read'),
      conn.region,
      d.name,
    );
    if (!ses) throw new AppError('identity_missing', `SES in ${conn.region} has no identity ${d.name} any more.`);
    const status = statusOf(ses);
    const check =
      d.kind === 'domain'
        ? await deps.dns.checkDomain(d.name, {
            records: recordsFor(d, conn.region),
            ...(d.mail_from_domain ? { mailFromDomain: d.mail_from_domain } : {}),
          })
        : undefined;
    const attempts = d.check_attempts + 1;
    const givenUp = now.getTime() - Date.parse(d.created_at) > GIVE_UP_MS;
    const next =
      status === 'verified' || status === 'failed' || givenUp
        ? null
        : new Date(now.getTime() + Math.min(FIRST_BACKOFF_MS * 2 ** (attempts - 1), MAX_BACKOFF_MS)).toISOString();
    const changes = {
      status,
      dkim_status: ses.dkim.status,
      mail_from_status: ses.mailFrom.status,
      checks: check ? JSON.stringify({ records: check.records, problems: check.problems }) : d.checks,
      checked_at: now.toISOString(),
      check_attempts: attempts,
      next_check_at: next,
      verified_at: status === 'verified' ? (d.verified_at ?? now.toISOString()) : d.verified_at,
      updated_at: now.toISOString(),
    };
    await db.updateTable('domains').set(changes).where('id', '=', d.id).execute();
    // Only a verified identity narrows the connection's send sessions: a pending one would stop
    // every other verified sender at once. An address narrows to its domain (SES still checks the address).
    if (status === 'verified' && d.status !== 'verified') {
      const change = await syncSendDomains(d.workspace_id, d.connection_id, sendDomainOf(d), null, actor);
      if (note && change) note.sendDomains = change;
    }
    if (status !== d.status || ses.mailFrom.status !== d.mail_from_status) {
      await deps.audit.record({
        workspaceId: d.workspace_id,
        connectionId: d.connection_id,
        actor,
        action: 'domain.status_changed',
        details: { domain: d.name, from: d.status, to: status, dkim: ses.dkim.status, mailFrom: ses.mailFrom.status },
      });
      deps.onIdentitiesChanged?.(d.connection_id);
    }
    return { ...d, ...changes };
  }

  /** Right after adding: a failed look (throttling, say) leaves the identity pending for the background check. */
  async function firstCheck(
    d: DomainRow,
    actor: string,
    note?: { sendDomains?: SendDomainsChange },
  ): Promise<DomainRow> {
    try {
      return await refresh(d, actor, note);
    } catch (err) {
      deps.logger.warn(
        { domain: d.name, err: (err as Error).message },
        'the first check of a new identity failed; it is checked again in the background',
      );
      return d;
    }
  }

  /**
   * CreateEmailIdentity, where an identity that exists already is refused (import it instead),
   * unless it is Sesame's own from an add of this domain that failed half-way and could not be
   * removed then: that one is removed and created afresh, so adding again needs no import.
   */
  async function createIdentity(
    conn: { id: string; region: string },
    manage: AwsCredentialIdentityProvider,
    name: string,
    byodkim: { selector: string; privateKey: string } | undefined,
  ): Promise<{ tokens: string[] }> {
    let created = await deps.identities.create(manage, conn.region, name, byodkim);
    const leftover = await db
      .selectFrom('domain_leftovers')
      .select('created_at')
      .where('connection_id', '=', conn.id)
      .where('name', '=', name)
      .executeTakeFirst();
    if (created.alreadyExists && leftover) {
      await deps.identities.remove(manage, conn.region, name);
      created = await deps.identities.create(manage, conn.region, name, byodkim);
    }
    if (leftover && !created.alreadyExists)
      await db.deleteFrom('domain_leftovers').where('connection_id', '=', conn.id).where('name', '=', name).execute();
    if (created.alreadyExists)
      throw new AppError('identity_exists', `${name} already exists in the SES account in ${conn.region}.`);
    return created;
  }

  /**
   * An add failed after SES created the identity. Without this, adding again would meet
   * identity_exists, and an import would lose what the add was to set up (MAIL FROM). Removed
   * again, the next add starts afresh; if SES refuses the removal too (throttled, say), it is noted
   * so the next add of the domain removes it first. Returns the error to report.
   */
  async function takeBack(
    conn: { id: string; workspaceId: string; region: string },
    manage: AwsCredentialIdentityProvider,
    name: string,
    cause: unknown,
    actor: string,
    /** Addresses need no note: adding an existing address identity imports it anyway. */
    opts: { note: boolean } = { note: true },
  ): Promise<unknown> {
    let left: string | null = null;
    try {
      await deps.identities.remove(manage, conn.region, name);
    } catch (removeErr) {
      left = removeErr instanceof Error ? removeErr.message : String(removeErr);
    }
    let noted = false;
    if (left !== null && opts.note) {
      try {
        await db
          .insertInto('domain_leftovers')
          .values({
            connection_id: conn.id,
            name,
            workspace_id: conn.workspaceId,
            reason: (cause instanceof Error ? cause.message : String(cause)).slice(0, 500),
            created_at: clock.now().toISOString(),
          })
          .onConflict((oc) => oc.columns(['connection_id', 'name']).doNothing())
          .execute();
        noted = true;
      } catch (noteErr) {
        deps.logger.error({ domain: name, err: (noteErr as Error).message }, 'could not note a leftover SES identity');
      }
    }
    deps.logger.warn(
      { domain: name, err: (cause as Error)?.message, identityRemoved: left === null, noted },
      'adding a domain failed after SES created its identity',
    );
    await deps.audit
      .record({
        workspaceId: conn.workspaceId,
        connectionId: conn.id,
        actor,
        action: 'domain.add_failed',
        outcome: isAppError(cause) ? cause.code : 'error',
        details: { domain: name, identityRemoved: left === null, ...(left !== null ? { identityNoted: noted } : {}) },
      })
      .catch(() => undefined);
    if (left === null || !isAppError(cause)) return cause;
    const note = noted
      ? ` SES kept the identity ${name} (removing it failed: ${left}); adding the domain again removes it first.`
      : opts.note
        ? ` SES kept the identity ${name} (removing it failed: ${left}); delete it in the SES console, or add the domain with "import": true.`
        : ` SES kept the identity ${name} (removing it failed: ${left}); adding the address again takes it over.`;
    return new AppError(cause.code as ErrorCode, `${cause.message}${note}`, {
      status: cause.status,
      hint: cause.hint,
      details: { ...cause.details, identityLeftInSes: true },
      cause,
    });
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  return {
    recordsFor,

    /** Pending domains are looked at again on this beat (each still waits for its own backoff). */
    start(intervalMs = 30_000): void {
      timer ??= setInterval(() => {
        running ??= this.refreshDue()
          .catch((err) => deps.logger.error({ err }, 'refreshing domains failed'))
          .finally(() => {
            running = undefined;
          });
      }, intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },

    async add(workspaceId: string, input: AddDomainInput, actor: string): Promise<DomainView> {
      const conn = await deps.connections.row(workspaceId, input.connection);
      const name = input.domain.toLowerCase();
      const taken = await db
        .selectFrom('domains')
        .select('id')
        .where('connection_id', '=', conn.id)
        .where('name', '=', name)
        .executeTakeFirst();
      if (taken) throw new AppError('conflict', `${name} is already a domain of connection ${conn.name}.`);
      const subject = deps.connections.subject(conn);
      const byo = input.byodkim
        ? { selector: input.byodkim.selector, ...dkimPublicKey(input.byodkim.privateKey) }
        : undefined;
      let tokens: string[] = [];
      let mailFrom: string | null =
        input.mailFromSubdomain === null ? null : `${input.mailFromSubdomain ?? 'mail'}.${name}`;
      let dkimOrigin = input.byodkim ? 'EXTERNAL' : 'AWS_SES';
      if (input.import) {
        const existing = await deps.identities.get(await deps.credentials(subject, 'read'), conn.region, name);
        if (!existing)
          throw new AppError('identity_missing', `SES in ${conn.region} has no identity ${name} to import.`, {
            hint: 'Check the region and the name, or add it without "import" so Sesame creates it.',
          });
        tokens = existing.dkim.tokens;
        dkimOrigin = existing.dkim.origin === 'EXTERNAL' ? 'EXTERNAL' : 'AWS_SES';
        // Keep the MAIL FROM domain SES already has; an import changes nothing in the account.
        mailFrom = existing.mailFrom.domain;
      }
      // Set once SES created the identity for this add: anything failing after that takes it back.
      let createdWith: AwsCredentialIdentityProvider | undefined;
      const d = newRow(workspaceId, conn.id, name, {
        kind: 'domain',
        origin: input.import ? 'imported' : 'created',
        dkim_origin: dkimOrigin,
        dkim_tokens: '[]',
        dkim_public_key: byo?.publicKey ?? null,
        dkim_status: 'PENDING',
        mail_from_domain: mailFrom,
        mail_from_status: mailFrom ? 'PENDING' : null,
        dmarc_rua: input.dmarcReportEmail ?? null,
      });
      try {
        if (!input.import) {
          const manage = await deps.credentials(subject, 'manage');
          const created = await createIdentity(
            conn,
            manage,
            name,
            byo ? { selector: byo.selector, privateKey: byo.sesPrivateKey } : undefined,
          );
          createdWith = manage;
          tokens = byo ? [byo.selector] : created.tokens;
          if (mailFrom) await deps.identities.putMailFrom(manage, conn.region, name, mailFrom);
        }
        d.dkim_tokens = JSON.stringify(tokens);
        await db.insertInto('domains').values(d).execute();
      } catch (e) {
        if (createdWith) throw await takeBack(conn, createdWith, name, e, actor);
        throw e;
      }
      await deps.audit.record({
        workspaceId,
        connectionId: conn.id,
        actor,
        action: input.import ? 'domain.imported' : 'domain.created',
        details: { domain: name, mailFrom, dkim: dkimOrigin },
      });
      const note: { sendDomains?: SendDomainsChange } = {};
      return withChange(view(await firstCheck(d, actor, note), conn.region), note);
    },

    async addEmail(
      workspaceId: string,
      input: { email: string; connection: string },
      actor: string,
    ): Promise<DomainView> {
      const conn = await deps.connections.row(workspaceId, input.connection);
      const name = input.email.toLowerCase();
      const taken = await db
        .selectFrom('domains')
        .select('id')
        .where('connection_id', '=', conn.id)
        .where('name', '=', name)
        .executeTakeFirst();
      if (taken) throw new AppError('conflict', `${name} is already an identity of connection ${conn.name}.`);
      const manage = await deps.credentials(deps.connections.subject(conn), 'manage');
      const created = await deps.identities.create(manage, conn.region, name);
      const d = newRow(workspaceId, conn.id, name, {
        kind: 'email',
        origin: created.alreadyExists ? 'imported' : 'created',
        dkim_origin: 'AWS_SES',
        dkim_tokens: '[]',
        dkim_public_key: null,
        dkim_status: 'NOT_STARTED',
        mail_from_domain: null,
        mail_from_status: null,
        dmarc_rua: null,
      });
      try {
        await db.insertInto('domains').values(d).execute();
      } catch (e) {
        if (!created.alreadyExists) throw await takeBack(conn, manage, name, e, actor, { note: false });
        throw e;
      }
      await deps.audit.record({
        workspaceId,
        connectionId: conn.id,
        actor,
        action: 'domain.created',
        details: { email: name },
      });
      const note: { sendDomains?: SendDomainsChange } = {};
      return withChange(view(await firstCheck(d, actor, note), conn.region), note);
    },

    async list(workspaceId: string, opts: { connection?: string } = {}): Promise<DomainView[]> {
      let q = db.selectFrom('domains').selectAll().where('workspace_id', '=', workspaceId);
      if (opts.connection)
        q = q.where('connection_id', '=', (await deps.connections.row(workspaceId, opts.connection)).id);
      const rows = await q.orderBy('name').execute();
      const regions = new Map<string, string>();
      const out: DomainView[] = [];
      for (const d of rows) {
        if (!regions.has(d.connection_id)) regions.set(d.connection_id, await regionOf(d));
        out.push(view(d, regions.get(d.connection_id)!));
      }
      return out;
    },

    async get(workspaceId: string, id: string): Promise<DomainView> {
      const d = await row(workspaceId, id);
      return view(d, await regionOf(d));
    },

    /** Check now: SES's verification state and every DNS record. */
    async verify(workspaceId: string, id: string, actor: string): Promise<DomainView> {
      const d = await row(workspaceId, id);
      const note: { sendDomains?: SendDomainsChange } = {};
      return withChange(view(await refresh(d, actor, note), await regionOf(d)), note);
    },

    /** Forget the domain; delete the SES identity too when Sesame created it (or when asked). */
    async remove(
      workspaceId: string,
      id: string,
      actor: string,
      opts: { deleteIdentity?: boolean } = {},
    ): Promise<{ id: string; deleted: true; identityDeleted: boolean }> {
      const d = await row(workspaceId, id);
      const conn = await deps.connections.row(workspaceId, d.connection_id);
      const deleteIdentity = opts.deleteIdentity ?? d.origin === 'created';
      if (deleteIdentity)
        await deps.identities.remove(
          await deps.credentials(deps.connections.subject(conn), 'manage'),
          conn.region,
          d.name,
        );
      await db.deleteFrom('domains').where('id', '=', d.id).execute();
      // The send domain goes when no other identity of the connection still needs it.
      const others = await db
        .selectFrom('domains')
        .select(['name', 'kind'])
        .where('connection_id', '=', conn.id)
        .where('status', '=', 'verified')
        .execute();
      const gone = sendDomainOf(d);
      if (d.status === 'verified' && !others.some((o) => sendDomainOf(o) === gone))
        await syncSendDomains(workspaceId, conn.id, null, gone, actor);
      deps.onIdentitiesChanged?.(conn.id);
      await deps.audit.record({
        workspaceId,
        connectionId: conn.id,
        actor,
        action: 'domain.deleted',
        details: { domain: d.name, identityDeleted: deleteIdentity },
      });
      return { id: d.id, deleted: true, identityDeleted: deleteIdentity };
    },

    /** Background: re-check domains still waiting for verification, each on its own backoff. */
    async refreshDue(limit = 20): Promise<number> {
      const due = await db
        .selectFrom('domains')
        .selectAll()
        .where('next_check_at', 'is not', null)
        .where('next_check_at', '<=', clock.now().toISOString())
        .orderBy('next_check_at')
        .limit(limit)
        .execute();
      for (const d of due) {
        try {
          await refresh(d, 'system');
        } catch (err) {
          deps.logger.warn({ domain: d.name, err: (err as Error).message }, 'refreshing a domain failed');
          const attempts = d.check_attempts + 1;
          const now = clock.now();
          const missing = isAppError(err) && err.code === 'identity_missing';
          const over = missing || now.getTime() - Date.parse(d.created_at) > GIVE_UP_MS;
          const problem: DomainProblem = {
            code: 'lookup_failed',
            severity: 'error',
            name: d.name,
            message: (err as Error).message,
            hint: isAppError(err) ? err.hint : 'Sesame checks again later; `sesame domains verify` checks now.',
          };
          await db
            .updateTable('domains')
            .set({
              check_attempts: attempts,
              next_check_at: over
                ? null
                : new Date(
                    now.getTime() + Math.min(FIRST_BACKOFF_MS * 2 ** (attempts - 1), MAX_BACKOFF_MS),
                  ).toISOString(),
              ...(missing
                ? {
                    status: 'failed',
                    checks: JSON.stringify({ ...(JSON.parse(d.checks) as object), problems: [problem] }),
                  }
                : {}),
              updated_at: now.toISOString(),
            })
            .where('id', '=', d.id)
            .execute();
        }
      }
      return due.length;
    },
  };
}

export type Domains = ReturnType<typeof createDomains>;
