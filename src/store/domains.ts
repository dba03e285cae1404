import type { DomainProblem } from '../modules/domains/dns-check.js';
import type { RecordCheck } from '../modules/domains/match.js';
import type { Executor } from './db.js';
import type { DomainTable } from './schema.js';

export const DOMAIN_KINDS = ['domain', 'email'] as const;
export type DomainKind = (typeof DOMAIN_KINDS)[number];

export const DOMAIN_ORIGINS = ['created', 'imported'] as const;
export type DomainOrigin = (typeof DOMAIN_ORIGINS)[number];

/** Sesame's reading of SES's verification state. */
export const DOMAIN_STATUSES = ['pending', 'verified', 'failed', 'temporary_failure'] as const;
export type DomainStatus = (typeof DOMAIN_STATUSES)[number];

/** SES's own words for DKIM and MAIL FROM states. */
export const SES_STATUSES = ['PENDING', 'SUCCESS', 'FAILED', 'TEMPORARY_FAILURE', 'NOT_STARTED'] as const;
export type SesStatus = (typeof SES_STATUSES)[number];

/** AWS_SES: Easy DKIM; EXTERNAL: the customer's own key (BYODKIM). */
export const DKIM_ORIGINS = ['AWS_SES', 'EXTERNAL'] as const;
export type DkimOrigin = (typeof DKIM_ORIGINS)[number];

/** The last DNS check of a domain: each expected record, and what is wrong domain-wide. */
export interface DomainChecks {
  records?: RecordCheck[];
  problems?: DomainProblem[];
}

