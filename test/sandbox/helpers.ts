import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { STSClient, AssumeRoleCommand, type AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import { manualClock } from '../../src/clock.js';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Harness {
  sandbox: Sandbox;
  url: string;
  clock: ReturnType<typeof manualClock>;
  platform: Creds;
  sts(creds?: Creds): STSClient;
  ses(creds: Creds, region?: string): SESv2Client;
  iam(creds: Creds): IAMClient;
  secrets(creds: Creds): SecretsManagerClient;
  s3(creds: Creds): S3Client;
  assume(input: Partial<AssumeRoleCommandInput> & { RoleArn: string }, creds?: Creds): Promise<Creds>;
}

/** A sandbox on a random port, a movable clock starting at real time (so the SDK's clock skew stays 0), and real SDK clients. */
export async function startSandbox(
  opts: Pick<SandboxOptions, 'propagationDelayMs' | 'identityVerification' | 'serveDns'> = {},
): Promise<Harness> {
  const clock = manualClock(new Date());
  const sandbox = createSandbox({ clock, ...opts });
  const url = await sandbox.listen(0);
  const p = sandbox.admin.platformCredentials();
  const platform = { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey };
  // No retries: tests assert the first answer (clock-skew correction still retries once by design).
  const common = (credentials: Creds, region = 'us-east-1') => ({ endpoint: url, region, credentials, maxAttempts: 1 });
  const h: Harness = {
    sandbox,
    url,
    clock,
    platform,
    sts: (c = platform) => new STSClient(common(c)),
    ses: (c, region) => new SESv2Client(common(c, region)),
    iam: (c) => new IAMClient(common(c)),
    secrets: (c) => new SecretsManagerClient(common(c)),
    s3: (c) => new S3Client({ ...common(c), forcePathStyle: true }),
    async assume(input, c = platform) {
      const out = await h.sts(c).send(new AssumeRoleCommand({ RoleSessionName: 'sesame-test', ...input }));
      const k = out.Credentials!;
      return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey!, sessionToken: k.SessionToken! };
    },
  };
  return h;
}

/** Asserts a promise rejects with an SDK error of the given name; returns the error. */
export async function rejectsWith(
  p: Promise<unknown>,
  name: string,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (e) {
    const err = e as Error;
    if (err.name !== name) throw new Error(`expected ${name}, got ${err.name}: ${err.message}`);
    return err;
  }
  throw new Error(`expected ${name}, but the call succeeded`);
}

export const EXTERNAL_ID = 'sesame-ext-0123456789abcdefghijklmnopqrstuv';

/** The role template resembling Sesame's own (send/read/manage policies, External ID trust). */
export const ROLE_TEMPLATE = `
AWSTemplateFormatVersion: '2010-09-09'
Description: Lets Sesame send email through this account's Amazon SES (test copy)
Parameters:
  ExternalId:
    Type: String
    MinLength: 2
    MaxLength: 1224
    AllowedPattern: '[\\w+=,.@:/-]*'
    NoEcho: true
  TrustedPrincipalArn:
    Type: String
    AllowedPattern: 'arn:aws:iam::\\d{12}:(user|role)/.+'
  RoleName:
    Type: String
    Default: SesameSending
  MaxSessionDuration:
    Type: Number
    Default: 3600
    MinValue: 3600
    MaxValue: 43200
  SendFromDomains:
    Type: CommaDelimitedList
    Default: ''
Conditions:
  HasDomains: !Not [!Equals [!Join ['', !Ref SendFromDomains], '']]
Resources:
  SesameRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Ref RoleName
      Description: !Sub 'Sesame sending role for stack \${AWS::StackName}'
      MaxSessionDuration: !Ref MaxSessionDuration
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: { AWS: !Ref TrustedPrincipalArn }
            Action: ['sts:AssumeRole', 'sts:SetSourceIdentity']
            Condition:
              StringEquals:
                sts:ExternalId: !Ref ExternalId
      Policies:
        - PolicyName: send
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action: ['ses:SendEmail', 'ses:SendRawEmail']
                Resource: '*'
                Condition: !If
                  - HasDomains
                  - StringLike:
                      ses:FromAddress: !Split [',', !Sub ['*@\${Joined}', { Joined: !Join [',*@', !Ref SendFromDomains] }]]
                  - !Ref AWS::NoValue
        - PolicyName: read
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action: ['ses:GetAccount', 'ses:ListEmailIdentities', 'ses:GetEmailIdentity', 'ses:ListConfigurationSets']
                Resource: '*'
        - PolicyName: manage
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action: ['ses:CreateEmailIdentity', 'ses:DeleteEmailIdentity', 'ses:CreateConfigurationSet', 'iam:SimulatePrincipalPolicy']
                Resource: '*'
Outputs:
  RoleArn:
    Value: !GetAtt SesameRole.Arn
  DomainsRestricted:
    Value: !If [HasDomains, 'yes', 'no']
`;
