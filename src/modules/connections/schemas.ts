import { z } from 'zod';
import { REGION_SHAPE } from '../../aws/regions.js';

/**
 * Input schemas for connections. Objects are strict: an unknown field (an `externalId` chosen by
 * the caller, say) is an error, not silently ignored.
 */
export const MODES = ['role', 'access_keys', 'default_chain', 'secrets_manager'] as const;

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
