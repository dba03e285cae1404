import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { AssumeRoleCommandOutput } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import {
  createIsIdentityExpiredFunction,
  doesIdentityRequireRefresh,
  isIdentityExpired,
  memoizeIdentityProvider,
} from '@smithy/core';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Pluggable } from '@smithy/types';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { notAwsGuard, type ClientFactory } from './clients.js';
import { awsErrorName, translateAwsError } from './errors.js';
import type { Platform } from './platform.js';
import { type Purpose, sessionPolicy } from './policies.js';

export type CredentialProvider = AwsCredentialIdentityProvider;

export type ConnectionMode = 'role' | 'access_keys' | 'default_chain' | 'secrets_manager';

/** What the broker needs to know about a connection; `version` changes whenever credentials must be rebuilt. */
export interface CredentialSubject {
  id: string;
  workspaceId: string;
  region: string;
  mode: ConnectionMode;
  version: string;
  roleArn: string | null;
  externalId: string | null;
  sendDomains: readonly string[];
  sessionDurationSeconds: number | null;
  sourceIdentity: boolean;
  /** Decrypts the stored key pair (access_keys mode); called once per cache entry. */
  accessKeys?: () => { accessKeyId: string; secretAccessKey: string };
  secretArn: string | null;
  /**
   * Role mode: `proven` once, since the role ARN was last set, AssumeRole with the External ID
   * succeeded and AssumeRole without it and with a wrong one were both denied; `unsafe` when the
   * probe found the role assumable without it. Null for the other modes.
   */
  roleSafety: RoleSafety | null;
  /** The connection's name, for messages a person reads. */
  name?: string;
}

export type RoleSafety = 'proven' | 'unproven' | 'unsafe';

/** The trust-policy condition that makes a role refuse every caller without this External ID. */
export const externalIdCondition = (externalId: string): string =>
  `"Condition": {"StringEquals": {"sts:ExternalId": ${JSON.stringify(externalId)}}}`;

/**
 * Why a role connection may not be used yet, or null when it may. A role that does not require
 * its External ID is the confused deputy: any other workspace (or anyone who learns the role ARN)
 * could point a connection at it and act as its owner, so nothing but the test may mint for it.
 */
export function roleNotUsable(
  subject: Pick<CredentialSubject, 'id' | 'mode' | 'roleArn' | 'externalId' | 'roleSafety' | 'name'>,
): AppError | null {
  if (subject.mode !== 'role' || subject.roleSafety === 'proven') return null;
  const label = subject.name ?? subject.id;
  if (!subject.roleArn) return new AppError('connection_not_ready', `Connection ${label} has no role ARN yet.`);
  const test = `sesame aws test ${label} (POST /v1/connections/${subject.id}/test)`;
  if (subject.roleSafety === 'unsafe') {
    const condition = externalIdCondition(subject.externalId ?? '');
    return new AppError(
      'connection_unsafe',
      `Connection ${label} is not used: its role ${subject.roleArn} can be assumed without this connection's External ID or with a wrong one, so another Sesame workspace could send as you (confused deputy).`,
      {
        hint: `Add ${condition} to the statement of the role's trust policy that allows Sesame's principal to call sts:AssumeRole (re-deploying the Sesame template does this), then test the connection again: ${test}. Queued messages wait and go once the test passes.`,
        details: { roleArn: subject.roleArn, condition: { StringEquals: { 'sts:ExternalId': subject.externalId } } },
      },
    );
  }
  return new AppError(
    'connection_not_ready',
    `Connection ${label} has not yet proven that its role ${subject.roleArn} requires the External ID: Sesame uses a role only after AssumeRole with the External ID succeeded and AssumeRole without it and with a wrong one were both denied.`,
    { hint: `Test the connection: ${test}. Queued messages wait until it passes.` },
  );
}

export interface SessionEvent {
  connectionId: string;
  workspaceId: string;
  purpose: Purpose;
  roleSessionName: string;
  outcome: 'ok' | string;
  assumedRoleId?: string;
  expiresAt?: string;
  durationSeconds: number;
  errorMessage?: string;
}

export interface BrokerDeps {
  config: Pick<Config, 'sessionDurationSeconds' | 'secretCacheSeconds' | 'endpoints' | 'region'>;
  clock: Clock;
  clients: ClientFactory;
  platform: Pick<Platform, 'credentials' | 'identity'>;
  /** Every STS call lands here (audit log + connection health). */
  onSession: (e: SessionEvent) => Promise<void>;
  onSecretRead?: (e: { connectionId: string; workspaceId: string; outcome: string }) => Promise<void>;
}

