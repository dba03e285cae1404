import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { Config } from '../config.js';

/**
 * SDK clients, built from the standard settings. An endpoint is passed only when configured
 * explicitly (AWS_ENDPOINT_URL[_SERVICE] or tests); otherwise the SDK resolves it itself, so
 * profiles' endpoint_url and every other standard setting keep working.
 */
export function createClientFactory(config: Pick<Config, 'endpoints'>) {
  // Every AWS call ends: a hung request would hold a worker slot, or an API request, forever.
  const requestHandler = { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true };
  const base = { maxAttempts: 3, requestHandler };
  return {
    sts: (region: string, credentials?: AwsCredentialIdentityProvider) =>
      new STSClient({
        ...base,
        region,
        ...(credentials ? { credentials } : {}),
        ...(config.endpoints.sts ? { endpoint: config.endpoints.sts } : {}),
      }),
    sesv2: (region: string, credentials: AwsCredentialIdentityProvider, opts: { maxAttempts?: number } = {}) =>
      new SESv2Client({
        ...base,
        ...opts,
        region,
        credentials,
        ...(config.endpoints.sesv2 ? { endpoint: config.endpoints.sesv2 } : {}),
      }),
    sns: (region: string, credentials: AwsCredentialIdentityProvider) =>
      new SNSClient({
        ...base,
        region,
        credentials,
        ...(config.endpoints.sns ? { endpoint: config.endpoints.sns } : {}),
      }),
    iam: (region: string, credentials: AwsCredentialIdentityProvider) =>
      new IAMClient({
        ...base,
        region,
        credentials,
        ...(config.endpoints.iam ? { endpoint: config.endpoints.iam } : {}),
      }),
    secretsManager: (region: string, credentials: AwsCredentialIdentityProvider) =>
      new SecretsManagerClient({
        ...base,
        region,
        credentials,
        ...(config.endpoints.secretsManager ? { endpoint: config.endpoints.secretsManager } : {}),
      }),
    s3: (region: string, credentials: AwsCredentialIdentityProvider) =>
      new S3Client({
        ...base,
        region,
        credentials,
        // Emulators serve buckets by path; virtual-hosted names would need wildcard DNS.
        ...(config.endpoints.s3 ? { endpoint: config.endpoints.s3, forcePathStyle: true } : {}),
      }),
  };
}

export type ClientFactory = ReturnType<typeof createClientFactory>;
