import { z } from 'zod';

/**
 * Response schemas. They are allow-lists: the serializer drops every field not named here, so a
 * secret column can never leave the server through a response.
 */
export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  requestId: z.string(),
});

const onboarding = z.object({
  externalId: z.string(),
  trustedPrincipalArn: z.string(),
  stackName: z.string(),
  roleName: z.string(),
  quickCreateUrl: z.string().nullable(),
  templateUrl: z.string().nullable(),
  quickCreateUnavailable: z.object({ code: z.string(), message: z.string(), hint: z.string() }).optional(),
  manual: z.object({
    consoleUrl: z.string(),
    steps: z.array(z.string()),
    parameters: z.record(z.string(), z.string()),
  }),
  templatePath: z.string(),
  terraformPath: z.string(),
  awsCliPath: z.string(),
});

export const connectionView = z.object({
  id: z.string(),
  name: z.string(),
  region: z.string(),
  mode: z.string(),
  status: z.string(),
  sendDomains: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
  warnings: z.array(z.string()),
  externalId: z.string().optional(),
  role: z
    .object({
      roleArn: z.string().nullable(),
      externalId: z.string(),
      sessionDurationSeconds: z.number().nullable(),
      sourceIdentity: z.boolean(),
      externalIdRotatedAt: z.string().nullable(),
      safety: z.object({
        status: z.enum(['proven', 'unproven', 'unsafe']),
        provenAt: z.string().nullable(),
        lastProbe: z.string().nullable(),
        lastProbeAt: z.string().nullable(),
        condition: z.string().optional(),
      }),
    })
    .optional(),
  accessKey: z
    .object({
      accessKeyId: z.string(),
      createdAt: z.string().nullable(),
      firstSeenAt: z.string().nullable(),
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
    lastTestStatus: z.string().nullable(),
  }),
  configurationSet: z.string().nullable(),
  snsTopicArns: z.array(z.string()),
  paused: z.object({ reason: z.string(), at: z.string().nullable() }).nullable(),
  reputation: z
    .object({
      sample: z.number(),
      bounceRate: z.number(),
      complaintRate: z.number(),
      level: z.enum(['ok', 'warn', 'pause', 'too_few_sends']),
    })
    .optional(),
  onboarding: onboarding.optional(),
  nextSteps: z.array(z.string()).optional(),
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

export const testReport = z.object({
  connectionId: z.string(),
  status: z.enum(['pass', 'warn', 'fail']),
  startedAt: z.string(),
  finishedAt: z.string(),
  checks: z.array(
    z.object({
      id: z.string(),
      status: z.enum(['pass', 'warn', 'fail', 'skip']),
      message: z.string(),
      hint: z.string(),
      code: z.string().optional(),
    }),
  ),
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

export const apiKeyInfo = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  last4: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  canSend: z.boolean(),
});

export const auditEntry = z.object({
  id: z.string(),
  connectionId: z.string().nullable(),
  actor: z.string(),
  action: z.string(),
  outcome: z.string(),
  details: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

export const idParams = z.strictObject({ id: z.string().min(1).max(100) });
