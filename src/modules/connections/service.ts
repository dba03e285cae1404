import { randomBytes } from 'node:crypto';
import { SES_REGIONS } from '../../aws/regions.js';
import type {
  ConnectionMode,
  CredentialBroker,
  CredentialProvider,
  CredentialSubject,
  SessionEvent,
} from '../../aws/credentials.js';
import { asCallerMistake } from '../../aws/errors.js';
import type { AwsGateway } from '../../aws/gateway.js';
import type { Platform } from '../../aws/platform.js';
import { type PolicyDocument, type Purpose, revokeSessionsPolicy, sessionPolicy } from '../../aws/policies.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Envelope } from '../../crypto/envelope.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type {
  Connection,
  ConnectionPatch,
  ConnectionStatus,
  ConnectionsRepo,
  TestStatus,
} from '../../store/connections.js';
import type { Repos } from '../../store/repos.js';
import type { WorkspacesRepo } from '../../store/workspaces.js';
import type { Audit } from '../audit/audit.js';
import { createOnboarding } from './onboarding.js';
import { roleArnAccount, roleSafetyOf } from './safety.js';
import { type CreateConnectionInput, type UpdateConnectionInput } from './schemas.js';
import type { SnsRefusals } from '../events/refusals.js';
import { addRefusals, toView, type ConnectionView } from './view.js';

export type { Connection };

/** The STS alphabet ([\w+=,.@:/-]); we draw from its alphanumerics only, 48 of them (~285 bits). */
const EXTERNAL_ID_LENGTH = 48;
const EXTERNAL_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function generateExternalId(): string {
  let out = '';
  while (out.length < EXTERNAL_ID_LENGTH) {
    for (const b of randomBytes(64)) {
      if (b < 248) out += EXTERNAL_ID_ALPHABET[b % 62];
      if (out.length === EXTERNAL_ID_LENGTH) break;
    }
  }
  return out;
}

export const MODE_WARNINGS: Record<ConnectionMode, string | null> = {
  role: null,
  access_keys:
    'Access keys never expire: anyone who obtains them can send as you until you deactivate them. Sesame encrypts them at rest, but the role mode stores no secret at all; switch to it when you can, and rotate these keys at least every 90 days.',
  default_chain:
    "This connection uses Sesame's own host credentials (instance, task or environment role). Every connection in this mode shares that identity; use it only when Sesame runs inside the AWS account it sends from.",
  secrets_manager:
    'The secret holds long-lived access keys. Sesame reads it with its own platform credentials and caches it briefly; restrict the secret policy to the Sesame principal and rotate the keys.',
};

export interface ConnectionsDeps {
  repo: Pick<ConnectionsRepo, 'find' | 'byId' | 'list' | 'nameTaken' | 'defaultCandidates' | 'update' | 'delete'>;
  workspaces: Pick<WorkspacesRepo, 'setDefaultConnection'>;
  /** A new connection and the workspace default it may become are written together. */
  transaction: <T>(fn: (r: Pick<Repos, 'connections' | 'workspaces'>) => Promise<T>) => Promise<T>;
  clock: Clock;
  config: Pick<
    Config,
    | 'keyAgeWarnDays'
    | 'templateBucket'
    | 'templateBucketRegion'
    | 'templatePrefix'
    | 'consoleUrl'
    | 'region'
    | 'endpoints'
    | 'platformPrincipalArn'
    | 'sessionDurationSeconds'
    | 'allowDefaultChain'
  >;
  audit: Pick<Audit, 'record'>;
  envelope: Envelope;
  broker: CredentialBroker;
  platform: Pick<Platform, 'identity' | 'credentials'>;
  gateway: Pick<AwsGateway, 'putTemplate' | 'isPubliclyReadable' | 'callerIdentity' | 'getAccount'>;
  /** Bounce and complaint rates over recent sends (the reputation guard). */
  reputation?: { measure(connectionId: string): Promise<NonNullable<ConnectionView['reputation']>> };
  /** Prove at once that a role just set requires its External ID (the confused-deputy probe). */
  proveRole?: (workspaceId: string, id: string, actor: string) => Promise<unknown>;
  /** SNS deliveries refused lately (why events may have stopped). */
  refusals?: Pick<SnsRefusals, 'summary'>;
}

