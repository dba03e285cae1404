import type { CredentialProvider } from '../../aws/credentials.js';
import type { IdentityGateway, SesIdentity } from '../../aws/identities.js';
import type { Purpose } from '../../aws/policies.js';
import { backoffMs } from '../../backoff.js';
import type { Clock } from '../../clock.js';
import { AppError, isAppError, notFound, type ErrorCode } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Logger } from '../../logger.js';
import type { JobQueue } from '../../queue/job-queue.js';
import {
  type Domain,
  type DomainCheckResult,
  type DomainRecord,
  type DomainStatus,
  type DomainsRepo,
  SES_STATUSES,
  type SesStatus,
} from '../../store/domains.js';
import type { Repos, Transaction } from '../../store/repos.js';
import type { Audit } from '../audit/audit.js';
import type { Connections } from '../connections/service.js';
import type { DnsChecker, DomainProblem } from './dns-check.js';
import { dkimPublicKey } from './dkim.js';
import type { DomainView, PublishRecordView, SendDomainsChange } from './schemas.js';
import { renderZone } from './zone.js';

export type { DomainView, SendDomainsChange } from './schemas.js';

/** A record a person publishes (the view's record without its check). */
export type PublishRecord = Omit<PublishRecordView, 'check'>;

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
/** The background check's wait after each look: 1 minute, doubling, at most 6 hours. */
const CHECK_BACKOFF = { baseMs: 60_000, capMs: 6 * 3_600_000, jitter: 'none' } as const;
/** Domains looked at per pass of the background check. */
const CHECK_BATCH = 20;
/** Long enough for a batch of slow DNS answers; a process that dies leaves its batch to another then. */
const CHECK_LEASE_MS = 5 * 60_000;
const QUEUE = 'domain_check';

const withChange = (v: DomainView, note: { sendDomains?: SendDomainsChange }): DomainView =>
  note.sendDomains ? { ...v, sendDomainsChanged: note.sendDomains } : v;

/** The send domain an identity narrows its connection to: the domain itself, or an address's domain. */
const sendDomainOf = (d: Pick<Domain, 'name' | 'kind'>): string =>
  d.kind === 'email' ? d.name.slice(d.name.lastIndexOf('@') + 1) : d.name;

const STATUS: Record<string, DomainStatus> = {
  SUCCESS: 'verified',
  FAILED: 'failed',
  TEMPORARY_FAILURE: 'temporary_failure',
};
const statusOf = (i: SesIdentity): DomainStatus =>
  STATUS[i.verificationStatus] ?? (i.verifiedForSending ? 'verified' : 'pending');

/** SES's DKIM and MAIL FROM states; one SES adds later reads as pending until Sesame knows it. */
const sesStatus = (s: string): SesStatus =>
  (SES_STATUSES as readonly string[]).includes(s) ? (s as SesStatus) : 'PENDING';

/** The records a person publishes for a domain identity, in the order a DNS console wants them. */
export function recordsFor(
  d: Pick<Domain, 'name' | 'kind' | 'dkimOrigin' | 'dkimTokens' | 'dkimPublicKey' | 'mailFromDomain' | 'dmarcRua'>,
  region: string,
): PublishRecord[] {
  if (d.kind !== 'domain') return [];
  const out: PublishRecord[] =
    d.dkimOrigin === 'EXTERNAL'
      ? // An imported identity with its own key: Sesame never saw the key, so it cannot say (or check) the value.
        d.dkimPublicKey
        ? [
            {
              purpose: 'dkim',
              required: true,
              name: `${d.dkimTokens[0]}._domainkey.${d.name}`,
              type: 'TXT',
              value: `v=DKIM1; k=rsa; p=${d.dkimPublicKey}`,
            },
          ]
        : []
      : d.dkimTokens.map((t) => ({
          purpose: 'dkim' as const,
          required: true,
          name: `${t}._domainkey.${d.name}`,
          type: 'CNAME' as const,
          value: `${t}.dkim.amazonses.com`,
        }));
  if (d.mailFromDomain) {
    out.push({
      purpose: 'mail_from_mx',
      required: true,
      name: d.mailFromDomain,
      type: 'MX',
      value: `feedback-smtp.${region}.amazonses.com`,
      priority: 10,
    });
    out.push({ purpose: 'mail_from_spf', required: true, name: d.mailFromDomain, type: 'TXT', value: SPF });
  }
  out.push({
    purpose: 'dmarc',
    required: false,
    name: `_dmarc.${d.name}`,
    type: 'TXT',
    value: `v=DMARC1; p=none;${d.dmarcRua ? ` rua=mailto:${d.dmarcRua};` : ''}`,
    note: 'Start at p=none and read the aggregate reports; once every legitimate source passes SPF or DKIM alignment, move to p=quarantine, then p=reject.',
  });
  return out;
}

