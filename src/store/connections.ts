import type { Executor } from './db.js';
import type { ConnectionTable } from './schema.js';

export type ConnectionMode = 'role' | 'access_keys' | 'default_chain' | 'secrets_manager';
/**
 * `pending_role` until a role ARN is set, `pending_update` after the External ID was rotated,
 * `untested` after a change, then what the last test or send showed: `active`, `failing`, or
 * `unsafe` (a role that does not require its External ID; only a passing probe lifts it).
 */
export type ConnectionStatus = 'pending_role' | 'pending_update' | 'untested' | 'active' | 'failing' | 'unsafe';
export type TestStatus = 'pass' | 'warn' | 'fail';
/** The last confused-deputy probe. */
export type ExternalIdCheck = 'pass' | 'fail' | 'skip' | 'warn';

/** A connection as stored: the only shape of it outside this file. */
export interface Connection {
  id: string;
  workspaceId: string;
  name: string;
  region: string;
  mode: ConnectionMode;
  status: ConnectionStatus;
  externalId: string | null;
  roleArn: string | null;
  roleArnSetAt: string | null;
  roleName: string | null;
  sendDomains: string[];
  sessionDurationSeconds: number | null;
  sourceIdentity: boolean;
  /** The id is not a secret, but only its last 4 are ever shown. */
  accessKeyId: string | null;
  /** AES-256-GCM envelope of the secret access key. */
  secretCiphertext: string | null;
  /** When Sesame first saw the key. */
  accessKeyCreatedAt: string | null;
  /** The key's CreateDate in IAM, once a test could read it. */
  accessKeyAwsCreatedAt: string | null;
  pendingAccessKeyId: string | null;
  pendingSecretCiphertext: string | null;
  secretArn: string | null;
  lastAssumedAt: string | null;
  credentialsExpireAt: string | null;
  assumedRoleId: string | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  lastErrorAt: string | null;
  lastTestedAt: string | null;
  lastTestStatus: TestStatus | null;
  externalIdRotatedAt: string | null;
  pausedReason: string | null;
  pausedAt: string | null;
  configurationSet: string | null;
  snsTopicArns: string[];
  createdAt: string;
  /** Doubles as the credential-cache version. */
  updatedAt: string;
  /** Role mode: when AssumeRole with the External ID last succeeded while the probe proved it required. */
  externalIdProvenAt: string | null;
  /** The role ARN that proof was for; the role is used only while it equals roleArn. */
  externalIdProvenRoleArn: string | null;
  externalIdCheck: ExternalIdCheck | null;
  externalIdCheckedAt: string | null;
  /** The AWS account the role was last proven in. */
  roleAccountId: string | null;
}

export type ConnectionPatch = Partial<Omit<Connection, 'id' | 'workspaceId' | 'createdAt'>>;

/** Conditions an update applies under; every one given must hold. */
export interface ConnectionGuard {
  statusIn?: readonly ConnectionStatus[];
  statusNotIn?: readonly ConnectionStatus[];
  /** Only while the role ARN is still this one (a proof holds for the role it was made with). */
  roleArn?: string | null;
  /** Only while this key is still the one in use. */
  accessKeyId?: string;
  /** Only while the queue is (true) or is not (false) paused. */
  paused?: boolean;
}

const COLUMNS: { readonly [K in keyof Connection]: keyof ConnectionTable } = {
  id: 'id',
  workspaceId: 'workspace_id',
  name: 'name',
  region: 'region',
  mode: 'mode',
  status: 'status',
  externalId: 'external_id',
  roleArn: 'role_arn',
  roleArnSetAt: 'role_arn_set_at',
  roleName: 'role_name',
  sendDomains: 'send_domains',
  sessionDurationSeconds: 'session_duration_seconds',
  sourceIdentity: 'source_identity',
  accessKeyId: 'access_key_id',
  secretCiphertext: 'secret_ciphertext',
  accessKeyCreatedAt: 'access_key_created_at',
  accessKeyAwsCreatedAt: 'access_key_aws_created_at',
  pendingAccessKeyId: 'pending_access_key_id',
  pendingSecretCiphertext: 'pending_secret_ciphertext',
  secretArn: 'secret_arn',
  lastAssumedAt: 'last_assumed_at',
  credentialsExpireAt: 'credentials_expire_at',
  assumedRoleId: 'assumed_role_id',
  lastErrorCode: 'last_error_code',
  lastErrorMessage: 'last_error_message',
  lastErrorAt: 'last_error_at',
  lastTestedAt: 'last_tested_at',
  lastTestStatus: 'last_test_status',
  externalIdRotatedAt: 'external_id_rotated_at',
  pausedReason: 'paused_reason',
  pausedAt: 'paused_at',
  configurationSet: 'configuration_set',
  snsTopicArns: 'sns_topic_arns',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  externalIdProvenAt: 'external_id_proven_at',
  externalIdProvenRoleArn: 'external_id_proven_role_arn',
  externalIdCheck: 'external_id_check',
  externalIdCheckedAt: 'external_id_checked_at',
  roleAccountId: 'role_account_id',
};

