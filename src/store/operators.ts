import type { Executor } from './db.js';
import type { InvitationTable, MemberTable, SessionTable, SignInGrantTable, UserTable } from './schema.js';

export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
export const SCOPES = ['send', 'read', 'manage', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export type MemberSource = 'owner' | 'invitation' | 'idp';
export type SessionKind = 'browser' | 'cli';
export type GrantKind = 'oidc' | 'link' | 'cli_code';

const asRole = (r: string): Role => ((ROLES as readonly string[]).includes(r) ? (r as Role) : 'viewer');

export interface UserRow {
  id: string;
  email: string;
  createdAt: string;
  lastSignInAt: string | null;
}

const toUser = (r: UserTable): UserRow => ({
  id: r.id,
  email: r.email,
  createdAt: r.created_at,
  lastSignInAt: r.last_sign_in_at,
});

export interface MemberRow {
  workspaceId: string;
  userId: string;
  email: string;
  role: Role;
  source: MemberSource;
  createdAt: string;
  lastSignInAt: string | null;
}

export interface MembershipRow {
  workspaceId: string;
  workspaceName: string;
  role: Role;
  source: MemberSource;
}

/** Users and their memberships: the only writer of `users` and `members`. */
export function createMembersRepo(db: Executor) {
  const members = () =>
    db
      .selectFrom('members')
      .innerJoin('users', 'users.id', 'members.user_id')
      .select([
        'members.workspace_id',
        'members.user_id',
        'members.role',
        'members.source',
        'members.created_at',
        'users.email',
        'users.last_sign_in_at',
      ]);
  const toMember = (r: Omit<MemberTable, never> & { email: string; last_sign_in_at: string | null }): MemberRow => ({
    workspaceId: r.workspace_id,
    userId: r.user_id,
    email: r.email,
    role: asRole(r.role),
    source: r.source as MemberSource,
    createdAt: r.created_at,
    lastSignInAt: r.last_sign_in_at,
  });

  return {
    async userByEmail(email: string): Promise<UserRow | undefined> {
      const r = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
      return r && toUser(r);
    },

    async userById(id: string): Promise<UserRow | undefined> {
      const r = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toUser(r);
    },

    /** The user with this email, inserted if new (`candidate` is used only then). */
    async ensureUser(candidate: UserRow): Promise<UserRow> {
      await db
        .insertInto('users')
        .values({
          id: candidate.id,
          email: candidate.email,
          created_at: candidate.createdAt,
          last_sign_in_at: candidate.lastSignInAt,
        })
        .onConflict((oc) => oc.column('email').doNothing())
        .execute();
      const r = await db.selectFrom('users').selectAll().where('email', '=', candidate.email).executeTakeFirstOrThrow();
      return toUser(r);
    },

    async recordSignIn(userId: string, at: string): Promise<void> {
      await db.updateTable('users').set({ last_sign_in_at: at }).where('id', '=', userId).execute();
    },

    async list(workspaceId: string): Promise<MemberRow[]> {
      const rows = await members().where('members.workspace_id', '=', workspaceId).orderBy('users.email').execute();
      return rows.map(toMember);
    },

    async find(workspaceId: string, userId: string): Promise<MemberRow | undefined> {
      const r = await members()
        .where('members.workspace_id', '=', workspaceId)
        .where('members.user_id', '=', userId)
        .executeTakeFirst();
      return r && toMember(r);
    },

    /** Every workspace the user belongs to, by name. */
    async memberships(userId: string): Promise<MembershipRow[]> {
      const rows = await db
        .selectFrom('members')
        .innerJoin('workspaces', 'workspaces.id', 'members.workspace_id')
        .select(['members.workspace_id', 'workspaces.name', 'members.role', 'members.source'])
        .where('members.user_id', '=', userId)
        .orderBy('workspaces.name')
        .execute();
      return rows.map((r) => ({
        workspaceId: r.workspace_id,
        workspaceName: r.name,
        role: asRole(r.role),
        source: r.source as MemberSource,
      }));
    },

    /** Add, or change the role and source of, a membership. */
    async upsert(m: { workspaceId: string; userId: string; role: Role; source: MemberSource; createdAt: string }) {
      await db
        .insertInto('members')
        .values({
          workspace_id: m.workspaceId,
          user_id: m.userId,
          role: m.role,
          source: m.source,
          created_at: m.createdAt,
        })
        .onConflict((oc) => oc.columns(['workspace_id', 'user_id']).doUpdateSet({ role: m.role, source: m.source }))
        .execute();
    },

    async setRole(workspaceId: string, userId: string, role: Role): Promise<boolean> {
      const res = await db
        .updateTable('members')
        .set({ role })
        .where('workspace_id', '=', workspaceId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    async remove(workspaceId: string, userId: string): Promise<boolean> {
      const res = await db
        .deleteFrom('members')
        .where('workspace_id', '=', workspaceId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },

    async countOwners(workspaceId: string): Promise<number> {
      const r = await db
        .selectFrom('members')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('workspace_id', '=', workspaceId)
        .where('role', '=', 'owner')
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

export type MembersRepo = ReturnType<typeof createMembersRepo>;

export interface InvitationRow {
  id: string;
  workspaceId: string;
  email: string;
  role: Role;
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
  acceptedAt: string | null;
  revokedAt: string | null;
}

const toInvitation = (r: InvitationTable): InvitationRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  email: r.email,
  role: asRole(r.role),
  invitedBy: r.invited_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  acceptedAt: r.accepted_at,
  revokedAt: r.revoked_at,
});

/** Invitations: the only writer of `invitations`. */
export function createInvitationsRepo(db: Executor) {
  return {
    async insert(i: InvitationRow): Promise<void> {
      await db
        .insertInto('invitations')
        .values({
          id: i.id,
          workspace_id: i.workspaceId,
          email: i.email,
          role: i.role,
          invited_by: i.invitedBy,
          created_at: i.createdAt,
          expires_at: i.expiresAt,
          accepted_at: i.acceptedAt,
          revoked_at: i.revokedAt,
        })
        .execute();
    },

    /** Pending (not accepted, revoked or expired at `now`) invitations of a workspace. */
    async pending(workspaceId: string, now: string): Promise<InvitationRow[]> {
      const rows = await db
        .selectFrom('invitations')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('id')
        .execute();
      return rows.map(toInvitation);
    },

    /** Pending invitations for an email, in every workspace. */
    async pendingFor(email: string, now: string): Promise<InvitationRow[]> {
      const rows = await db
        .selectFrom('invitations')
        .selectAll()
        .where('email', '=', email)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('id')
        .execute();
      return rows.map(toInvitation);
    },

    async find(workspaceId: string, id: string): Promise<InvitationRow | undefined> {
      const r = await db
        .selectFrom('invitations')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r && toInvitation(r);
    },

    async accept(id: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('invitations')
        .set({ accepted_at: at })
        .where('id', '=', id)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    async revoke(workspaceId: string, id: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('invitations')
        .set({ revoked_at: at })
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
  };
}

export type InvitationsRepo = ReturnType<typeof createInvitationsRepo>;

export interface SessionRow {
  id: string;
  tokenHash: string;
  userId: string;
  kind: SessionKind;
  csrfToken: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  idleSeconds: number;
  endedAt: string | null;
  endedReason: string | null;
}

const toSession = (r: SessionTable): SessionRow => ({
  id: r.id,
  tokenHash: r.token_hash,
  userId: r.user_id,
  kind: r.kind === 'cli' ? 'cli' : 'browser',
  csrfToken: r.csrf_token,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at,
  idleSeconds: Number(r.idle_seconds),
  endedAt: r.ended_at,
  endedReason: r.ended_reason,
});

/** Sessions of people (browser and CLI): the only writer of `sessions`. The token itself is never stored. */
export function createSessionsRepo(db: Executor) {
  return {
    async insert(s: SessionRow): Promise<void> {
      await db
        .insertInto('sessions')
        .values({
          id: s.id,
          token_hash: s.tokenHash,
          user_id: s.userId,
          kind: s.kind,
          csrf_token: s.csrfToken,
          created_at: s.createdAt,
          last_seen_at: s.lastSeenAt,
          expires_at: s.expiresAt,
          idle_seconds: s.idleSeconds,
          ended_at: s.endedAt,
          ended_reason: s.endedReason,
        })
        .execute();
    },

    async byTokenHash(hash: string): Promise<SessionRow | undefined> {
      const r = await db.selectFrom('sessions').selectAll().where('token_hash', '=', hash).executeTakeFirst();
      return r && toSession(r);
    },

    /** Record activity at `at`, unless one at or after `notBefore` is already recorded. */
    async touch(id: string, at: string, notBefore: string): Promise<void> {
      await db
        .updateTable('sessions')
        .set({ last_seen_at: at })
        .where('id', '=', id)
        .where('last_seen_at', '<', notBefore)
        .execute();
    },

    /** End one session; true when this call ended it. */
    async end(id: string, at: string, reason: string): Promise<boolean> {
      const res = await db
        .updateTable('sessions')
        .set({ ended_at: at, ended_reason: reason })
        .where('id', '=', id)
        .where('ended_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    /** End every open session of a user; how many it ended. */
    async endAllOf(userId: string, at: string, reason: string): Promise<number> {
      const res = await db
        .updateTable('sessions')
        .set({ ended_at: at, ended_reason: reason })
        .where('user_id', '=', userId)
        .where('ended_at', 'is', null)
        .where('expires_at', '>', at)
        .executeTakeFirst();
      return Number(res.numUpdatedRows);
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;

export interface GrantRow<T = Record<string, unknown>> {
  hash: string;
  kind: GrantKind;
  data: T;
  createdAt: string;
  expiresAt: string;
}

/**
 * Short-lived, single-use sign-in grants (an OIDC login in flight, a one-time link, a CLI
 * authorization code), stored by the SHA-256 of their secret: the only writer of `sign_in_grants`.
 */
export function createSignInGrantsRepo(db: Executor) {
  return {
    async insert(g: GrantRow<unknown>): Promise<void> {
      await db
        .insertInto('sign_in_grants')
        .values({
          hash: g.hash,
          kind: g.kind,
          data: JSON.stringify(g.data),
          created_at: g.createdAt,
          expires_at: g.expiresAt,
          used_at: null,
        })
        .execute();
    },

    /**
     * Use a grant once: marks it used and returns it when it exists, is of `kind`, is unused and
     * has not expired at `now`; otherwise undefined (and nothing changes). Of two racing uses, one wins.
     */
    async take<T>(hash: string, kind: GrantKind, now: string): Promise<GrantRow<T> | undefined> {
      const res = await db
        .updateTable('sign_in_grants')
        .set({ used_at: now })
        .where('hash', '=', hash)
        .where('kind', '=', kind)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      const r: SignInGrantTable = await db
        .selectFrom('sign_in_grants')
        .selectAll()
        .where('hash', '=', hash)
        .executeTakeFirstOrThrow();
      return {
        hash: r.hash,
        kind: r.kind as GrantKind,
        data: JSON.parse(r.data) as T,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
      };
    },

    /** A grant as stored, used or not (to name who a refused grant belonged to). */
    async find<T>(hash: string): Promise<GrantRow<T> | undefined> {
      const r = await db.selectFrom('sign_in_grants').selectAll().where('hash', '=', hash).executeTakeFirst();
      return (
        r && {
          hash: r.hash,
          kind: r.kind as GrantKind,
          data: JSON.parse(r.data) as T,
          createdAt: r.created_at,
          expiresAt: r.expires_at,
        }
      );
    },

    /** Forget grants that expired before `before` (used or not); how many. */
    async purge(before: string): Promise<number> {
      const res = await db.deleteFrom('sign_in_grants').where('expires_at', '<', before).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}

export type SignInGrantsRepo = ReturnType<typeof createSignInGrantsRepo>;
