import { createHash } from 'node:crypto';
import { PURPOSE_ACTIONS, SELF_SIMULATE_ACTION, fromAddressPatterns } from './policies.js';

/**
 * Onboarding artifacts for role mode: the CloudFormation template, the console quick-create
 * link, and the same role as Terraform and AWS CLI commands. The template holds no secret and no
 * per-connection value unless asked for defaults: the External ID and trusted principal are
 * parameters, so one uploaded object serves every connection.
 */
export interface RoleSpec {
  externalId: string;
  trustedPrincipalArn: string;
  roleName: string;
  maxSessionDuration: number;
  sendDomains: readonly string[];
  sourceIdentity: boolean;
}

const EXTERNAL_ID_PATTERN = '[\\w+=,.@:/-]+';
const q = (s: string): string => `'${s.replace(/'/g, "''")}'`; // YAML single-quoted scalar
const list = (items: readonly string[], indent: string): string => items.map((i) => `${indent}- ${q(i)}`).join('\n');

/** The YAML template. With `defaults`, parameters are pre-filled for one connection (download path). */
export function roleTemplate(defaults?: RoleSpec): string {
  const d = (value: string | number | undefined): string =>
    value === undefined ? '' : `\n    Default: ${typeof value === 'number' ? value : q(value)}`;
  const patterns =
    defaults && defaults.sendDomains.length > 0 ? fromAddressPatterns(defaults.sendDomains).join(',') : '*';
  return `AWSTemplateFormatVersion: '2010-09-09'
Description: >-
  Sesame access to Amazon SES without access keys: an IAM role that trusts only the Sesame
  principal given below, and only when it presents this connection's External ID.
Metadata:
  AWS::CloudFormation::Interface:
    ParameterGroups:
      - Label: { default: Trust }
        Parameters: [TrustedPrincipalArn, ExternalId, EnableSourceIdentity]
      - Label: { default: Role }
        Parameters: [RoleName, MaxSessionDuration, SendFromAddressPatterns, AllowManage]
Parameters:
  ExternalId:
    Type: String
    Description: The External ID Sesame generated for this connection. Sesame refuses to work without it.
    MinLength: 32
    MaxLength: 1224
    AllowedPattern: ${q(EXTERNAL_ID_PATTERN)}
    ConstraintDescription: 32 to 1224 letters, digits or _+=,.@:/- characters.${d(defaults?.externalId)}
  TrustedPrincipalArn:
    Type: String
    Description: The ARN of Sesame's own AWS principal (sesame aws whoami). Only this principal may assume the role.
    AllowedPattern: 'arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+'${d(defaults?.trustedPrincipalArn)}
  RoleName:
    Type: String
    Description: Name of the IAM role to create.
    AllowedPattern: '[\\w+=,.@-]{1,64}'
    Default: ${q(defaults?.roleName ?? 'SesameSESAccess')}
  MaxSessionDuration:
    Type: Number
    Description: Longest session Sesame may request, in seconds (3600 to 43200).
    MinValue: 3600
    MaxValue: 43200
    Default: ${Math.max(3600, defaults?.maxSessionDuration ?? 3600)}
  SendFromAddressPatterns:
    Type: CommaDelimitedList
    Description: Addresses Sesame may send from, such as *@example.com. Leave * to allow any verified identity.
    Default: ${q(patterns)}
  EnableSourceIdentity:
    Type: String
    Description: Let Sesame stamp its workspace id as the session's source identity (shown in CloudTrail).
    AllowedValues: ['true', 'false']
    Default: ${q(defaults && !defaults.sourceIdentity ? 'false' : 'true')}
  AllowManage:
    Type: String
    Description: Let Sesame create SES identities, configuration sets and SNS topics for event wiring.
    AllowedValues: ['true', 'false']
    Default: 'true'
Conditions:
  SourceIdentityEnabled: !Equals [!Ref EnableSourceIdentity, 'true']
  ManageAllowed: !Equals [!Ref AllowManage, 'true']
Resources:
  SesameRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Ref RoleName
      Description: Assumed by Sesame to send email through Amazon SES (External ID required).
      MaxSessionDuration: !Ref MaxSessionDuration
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Sid: TrustSesameWithExternalId
            Effect: Allow
            Principal:
              AWS: !Ref TrustedPrincipalArn
            Action: !If
              - SourceIdentityEnabled
              - ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession']
              - ['sts:AssumeRole']
            Condition:
              StringEquals:
                'sts:ExternalId': !Ref ExternalId
      Policies:
        - PolicyName: SesameSend
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action:
${list(PURPOSE_ACTIONS.send, '                  ')}
                Resource: '*'
                Condition:
                  StringLike:
                    'ses:FromAddress': !Ref SendFromAddressPatterns
        - PolicyName: SesameRead
          PolicyDocument:
            Version: '2012-10-17'
            Statement:
              - Effect: Allow
                Action:
${list(PURPOSE_ACTIONS.read, '                  ')}
                Resource: '*'
              - Effect: Allow
                Action: ${q(SELF_SIMULATE_ACTION)}
                Resource: !Sub 'arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/\${RoleName}'
        - !If
          - ManageAllowed
          - PolicyName: SesameManage
            PolicyDocument:
              Version: '2012-10-17'
              Statement:
                - Effect: Allow
                  Action:
${list(
  PURPOSE_ACTIONS.manage.filter((a) => a.startsWith('ses:')),
  '                    ',
)}
                  Resource: '*'
                - Effect: Allow
                  Action:
${list(
  PURPOSE_ACTIONS.manage.filter((a) => a.startsWith('sns:')),
  '                    ',
)}
                  Resource: !Sub 'arn:\${AWS::Partition}:sns:*:\${AWS::AccountId}:sesame-*'
          - !Ref AWS::NoValue
      Tags:
        - Key: managed-by
          Value: sesame
Outputs:
  RoleArn:
    Description: Give this ARN to Sesame (PATCH /v1/connections/:id or sesame aws setup --role-arn).
    Value: !GetAtt SesameRole.Arn
`;
}

