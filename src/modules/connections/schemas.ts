import { z } from 'zod';
import { REGION_SHAPE } from '../../aws/regions.js';
import type { ConnectionMode, ConnectionStatus } from '../../store/connections.js';

/**
 * Input schemas for connections. Objects are strict: an unknown field (an `externalId` chosen by
 * the caller, say) is an error, not silently ignored.
 */
export const MODES = [
  'role',
  'access_keys',
  'default_chain',
  'secrets_manager',
] as const satisfies readonly ConnectionMode[];

const name = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, 'letters, digits, space, "_", "." or "-", starting with a letter or digit')
  .refine((n) => !n.startsWith('conn_'), 'may not start with "conn_" (connection ids do)');
const region = z.string().regex(REGION_SHAPE, 'must look like eu-west-1');
/** A domain name (lower-cased); shared with the domains API so both accept the same names. */
export const domain = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    'must be a domain name such as example.com',
  );
const sendDomains = z
  .array(domain)
  .max(20)
  .transform((d) => [...new Set(d)]);
const sessionDurationSeconds = z.number().int().min(900).max(43200);
export const roleArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
    'must be an IAM role ARN such as arn:aws:iam::123456789012:role/SesameSESAccess',
  );
const roleName = z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be 1-64 of letters, digits and _+=,.@-');
export const accessKeyId = z
  .string()
  .trim()
  .regex(
    /^AKIA[A-Z0-9]{16}$/,
    'must be a long-term access key id (AKIA followed by 16 characters); temporary ASIA keys expire and cannot back a connection',
  );
export const secretAccessKey = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9/+]{40}$/, 'must be the 40-character secret access key');
const secretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/,
    'must be a Secrets Manager secret ARN',
  );

const common = {
  name,
  region,
  sendDomains: sendDomains.optional(),
  sessionDurationSeconds: sessionDurationSeconds.optional(),
};

export const createConnectionSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('role'),
    ...common,
    roleArn: roleArn.optional(),
    roleName: roleName.optional(),
    sourceIdentity: z.boolean().optional(),
  }),
  z.strictObject({ mode: z.literal('access_keys'), ...common, accessKeyId, secretAccessKey }),
  z.strictObject({ mode: z.literal('default_chain'), ...common }),
  z.strictObject({ mode: z.literal('secrets_manager'), ...common, secretArn }),
]);
export type CreateConnectionInput = z.infer<typeof createConnectionSchema>;

export const updateConnectionSchema = z.strictObject({
  name: name.optional(),
  roleArn: roleArn.optional(),
  sendDomains: sendDomains.optional(),
  sessionDurationSeconds: sessionDurationSeconds.nullable().optional(),
  sourceIdentity: z.boolean().optional(),
  secretArn: secretArn.optional(),
  configurationSet: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an SES configuration set name')
    .nullable()
    .optional(),
  snsTopicArns: z
    .array(z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$/, 'must be an SNS topic ARN'))
    .max(20)
    .optional(),
});
export type UpdateConnectionInput = z.infer<typeof updateConnectionSchema>;

export const rotateKeysSchema = z.strictObject({ accessKeyId, secretAccessKey });

/*
 * Response schemas: what the API and CLI show. They are allow-lists (the serializer drops every
 * field not named here, so a secret column can never leave the server), and the view types are
 * read off them, so the two cannot drift apart.
 */

export const STATUSES = [
  'pending_role',
  'pending_update',
  'untested',
  'active',
  'failing',
  'unsafe',
] as const satisfies readonly ConnectionStatus[];

export const onboardingLinks = z.object({
  externalId: z.string(),
  trustedPrincipalArn: z.string(),
  stackName: z.string(),
  roleName: z.string(),
  /** One click: the console's quick-create page with every parameter filled in. Null without a template bucket. */
  quickCreateUrl: z.string().nullable(),
  templateUrl: z.string().nullable(),
  quickCreateUnavailable: z.object({ code: z.string(), message: z.string(), hint: z.string() }).optional(),
  /** Without a bucket: download the template and upload it in the console with these values. */
  manual: z.object({
    consoleUrl: z.string(),
    steps: z.array(z.string()),
    parameters: z.record(z.string(), z.string()),
  }),
  templatePath: z.string(),
  terraformPath: z.string(),
  awsCliPath: z.string(),
});
export type OnboardingLinks = z.infer<typeof onboardingLinks>;