export interface Domain {
  id: string;
  workspaceId: string;
  connectionId: string;
  /** The domain, or the address of an address identity. */
  name: string;
  kind: DomainKind;
  origin: DomainOrigin;
  status: DomainStatus;
  dkimOrigin: DkimOrigin;
  /** Easy DKIM: the tokens SES gave; BYODKIM: [selector]. */
  dkimTokens: string[];
  /** BYODKIM: the public key to publish (the private key is never stored). */
  dkimPublicKey: string | null;
  dkimStatus: SesStatus;
  mailFromDomain: string | null;
  mailFromStatus: SesStatus | null;
  dmarcRua: string | null;
  checks: DomainChecks;
  checkedAt: string | null;
  checkAttempts: number;
  verifiedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A domain as read: with when its next background check is due (its `domain_check` job), if any. */
export interface DomainRecord extends Domain {
  nextCheckAt: string | null;
}

/** What a check changes. */
export type DomainCheckResult = Pick<
  Domain,
  'status' | 'dkimStatus' | 'mailFromStatus' | 'checks' | 'checkedAt' | 'checkAttempts' | 'verifiedAt' | 'updatedAt'
>;

/** An SES identity Sesame created for a domain add that failed, and could not remove again. */
export interface DomainLeftover {
  connectionId: string;
  name: string;
  workspaceId: string;
  reason: string;
  createdAt: string;
}

const one = <T extends string>(list: readonly T[], v: string, fallback: T): T =>
  (list as readonly string[]).includes(v) ? (v as T) : fallback;

const toDomain = (r: DomainTable & { next_check_at: string | null }): DomainRecord => ({
  id: r.id,
  workspaceId: r.workspace_id,
  connectionId: r.connection_id,
  name: r.name,
  kind: one(DOMAIN_KINDS, r.kind, 'domain'),
  origin: one(DOMAIN_ORIGINS, r.origin, 'created'),
  status: one(DOMAIN_STATUSES, r.status, 'pending'),
  dkimOrigin: one(DKIM_ORIGINS, r.dkim_origin, 'AWS_SES'),
  dkimTokens: JSON.parse(r.dkim_tokens) as string[],
  dkimPublicKey: r.dkim_public_key,
  dkimStatus: one(SES_STATUSES, r.dkim_status, 'PENDING'),
  mailFromDomain: r.mail_from_domain,
  mailFromStatus: r.mail_from_status === null ? null : one(SES_STATUSES, r.mail_from_status, 'PENDING'),
  dmarcRua: r.dmarc_rua,
  checks: JSON.parse(r.checks) as DomainChecks,
  checkedAt: r.checked_at,
  checkAttempts: r.check_attempts,
  verifiedAt: r.verified_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  nextCheckAt: r.next_check_at,
});

const toTable = (d: Domain): DomainTable => ({
  id: d.id,
  workspace_id: d.workspaceId,
  connection_id: d.connectionId,
  name: d.name,
  kind: d.kind,
  origin: d.origin,
  status: d.status,
  dkim_origin: d.dkimOrigin,
  dkim_tokens: JSON.stringify(d.dkimTokens),
  dkim_public_key: d.dkimPublicKey,
  dkim_status: d.dkimStatus,
  mail_from_domain: d.mailFromDomain,
  mail_from_status: d.mailFromStatus,
  dmarc_rua: d.dmarcRua,
  checks: JSON.stringify(d.checks),
  checked_at: d.checkedAt,
  check_attempts: d.checkAttempts,
  verified_at: d.verifiedAt,
  created_at: d.createdAt,
  updated_at: d.updatedAt,
});

/**
 * Sending identities (domains and single addresses) and the SES identities a failed add left
 * behind: the only writer of `domains` and `domain_leftovers`. When a domain is next checked is its
 * `domain_check` job's time (the jobs repository writes that); reads here join it in.
 */
export function createDomainsRepo(db: Executor) {
  const select = () =>
    db
      .selectFrom('domains')
      .leftJoin('jobs', (j) => j.onRef('jobs.id', '=', 'domains.id').on('jobs.queue', '=', 'domain_check'))
      .selectAll('domains')
      .select('jobs.run_at as next_check_at');

  return {
    async byId(workspaceId: string, id: string): Promise<DomainRecord | undefined> {
      const r = await select()
        .where('domains.workspace_id', '=', workspaceId)
        .where('domains.id', '=', id)
        .executeTakeFirst();
      return r && toDomain(r);
    },

    /** Domains of the workspace with this name (one per connection at most). */
    async byName(workspaceId: string, name: string, limit: number): Promise<DomainRecord[]> {
      const rows = await select()
        .where('domains.workspace_id', '=', workspaceId)
        .where('domains.name', '=', name)
        .orderBy('domains.id')
        .limit(limit)
        .execute();
      return rows.map(toDomain);
    },

    /** The domains with these ids, whatever their workspace (for the background check). */
    async byIds(ids: readonly string[]): Promise<DomainRecord[]> {
      if (ids.length === 0) return [];
      const rows = await select()
        .where('domains.id', 'in', [...ids])
        .execute();
      return rows.map(toDomain);
    },

    async exists(connectionId: string, name: string): Promise<boolean> {
      const r = await db
        .selectFrom('domains')
        .select('id')
        .where('connection_id', '=', connectionId)
        .where('name', '=', name)
        .executeTakeFirst();
      return r !== undefined;
    },

    /** A workspace's domains in name order, optionally of one connection. */
    async list(workspaceId: string, connectionId?: string): Promise<DomainRecord[]> {
      let q = select().where('domains.workspace_id', '=', workspaceId);
      if (connectionId) q = q.where('domains.connection_id', '=', connectionId);
      const rows = await q.orderBy('domains.name').orderBy('domains.id').execute();
      return rows.map(toDomain);
    },

    /** The connection's verified identities (what its send domains are made of). */
    async verifiedOf(connectionId: string): Promise<Array<Pick<Domain, 'name' | 'kind'>>> {
      const rows = await db
        .selectFrom('domains')
        .select(['name', 'kind'])
        .where('connection_id', '=', connectionId)
        .where('status', '=', 'verified')
        .execute();
      return rows.map((r) => ({ name: r.name, kind: one(DOMAIN_KINDS, r.kind, 'domain') }));
    },

    async insert(d: Domain): Promise<void> {
      await db.insertInto('domains').values(toTable(d)).execute();
    },

    async recordCheck(id: string, c: DomainCheckResult): Promise<void> {
      await db
        .updateTable('domains')
        .set({
          status: c.status,
          dkim_status: c.dkimStatus,
          mail_from_status: c.mailFromStatus,
          checks: JSON.stringify(c.checks),
          checked_at: c.checkedAt,
          check_attempts: c.checkAttempts,
          verified_at: c.verifiedAt,
          updated_at: c.updatedAt,
        })
        .where('id', '=', id)
        .execute();
    },

    /** A background check that could not look: count it, and mark the domain failed when SES lost it. */
    async recordFailedLook(
      id: string,
      c: { checkAttempts: number; updatedAt: string; failed?: { checks: DomainChecks } },
    ): Promise<void> {
      await db
        .updateTable('domains')
        .set({
          check_attempts: c.checkAttempts,
          updated_at: c.updatedAt,
          ...(c.failed ? { status: 'failed', checks: JSON.stringify(c.failed.checks) } : {}),
        })
        .where('id', '=', id)
        .execute();
    },

    async delete(id: string): Promise<boolean> {
      const res = await db.deleteFrom('domains').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },

    async leftover(connectionId: string, name: string): Promise<DomainLeftover | undefined> {
      const r = await db
        .selectFrom('domain_leftovers')
        .selectAll()
        .where('connection_id', '=', connectionId)
        .where('name', '=', name)
        .executeTakeFirst();
      return (
        r && {
          connectionId: r.connection_id,
          name: r.name,
          workspaceId: r.workspace_id,
          reason: r.reason,
          createdAt: r.created_at,
        }
      );
    },

    /** Note a leftover identity; one already noted for the name is kept as it is. */
    async noteLeftover(l: DomainLeftover): Promise<void> {
      await db
        .insertInto('domain_leftovers')
        .values({
          connection_id: l.connectionId,
          name: l.name,
          workspace_id: l.workspaceId,
          reason: l.reason,
          created_at: l.createdAt,
        })
        .onConflict((oc) => oc.columns(['connection_id', 'name']).doNothing())
        .execute();
    },

    async forgetLeftover(connectionId: string, name: string): Promise<void> {
      await db
        .deleteFrom('domain_leftovers')
        .where('connection_id', '=', connectionId)
        .where('name', '=', name)
        .execute();
    },
  };
}

export type DomainsRepo = ReturnType<typeof createDomainsRepo>;
