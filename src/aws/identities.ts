import {
  CreateEmailIdentityCommand,
  DeleteEmailIdentityCommand,
  GetEmailIdentityCommand,
  PutEmailIdentityMailFromAttributesCommand,
} from '@aws-sdk/client-sesv2';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { asCallerInput, awsErrorName, translateAwsError, translated } from './errors.js';
import type { AwsGateway } from './gateway.js';

export interface SesIdentity {
  verifiedForSending: boolean;
  /** PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE or NOT_STARTED. */
  verificationStatus: string;
  dkim: { status: string; origin: 'AWS_SES' | 'EXTERNAL' | string; tokens: string[] };
  mailFrom: { domain: string | null; status: string | null; behaviorOnMxFailure: string };
}

/** SESv2 identity calls: create (Easy DKIM RSA 2048, or BYODKIM), read, MAIL FROM, delete. */
export function createIdentityGateway(deps: { ses: AwsGateway['ses'] }) {
  return {
    /** Returns the DKIM tokens (Easy DKIM) to publish; `AlreadyExists` is reported as such, not translated. */
    async create(
      creds: AwsCredentialIdentityProvider,
      region: string,
      identity: string,
      byodkim?: { selector: string; privateKey: string },
    ): Promise<{ tokens: string[]; alreadyExists: boolean }> {
      try {
        const out = await deps.ses(creds, region).send(
          new CreateEmailIdentityCommand({
            EmailIdentity: identity,
            ...(identity.includes('@')
              ? {}
              : {
                  DkimSigningAttributes: byodkim
                    ? { DomainSigningSelector: byodkim.selector, DomainSigningPrivateKey: byodkim.privateKey }
                    : { NextSigningKeyLength: 'RSA_2048_BIT' },
                }),
            Tags: [{ Key: 'managed-by', Value: 'sesame' }],
          }),
        );
        return { tokens: out.DkimAttributes?.Tokens ?? [], alreadyExists: false };
      } catch (e) {
        if (awsErrorName(e) === 'AlreadyExistsException') return { tokens: [], alreadyExists: true };
        // The name and the DKIM key are the caller's own: SES refusing them is a mistake in the request.
        throw asCallerInput(translateAwsError(e, { action: 'ses:CreateEmailIdentity', region }));
      }
    },

    /** The identity as SES sees it, or null when it does not exist in this account and region. */
    async get(creds: AwsCredentialIdentityProvider, region: string, identity: string): Promise<SesIdentity | null> {
      try {
        const out = await deps.ses(creds, region).send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
        return {
          verifiedForSending: out.VerifiedForSendingStatus ?? false,
          verificationStatus: out.VerificationStatus ?? (out.VerifiedForSendingStatus ? 'SUCCESS' : 'PENDING'),
          dkim: {
            status: out.DkimAttributes?.Status ?? 'NOT_STARTED',
            origin: out.DkimAttributes?.SigningAttributesOrigin ?? 'AWS_SES',
            tokens: out.DkimAttributes?.Tokens ?? [],
          },
          mailFrom: {
            domain: out.MailFromAttributes?.MailFromDomain ?? null,
            status: out.MailFromAttributes?.MailFromDomainStatus ?? null,
            behaviorOnMxFailure: out.MailFromAttributes?.BehaviorOnMxFailure ?? 'USE_DEFAULT_VALUE',
          },
        };
      } catch (e) {
        if (awsErrorName(e) === 'NotFoundException') return null;
        throw translateAwsError(e, { action: 'ses:GetEmailIdentity', region });
      }
    },

    async putMailFrom(
      creds: AwsCredentialIdentityProvider,
      region: string,
      identity: string,
      mailFromDomain: string | null,
    ): Promise<void> {
      await translated('ses:PutEmailIdentityMailFromAttributes', region, () =>
        deps.ses(creds, region).send(
          new PutEmailIdentityMailFromAttributesCommand({
            EmailIdentity: identity,
            ...(mailFromDomain ? { MailFromDomain: mailFromDomain } : {}),
            BehaviorOnMxFailure: 'USE_DEFAULT_VALUE',
          }),
        ),
      );
    },

    async remove(creds: AwsCredentialIdentityProvider, region: string, identity: string): Promise<void> {
      try {
        await deps.ses(creds, region).send(new DeleteEmailIdentityCommand({ EmailIdentity: identity }));
      } catch (e) {
        if (awsErrorName(e) === 'NotFoundException') return;
        throw translateAwsError(e, { action: 'ses:DeleteEmailIdentity', region });
      }
    },
  };
}

export type IdentityGateway = ReturnType<typeof createIdentityGateway>;