const reputation = z.object({
  sample: z.number(),
  bounceRate: z.number(),
  complaintRate: z.number(),
  level: z.enum(['ok', 'warn', 'pause', 'too_few_sends']),
});

export const connectionView = z.object({
  id: z.string(),
  name: z.string(),
  region: z.string(),
  mode: z.enum(MODES),
  status: z.enum(STATUSES),
  sendDomains: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  warnings: z.array(z.string()),
  /** Role mode, on creation: the External ID again at the top, as it is what a person copies first. */
  externalId: z.string().optional(),
  role: z
    .object({
      roleArn: z.string().nullable(),
      externalId: z.string(),
      sessionDurationSeconds: z.number().nullable(),
      sourceIdentity: z.boolean(),
      externalIdRotatedAt: z.string().nullable(),
      /**
       * Whether the role is proven to require the External ID (the confused-deputy probe): only a
       * `proven` role is used to send, read or manage; `unsafe` carries the condition to add.
       */
      safety: z.object({
        status: z.enum(['proven', 'unproven', 'unsafe']),
        provenAt: z.string().nullable(),
        lastProbe: z.enum(['pass', 'fail', 'skip', 'warn']).nullable(),
        lastProbeAt: z.string().nullable(),
        condition: z.string().optional(),
      }),
    })
    .optional(),
  accessKey: z
    .object({
      accessKeyId: z.string(),
      /** IAM's CreateDate, null until a connection test could read it (iam:ListAccessKeys). */
      createdAt: z.string().nullable(),
      firstSeenAt: z.string().nullable(),
      /** Days since createdAt; while that is unknown, days since firstSeenAt (a lower bound). */
      ageDays: z.number().nullable(),
      ageKnown: z.boolean(),
      rotationDue: z.boolean(),
    })
    .optional(),
  secretArn: z.string().nullable().optional(),
  secretBinding: z.object({ sesameExternalId: z.string(), instructions: z.string() }).optional(),
  health: z.object({
    lastAssumedAt: z.string().nullable(),
    credentialsExpireAt: z.string().nullable(),
    assumedRoleId: z.string().nullable(),
    lastError: z.object({ code: z.string(), message: z.string().nullable(), at: z.string().nullable() }).nullable(),
    lastTestedAt: z.string().nullable(),
    lastTestStatus: z.enum(['pass', 'warn', 'fail']).nullable(),
  }),
  configurationSet: z.string().nullable(),
  snsTopicArns: z.array(z.string()),
  paused: z.object({ reason: z.string(), at: z.string().nullable() }).nullable(),
  reputation: reputation.optional(),
  onboarding: onboardingLinks.optional(),
  nextSteps: z.array(z.string()).optional(),
  /** SNS deliveries refused in the last 24 hours, when any were: why SES events may have stopped. */
  refusedDeliveries: z
    .object({
      last24h: z.number(),
      byCode: z.array(
        z.object({ code: z.string(), count: z.number(), lastAt: z.string(), topicArn: z.string().nullable() }),
      ),
      hint: z.string(),
    })
    .optional(),
});
export type ConnectionView = z.infer<typeof connectionView>;

export const check = z.object({
  id: z.string(),
  status: z.enum(['pass', 'warn', 'fail', 'skip']),
  message: z.string(),
  hint: z.string(),
  code: z.string().optional(),
});
export type Check = z.infer<typeof check>;
export type CheckStatus = Check['status'];

export const testReport = z.object({
  connectionId: z.string(),
  status: z.enum(['pass', 'warn', 'fail']),
  startedAt: z.string(),
  finishedAt: z.string(),
  checks: z.array(check),
  account: z
    .object({
      productionAccessEnabled: z.boolean(),
      sendingEnabled: z.boolean(),
      enforcementStatus: z.string(),
      max24HourSend: z.number(),
      maxSendRate: z.number(),
      sentLast24Hours: z.number(),
    })
    .optional(),
});
export type TestReport = z.infer<typeof testReport>;

export const wiringResult = z.object({
  topicArn: z.string(),
  configurationSet: z.string(),
  endpoint: z.string(),
  subscription: z.enum(['confirmed', 'pending_confirmation']),
  notes: z.array(z.string()),
});
export type WiringResult = z.infer<typeof wiringResult>;