/** Content-addressed key, so re-uploading the same template is a no-op and old links keep working. */
export function templateObjectKey(prefix: string, body: string): string {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return `${prefix}role-${hash}.yaml`;
}

/** The HTTPS URL CloudFormation reads the object from (S3 only), or the emulator's path-style URL. */
export function templateUrl(opts: { bucket: string; key: string; region: string; s3Endpoint?: string }): string {
  const key = opts.key.split('/').map(encodeURIComponent).join('/');
  if (opts.s3Endpoint) return `${opts.s3Endpoint.replace(/\/+$/, '')}/${opts.bucket}/${key}`;
  const host = `s3.${opts.region}.amazonaws.com`;
  // A dotted bucket name breaks TLS on the virtual-hosted name: use the path style for it.
  return opts.bucket.includes('.') ? `https://${host}/${opts.bucket}/${key}` : `https://${opts.bucket}.${host}/${key}`;
}

/** A stack name: starts with a letter, letters/digits/hyphens, at most 128. */
export function stackName(connectionName: string): string {
  const cleaned = connectionName
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return `Sesame-${cleaned || 'connection'}`.slice(0, 128);
}

export function quickCreateUrl(opts: {
  consoleUrl: string;
  region: string;
  templateUrl: string;
  stackName: string;
  spec: RoleSpec;
}): string {
  const params: [string, string][] = [
    ['templateURL', opts.templateUrl],
    ['stackName', opts.stackName],
    ['param_ExternalId', opts.spec.externalId],
    ['param_TrustedPrincipalArn', opts.spec.trustedPrincipalArn],
    ['param_RoleName', opts.spec.roleName],
    ['param_MaxSessionDuration', String(Math.max(3600, opts.spec.maxSessionDuration))],
    [
      'param_SendFromAddressPatterns',
      opts.spec.sendDomains.length ? fromAddressPatterns(opts.spec.sendDomains).join(',') : '*',
    ],
    ['param_EnableSourceIdentity', String(opts.spec.sourceIdentity)],
  ];
  const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `${opts.consoleUrl.replace(/\/+$/, '')}/cloudformation/home?region=${encodeURIComponent(opts.region)}#/stacks/quickcreate?${query}`;
}

