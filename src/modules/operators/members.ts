import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type {
  InvitationRow,
  InvitationsRepo,
  MemberRow,
  MembersRepo,
  MembershipRow,
  Role,
  UserRow,
} from '../../store/operators.js';
import type { Audit } from '../audit/audit.js';
import { ROLES } from './permissions.js';
import type { Sessions } from './sessions.js';

const INVITATION_DAYS = 14;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Who asks: a member (with their role) or an API key with the admin scope (acts as an admin). */
export interface Actor {
  label: string;
  role: Role;
}

export interface MemberView {
  id: string;
  email: string;
  role: Role;
  source: MemberRow['source'];
  createdAt: string;
  lastSignInAt: string | null;
}

export interface InvitationView {
  id: string;
  email: string;
  role: Role;
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
}

const toView = (m: MemberRow): MemberView => ({
  id: m.userId,
  email: m.email,
  role: m.role,
  source: m.source,
  createdAt: m.createdAt,
  lastSignInAt: m.lastSignInAt,
});
const toInvitation = (i: InvitationRow): InvitationView => ({
  id: i.id,
  email: i.email,
  role: i.role,
  invitedBy: i.invitedBy,
  createdAt: i.createdAt,
  expiresAt: i.expiresAt,
});

export const normaliseEmail = (email: string): string => email.trim().toLowerCase();

function checkEmail(email: string): string {
  const e = normaliseEmail(email);
  if (!EMAIL.test(e) || e.length > 254)
    throw new AppError('validation_failed', `"${email}" is not an email address.`, { details: { field: 'email' } });
  return e;
}

function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role))
    throw new AppError('validation_failed', `"${role}" is not a role.`, {
      hint: `Roles are ${ROLES.join(', ')}.`,
      details: { field: 'role' },
    });
  return role as Role;
}

/** Only owners make, change or remove owners; admins manage admins, developers and viewers. */
function requireRank(actor: Actor, ...roles: Role[]): void {
  if (actor.role === 'owner') return;
  if (roles.includes('owner'))
    throw new AppError('forbidden', 'Only an owner can make, change or remove an owner.', {
      hint: 'Ask an owner of this workspace.',
      details: { permission: 'members.manage' },
    });
}

