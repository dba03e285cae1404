import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider } from '@smithy/core';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { Config } from '../config.js';
import type { ClientFactory } from './clients.js';
import { translateAwsError } from './errors.js';

export interface PlatformIdentity {
  /** The ARN STS reports for Sesame's own credentials. */
  callerArn: string;
  account: string;
  userId: string;
  /** The ARN a customer's trust policy must name. */
  trustedPrincipalArn: string;
  /** How trustedPrincipalArn was found; 'derived' means a role path may be missing. */
  principalSource: 'configured' | 'caller' | 'derived';
  /** Sesame runs on role credentials itself, so assuming a customer role is role chaining (max 1 h). */
  roleChaining: boolean;
}

/**
 * Sesame's own AWS identity: the SDK default chain (env, profile, web identity, instance/task role),
 * or an injected provider. Resolved once and remembered.
 */
export function createPlatform(deps: {
  config: Pick<Config, 'region' | 'platformPrincipalArn'>;
  clients: Pick<ClientFactory, 'sts'>;
  credentials?: AwsCredentialIdentityProvider;
  /** Sesame's own STS call is audited too (no workspace). */
  onCallerIdentity?: (e: { outcome: string; arn?: string }) => Promise<void>;
}) {
  const { config, clients } = deps;
  const credentials = memoizeIdentityProvider(
    deps.credentials ?? fromNodeProviderChain({ clientConfig: { region: config.region } }),
    isIdentityExpired,
    doesIdentityRequireRefresh,
  ) as AwsCredentialIdentityProvider;
  const sts = clients.sts(config.region, credentials);
  let identity: Promise<PlatformIdentity> | undefined;

  const resolve = async (): Promise<PlatformIdentity> => {
    try {
      const out = await sts.send(new GetCallerIdentityCommand({}));
      const callerArn = out.Arn ?? '';
      await deps.onCallerIdentity?.({ outcome: 'ok', arn: callerArn });
      const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(callerArn);
      const roleChaining = assumed !== null;
      let trustedPrincipalArn = callerArn;
      let principalSource: PlatformIdentity['principalSource'] = 'caller';
      if (config.platformPrincipalArn) {
        trustedPrincipalArn = config.platformPrincipalArn;
        principalSource = 'configured';
      } else if (assumed) {
        // An assumed-role ARN does not carry the role's path; SESAME_PLATFORM_PRINCIPAL_ARN fixes that.
        trustedPrincipalArn = `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}`;
        principalSource = 'derived';
      }
      return {
        callerArn,
        account: out.Account ?? '',
        userId: out.UserId ?? '',
        trustedPrincipalArn,
        principalSource,
        roleChaining,
      };
    } catch (e) {
      identity = undefined; // let the next caller try again
      await deps.onCallerIdentity?.({ outcome: (e as { name?: string })?.name ?? 'error' }).catch(() => undefined);
      throw translateAwsError(e, { action: 'sts:GetCallerIdentity', region: config.region });
    }
  };

  return {
    credentials,
    identity(): Promise<PlatformIdentity> {
      identity ??= resolve();
      return identity;
    },
  };
}

export type Platform = ReturnType<typeof createPlatform>;