/** The role's trust policy as plain JSON (for Terraform and the AWS CLI). */
export function trustPolicy(spec: RoleSpec): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'TrustSesameWithExternalId',
        Effect: 'Allow',
        Principal: { AWS: spec.trustedPrincipalArn },
        Action: spec.sourceIdentity
          ? ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession']
          : ['sts:AssumeRole'],
        Condition: { StringEquals: { 'sts:ExternalId': spec.externalId } },
      },
    ],
  };
}

/** The three permission policies as plain JSON; `roleArn` and `account` may be expressions. */
export function permissionPolicies(
  spec: RoleSpec,
  roleArn: string,
  account: string,
): Record<'SesameSend' | 'SesameRead' | 'SesameManage', Record<string, unknown>> {
  const patterns = spec.sendDomains.length ? fromAddressPatterns(spec.sendDomains) : ['*'];
  return {
    SesameSend: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: PURPOSE_ACTIONS.send,
          Resource: '*',
          Condition: { StringLike: { 'ses:FromAddress': patterns } },
        },
      ],
    },
    SesameRead: {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: PURPOSE_ACTIONS.read, Resource: '*' },
        { Effect: 'Allow', Action: SELF_SIMULATE_ACTION, Resource: roleArn },
      ],
    },
    SesameManage: {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: PURPOSE_ACTIONS.manage.filter((a) => a.startsWith('ses:')), Resource: '*' },
        {
          Effect: 'Allow',
          Action: PURPOSE_ACTIONS.manage.filter((a) => a.startsWith('sns:')),
          Resource: `arn:aws:sns:*:${account}:sesame-*`,
        },
      ],
    },
  };
}

export function terraform(spec: RoleSpec): string {
  const json = (o: unknown): string => JSON.stringify(o, null, 2).replace(/\n/g, '\n  ');
  const policies = permissionPolicies(
    spec,
    '${aws_iam_role.sesame.arn}',
    '${data.aws_caller_identity.current.account_id}',
  );
  const policyBlocks = Object.entries(policies)
    .map(
      ([name, doc]) => `resource "aws_iam_role_policy" "${name.replace('Sesame', '').toLowerCase()}" {
  name   = "${name}"
  role   = aws_iam_role.sesame.id
  policy = jsonencode(${json(doc)})
}`,
    )
    .join('\n\n');
  return `# Sesame access to Amazon SES without access keys (same role as the CloudFormation template).
data "aws_caller_identity" "current" {}

resource "aws_iam_role" "sesame" {
  name                 = "${spec.roleName}"
  description          = "Assumed by Sesame to send email through Amazon SES (External ID required)."
  max_session_duration = ${Math.max(3600, spec.maxSessionDuration)}
  assume_role_policy   = jsonencode(${json(trustPolicy(spec))})
  tags = { "managed-by" = "sesame" }
}

${policyBlocks}

output "role_arn" {
  value = aws_iam_role.sesame.arn
}
`;
}

export function awsCliCommands(spec: RoleSpec): string {
  const sh = (o: unknown): string => `'${JSON.stringify(o).replace(/'/g, `'\\''`)}'`;
  const policies = permissionPolicies(spec, `arn:aws:iam::\${ACCOUNT_ID}:role/${spec.roleName}`, '${ACCOUNT_ID}');
  const put = Object.entries(policies)
    .map(
      ([name, doc]) =>
        `aws iam put-role-policy --role-name ${spec.roleName} --policy-name ${name} \\\n  --policy-document "${JSON.stringify(doc).replace(/(["\\`])/g, '\\$1')}"`,
    ) // double quotes: only \${ACCOUNT_ID} expands
    .join('\n\n');
  return `# Sesame access to Amazon SES without access keys, with the AWS CLI.
ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text)

aws iam create-role --role-name ${spec.roleName} \\
  --description "Assumed by Sesame to send email through Amazon SES (External ID required)." \\
  --max-session-duration ${Math.max(3600, spec.maxSessionDuration)} \\
  --tags Key=managed-by,Value=sesame \\
  --assume-role-policy-document ${sh(trustPolicy(spec))}

${put}

aws iam get-role --role-name ${spec.roleName} --query Role.Arn --output text
`;
}
