import { ListAccessKeysCommand, SimulatePrincipalPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  GetAccountCommand,
  ListConfigurationSetsCommand,
  ListEmailIdentitiesCommand,
  SendEmailCommand,
  type SendEmailCommandInput,
  type SESv2Client,
} from '@aws-sdk/client-sesv2';
import { AssumeRoleCommand, GetCallerIdentityCommand, type AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { ClientFactory } from './clients.js';
import { translateAwsError } from './errors.js';

export interface SesAccount {
  productionAccessEnabled: boolean;
  sendingEnabled: boolean;
  enforcementStatus: string;
  max24HourSend: number;
  maxSendRate: number;
  sentLast24Hours: number;
}

export interface SimulationResult {
  action: string;
  decision: 'allowed' | 'implicitDeny' | 'explicitDeny';
}

/**
 * Every AWS call Sesame makes, with errors translated. Clients are reused per
 * (credentials provider, service, region): building one per call would defeat the SDK's caches.
 */
export function createAwsGateway(deps: { clients: ClientFactory }) {
  const { clients } = deps;
  const pool = new WeakMap<AwsCredentialIdentityProvider, Map<string, unknown>>();
  function client<T>(creds: AwsCredentialIdentityProvider, key: string, make: () => T): T {
    let m = pool.get(creds);
    if (!m) pool.set(creds, (m = new Map()));
    let c = m.get(key) as T | undefined;
    if (!c) m.set(key, (c = make()));
    return c;
  }
  const client_ = client;
  const ses = (creds: AwsCredentialIdentityProvider, region: string): SESv2Client =>
    client(creds, `ses:${region}`, () => clients.sesv2(region, creds));
  const iam = (creds: AwsCredentialIdentityProvider, region: string): IAMClient =>
    client(creds, `iam:${region}`, () => clients.iam(region, creds));
  const sns = (creds: AwsCredentialIdentityProvider, region: string): SNSClient =>
    client(creds, `sns:${region}`, () => clients.sns(region, creds));

  return {
    ses,
    sns,

    async callerIdentity(
      creds: AwsCredentialIdentityProvider,
      region: string,
    ): Promise<{ arn: string; account: string; userId: string }> {
      try {
        const out = await client(creds, `sts:${region}`, () => clients.sts(region, creds)).send(
          new GetCallerIdentityCommand({}),
        );
        return { arn: out.Arn ?? '', account: out.Account ?? '', userId: out.UserId ?? '' };
      } catch (e) {
        throw translateAwsError(e, { action: 'sts:GetCallerIdentity', region });
      }
    },

    /** A raw AssumeRole (no cache): for probes whose credentials are thrown away at once. */
    async assumeRoleRaw(
      creds: AwsCredentialIdentityProvider,
      region: string,
      input: AssumeRoleCommandInput,
    ): Promise<{ assumedRoleId: string; arn: string; expiresAt: string | undefined }> {
      const out = await client(creds, `sts:${region}`, () => clients.sts(region, creds)).send(
        new AssumeRoleCommand(input),
      );
      return {
        assumedRoleId: out.AssumedRoleUser?.AssumedRoleId ?? '',
        arn: out.AssumedRoleUser?.Arn ?? '',
        expiresAt: out.Credentials?.Expiration ? new Date(out.Credentials.Expiration).toISOString() : undefined,
      };
    },

    async getAccount(creds: AwsCredentialIdentityProvider, region: string): Promise<SesAccount> {
      try {
        const out = await ses(creds, region).send(new GetAccountCommand({}));
        return {
          productionAccessEnabled: out.ProductionAccessEnabled ?? false,
          sendingEnabled: out.SendingEnabled ?? false,
          enforcementStatus: out.EnforcementStatus ?? 'UNKNOWN',
          max24HourSend: out.SendQuota?.Max24HourSend ?? 0,
          maxSendRate: out.SendQuota?.MaxSendRate ?? 0,
          sentLast24Hours: out.SendQuota?.SentLast24Hours ?? 0,
        };
      } catch (e) {
        throw translateAwsError(e, { action: 'ses:GetAccount', region });
      }
    },

    async listIdentities(
      creds: AwsCredentialIdentityProvider,
      region: string,
    ): Promise<Array<{ name: string; type: string; sendingEnabled: boolean; status: string }>> {
      const out: Array<{ name: string; type: string; sendingEnabled: boolean; status: string }> = [];
      let token: string | undefined;
      try {
        do {
          const page = await ses(creds, region).send(
            new ListEmailIdentitiesCommand({ NextToken: token, PageSize: 1000 }),
          );
          for (const i of page.EmailIdentities ?? [])
            out.push({
              name: i.IdentityName ?? '',
              type: i.IdentityType ?? '',
              sendingEnabled: i.SendingEnabled ?? false,
              status: i.VerificationStatus ?? 'UNKNOWN',
            });
          token = page.NextToken;
        } while (token);
      } catch (e) {
        throw translateAwsError(e, { action: 'ses:ListEmailIdentities', region });
      }
      return out;
    },

    async listConfigurationSets(creds: AwsCredentialIdentityProvider, region: string): Promise<string[]> {
      try {
        const out = await ses(creds, region).send(new ListConfigurationSetsCommand({}));
        return out.ConfigurationSets ?? [];
      } catch (e) {
        throw translateAwsError(e, { action: 'ses:ListConfigurationSets', region });
      }
    },

    /**
     * Whether credentials may send, without sending: a SendEmail with no recipients is refused
     * as a bad request after authorization, or as AccessDenied before it.
     */
    async probeSend(
      creds: AwsCredentialIdentityProvider,
      region: string,
      fromAddress: string,
    ): Promise<'allowed' | 'denied'> {
      try {
        await ses(creds, region).send(
          new SendEmailCommand({
            FromEmailAddress: fromAddress,
            Destination: { ToAddresses: [] },
            Content: { Simple: { Subject: { Data: 'probe' }, Body: { Text: { Data: 'probe' } } } },
          }),
        );
        return 'allowed';
      } catch (e) {
        const name = (e as { name?: string }).name ?? '';
        if (name === 'AccessDeniedException' || name === 'AccessDenied') return 'denied';
        if (
          [
            'BadRequestException',
            'MessageRejected',
            'ValidationException',
            'MailFromDomainNotVerifiedException',
            'NotFoundException',
          ].includes(name)
        )
          return 'allowed';
        throw translateAwsError(e, { action: 'ses:SendEmail', region });
      }
    },

    async simulate(
      creds: AwsCredentialIdentityProvider,
      region: string,
      principalArn: string,
      actions: string[],
      context: Record<string, string> = {},
      resourceArns?: string[],
    ): Promise<SimulationResult[]> {
      try {
        const out = await iam(creds, region).send(
          new SimulatePrincipalPolicyCommand({
            PolicySourceArn: principalArn,
            ActionNames: actions,
            ...(resourceArns ? { ResourceArns: resourceArns } : {}),
            ContextEntries: Object.entries(context).map(([k, v]) => ({
              ContextKeyName: k,
              ContextKeyValues: [v],
              ContextKeyType: 'string',
            })),
          }),
        );
        return (out.EvaluationResults ?? []).map((r) => ({
          action: r.EvalActionName ?? '',
          decision: (r.EvalDecision ?? 'implicitDeny') as SimulationResult['decision'],
        }));
      } catch (e) {
        throw translateAwsError(e, { action: 'iam:SimulatePrincipalPolicy', region });
      }
    },

    /**
     * The access keys of the user the credentials belong to (no UserName: IAM takes the signing
     * key's own user), with the dates IAM created them. Needs iam:ListAccessKeys on that user.
     */
    async listOwnAccessKeys(
      creds: AwsCredentialIdentityProvider,
      region: string,
    ): Promise<Array<{ accessKeyId: string; createdAt: string | null; status: string }>> {
      try {
        const out = await iam(creds, region).send(new ListAccessKeysCommand({}));
        return (out.AccessKeyMetadata ?? []).map((k) => ({
          accessKeyId: k.AccessKeyId ?? '',
          createdAt: k.CreateDate ? new Date(k.CreateDate).toISOString() : null,
          status: k.Status ?? 'Unknown',
        }));
      } catch (e) {
        throw translateAwsError(e, { action: 'iam:ListAccessKeys', region });
      }
    },

    /**
     * Send one message. Errors are returned untranslated: the worker classifies them (retry,
     * refresh credentials, pause, or fail) before translating for people.
     */
    async sendEmail(
      creds: AwsCredentialIdentityProvider,
      region: string,
      input: SendEmailCommandInput,
    ): Promise<string> {
      // No SDK retries for sending: a retry after a lost response could deliver a message twice.
      // The worker decides what to retry, knowing which failures prove SES did not accept it.
      const client = client_(creds, `ses-send:${region}`, () => clients.sesv2(region, creds, { maxAttempts: 1 }));
      const out = await client.send(new SendEmailCommand(input));
      return out.MessageId ?? '';
    },

    /** Whether an object URL can be read without credentials (as CloudFormation in another account reads it). */
    async isPubliclyReadable(url: string): Promise<boolean> {
      try {
        const res = await fetch(url, { method: 'HEAD', redirect: 'error', signal: AbortSignal.timeout(5000) });
        return res.ok;
      } catch {
        return false;
      }
    },

    async putTemplate(
      creds: AwsCredentialIdentityProvider,
      region: string,
      bucket: string,
      key: string,
      body: string,
    ): Promise<void> {
      try {
        await client(creds, `s3:${region}`, () => clients.s3(region, creds)).send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-yaml' }),
        );
      } catch (e) {
        throw translateAwsError(e, { action: 's3:PutObject', region });
      }
    },
  };
}

export type AwsGateway = ReturnType<typeof createAwsGateway>;