/** `sesame-<connection>-<purpose>`: shows in the customer's CloudTrail; STS allows [\w+=,.@-], 2-64 chars. */
export const roleSessionName = (connectionId: string, purpose: Purpose | 'test' | 'probe'): string =>
  `sesame-${connectionId}-${purpose}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);

/**
 * The credential broker: one place returns credentials for (connection, purpose).
 * Role mode builds on the SDK's fromTemporaryCredentials and memoised identity provider, which
 * cache, refresh five minutes before expiry and coalesce concurrent callers into one STS call.
 */
export function createCredentialBroker(deps: BrokerDeps) {
  const { config, clock, clients, platform } = deps;
  const cache = new Map<string, { version: string; provider: Promise<AwsCredentialIdentityProvider> }>();

  async function durationFor(subject: CredentialSubject): Promise<number> {
    const wanted = subject.sessionDurationSeconds ?? config.sessionDurationSeconds;
    // Role chaining (Sesame itself on role credentials) is capped at one hour by STS.
    const chaining = (await platform.identity().catch(() => undefined))?.roleChaining ?? false;
    return chaining ? Math.min(wanted, 3600) : wanted;
  }

  function auditPlugin(
    subject: CredentialSubject,
    purpose: Purpose,
    sessionName: string,
    duration: () => number,
  ): Pluggable<object, object> {
    return {
      applyToStack(stack) {
        stack.add(
          (next, context) => async (args) => {
            if (context.commandName !== 'AssumeRoleCommand') return next(args);
            const base = {
              connectionId: subject.id,
              workspaceId: subject.workspaceId,
              purpose,
              roleSessionName: sessionName,
              durationSeconds: duration(),
            };
            try {
              const result = await next(args);
              const out = result.output as AssumeRoleCommandOutput;
              await deps.onSession({
                ...base,
                outcome: 'ok',
                ...(out.AssumedRoleUser?.AssumedRoleId ? { assumedRoleId: out.AssumedRoleUser.AssumedRoleId } : {}),
                ...(out.Credentials?.Expiration
                  ? { expiresAt: new Date(out.Credentials.Expiration).toISOString() }
                  : {}),
              });
              return result;
            } catch (e) {
              await deps.onSession({
                ...base,
                outcome: awsErrorName(e) ?? 'Error',
                errorMessage: (e as Error)?.message?.slice(0, 300),
              });
              throw e;
            }
          },
          // fromTemporaryCredentials may apply plugins again to its cached STS client.
          { step: 'initialize', name: 'sesameSessionAudit', override: true },
        );
      },
    };
  }

  async function roleProvider(subject: CredentialSubject, purpose: Purpose): Promise<AwsCredentialIdentityProvider> {
    if (!subject.roleArn || !subject.externalId) {
      throw new AppError('role_arn_missing', `Connection ${subject.id} has no role ARN yet.`);
    }
    const sessionName = roleSessionName(subject.id, purpose);
    const duration = await durationFor(subject);
    const inner = fromTemporaryCredentials({
      params: {
        RoleArn: subject.roleArn,
        RoleSessionName: sessionName,
        ExternalId: subject.externalId,
        DurationSeconds: duration,
        Policy: sessionPolicy(purpose, subject.sendDomains),
        ...(subject.sourceIdentity ? { SourceIdentity: subject.workspaceId } : {}),
      },
      masterCredentials: platform.credentials,
      // Sesame's own region for STS: a session from any regional endpoint works in every region,
      // and an opt-in region the platform account has not enabled would refuse the call.
      clientConfig: {
        region: config.region,
        maxAttempts: 3,
        requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
        ...(config.endpoints.sts ? { endpoint: config.endpoints.sts } : {}),
      },
      clientPlugins: [
        auditPlugin(subject, purpose, sessionName, () => duration),
        notAwsGuard('sts', config.endpoints.sts !== undefined),
      ],
    });
    const translated: AwsCredentialIdentityProvider = async () => {
      try {
        return await inner();
      } catch (e) {
        throw translateAwsError(e, {
          action: 'sts:AssumeRole',
          region: subject.region,
          roleArn: subject.roleArn ?? undefined,
        });
      }
    };
    return memoizeIdentityProvider(
      translated,
      isIdentityExpired,
      doesIdentityRequireRefresh,
    ) as AwsCredentialIdentityProvider;
  }

  function accessKeyProvider(subject: CredentialSubject): AwsCredentialIdentityProvider {
    if (!subject.accessKeys) throw new AppError('internal_error', 'Access-key connection without stored keys.');
    const { accessKeyId, secretAccessKey } = subject.accessKeys();
    const creds: AwsCredentialIdentity = { accessKeyId, secretAccessKey };
    return async () => creds;
  }

  function secretProvider(subject: CredentialSubject): AwsCredentialIdentityProvider {
    const secretArn = subject.secretArn;
    if (!secretArn) throw new AppError('validation_failed', 'secrets_manager connection without a secret ARN.');
    const region = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(secretArn)?.[1] ?? subject.region;
    const sm = clients.secretsManager(region, platform.credentials);
    const read: AwsCredentialIdentityProvider = async () => {
      try {
        const out = await sm.send(new GetSecretValueCommand({ SecretId: secretArn }));
        const parsed = parseSecret(out.SecretString, subject.externalId);
        await deps.onSecretRead?.({ connectionId: subject.id, workspaceId: subject.workspaceId, outcome: 'ok' });
        // A short cache: a rotated secret is picked up within secretCacheSeconds.
        return { ...parsed, expiration: new Date(clock.now().getTime() + config.secretCacheSeconds * 1000) };
      } catch (e) {
        await deps.onSecretRead?.({
          connectionId: subject.id,
          workspaceId: subject.workspaceId,
          outcome: e instanceof AppError ? e.code : (awsErrorName(e) ?? 'Error'),
        });
        if (e instanceof AppError) throw e;
        // Missing and forbidden look the same from here, for the same reason as above.
        const name = awsErrorName(e);
        if (name === 'ResourceNotFoundException' || name === 'AccessDeniedException' || name === 'DecryptionFailure') {
          throw new AppError('aws_secret_invalid', 'The secret cannot be used by this connection.', {
            hint: "Check the secret ARN, and that Sesame's principal may read it (secretsmanager:GetSecretValue and kms:Decrypt).",
          });
        }
        throw translateAwsError(e, { action: 'secretsmanager:GetSecretValue', region });
      }
    };
    return memoizeIdentityProvider(
      read,
      createIsIdentityExpiredFunction(0),
      doesIdentityRequireRefresh,
    ) as AwsCredentialIdentityProvider;
  }

  async function build(subject: CredentialSubject, purpose: Purpose): Promise<AwsCredentialIdentityProvider> {
    switch (subject.mode) {
      case 'role':
        return roleProvider(subject, purpose);
      case 'access_keys':
        return accessKeyProvider(subject);
      case 'default_chain':
        return platform.credentials;
      case 'secrets_manager':
        return secretProvider(subject);
    }
  }

  function cached(subject: CredentialSubject, purpose: Purpose): Promise<AwsCredentialIdentityProvider> {
    const key = `${subject.id}:${purpose}`;
    const hit = cache.get(key);
    if (hit && hit.version === subject.version) return hit.provider;
    // Cache the promise before awaiting anything, so concurrent first callers share one provider
    // (and so one AssumeRole).
    const building = build(subject, purpose);
    cache.set(key, { version: subject.version, provider: building });
    building.catch(() => {
      if (cache.get(key)?.provider === building) cache.delete(key);
    });
    return building;
  }

  return {
    /**
     * A memoised provider for (connection, purpose); rebuilt when the connection's version changes.
     * Every caller (API, CLI, SMTP, worker, domains, event wiring) comes through here, so a role
     * not proven to require its External ID gets no credentials, cached or new.
     */
    async provider(subject: CredentialSubject, purpose: Purpose): Promise<AwsCredentialIdentityProvider> {
      const refused = roleNotUsable(subject);
      if (refused) throw refused;
      return cached(subject, purpose);
    },

    /**
     * The connection test only: it must assume the role to prove (or disprove) that it is safe.
     * Never cached, so each test really calls STS and nothing it minted is handed to anyone else.
     */
    async providerForTest(subject: CredentialSubject, purpose: Purpose): Promise<AwsCredentialIdentityProvider> {
      return build(subject, purpose);
    },

    /**
     * Run an AWS call with (connection, purpose) credentials; if AWS says the session expired
     * although the cache still trusts it (revocation, clock skew), mint a new one and retry once.
     */
    async withCredentials<T>(
      subject: CredentialSubject,
      purpose: Purpose,
      fn: (creds: AwsCredentialIdentityProvider) => Promise<T>,
    ): Promise<T> {
      try {
        return await fn(await this.provider(subject, purpose));
      } catch (e) {
        if (!isExpiredError(e)) throw e;
        this.drop(subject.id);
        return fn(await this.provider(subject, purpose));
      }
    },

    /** Forget every cached credential of a connection at once (disconnect, rotation). */
    drop(connectionId: string): void {
      for (const key of [...cache.keys()]) if (key.startsWith(`${connectionId}:`)) cache.delete(key);
    },

    durationFor,
  };
}

export type CredentialBroker = ReturnType<typeof createCredentialBroker>;

export function isExpiredError(e: unknown): boolean {
  if (e instanceof AppError) return e.code === 'aws_expired_token';
  const name = awsErrorName(e);
  return name === 'ExpiredToken' || name === 'ExpiredTokenException' || name === 'RequestExpired';
}

function parseSecret(
  value: string | undefined,
  binding: string | null,
): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  // One answer for every way a secret can be unusable: a workspace must not learn the shape of a
  // secret that is not its own by pointing a connection at it.
  const refuse = () =>
    new AppError('aws_secret_invalid', 'The secret cannot be used by this connection.', {
      hint: 'The secret must be JSON with accessKeyId, secretAccessKey and "sesameExternalId" set to the value shown on the connection (secretBinding).',
    });
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(value ?? '') as Record<string, unknown>;
  } catch {
    throw refuse();
  }
  if (!rec || typeof rec !== 'object' || !binding || rec.sesameExternalId !== binding) throw refuse();
  const id = rec.accessKeyId ?? rec.AccessKeyId ?? rec.aws_access_key_id;
  const secret = rec.secretAccessKey ?? rec.SecretAccessKey ?? rec.aws_secret_access_key;
  if (typeof id !== 'string' || typeof secret !== 'string' || !id || !secret) throw refuse();
  const token = rec.sessionToken ?? rec.SessionToken;
  return { accessKeyId: id, secretAccessKey: secret, ...(typeof token === 'string' ? { sessionToken: token } : {}) };
}
