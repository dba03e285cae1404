import { authorize, baseContext } from '../auth.js';
import type { RequestContext } from '../context.js';
import { AwsError } from '../errors.js';
import { jsonResponse, type SandboxResponse } from '../protocol.js';
import type { SecretRecord } from '../state.js';

const notFound = () =>
  new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.", 400);

export function handleSecretsManager(ctx: RequestContext, target: string, body: unknown): SandboxResponse {
  const action = target.replace(/^secretsmanager\./, '');
  if (action !== 'GetSecretValue') {
    throw new AwsError(
      'UnknownOperationException',
      `Sesame sandbox Secrets Manager implements GetSecretValue only, not ${action}`,
      400,
    );
  }
  const input = (body ?? {}) as { SecretId?: unknown; VersionId?: unknown; VersionStage?: unknown };
  if (typeof input.SecretId !== 'string' || input.SecretId === '') {
    throw new AwsError(
      'ValidationException',
      "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null",
      400,
    );
  }
  const state = ctx.deps.store.state;
  const secret = findSecret(state.secrets, input.SecretId, ctx.caller.account, ctx.region);
  const arnAccount = /^arn:aws:secretsmanager:[^:]+:(\d{12}):/.exec(input.SecretId)?.[1];
  const resource =
    secret?.arn ??
    (input.SecretId.startsWith('arn:')
      ? input.SecretId
      : `arn:aws:secretsmanager:${ctx.region}:${ctx.caller.account}:secret:${input.SecretId}`);
  authorize(state, ctx.caller, {
    action: 'secretsmanager:GetSecretValue',
    resource,
    resourceAccount: secret?.account ?? arnAccount ?? ctx.caller.account,
    context: baseContext(ctx.caller, ctx.now, ctx.region),
    protocol: 'json',
  });
  if (!secret) throw notFound();
  if (typeof input.VersionId === 'string' && input.VersionId !== secret.versionId) throw notFound();
  return jsonResponse(
    'json',
    {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: secret.versionId,
      SecretString: secret.value,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: Date.parse(secret.createdAt) / 1000,
    },
    ctx.requestId,
  );
}

/** By full ARN, by ARN without the random 6-character suffix, or by name, within the account and region. */
export function findSecret(
  secrets: SecretRecord[],
  id: string,
  account: string,
  region: string,
): SecretRecord | undefined {
  if (id.startsWith('arn:')) return secrets.find((s) => s.arn === id || s.arn.slice(0, -7) === id);
  return secrets.find((s) => s.name === id && s.account === account && s.region === region);
}
