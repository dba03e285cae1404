import { ROLES, SCOPES, type Role, type Scope } from '../../store/operators.js';

export { ROLES, SCOPES, type Role, type Scope };

/**
 * The one permission table: for each permission, the roles of people who hold it and the API key
 * scope that grants it (`admin` grants every permission). Every route names one of these (or is
 * public, for any signed-in person, or for SNS); the README's table is generated from this one.
 */
export const PERMISSIONS = {
  'connections.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'read',
    what: 'See connections, their tests and health',
  },
  'connections.manage': {
    roles: ['owner', 'admin'],
    scope: 'manage',
    what: 'Create, change, test, wire and delete connections; rotate access keys and External IDs',
  },
  'emails.send': { roles: ['owner', 'admin', 'developer'], scope: 'send', what: 'Send email (API, CLI, SMTP)' },
  'emails.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'read',
    what: 'Read the email log and timelines',
  },
  'emails.manage': {
    roles: ['owner', 'admin', 'developer'],
    scope: 'send',
    what: 'Cancel queued or scheduled messages',
  },
  'domains.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'read',
    what: 'See domains and their records',
  },
  'domains.manage': { roles: ['owner', 'admin', 'developer'], scope: 'manage', what: 'Add, verify and remove domains' },
  'suppressions.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'read',
    what: 'See the suppression list',
  },
  'suppressions.manage': {
    roles: ['owner', 'admin', 'developer'],
    scope: 'manage',
    what: 'Add, import and remove suppressions',
  },
  'webhooks.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'read',
    what: 'See webhooks and deliveries',
  },
  'webhooks.manage': {
    roles: ['owner', 'admin', 'developer'],
    scope: 'manage',
    what: 'Add, change, test and remove webhooks',
  },
  'warmup.read': { roles: ['owner', 'admin', 'developer', 'viewer'], scope: 'read', what: 'See warmup plans' },
  'warmup.manage': { roles: ['owner', 'admin'], scope: 'manage', what: 'Start, change and stop warmup' },
  'analytics.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'read',
    what: 'Read analytics (counts, rates, quota, queue)',
  },
  'audit.read': { roles: ['owner', 'admin'], scope: 'admin', what: 'Read the audit log' },
  'api_keys.read': { roles: ['owner', 'admin', 'developer'], scope: 'admin', what: 'See API keys' },
  'api_keys.manage': {
    roles: ['owner', 'admin'],
    scope: 'admin',
    what: 'Create, change the scopes of and revoke API keys',
  },
  'members.read': {
    roles: ['owner', 'admin', 'developer', 'viewer'],
    scope: 'admin',
    what: 'See members and invitations',
  },
  'members.manage': {
    roles: ['owner', 'admin'],
    scope: 'admin',
    what: 'Invite, change roles, remove members, end their sessions (owners only for owners)',
  },
  'workspaces.manage': { roles: ['owner'], scope: 'admin', what: 'Create workspaces' },
} as const satisfies Record<string, { roles: readonly Role[]; scope: Scope; what: string }>;

export type Permission = keyof typeof PERMISSIONS;

export const isPermission = (p: string): p is Permission => Object.hasOwn(PERMISSIONS, p);

export function roleHas(role: Role, p: Permission): boolean {
  return (PERMISSIONS[p].roles as readonly Role[]).includes(role);
}

export function scopesHave(scopes: readonly Scope[], p: Permission): boolean {
  return scopes.includes('admin') || scopes.includes(PERMISSIONS[p].scope);
}

/** Roles ordered by power: a member may give or take only roles up to their own (owners only by owners). */
export const roleRank = (r: Role): number => ROLES.length - ROLES.indexOf(r);

/** The README's permission table, generated from PERMISSIONS. */
export function permissionTable(): string {
  const head = `| Permission | What it allows | ${ROLES.join(' | ')} | API key scope |`;
  const sep = `|---|---|${ROLES.map(() => ':-:').join('|')}|---|`;
  const rows = Object.entries(PERMISSIONS).map(
    ([p, d]) =>
      `| \`${p}\` | ${d.what} | ${ROLES.map((r) => ((d.roles as readonly Role[]).includes(r) ? '✓' : '')).join(' | ')} | \`${d.scope}\` |`,
  );
  return [head, sep, ...rows].join('\n');
}