/** A JSON array of strings; anything else reads as empty rather than failing every read of the row. */
function strings(text: string | null): string[] {
  if (!text) return [];
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** The stored row, decoded: JSON lists parsed, 0/1 as a boolean, statuses as their unions. */
export function toConnection(r: ConnectionTable): Connection {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    region: r.region,
    mode: r.mode as ConnectionMode,
    status: r.status as ConnectionStatus,
    externalId: r.external_id,
    roleArn: r.role_arn,
    roleArnSetAt: r.role_arn_set_at,
    roleName: r.role_name,
    sendDomains: strings(r.send_domains),
    sessionDurationSeconds: r.session_duration_seconds,
    sourceIdentity: r.source_identity === 1,
    accessKeyId: r.access_key_id,
    secretCiphertext: r.secret_ciphertext,
    accessKeyCreatedAt: r.access_key_created_at,
    accessKeyAwsCreatedAt: r.access_key_aws_created_at,
    pendingAccessKeyId: r.pending_access_key_id,
    pendingSecretCiphertext: r.pending_secret_ciphertext,
    secretArn: r.secret_arn,
    lastAssumedAt: r.last_assumed_at,
    credentialsExpireAt: r.credentials_expire_at,
    assumedRoleId: r.assumed_role_id,
    lastErrorCode: r.last_error_code,
    lastErrorMessage: r.last_error_message,
    lastErrorAt: r.last_error_at,
    lastTestedAt: r.last_tested_at,
    lastTestStatus: r.last_test_status as TestStatus | null,
    externalIdRotatedAt: r.external_id_rotated_at,
    pausedReason: r.paused_reason,
    pausedAt: r.paused_at,
    configurationSet: r.configuration_set,
    snsTopicArns: strings(r.sns_topic_arns),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    externalIdProvenAt: r.external_id_proven_at,
    externalIdProvenRoleArn: r.external_id_proven_role_arn,
    externalIdCheck: r.external_id_check as ExternalIdCheck | null,
    externalIdCheckedAt: r.external_id_checked_at,
    roleAccountId: r.role_account_id,
  };
}

function encode(p: ConnectionPatch): Partial<ConnectionTable> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p) as Array<[keyof Connection, unknown]>) {
    if (value === undefined) continue;
    out[COLUMNS[key]] =
      key === 'sendDomains' || key === 'snsTopicArns'
        ? JSON.stringify(value)
        : key === 'sourceIdentity'
          ? value
            ? 1
            : 0
          : value;
  }
  return out as Partial<ConnectionTable>;
}

/** The connections of every workspace: the only writer of `connections`. */
export function createConnectionsRepo(db: Executor) {
  const select = () => db.selectFrom('connections').selectAll();

  return {
    async insert(c: Connection): Promise<void> {
      await db
        .insertInto('connections')
        .values(encode(c) as ConnectionTable)
        .execute();
    },

    /** By id or by name, within one workspace. */
    async find(workspaceId: string, idOrName: string): Promise<Connection | undefined> {
      const r = await select()
        .where('workspace_id', '=', workspaceId)
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      return r && toConnection(r);
    },

    /** Connections whose queue waits: paused, or a role not (or no longer) proven to require its External ID. */
    async heldIds(): Promise<string[]> {
      const rows = await db
        .selectFrom('connections')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('paused_reason', 'is not', null),
            eb.and([
              eb('mode', '=', 'role'),
              eb.or([
                eb('status', '=', 'unsafe'),
                eb('role_arn', 'is', null),
                eb('external_id_proven_at', 'is', null),
                eb('external_id_proven_role_arn', 'is', null),
                eb('external_id_proven_role_arn', '!=', eb.ref('role_arn')),
              ]),
            ]),
          ]),
        )
        .execute();
      return rows.map((r) => r.id);
    },

    /** By id alone, for background work that already holds an id it was given by a workspace. */
    async byId(id: string): Promise<Connection | undefined> {
      const r = await select().where('id', '=', id).executeTakeFirst();
      return r && toConnection(r);
    },

    async list(workspaceId: string): Promise<Connection[]> {
      return (await select().where('workspace_id', '=', workspaceId).orderBy('id').execute()).map(toConnection);
    },

    async nameTaken(workspaceId: string, name: string): Promise<boolean> {
      const r = await db
        .selectFrom('connections')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name)
        .executeTakeFirst();
      return r !== undefined;
    },

    /**
     * The connection a send naming none goes through: the workspace's default first, then (to
     * tell "the only one" from "one of several") at most one other.
     */
    async defaultCandidates(workspaceId: string): Promise<Array<{ connection: Connection; isDefault: boolean }>> {
      const rows = await db
        .selectFrom('connections')
        .innerJoin('workspaces', 'workspaces.id', 'connections.workspace_id')
        .selectAll('connections')
        .select((eb) =>
          eb
            .case()
            .when('connections.id', '=', eb.ref('workspaces.default_connection_id'))
            .then(1)
            .else(0)
            .end()
            .as('is_default'),
        )
        .where('connections.workspace_id', '=', workspaceId)
        .orderBy('is_default', 'desc')
        .orderBy('connections.id')
        .limit(2)
        .execute();
      return rows.map(({ is_default, ...r }) => ({ connection: toConnection(r), isDefault: Number(is_default) === 1 }));
    },

    /** Apply `patch` when every condition of `guard` holds; true when the row changed. */
    async update(id: string, patch: ConnectionPatch, guard: ConnectionGuard = {}): Promise<boolean> {
      const set = encode(patch);
      if (Object.keys(set).length === 0) return false;
      let q = db.updateTable('connections').set(set).where('id', '=', id);
      if (guard.statusIn) q = q.where('status', 'in', [...guard.statusIn]);
      if (guard.statusNotIn) q = q.where('status', 'not in', [...guard.statusNotIn]);
      if (guard.roleArn !== undefined)
        q = guard.roleArn === null ? q.where('role_arn', 'is', null) : q.where('role_arn', '=', guard.roleArn);
      if (guard.accessKeyId !== undefined) q = q.where('access_key_id', '=', guard.accessKeyId);
      if (guard.paused !== undefined) q = q.where('paused_reason', guard.paused ? 'is not' : 'is', null);
      const res = await q.executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },

    async delete(id: string): Promise<boolean> {
      const res = await db.deleteFrom('connections').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}

export type ConnectionsRepo = ReturnType<typeof createConnectionsRepo>;
