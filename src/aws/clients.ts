import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider, MiddlewareStack, Pluggable } from '@smithy/types';
import type { AwsService, Config } from '../config.js';
import { looksLikeAws, NotAwsResponse } from './errors.js';

interface RawRequest {
  protocol?: string;
  hostname?: string;
  port?: number;
  path?: string;
}
interface RawResponse {
  statusCode?: number;
  headers?: Record<string, string>;
  body?: { destroy?: () => void };
}

/** Scheme, host, port and path of the request: what a person compares with their settings. No query, no user info. */
function endpointOf(r: RawRequest): string {
  return `${r.protocol ?? 'https:'}//${r.hostname ?? ''}${r.port ? `:${r.port}` : ''}${r.path ?? '/'}`;
}

/**
 * Refuses an answer that did not come from AWS before the SDK parses it: a wrong endpoint's HTML
 * page would otherwise read as an AWS error with a made-up code, be retried as a server error, or
 * (query-protocol services such as STS) even pass as an empty success.
 */
export function notAwsGuard<I extends object, O extends object>(
  service: AwsService,
  configured: boolean,
): Pluggable<I, O> {
  return {
    applyToStack(stack) {
      stack.add(
        (next) => async (args) => {
          const out = await next(args);
          const res = out.response as RawResponse | undefined;
          if (res && typeof res.statusCode === 'number' && !looksLikeAws(res.headers ?? {})) {
            res.body?.destroy?.();
            throw new NotAwsResponse(
              service,
              endpointOf(args.request as RawRequest),
              res.statusCode,
              res.headers?.['content-type'] ?? '',
              configured,
            );
          }
          return out;
        },
        // Low priority in the deserialize step: next to the wire, inside the deserializer and the retry loop.
        { step: 'deserialize', priority: 'low', name: 'sesameNotAwsGuard', override: true },
      );
    },
  };
}

/**
 * SDK clients, built from the standard settings. An endpoint is passed only when configured
 * explicitly (AWS_ENDPOINT_URL[_SERVICE] or tests); otherwise the SDK resolves it itself, so
 * profiles' endpoint_url and every other standard setting keep working.
 */
export function createClientFactory(config: Pick<Config, 'endpoints'>) {
  // Every AWS call ends: a hung request would hold a worker slot, or an API request, forever.
  const requestHandler = { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true };
  const base = { maxAttempts: 3, requestHandler };
  const guarded = <I extends object, O extends object, C>(
    service: AwsService,
    client: C & { middlewareStack: MiddlewareStack<I, O> },
  ): C => {
    client.middlewareStack.use(notAwsGuard(service, config.endpoints[service] !== undefined));
    return client;
  };
  return {
    sts: (region: string, credentials?: AwsCredentialIdentityProvider) =>
      guarded(
        'sts',
        new STSClient({
          ...base,
          region,
          ...(credentials ? { credentials } : {}),
          ...(config.endpoints.sts ? { endpoint: config.endpoints.sts } : {}),
        }),
      ),
    sesv2: (region: string, credentials: AwsCredentialIdentityProvider, opts: { maxAttempts?: number } = {}) =>
      guarded(
        'sesv2',
        new SESv2Client({
          ...base,
          ...opts,
          region,
          credentials,
          ...(config.endpoints.sesv2 ? { endpoint: config.endpoints.sesv2 } : {}),
        }),
      ),
    sns: (region: string, credentials: AwsCredentialIdentityProvider) =>
      guarded(
        'sns',
        new SNSClient({
          ...base,
          region,
          credentials,
          ...(config.endpoints.sns ? { endpoint: config.endpoints.sns } : {}),
        }),
      ),
    iam: (region: string, credentials: AwsCredentialIdentityProvider) =>
      guarded(
        'iam',
        new IAMClient({
          ...base,
          region,
          credentials,
          ...(config.endpoints.iam ? { endpoint: config.endpoints.iam } : {}),
        }),
      ),
    secretsManager: (region: string, credentials: AwsCredentialIdentityProvider) =>
      guarded(
        'secretsManager',
        new SecretsManagerClient({
          ...base,
          region,
          credentials,
          ...(config.endpoints.secretsManager ? { endpoint: config.endpoints.secretsManager } : {}),
        }),
      ),
    s3: (region: string, credentials: AwsCredentialIdentityProvider) =>
      guarded(
        's3',
        new S3Client({
          ...base,
          region,
          credentials,
          // Emulators serve buckets by path; virtual-hosted names would need wildcard DNS.
          ...(config.endpoints.s3 ? { endpoint: config.endpoints.s3, forcePathStyle: true } : {}),
        }),
      ),
  };
}

export type ClientFactory = ReturnType<typeof createClientFactory>;