/** Members of workspaces, their roles and invitations. A workspace always keeps at least one owner. */
export function createMembers(deps: {
  repo: Pick<
    MembersRepo,
    | 'ensureUser'
    | 'userByEmail'
    | 'userById'
    | 'list'
    | 'find'
    | 'memberships'
    | 'upsert'
    | 'setRole'
    | 'remove'
    | 'countOwners'
    | 'recordSignIn'
  >;
  invitations: Pick<InvitationsRepo, 'insert' | 'pending' | 'pendingFor' | 'find' | 'accept' | 'revoke'>;
  sessions: Pick<Sessions, 'endAllOf'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
}) {
  const { repo, clock, audit } = deps;

  async function user(email: string): Promise<UserRow> {
    const now = clock.ms();
    return repo.ensureUser({
      id: newId('usr', now),
      email: normaliseEmail(email),
      createdAt: new Date(now).toISOString(),
      lastSignInAt: null,
    });
  }

  async function member(workspaceId: string, ref: string): Promise<MemberRow> {
    const u = ref.includes('@') ? await repo.userByEmail(normaliseEmail(ref)) : await repo.userById(ref);
    const m = u && (await repo.find(workspaceId, u.id));
    if (!m) throw notFound(`Member ${ref}`);
    return m;
  }

  async function keepAnOwner(m: MemberRow, what: string): Promise<void> {
    if (m.role === 'owner' && (await repo.countOwners(m.workspaceId)) <= 1)
      throw new AppError(
        'last_owner',
        `${m.email} is the last owner of this workspace: ${what} would leave it without one.`,
      );
  }

  return {
    async list(workspaceId: string): Promise<MemberView[]> {
      return (await repo.list(workspaceId)).map(toView);
    },

    async invitations(workspaceId: string): Promise<InvitationView[]> {
      return (await deps.invitations.pending(workspaceId, clock.now().toISOString())).map(toInvitation);
    },

    async memberships(userId: string): Promise<MembershipRow[]> {
      return repo.memberships(userId);
    },

    async membership(workspaceId: string, userId: string): Promise<MemberRow | undefined> {
      return repo.find(workspaceId, userId);
    },

    /** The first owner of a workspace (sesame init, or the member who creates a workspace). */
    async addOwner(workspaceId: string, email: string, actor: string): Promise<UserRow> {
      const u = await user(checkEmail(email));
      await repo.upsert({
        workspaceId,
        userId: u.id,
        role: 'owner',
        source: 'owner',
        createdAt: clock.now().toISOString(),
      });
      await audit.record({ workspaceId, actor, action: 'member.added', details: { email: u.email, role: 'owner' } });
      return u;
    },

    async invite(workspaceId: string, email: string, role: string, actor: Actor): Promise<InvitationView> {
      const e = checkEmail(email);
      const r = checkRole(role);
      requireRank(actor, r);
      const existing = await repo.userByEmail(e);
      if (existing && (await repo.find(workspaceId, existing.id)))
        throw new AppError('conflict', `${e} is already a member of this workspace.`, {
          hint: 'Change their role instead (PATCH /v1/members/:id, sesame members set-role).',
        });
      const now = clock.ms();
      const inv: InvitationRow = {
        id: newId('inv', now),
        workspaceId,
        email: e,
        role: r,
        invitedBy: actor.label,
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(now + INVITATION_DAYS * 86_400_000).toISOString(),
        acceptedAt: null,
        revokedAt: null,
      };
      await deps.invitations.insert(inv);
      await audit.record({
        workspaceId,
        actor: actor.label,
        action: 'member.invited',
        details: { invitationId: inv.id, email: e, role: r },
      });
      return toInvitation(inv);
    },

    async revokeInvitation(workspaceId: string, id: string, actor: Actor): Promise<InvitationView> {
      const inv = await deps.invitations.find(workspaceId, id);
      if (!inv) throw notFound(`Invitation ${id}`);
      requireRank(actor, inv.role);
      if (await deps.invitations.revoke(workspaceId, id, clock.now().toISOString()))
        await audit.record({
          workspaceId,
          actor: actor.label,
          action: 'member.invitation_revoked',
          details: { invitationId: id, email: inv.email },
        });
      return toInvitation(inv);
    },

    async setRole(workspaceId: string, ref: string, role: string, actor: Actor): Promise<MemberView> {
      const m = await member(workspaceId, ref);
      const r = checkRole(role);
      requireRank(actor, m.role, r);
      if (m.role === r) return toView(m);
      if (r !== 'owner') await keepAnOwner(m, 'this change');
      await repo.setRole(workspaceId, m.userId, r);
      await audit.record({
        workspaceId,
        actor: actor.label,
        action: 'member.role_changed',
        details: { email: m.email, before: m.role, after: r },
      });
      return toView({ ...m, role: r });
    },

    async remove(workspaceId: string, ref: string, actor: Actor): Promise<MemberView> {
      const m = await member(workspaceId, ref);
      requireRank(actor, m.role);
      await keepAnOwner(m, 'removing them');
      await repo.remove(workspaceId, m.userId);
      await audit.record({
        workspaceId,
        actor: actor.label,
        action: 'member.removed',
        details: { email: m.email, role: m.role },
      });
      return toView(m);
    },

    /**
     * End every session of a member (browser and CLI). Sessions are the person's, not the
     * workspace's, so this signs them out everywhere: only an owner may do it.
     */
    async endSessions(workspaceId: string, ref: string, actor: Actor): Promise<{ ended: number }> {
      const m = await member(workspaceId, ref);
      if (actor.role !== 'owner')
        throw new AppError('forbidden', "Only an owner can end a member's sessions (it signs them out everywhere).", {
          hint: 'Ask an owner of this workspace.',
          details: { permission: 'members.manage' },
        });
      const ended = await deps.sessions.endAllOf(m.userId, 'ended_by_owner');
      await audit.record({
        workspaceId,
        actor: actor.label,
        action: 'member.sessions_ended',
        details: { email: m.email, ended },
      });
      return { ended };
    },

    /**
     * At sign-in with a verified email: accept pending invitations, apply roles from the
     * provider's claim (`idp` memberships follow the claim: added, changed, removed), and return
     * the user with their memberships (no user when nothing here knows the email).
     */
    async settle(
      email: string,
      fromClaim: Array<{ workspaceId: string; role: Role }> | null,
    ): Promise<{ user: UserRow | null; memberships: MembershipRow[] }> {
      const e = normaliseEmail(email);
      const nowIso = clock.now().toISOString();
      const existing = await repo.userByEmail(e);
      const invites = await deps.invitations.pendingFor(e, nowIso);
      if (!existing && invites.length === 0 && !fromClaim?.length) return { user: null, memberships: [] };
      const u = existing ?? (await user(e));
      for (const inv of invites) {
        if (!(await deps.invitations.accept(inv.id, nowIso))) continue;
        const had = await repo.find(inv.workspaceId, u.id);
        if (!had)
          await repo.upsert({
            workspaceId: inv.workspaceId,
            userId: u.id,
            role: inv.role,
            source: 'invitation',
            createdAt: nowIso,
          });
        await audit.record({
          workspaceId: inv.workspaceId,
          actor: `member:${e}`,
          action: 'member.invitation_accepted',
          details: { invitationId: inv.id, email: e, role: had ? had.role : inv.role },
        });
      }
      if (fromClaim) {
        const claimed = new Map(fromClaim.map((c) => [c.workspaceId, c.role]));
        for (const m of await repo.memberships(u.id)) {
          const want = claimed.get(m.workspaceId);
          if (m.source !== 'idp') continue;
          if (want === undefined) {
            const row = await repo.find(m.workspaceId, u.id);
            if (row && !(row.role === 'owner' && (await repo.countOwners(m.workspaceId)) <= 1)) {
              await repo.remove(m.workspaceId, u.id);
              await audit.record({
                workspaceId: m.workspaceId,
                actor: 'idp',
                action: 'member.removed',
                details: { email: e, role: m.role, reason: 'no longer in the claim' },
              });
            }
          }
        }
        for (const [workspaceId, role] of claimed) {
          const had = await repo.find(workspaceId, u.id);
          if (had && had.source !== 'idp') continue;
          if (had?.role === role) continue;
          await repo.upsert({ workspaceId, userId: u.id, role, source: 'idp', createdAt: had?.createdAt ?? nowIso });
          await audit.record({
            workspaceId,
            actor: 'idp',
            action: had ? 'member.role_changed' : 'member.added',
            details: had ? { email: e, before: had.role, after: role } : { email: e, role },
          });
        }
      }
      return { user: u, memberships: await repo.memberships(u.id) };
    },

    async recordSignIn(userId: string): Promise<void> {
      await repo.recordSignIn(userId, clock.now().toISOString());
    },
  };
}

export type Members = ReturnType<typeof createMembers>;