/**
 * Sending domains and addresses: the SES identity (created with `manage` credentials, or
 * imported), the DNS records to publish, Sesame's own look-up of each, and a background check
 * (a `domain_check` job per domain, on its own backoff) until SES says verified. Verified domains
 * narrow the connection's `send` sessions.
 */
export function createDomains(deps: {
  repo: Pick<
    DomainsRepo,
    'byId' | 'byName' | 'byIds' | 'exists' | 'list' | 'verifiedOf' | 'leftover' | 'noteLeftover' | 'forgetLeftover'
  >;
  /** Writes a domain and its check job together. */
  transaction: Transaction;
  jobs: Pick<JobQueue, 'lease' | 'finish'>;
  clock: Clock;
  logger: Logger;
  audit: Pick<Audit, 'record'>;
  connections: Pick<Connections, 'row' | 'subject' | 'update'>;
  credentials: (subject: ReturnType<Connections['subject']>, purpose: Purpose) => Promise<CredentialProvider>;
  identities: IdentityGateway;
  dns: Pick<DnsChecker, 'checkDomain'>;
  /** Verified identities are cached for sending: forget them when one changes. */
  onIdentitiesChanged?: (connectionId: string) => void;
}) {
  const { repo, clock } = deps;

  /** By id, or by name when only one connection of the workspace has that name. */
  async function row(workspaceId: string, id: string): Promise<DomainRecord> {
    const byId = await repo.byId(workspaceId, id);
    if (byId) return byId;
    const byName = await repo.byName(workspaceId, id.toLowerCase(), 2);
    if (byName.length > 1)
      throw new AppError('conflict', `${id} belongs to more than one connection.`, {
        hint: 'Name the domain by its id (dom_…), shown by `sesame domains list --json` or GET /v1/domains.',
      });
    if (!byName[0]) throw notFound(`Domain ${id}`);
    return byName[0];
  }

  async function regionOf(d: Domain): Promise<string> {
    return (await deps.connections.row(d.workspaceId, d.connectionId)).region;
  }

  function view(d: DomainRecord, region: string): DomainView {
    const records = recordsFor(d, region).map((rec) => {
      const c = d.checks.records?.find((x) => x.name === rec.name.toLowerCase() && x.type === rec.type);
      return { ...rec, check: c ? { status: c.status, found: c.found, message: c.message, hint: c.hint } : null };
    });
    return {
      id: d.id,
      name: d.name,
      kind: d.kind,
      connectionId: d.connectionId,
      origin: d.origin,
      status: d.status,
      dkim: { origin: d.dkimOrigin, status: d.dkimStatus },
      mailFrom: { domain: d.mailFromDomain, status: d.mailFromStatus },
      records,
      problems: d.checks.problems ?? [],
      zone: renderZone(records),
      checkedAt: d.checkedAt,
      nextCheckAt: d.nextCheckAt,
      verifiedAt: d.verifiedAt,
      createdAt: d.createdAt,
    };
  }

  /** A new identity: pending, to be checked at once. */
  function newDomain(
    workspaceId: string,
    connectionId: string,
    name: string,
    identity: Pick<
      Domain,
      | 'kind'
      | 'origin'
      | 'dkimOrigin'
      | 'dkimTokens'
      | 'dkimPublicKey'
      | 'dkimStatus'
      | 'mailFromDomain'
      | 'mailFromStatus'
      | 'dmarcRua'
    >,
  ): DomainRecord {
    const iso = clock.now().toISOString();
    return {
      id: newId('dom', clock.ms()),
      workspaceId,
      connectionId,
      name,
      status: 'pending',
      ...identity,
      checks: {},
      checkedAt: null,
      checkAttempts: 0,
      nextCheckAt: iso,
      verifiedAt: null,
      createdAt: iso,
      updatedAt: iso,
    };
  }

  /** Store a new identity with its first check due now, together. */
  async function insert(d: DomainRecord): Promise<void> {
    await deps.transaction(async (r) => {
      await r.domains.insert(d);
      await r.jobs.enqueue(QUEUE, { id: d.id, group: d.connectionId, runAt: d.nextCheckAt ?? d.createdAt });
    });
  }

  /** When to look again after `attempts` looks; null when there is nothing more to wait for. */
  function nextCheck(d: Pick<Domain, 'createdAt'>, status: DomainStatus | null, attempts: number): string | null {
    const now = clock.ms();
    if (status === 'verified' || status === 'failed' || now - Date.parse(d.createdAt) > GIVE_UP_MS) return null;
    return new Date(now + backoffMs(attempts - 1, CHECK_BACKOFF)).toISOString();
  }

  /** Move the domain's check job to `next`, or drop it when there is no next look. */
  async function rescheduleIn(
    r: Pick<Repos, 'jobs'>,
    d: Pick<Domain, 'id' | 'connectionId'>,
    next: string | null,
  ): Promise<void> {
    if (next) await r.jobs.schedule(QUEUE, { id: d.id, group: d.connectionId, runAt: next });
    else await r.jobs.finish(QUEUE, d.id);
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
    const current = [...deps.connections.subject(c).sendDomains];
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

  /** Ask SES and DNS again; record what changed and when to look next. */
  async function refresh(
    d: DomainRecord,
    actor: string,
    note?: { sendDomains?: SendDomainsChange },
  ): Promise<DomainRecord> {
    const conn = await deps.connections.row(d.workspaceId, d.connectionId);
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
            ...(d.mailFromDomain ? { mailFromDomain: d.mailFromDomain } : {}),
          })
        : undefined;
    const now = clock.now().toISOString();
    const mailFromStatus = ses.mailFrom.status === null ? null : sesStatus(ses.mailFrom.status);
    const changes: DomainCheckResult = {
      status,
      dkimStatus: sesStatus(ses.dkim.status),
      mailFromStatus,
      checks: check ? { records: check.records, problems: check.problems } : d.checks,
      checkedAt: now,
      checkAttempts: d.checkAttempts + 1,
      verifiedAt: status === 'verified' ? (d.verifiedAt ?? now) : d.verifiedAt,
      updatedAt: now,
    };
    const next = nextCheck(d, status, changes.checkAttempts);
    await deps.transaction(async (r) => {
      await r.domains.recordCheck(d.id, changes);
      await rescheduleIn(r, d, next);
    });
    // Only a verified identity narrows the connection's send sessions: a pending one would stop
    // every other verified sender at once. An address narrows to its domain (SES still checks the address).
    if (status === 'verified' && d.status !== 'verified') {
      const change = await syncSendDomains(d.workspaceId, d.connectionId, sendDomainOf(d), null, actor);
      if (note && change) note.sendDomains = change;
    }
    if (status !== d.status || mailFromStatus !== d.mailFromStatus) {
      await deps.audit.record({
        workspaceId: d.workspaceId,
        connectionId: d.connectionId,
        actor,
        action: 'domain.status_changed',
        details: { domain: d.name, from: d.status, to: status, dkim: ses.dkim.status, mailFrom: ses.mailFrom.status },
      });
      deps.onIdentitiesChanged?.(d.connectionId);
    }
    return { ...d, ...changes, nextCheckAt: next };
  }

  /** A background look that failed: count it and back off; an identity gone from SES is failed for good. */
  async function lookFailed(d: DomainRecord, err: unknown): Promise<void> {
    deps.logger.warn({ domain: d.name, err: (err as Error).message }, 'refreshing a domain failed');
    const attempts = d.checkAttempts + 1;
    const missing = isAppError(err) && err.code === 'identity_missing';
    const problem: DomainProblem = {
      code: 'lookup_failed',
      severity: 'error',
      name: d.name,
      message: (err as Error).message,
      hint: isAppError(err) ? err.hint : 'Sesame checks again later; `sesame domains verify` checks now.',
    };
    await deps.transaction(async (r) => {
      await r.domains.recordFailedLook(d.id, {
        checkAttempts: attempts,
        updatedAt: clock.now().toISOString(),
        ...(missing ? { failed: { checks: { ...d.checks, problems: [problem] } } } : {}),
      });
      await rescheduleIn(r, d, nextCheck(d, missing ? 'failed' : null, attempts));
    });
  }

  /** Right after adding: a failed look (throttling, say) leaves the identity pending for the background check. */
  async function firstCheck(
    d: DomainRecord,
    actor: string,
    note?: { sendDomains?: SendDomainsChange },
  ): Promise<DomainRecord> {
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
    manage: CredentialProvider,
    name: string,
    byodkim: { selector: string; privateKey: string } | undefined,
  ): Promise<{ tokens: string[] }> {
    let created = await deps.identities.create(manage, conn.region, name, byodkim);
    const leftover = await repo.leftover(conn.id, name);
    if (created.alreadyExists && leftover) {
      await deps.identities.remove(manage, conn.region, name);
      created = await deps.identities.create(manage, conn.region, name, byodkim);
    }
    if (leftover && !created.alreadyExists) await repo.forgetLeftover(conn.id, name);
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
    manage: CredentialProvider,
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
        await repo.noteLeftover({
          connectionId: conn.id,
          name,
          workspaceId: conn.workspaceId,
          reason: (cause instanceof Error ? cause.message : String(cause)).slice(0, 500),
          createdAt: clock.now().toISOString(),
        });
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

  return {
    async add(workspaceId: string, input: AddDomainInput, actor: string): Promise<DomainView> {
      const conn = await deps.connections.row(workspaceId, input.connection);
      const name = input.domain.toLowerCase();
      if (await repo.exists(conn.id, name))
        throw new AppError('conflict', `${name} is already a domain of connection ${conn.name}.`);
      const subject = deps.connections.subject(conn);
      const byo = input.byodkim
        ? { selector: input.byodkim.selector, ...dkimPublicKey(input.byodkim.privateKey) }
        : undefined;
      let tokens: string[] = [];
      let mailFrom: string | null =
        input.mailFromSubdomain === null ? null : `${input.mailFromSubdomain ?? 'mail'}.${name}`;
      let dkimOrigin: Domain['dkimOrigin'] = input.byodkim ? 'EXTERNAL' : 'AWS_SES';
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
      let createdWith: CredentialProvider | undefined;
      const d = newDomain(workspaceId, conn.id, name, {
        kind: 'domain',
        origin: input.import ? 'imported' : 'created',
        dkimOrigin,
        dkimTokens: [],
        dkimPublicKey: byo?.publicKey ?? null,
        dkimStatus: 'PENDING',
        mailFromDomain: mailFrom,
        mailFromStatus: mailFrom ? 'PENDING' : null,
        dmarcRua: input.dmarcReportEmail ?? null,
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
        d.dkimTokens = tokens;
        await insert(d);
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
      if (await repo.exists(conn.id, name))
        throw new AppError('conflict', `${name} is already an identity of connection ${conn.name}.`);
      const manage = await deps.credentials(deps.connections.subject(conn), 'manage');
      const created = await deps.identities.create(manage, conn.region, name);
      const d = newDomain(workspaceId, conn.id, name, {
        kind: 'email',
        origin: created.alreadyExists ? 'imported' : 'created',
        dkimOrigin: 'AWS_SES',
        dkimTokens: [],
        dkimPublicKey: null,
        dkimStatus: 'NOT_STARTED',
        mailFromDomain: null,
        mailFromStatus: null,
        dmarcRua: null,
      });
      try {
        await insert(d);
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
      const connectionId = opts.connection ? (await deps.connections.row(workspaceId, opts.connection)).id : undefined;
      const rows = await repo.list(workspaceId, connectionId);
      const regions = new Map<string, string>();
      const out: DomainView[] = [];
      for (const d of rows) {
        if (!regions.has(d.connectionId)) regions.set(d.connectionId, await regionOf(d));
        out.push(view(d, regions.get(d.connectionId)!));
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
      const conn = await deps.connections.row(workspaceId, d.connectionId);
      const deleteIdentity = opts.deleteIdentity ?? d.origin === 'created';
      if (deleteIdentity)
        await deps.identities.remove(
          await deps.credentials(deps.connections.subject(conn), 'manage'),
          conn.region,
          d.name,
        );
      await deps.transaction(async (r) => {
        await r.domains.delete(d.id);
        await r.jobs.cancel(QUEUE, d.id, clock.now());
      });
      // The send domain goes when no other identity of the connection still needs it.
      const others = await repo.verifiedOf(conn.id);
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

    /**
     * One pass of the background check (the `domains` loop): look again at the domains whose check
     * job is due, each then waiting for its own backoff. Returns how many it looked at.
     */
    async checkDue(): Promise<number> {
      const jobs = await deps.jobs.lease(QUEUE, {
        owner: newId('chk', clock.ms()),
        limit: CHECK_BATCH,
        now: clock.now(),
        leaseMs: CHECK_LEASE_MS,
      });
      if (jobs.length === 0) return 0;
      const found = new Map((await repo.byIds(jobs.map((j) => j.id))).map((d) => [d.id, d]));
      for (const job of jobs) {
        const d = found.get(job.id);
        try {
          if (!d) {
            // Removed meanwhile: nothing left to check.
            await deps.jobs.finish(QUEUE, job.id);
            continue;
          }
          await refresh(d, 'system');
        } catch (err) {
          if (d)
            await lookFailed(d, err).catch((e: unknown) =>
              deps.logger.error({ err: e }, 'recording a failed domain check failed'),
            );
        }
      }
      return jobs.length;
    },
  };
}

export type Domains = ReturnType<typeof createDomains>;