export function createConnections(deps: ConnectionsDeps) {
  const { repo, clock, audit, envelope, broker } = deps;
  const onboarding = createOnboarding(deps);

  const secretContext = (id: string, field: string) => `connection:${id}:${field}`;

  /** By id or name within the workspace, or not_found. */
  async function row(workspaceId: string, id: string): Promise<Connection> {
    const r = await repo.find(workspaceId, id);
    if (!r) throw notFound(`Connection ${id}`);
    return r;
  }

  function subject(r: Connection): CredentialSubject {
    const { accessKeyId, secretCiphertext } = r;
    return {
      id: r.id,
      workspaceId: r.workspaceId,
      region: r.region,
      mode: r.mode,
      version: r.updatedAt,
      roleArn: r.roleArn,
      externalId: r.externalId,
      sendDomains: r.sendDomains,
      sessionDurationSeconds: r.sessionDurationSeconds,
      sourceIdentity: r.sourceIdentity,
      secretArn: r.secretArn,
      roleSafety: roleSafetyOf(r),
      name: r.name,
      ...(secretCiphertext && accessKeyId
        ? {
            accessKeys: () => ({
              accessKeyId,
              secretAccessKey: envelope.open(secretCiphertext, secretContext(r.id, 'secret_access_key')),
            }),
          }
        : {}),
    };
  }

  /** Run the probe through the tester; a failure to reach AWS leaves the connection unproven, never the request failed. */
  async function proveRole(workspaceId: string, r: Connection, actor: string): Promise<Connection> {
    if (r.mode !== 'role' || !r.roleArn || !deps.proveRole) return r;
    await deps.proveRole(workspaceId, r.id, actor).catch(() => undefined);
    return row(workspaceId, r.id);
  }

  const view = (r: Connection): ConnectionView =>
    toView(r, { now: clock.now(), keyAgeWarnDays: deps.config.keyAgeWarnDays, warning: MODE_WARNINGS[r.mode] });

  function checkRegion(region: string): void {
    if (!SES_REGIONS.has(region))
      throw new AppError('aws_region_invalid', `Amazon SES is not offered in region ${region}.`, {
        details: { region },
      });
  }

  return {
    subject,
    view,
    row,

    async create(workspaceId: string, input: CreateConnectionInput, actor: string): Promise<ConnectionView> {
      checkRegion(input.region);
      // The host's own identity would be shared by every workspace: only when the operator says so.
      if (input.mode === 'default_chain' && !deps.config.allowDefaultChain)
        throw new AppError('mode_disabled', 'The default_chain mode is turned off on this Sesame.');
      checkSessionPolicySize(input.sendDomains ?? []);
      if (await repo.nameTaken(workspaceId, input.name))
        throw new AppError('conflict', `A connection named "${input.name}" already exists in this workspace.`);
      const now = clock.now();
      const iso = now.toISOString();
      const id = newId('conn', now.getTime());
      const r: Connection = {
        id,
        workspaceId,
        name: input.name,
        region: input.region,
        mode: input.mode,
        status: 'untested',
        externalId: null,
        roleArn: null,
        roleArnSetAt: null,
        roleName: null,
        sendDomains: input.sendDomains ?? [],
        sessionDurationSeconds: input.sessionDurationSeconds ?? null,
        sourceIdentity: false,
        accessKeyId: null,
        secretCiphertext: null,
        accessKeyCreatedAt: null,
        accessKeyAwsCreatedAt: null,
        pendingAccessKeyId: null,
        pendingSecretCiphertext: null,
        secretArn: null,
        lastAssumedAt: null,
        credentialsExpireAt: null,
        assumedRoleId: null,
        lastErrorCode: null,
        lastErrorMessage: null,
        lastErrorAt: null,
        lastTestedAt: null,
        lastTestStatus: null,
        externalIdRotatedAt: null,
        pausedReason: null,
        pausedAt: null,
        configurationSet: null,
        snsTopicArns: [],
        createdAt: iso,
        updatedAt: iso,
        externalIdProvenAt: null,
        externalIdProvenRoleArn: null,
        externalIdCheck: null,
        externalIdCheckedAt: null,
        roleAccountId: null,
      };
      switch (input.mode) {
        case 'role':
          r.externalId = generateExternalId();
          r.sourceIdentity = input.sourceIdentity !== false;
          r.roleArn = input.roleArn ?? null;
          r.roleArnSetAt = input.roleArn ? iso : null;
          r.status = input.roleArn ? 'untested' : 'pending_role';
          r.roleName = input.roleName ?? null;
          break;
        case 'access_keys':
          r.accessKeyId = input.accessKeyId;
          r.secretCiphertext = envelope.seal(input.secretAccessKey, secretContext(id, 'secret_access_key'));
          r.accessKeyCreatedAt = iso;
          break;
        case 'secrets_manager':
          r.secretArn = input.secretArn;
          // The secret must carry this value: a secret ARN is no secret, and without the binding
          // another workspace could point Sesame at someone else's secret.
          r.externalId = generateExternalId();
          break;
        case 'default_chain':
          break;
      }
      await deps.transaction(async (t) => {
        await t.connections.insert(r);
        // The first connection of a workspace (or the first after its default was deleted) becomes
        // its default, so a send that names none works.
        await t.workspaces.adoptDefaultConnection(workspaceId, id);
      });
      await audit.record({
        workspaceId,
        connectionId: id,
        actor,
        action: 'connection.created',
        details: {
          name: r.name,
          mode: r.mode,
          region: r.region,
          ...(r.roleArn ? { roleArn: r.roleArn } : {}),
          ...(r.accessKeyId ? { accessKeyLast4: r.accessKeyId.slice(-4) } : {}),
        },
      });
      const fresh = r.roleArn ? await proveRole(workspaceId, r, actor) : r;
      const v = view(fresh);
      if (input.mode === 'role') v.onboarding = await onboarding.links(fresh);
      return v;
    },

    async list(workspaceId: string): Promise<ConnectionView[]> {
      return (await repo.list(workspaceId)).map(view);
    },

    async get(workspaceId: string, id: string): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      const v = view(r);
      if (deps.reputation) {
        v.reputation = await deps.reputation.measure(r.id);
        if (v.reputation.level === 'warn')
          v.warnings.push(
            `Bounce rate ${(v.reputation.bounceRate * 100).toFixed(2)} %, complaint rate ${(v.reputation.complaintRate * 100).toFixed(3)} % over the last ${v.reputation.sample} sends: above the warning line (2 % / 0.05 %). Sesame pauses sending at 4 % / 0.08 %; clean the list before then.`,
          );
      }
      if (deps.refusals) addRefusals(v, await deps.refusals.summary(r.id));
      if (r.mode === 'role') v.onboarding = await onboarding.links(r);
      return v;
    },

    async update(
      workspaceId: string,
      id: string,
      input: UpdateConnectionInput,
      actor: string,
    ): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      if ((input.roleArn !== undefined || input.sourceIdentity !== undefined) && r.mode !== 'role') {
        throw new AppError('validation_failed', 'roleArn and sourceIdentity apply to role connections only.', {
          details: { mode: r.mode },
        });
      }
      if (input.secretArn !== undefined && r.mode !== 'secrets_manager') {
        throw new AppError('validation_failed', 'secretArn applies to secrets_manager connections only.', {
          details: { mode: r.mode },
        });
      }
      if (input.name && input.name !== r.name && (await repo.nameTaken(workspaceId, input.name)))
        throw new AppError('conflict', `A connection named "${input.name}" already exists in this workspace.`);
      if (Object.values(input).every((v) => v === undefined)) return this.get(workspaceId, r.id);
      const iso = nextStamp(r.updatedAt, clock.now());
      const changes: ConnectionPatch = { updatedAt: iso };
      const changed: string[] = [];
      if (input.name !== undefined) {
        changes.name = input.name;
        changed.push('name');
      }
      if (input.roleArn !== undefined && input.roleArn !== r.roleArn) {
        changes.roleArn = input.roleArn;
        changes.roleArnSetAt = iso;
        changes.status = 'untested';
        // A proof holds for the role it was made with only.
        changes.externalIdProvenAt = null;
        changes.externalIdProvenRoleArn = null;
        changes.externalIdCheck = null;
        changes.externalIdCheckedAt = null;
        changed.push('roleArn');
      }
      if (input.sendDomains !== undefined) checkSessionPolicySize(input.sendDomains);
      if (input.sendDomains !== undefined) {
        changes.sendDomains = input.sendDomains;
        changed.push('sendDomains');
      }
      if (input.sessionDurationSeconds !== undefined) {
        changes.sessionDurationSeconds = input.sessionDurationSeconds;
        changed.push('sessionDurationSeconds');
      }
      if (input.sourceIdentity !== undefined) {
        changes.sourceIdentity = input.sourceIdentity;
        changed.push('sourceIdentity');
      }
      if (input.secretArn !== undefined) {
        changes.secretArn = input.secretArn;
        changes.status = 'untested';
        changed.push('secretArn');
      }
      if (input.configurationSet !== undefined) {
        changes.configurationSet = input.configurationSet;
        changed.push('configurationSet');
      }
      if (input.snsTopicArns !== undefined) {
        changes.snsTopicArns = [...new Set(input.snsTopicArns)];
        changed.push('snsTopicArns');
      }
      await repo.update(r.id, changes);
      broker.drop(r.id);
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.updated',
        details: {
          changed,
          ...(input.roleArn ? { roleArn: input.roleArn } : {}),
          ...(input.sendDomains ? { sendDomains: input.sendDomains } : {}),
        },
      });
      // Set again or changed: probe it now, so a role that does not require the External ID is
      // refused from the start and the answer says so.
      if (input.roleArn !== undefined) await proveRole(workspaceId, await row(workspaceId, r.id), actor);
      return this.get(workspaceId, r.id);
    },

    /** Disconnect: forget cached credentials now, delete the row, hand back the revoke-sessions policy. */
    async remove(
      workspaceId: string,
      id: string,
      actor: string,
    ): Promise<{ id: string; deleted: true; revokeSessionsPolicy: PolicyDocument | null; instructions: string }> {
      const r = await row(workspaceId, id);
      broker.drop(r.id);
      await repo.delete(r.id);
      const now = clock.now();
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.deleted',
        details: { name: r.name, mode: r.mode },
      });
      if (r.mode === 'role') {
        return {
          id: r.id,
          deleted: true,
          revokeSessionsPolicy: revokeSessionsPolicy(now),
          instructions: `Sesame dropped its cached credentials. Sessions it was issued stay valid until they expire (at most ${r.sessionDurationSeconds ?? deps.config.sessionDurationSeconds} s). To end them now, add this policy inline to ${r.roleArn ?? 'the role'} (IAM console: Roles > the role > Revoke active sessions does the same), then delete the CloudFormation stack to remove the role.`,
        };
      }
      if (r.mode === 'access_keys') {
        return {
          id: r.id,
          deleted: true,
          revokeSessionsPolicy: null,
          instructions: `Sesame deleted its encrypted copy of access key AKIA…${r.accessKeyId?.slice(-4)}. Deactivate and delete that key in IAM: it still works for anyone else who has it.`,
        };
      }
      return {
        id: r.id,
        deleted: true,
        revokeSessionsPolicy: null,
        instructions: 'Sesame dropped its cached credentials for this connection.',
      };
    },

    /** A new External ID (the old one stops working once the stack is updated with the new template). */
    async rotateExternalId(workspaceId: string, id: string, actor: string): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      if (r.mode !== 'role')
        throw new AppError('validation_failed', 'Only role connections have an External ID.', {
          details: { mode: r.mode },
        });
      const iso = nextStamp(r.updatedAt, clock.now());
      await repo.update(r.id, {
        externalId: generateExternalId(),
        externalIdRotatedAt: iso,
        updatedAt: iso,
        // A role found too open stays refused until a test proves otherwise.
        status: r.status === 'unsafe' ? 'unsafe' : r.roleArn ? 'pending_update' : 'pending_role',
      });
      broker.drop(r.id);
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.external_id_rotated',
        details: { roleArn: r.roleArn },
      });
      const v = await this.get(workspaceId, r.id);
      v.nextSteps = [
        'Update the CloudFormation stack with the new template (or open the quick-create link again with the same stack name) so the role trusts the new External ID.',
        'Then run the connection test; until then Sesame cannot assume the role.',
      ];
      return v;
    },

    /**
     * Access-key rotation: the new pair is tested before it replaces the old one, so a typo never
     * breaks sending. The old key is then the user's to deactivate.
     */
    async rotateAccessKeys(
      workspaceId: string,
      id: string,
      input: { accessKeyId: string; secretAccessKey: string },
      actor: string,
    ): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      if (r.mode !== 'access_keys')
        throw new AppError('validation_failed', 'Only access_keys connections have keys to rotate.', {
          details: { mode: r.mode },
        });
      if (input.accessKeyId === r.accessKeyId)
        throw new AppError(
          'validation_failed',
          'That is the key already in use; create a new access key in IAM first.',
        );
      const pendingCipher = envelope.seal(input.secretAccessKey, secretContext(r.id, 'secret_access_key'));
      await repo.update(r.id, { pendingAccessKeyId: input.accessKeyId, pendingSecretCiphertext: pendingCipher });
      const creds: CredentialProvider = async () => ({
        accessKeyId: input.accessKeyId,
        secretAccessKey: input.secretAccessKey,
      });
      try {
        const [newIdentity, oldIdentity] = await Promise.all([
          deps.gateway.callerIdentity(creds, deps.config.region).catch((e: unknown) => {
            throw asCallerMistake(e);
          }),
          deps.gateway
            .callerIdentity(await broker.provider(subject(r), 'read'), deps.config.region)
            .catch(() => undefined),
        ]);
        await audit.record({
          workspaceId,
          connectionId: r.id,
          actor,
          action: 'sts.get_caller_identity',
          details: { purpose: 'rotation check', arn: newIdentity.arn, newKeyLast4: input.accessKeyId.slice(-4) },
        });
        if (oldIdentity && oldIdentity.account !== newIdentity.account) {
          throw new AppError(
            'validation_failed',
            `The new key belongs to account ${newIdentity.account}, the current one to ${oldIdentity.account}.`,
            { hint: 'Create the new key for the same IAM user, or create a new connection for the other account.' },
          );
        }
        await deps.gateway.getAccount(creds, r.region).catch((e: unknown) => {
          throw asCallerMistake(e);
        });
      } catch (e) {
        await repo.update(r.id, { pendingAccessKeyId: null, pendingSecretCiphertext: null });
        await audit.record({
          workspaceId,
          connectionId: r.id,
          actor,
          action: 'connection.access_keys_rotated',
          outcome: e instanceof AppError ? e.code : 'error',
          details: { newKeyLast4: input.accessKeyId.slice(-4) },
        });
        throw e;
      }
      const iso = nextStamp(r.updatedAt, clock.now());
      await repo.update(r.id, {
        accessKeyId: input.accessKeyId,
        secretCiphertext: pendingCipher,
        accessKeyCreatedAt: iso,
        accessKeyAwsCreatedAt: null,
        pendingAccessKeyId: null,
        pendingSecretCiphertext: null,
        updatedAt: iso,
        status: 'untested',
      });
      broker.drop(r.id);
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.access_keys_rotated',
        details: { oldKeyLast4: r.accessKeyId?.slice(-4), newKeyLast4: input.accessKeyId.slice(-4) },
      });
      const v = await this.get(workspaceId, r.id);
      v.nextSteps = [
        `Sesame now uses AKIA…${input.accessKeyId.slice(-4)}. Deactivate the old key AKIA…${r.accessKeyId?.slice(-4)} in IAM (aws iam update-access-key --access-key-id <old key id> --status Inactive), watch for errors for a day, then delete it.`,
      ];
      return v;
    },

    /**
     * Sesame stops sending through a connection until a person resumes it (SES paused sending, the
     * endpoint is not AWS, the reputation guard). Only a connection not already paused is paused,
     * and only that call audits it: true when this call paused it. Nothing else about the
     * connection changes (its credentials, status and queue stay as they are).
     */
    async pause(
      connectionId: string,
      code: string,
      reason: string,
      details: Record<string, unknown> = {},
    ): Promise<boolean> {
      const paused = await repo.update(
        connectionId,
        { pausedReason: `${code}: ${reason}`.slice(0, 500), pausedAt: clock.now().toISOString() },
        { paused: false },
      );
      if (!paused) return false;
      const r = await repo.byId(connectionId);
      await audit.record({
        workspaceId: r?.workspaceId ?? null,
        connectionId,
        actor: 'system',
        action: 'connection.paused',
        outcome: code,
        details: { ...details, reason },
      });
      return true;
    },

    /** A person resumes a queue that Sesame paused; of two resumes at once, one is audited. */
    async resume(workspaceId: string, id: string, actor: string): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      if (r.pausedReason && (await repo.update(r.id, { pausedReason: null, pausedAt: null }, { paused: true }))) {
        await audit.record({
          workspaceId,
          connectionId: r.id,
          actor,
          action: 'connection.resumed',
          details: { pausedReason: r.pausedReason, pausedAt: r.pausedAt },
        });
      }
      return this.get(workspaceId, r.id);
    },

    /** Messages without a `connection` go through the workspace's default connection. */
    async makeDefault(workspaceId: string, id: string, actor: string): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      await deps.workspaces.setDefaultConnection(workspaceId, r.id);
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.made_default',
        details: { name: r.name },
      });
      return this.get(workspaceId, r.id);
    },

    async credentials(workspaceId: string, id: string, purpose: Purpose): Promise<CredentialProvider> {
      return broker.provider(subject(await row(workspaceId, id)), purpose);
    },

    /** By id or name within the workspace; undefined when there is none (deleted meanwhile). */
    find: (workspaceId: string, id: string): Promise<Connection | undefined> => repo.find(workspaceId, id),

    /**
     * The connection a send goes through: the one it names, else the workspace's default, else
     * the workspace's only connection.
     */
    async resolve(workspaceId: string, ref: string | undefined): Promise<Connection> {
      if (ref) return row(workspaceId, ref);
      const all = await repo.defaultCandidates(workspaceId);
      const first = all[0];
      if (first && (first.isDefault || all.length === 1)) return first.connection;
      throw new AppError(
        'connection_required',
        all.length === 0
          ? 'The workspace has no connection to send through.'
          : 'The workspace has several connections and no default.',
      );
    },

    onboarding,

    /** Connection health, written on every STS call; never touches updated_at (the cache version). */
    async recordSession(e: SessionEvent): Promise<void> {
      const iso = clock.now().toISOString();
      await repo.update(
        e.connectionId,
        e.outcome === 'ok'
          ? {
              lastAssumedAt: iso,
              credentialsExpireAt: e.expiresAt ?? null,
              assumedRoleId: e.assumedRoleId ?? null,
              lastErrorCode: null,
              lastErrorMessage: null,
              lastErrorAt: null,
            }
          : { lastErrorCode: e.outcome, lastErrorMessage: e.errorMessage ?? null, lastErrorAt: iso },
      );
    },

    /**
     * The outcome of the External ID proof for the role ARN it was made with (a role ARN changed
     * meanwhile is left alone): `pass` makes the connection usable, `fail` makes it `unsafe`;
     * `skip` and `warn` (nothing could be judged) change neither. Returns the safety before and after.
     */
    async recordExternalIdCheck(
      r: Connection,
      outcome: 'pass' | 'fail' | 'skip' | 'warn',
    ): Promise<{ before: ReturnType<typeof roleSafetyOf>; after: ReturnType<typeof roleSafetyOf> }> {
      const current = await repo.byId(r.id);
      if (!current || current.roleArn !== r.roleArn) {
        const s = current ? roleSafetyOf(current) : null;
        return { before: s, after: s };
      }
      const iso = clock.now().toISOString();
      const changes: ConnectionPatch = { externalIdCheck: outcome, externalIdCheckedAt: iso };
      if (outcome === 'pass') {
        changes.externalIdProvenAt = iso;
        changes.externalIdProvenRoleArn = r.roleArn;
        changes.roleAccountId = roleArnAccount(r.roleArn);
        if (current.status === 'unsafe') changes.status = 'untested';
      } else if (outcome === 'fail') {
        changes.externalIdProvenAt = null;
        changes.externalIdProvenRoleArn = null;
        changes.status = 'unsafe';
      }
      await repo.update(r.id, changes, { roleArn: r.roleArn });
      // Nothing minted while the role was trusted may be handed out any more.
      if (outcome === 'fail') broker.drop(r.id);
      return { before: roleSafetyOf(current), after: roleSafetyOf({ ...current, ...changes }) };
    },

    /**
     * A send refused for the connection's credentials or permissions: the same health a failed test
     * leaves (status failing, last error), audited by the one call that turned the connection
     * failing, not once per queued message. An unsafe role stays unsafe: only a passing test lifts that.
     */
    async recordSendFailure(e: {
      connectionId: string;
      workspaceId: string;
      code: string;
      message: string;
      messageId: string;
    }): Promise<void> {
      const before = await repo.byId(e.connectionId);
      if (!before) return;
      const message = e.message.slice(0, 500);
      const error = { lastErrorCode: e.code, lastErrorMessage: message, lastErrorAt: clock.now().toISOString() };
      const turned = await repo.update(
        e.connectionId,
        { status: 'failing', ...error },
        { statusNotIn: ['failing', 'unsafe'] },
      );
      if (!turned) {
        await repo.update(e.connectionId, error, { statusIn: ['failing'] });
        return;
      }
      await audit.record({
        workspaceId: e.workspaceId,
        connectionId: e.connectionId,
        actor: 'system',
        action: 'connection.failing',
        outcome: e.code,
        details: { source: 'send', messageId: e.messageId, message, previousStatus: before.status },
      });
    },

    /** IAM's CreateDate of the key in use, as a test read it (only while that key is still the one in use). */
    async recordAccessKeyCreated(id: string, accessKeyId: string, createdAt: string): Promise<void> {
      await repo.update(id, { accessKeyAwsCreatedAt: createdAt }, { accessKeyId });
    },

    async recordTest(id: string, status: TestStatus, connectionStatus: ConnectionStatus): Promise<void> {
      await repo.update(id, {
        lastTestedAt: clock.now().toISOString(),
        lastTestStatus: status,
        status: connectionStatus,
      });
    },
  };
}

export type Connections = ReturnType<typeof createConnections>;

/** Each send session carries its domains in an inline policy, which STS caps at 2,048 characters. */
function checkSessionPolicySize(domains: readonly string[]): void {
  if (sessionPolicy('send', domains).length > 2048) {
    throw new AppError(
      'validation_failed',
      'Too many or too long send domains: the send session policy would exceed the 2,048 characters STS allows.',
      {
        hint: 'Give fewer domains (a parent domain covers none of its subdomains in SES, so list only those you send from).',
      },
    );
  }
}

/** updated_at doubles as the credential-cache version, so it must change even within one millisecond. */
function nextStamp(previous: string, now: Date): string {
  const prev = Date.parse(previous);
  return new Date(Math.max(now.getTime(), prev + 1)).toISOString();
}
