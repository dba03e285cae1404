import { randomBytes } from 'node:crypto';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { SES_REGIONS } from '../../aws/regions.js';
import type { ConnectionMode, CredentialBroker, CredentialSubject, SessionEvent } from '../../aws/credentials.js';
import { asCallerMistake } from '../../aws/errors.js';
import type { AwsGateway } from '../../aws/gateway.js';
import type { Platform } from '../../aws/platform.js';
import { type PolicyDocument, type Purpose, revokeSessionsPolicy, sessionPolicy } from '../../aws/policies.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Envelope } from '../../crypto/envelope.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Db } from '../../store/db.js';
import type { ConnectionTable } from '../../store/schema.js';
import type { Audit } from '../audit/audit.js';
import { createOnboarding } from './onboarding.js';
import { roleArnAccount, roleSafetyOf } from './safety.js';
import { type CreateConnectionInput, type UpdateConnectionInput } from './schemas.js';
import type { SnsRefusals } from '../events/refusals.js';
import { addRefusals, toView, type ConnectionView } from './view.js';

export type ConnectionRow = ConnectionTable;

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
  db: Db;
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
  const { db, clock, audit, envelope, broker } = deps;
  const onboarding = createOnboarding(deps);

  const secretContext = (id: string, field: string) => `connection:${id}:${field}`;

  async function row(workspaceId: string, id: string): Promise<ConnectionRow> {
    const r = await db
      .selectFrom('connections')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where((eb) => eb.or([eb('id', '=', id), eb('name', '=', id)]))
      .executeTakeFirst();
    if (!r) throw notFound(`Connection ${id}`);
    return r;
  }

  function subject(r: ConnectionRow): CredentialSubject {
    return {
      id: r.id,
      workspaceId: r.workspace_id,
      region: r.region,
      mode: r.mode as ConnectionMode,
      version: r.updated_at,
      roleArn: r.role_arn,
      externalId: r.external_id,
      sendDomains: JSON.parse(r.send_domains) as string[],
      sessionDurationSeconds: r.session_duration_seconds,
      sourceIdentity: r.source_identity === 1,
      secretArn: r.secret_arn,
      roleSafety: roleSafetyOf(r),
      name: r.name,
      ...(r.secret_ciphertext && r.access_key_id
        ? {
            accessKeys: () => ({
              accessKeyId: r.access_key_id!,
              secretAccessKey: envelope.open(r.secret_ciphertext!, secretContext(r.id, 'secret_access_key')),
            }),
          }
        : {}),
    };
  }

  /** Run the probe through the tester; a failure to reach AWS leaves the connection unproven, never the request failed. */
  async function proveRole(workspaceId: string, r: ConnectionRow, actor: string): Promise<ConnectionRow> {
    if (r.mode !== 'role' || !r.role_arn || !deps.proveRole) return r;
    await deps.proveRole(workspaceId, r.id, actor).catch(() => undefined);
    return row(workspaceId, r.id);
  }

  const view = (r: ConnectionRow): ConnectionView =>
    toView(r, {
      now: clock.now(),
      keyAgeWarnDays: deps.config.keyAgeWarnDays,
      warning: MODE_WARNINGS[r.mode as ConnectionMode],
    });

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
      const taken = await db
        .selectFrom('connections')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (taken) throw new AppError('conflict', `A connection named "${input.name}" already exists in this workspace.`);
      const now = clock.now();
      const iso = now.toISOString();
      const id = newId('conn', now.getTime());
      const r: ConnectionRow = {
        id,
        workspace_id: workspaceId,
        name: input.name,
        region: input.region,
        mode: input.mode,
        status: 'untested',
        external_id: null,
        role_arn: null,
        role_arn_set_at: null,
        role_name: null,
        send_domains: JSON.stringify(input.sendDomains ?? []),
        session_duration_seconds: input.sessionDurationSeconds ?? null,
        source_identity: 0,
        access_key_id: null,
        secret_ciphertext: null,
        access_key_created_at: null,
        access_key_aws_created_at: null,
        pending_access_key_id: null,
        pending_secret_ciphertext: null,
        secret_arn: null,
        last_assumed_at: null,
        credentials_expire_at: null,
        assumed_role_id: null,
        last_error_code: null,
        last_error_message: null,
        last_error_at: null,
        last_tested_at: null,
        last_test_status: null,
        external_id_rotated_at: null,
        paused_reason: null,
        paused_at: null,
        configuration_set: null,
        sns_topic_arns: '[]',
        created_at: iso,
        updated_at: iso,
        external_id_proven_at: null,
        external_id_proven_role_arn: null,
        external_id_check: null,
        external_id_checked_at: null,
        role_account_id: null,
      };
      switch (input.mode) {
        case 'role':
          r.external_id = generateExternalId();
          r.source_identity = input.sourceIdentity === false ? 0 : 1;
          r.role_arn = input.roleArn ?? null;
          r.role_arn_set_at = input.roleArn ? iso : null;
          r.status = input.roleArn ? 'untested' : 'pending_role';
          r.role_name = input.roleName ?? null;
          break;
        case 'access_keys':
          r.access_key_id = input.accessKeyId;
          r.secret_ciphertext = envelope.seal(input.secretAccessKey, secretContext(id, 'secret_access_key'));
          r.access_key_created_at = iso;
          break;
        case 'secrets_manager':
          r.secret_arn = input.secretArn;
          // The secret must carry this value: a secret ARN is no secret, and without the binding
          // another workspace could point Sesame at someone else's secret.
          r.external_id = generateExternalId();
          break;
        case 'default_chain':
          break;
      }
      await db.insertInto('connections').values(r).execute();
      // The first connection of a workspace (or the first after its default was deleted) becomes
      // its default, so a send that names none works.
      await db
        .updateTable('workspaces')
        .set({ default_connection_id: id })
        .where('id', '=', workspaceId)
        .where((eb) =>
          eb.or([
            eb('default_connection_id', 'is', null),
            eb('default_connection_id', 'not in', eb.selectFrom('connections').select('connections.id')),
          ]),
        )
        .execute();
      await audit.record({
        workspaceId,
        connectionId: id,
        actor,
        action: 'connection.created',
        details: {
          name: r.name,
          mode: r.mode,
          region: r.region,
          ...(r.role_arn ? { roleArn: r.role_arn } : {}),
          ...(r.access_key_id ? { accessKeyLast4: r.access_key_id.slice(-4) } : {}),
        },
      });
      const fresh = r.role_arn ? await proveRole(workspaceId, r, actor) : r;
      const v = view(fresh);
      if (input.mode === 'role') v.onboarding = await onboarding.links(fresh);
      return v;
    },

    async list(workspaceId: string): Promise<ConnectionView[]> {
      const rows = await db
        .selectFrom('connections')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .orderBy('id')
        .execute();
      return rows.map(view);
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
      if (input.name && input.name !== r.name) {
        const taken = await db
          .selectFrom('connections')
          .select('id')
          .where('workspace_id', '=', workspaceId)
          .where('name', '=', input.name)
          .executeTakeFirst();
        if (taken)
          throw new AppError('conflict', `A connection named "${input.name}" already exists in this workspace.`);
      }
      if (Object.values(input).every((v) => v === undefined)) return this.get(workspaceId, r.id);
      const iso = nextStamp(r.updated_at, clock.now());
      const changes: Partial<ConnectionRow> = { updated_at: iso };
      const changed: string[] = [];
      if (input.name !== undefined) {
        changes.name = input.name;
        changed.push('name');
      }
      if (input.roleArn !== undefined && input.roleArn !== r.role_arn) {
        changes.role_arn = input.roleArn;
        changes.role_arn_set_at = iso;
        changes.status = 'untested';
        // A proof holds for the role it was made with only.
        changes.external_id_proven_at = null;
        changes.external_id_proven_role_arn = null;
        changes.external_id_check = null;
        changes.external_id_checked_at = null;
        changed.push('roleArn');
      }
      if (input.sendDomains !== undefined) checkSessionPolicySize(input.sendDomains);
      if (input.sendDomains !== undefined) {
        changes.send_domains = JSON.stringify(input.sendDomains);
        changed.push('sendDomains');
      }
      if (input.sessionDurationSeconds !== undefined) {
        changes.session_duration_seconds = input.sessionDurationSeconds;
        changed.push('sessionDurationSeconds');
      }
      if (input.sourceIdentity !== undefined) {
        changes.source_identity = input.sourceIdentity ? 1 : 0;
        changed.push('sourceIdentity');
      }
      if (input.secretArn !== undefined) {
        changes.secret_arn = input.secretArn;
        changes.status = 'untested';
        changed.push('secretArn');
      }
      if (input.configurationSet !== undefined) {
        changes.configuration_set = input.configurationSet;
        changed.push('configurationSet');
      }
      if (input.snsTopicArns !== undefined) {
        changes.sns_topic_arns = JSON.stringify([...new Set(input.snsTopicArns)]);
        changed.push('snsTopicArns');
      }
      await db.updateTable('connections').set(changes).where('id', '=', r.id).execute();
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
      await db.deleteFrom('connections').where('id', '=', r.id).execute();
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
          instructions: `Sesame dropped its cached credentials. Sessions it was issued stay valid until they expire (at most ${r.session_duration_seconds ?? deps.config.sessionDurationSeconds} s). To end them now, add this policy inline to ${r.role_arn ?? 'the role'} (IAM console: Roles > the role > Revoke active sessions does the same), then delete the CloudFormation stack to remove the role.`,
        };
      }
      if (r.mode === 'access_keys') {
        return {
          id: r.id,
          deleted: true,
          revokeSessionsPolicy: null,
          instructions: `Sesame deleted its encrypted copy of access key AKIA…${r.access_key_id?.slice(-4)}. Deactivate and delete that key in IAM: it still works for anyone else who has it.`,
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
      const iso = nextStamp(r.updated_at, clock.now());
      await db
        .updateTable('connections')
        .set({
          external_id: generateExternalId(),
          external_id_rotated_at: iso,
          updated_at: iso,
          // A role found too open stays refused until a test proves otherwise.
          status: r.status === 'unsafe' ? 'unsafe' : r.role_arn ? 'pending_update' : 'pending_role',
        })
        .where('id', '=', r.id)
        .execute();
      broker.drop(r.id);
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.external_id_rotated',
        details: { roleArn: r.role_arn },
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
      if (input.accessKeyId === r.access_key_id)
        throw new AppError(
          'validation_failed',
          'That is the key already in use; create a new access key in IAM first.',
        );
      const pendingCipher = envelope.seal(input.secretAccessKey, secretContext(r.id, 'secret_access_key'));
      await db
        .updateTable('connections')
        .set({ pending_access_key_id: input.accessKeyId, pending_secret_ciphertext: pendingCipher })
        .where('id', '=', r.id)
        .execute();
      const creds: AwsCredentialIdentityProvider = async () => ({
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
        await db
          .updateTable('connections')
          .set({ pending_access_key_id: null, pending_secret_ciphertext: null })
          .where('id', '=', r.id)
          .execute();
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
      const iso = nextStamp(r.updated_at, clock.now());
      await db
        .updateTable('connections')
        .set({
          access_key_id: input.accessKeyId,
          secret_ciphertext: pendingCipher,
          access_key_created_at: iso,
          access_key_aws_created_at: null,
          pending_access_key_id: null,
          pending_secret_ciphertext: null,
          updated_at: iso,
          status: 'untested',
        })
        .where('id', '=', r.id)
        .execute();
      broker.drop(r.id);
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.access_keys_rotated',
        details: { oldKeyLast4: r.access_key_id?.slice(-4), newKeyLast4: input.accessKeyId.slice(-4) },
      });
      const v = await this.get(workspaceId, r.id);
      v.nextSteps = [
        `Sesame now uses AKIA…${input.accessKeyId.slice(-4)}. Deactivate the old key AKIA…${r.access_key_id?.slice(-4)} in IAM (aws iam update-access-key --access-key-id <old key id> --status Inactive), watch for errors for a day, then delete it.`,
      ];
      return v;
    },

    /** A person resumes a queue that Sesame paused (SES paused sending, reputation guard). */
    async resume(workspaceId: string, id: string, actor: string): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      if (!r.paused_reason) return this.get(workspaceId, r.id);
      await db
        .updateTable('connections')
        .set({ paused_reason: null, paused_at: null })
        .where('id', '=', r.id)
        .execute();
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.resumed',
        details: { pausedReason: r.paused_reason, pausedAt: r.paused_at },
      });
      return this.get(workspaceId, r.id);
    },

    /** Messages without a `connection` go through the workspace's default connection. */
    async makeDefault(workspaceId: string, id: string, actor: string): Promise<ConnectionView> {
      const r = await row(workspaceId, id);
      await db.updateTable('workspaces').set({ default_connection_id: r.id }).where('id', '=', workspaceId).execute();
      await audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.made_default',
        details: { name: r.name },
      });
      return this.get(workspaceId, r.id);
    },

    async credentials(workspaceId: string, id: string, purpose: Purpose): Promise<AwsCredentialIdentityProvider> {
      return broker.provider(subject(await row(workspaceId, id)), purpose);
    },

    onboarding,

    /** Connection health, written on every STS call; never touches updated_at (the cache version). */
    async recordSession(e: SessionEvent): Promise<void> {
      const iso = clock.now().toISOString();
      if (e.outcome === 'ok') {
        await db
          .updateTable('connections')
          .set({
            last_assumed_at: iso,
            credentials_expire_at: e.expiresAt ?? null,
            assumed_role_id: e.assumedRoleId ?? null,
            last_error_code: null,
            last_error_message: null,
            last_error_at: null,
          })
          .where('id', '=', e.connectionId)
          .execute();
      } else {
        await db
          .updateTable('connections')
          .set({ last_error_code: e.outcome, last_error_message: e.errorMessage ?? null, last_error_at: iso })
          .where('id', '=', e.connectionId)
          .execute();
      }
    },

    /**
     * The outcome of the External ID proof for the role ARN it was made with (a role ARN changed
     * meanwhile is left alone): `pass` makes the connection usable, `fail` makes it `unsafe`;
     * `skip` and `warn` (nothing could be judged) change neither. Returns the safety before and after.
     */
    async recordExternalIdCheck(
      r: ConnectionRow,
      outcome: 'pass' | 'fail' | 'skip' | 'warn',
    ): Promise<{ before: ReturnType<typeof roleSafetyOf>; after: ReturnType<typeof roleSafetyOf> }> {
      const current = await db.selectFrom('connections').selectAll().where('id', '=', r.id).executeTakeFirst();
      if (!current || current.role_arn !== r.role_arn) {
        const s = current ? roleSafetyOf(current) : null;
        return { before: s, after: s };
      }
      const iso = clock.now().toISOString();
      const changes: Partial<ConnectionRow> = { external_id_check: outcome, external_id_checked_at: iso };
      if (outcome === 'pass') {
        changes.external_id_proven_at = iso;
        changes.external_id_proven_role_arn = r.role_arn;
        changes.role_account_id = roleArnAccount(r.role_arn);
        if (current.status === 'unsafe') changes.status = 'untested';
      } else if (outcome === 'fail') {
        changes.external_id_proven_at = null;
        changes.external_id_proven_role_arn = null;
        changes.status = 'unsafe';
      }
      await db
        .updateTable('connections')
        .set(changes)
        .where('id', '=', r.id)
        .where('role_arn', '=', r.role_arn)
        .execute();
      // Nothing minted while the role was trusted may be handed out any more.
      if (outcome === 'fail') broker.drop(r.id);
      return { before: roleSafetyOf(current), after: roleSafetyOf({ ...current, ...changes }) };
    },

    /**
     * A send refused for the connection's credentials or permissions: the same health a failed test
     * leaves (status failing, last error), audited when the connection turns failing, not once per
     * queued message.
     */
    async recordSendFailure(e: {
      connectionId: string;
      workspaceId: string;
      code: string;
      message: string;
      messageId: string;
    }): Promise<void> {
      const before = await db
        .selectFrom('connections')
        .select('status')
        .where('id', '=', e.connectionId)
        .executeTakeFirst();
      if (!before) return;
      const message = e.message.slice(0, 500);
      await db
        .updateTable('connections')
        .set({
          status: 'failing',
          last_error_code: e.code,
          last_error_message: message,
          last_error_at: clock.now().toISOString(),
        })
        .where('id', '=', e.connectionId)
        // An unsafe role stays unsafe: only a passing test lifts that.
        .where('status', '!=', 'unsafe')
        .execute();
      if (before.status === 'failing' || before.status === 'unsafe') return;
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
      await db
        .updateTable('connections')
        .set({ access_key_aws_created_at: createdAt })
        .where('id', '=', id)
        .where('access_key_id', '=', accessKeyId)
        .execute();
    },

    async recordTest(id: string, status: string, connectionStatus: string): Promise<void> {
      await db
        .updateTable('connections')
        .set({ last_tested_at: clock.now().toISOString(), last_test_status: status, status: connectionStatus })
        .where('id', '=', id)
        .execute();
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
