/**
 * What each purpose may do. The role template grants these (one inline policy per purpose) and
 * every session narrows itself further with an inline session policy for its purpose only, so
 * credentials minted to send cannot manage identities, and the reverse.
 */
export type Purpose = 'send' | 'read' | 'manage';
export const PURPOSES: readonly Purpose[] = ['send', 'read', 'manage'];

export const PURPOSE_ACTIONS: Record<Purpose, string[]> = {
  send: ['ses:SendEmail', 'ses:SendRawEmail'],
  read: [
    'ses:GetAccount',
    'ses:GetEmailIdentity',
    'ses:ListEmailIdentities',
    'ses:GetConfigurationSet',
    'ses:GetConfigurationSetEventDestinations',
    'ses:ListConfigurationSets',
    'sns:GetTopicAttributes',
    'sns:ListSubscriptionsByTopic',
  ],
  manage: [
    'ses:CreateEmailIdentity',
    'ses:DeleteEmailIdentity',
    'ses:PutEmailIdentityMailFromAttributes',
    'ses:PutEmailIdentityDkimAttributes',
    'ses:PutEmailIdentityDkimSigningAttributes',
    'ses:CreateConfigurationSet',
    'ses:DeleteConfigurationSet',
    'ses:CreateConfigurationSetEventDestination',
    'ses:UpdateConfigurationSetEventDestination',
    'ses:DeleteConfigurationSetEventDestination',
    'ses:ListConfigurationSets',
    'ses:TagResource',
    'sns:CreateTopic',
    'sns:DeleteTopic',
    'sns:GetTopicAttributes',
    'sns:SetTopicAttributes',
    'sns:Subscribe',
    'sns:Unsubscribe',
    // Setting up again finds the existing subscription instead of adding a second one.
    'sns:ListSubscriptionsByTopic',
  ],
};

/** The read purpose may also ask IAM what the role itself is allowed (for the permission check). */
export const SELF_SIMULATE_ACTION = 'iam:SimulatePrincipalPolicy';

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<Record<string, unknown>>;
}

/** `*@example.com` patterns for ses:FromAddress; empty means any address. */
export const fromAddressPatterns = (domains: readonly string[]): string[] => domains.map((d) => `*@${d}`);

/**
 * The inline session policy passed to AssumeRole for one purpose. Kept compact: STS allows at
 * most 2,048 packed characters.
 */
export function sessionPolicy(purpose: Purpose, sendDomains: readonly string[]): string {
  const statement: Record<string, unknown> = { Effect: 'Allow', Action: PURPOSE_ACTIONS[purpose], Resource: '*' };
  if (purpose === 'send' && sendDomains.length > 0)
    statement.Condition = { StringLike: { 'ses:FromAddress': fromAddressPatterns(sendDomains) } };
  const statements = [statement];
  if (purpose === 'read') statements.push({ Effect: 'Allow', Action: [SELF_SIMULATE_ACTION], Resource: '*' });
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/** The deny a person pastes into the role to end every session issued before `now`. */
export function revokeSessionsPolicy(now: Date): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AWSRevokeOlderSessions',
        Effect: 'Deny',
        Action: ['*'],
        Resource: ['*'],
        Condition: { DateLessThan: { 'aws:TokenIssueTime': now.toISOString() } },
      },
    ],
  };
}
