import type { ConnectionTable } from '../../store/schema.js';
import type { RefusalSummary } from '../events/refusals.js';
import type { OnboardingLinks } from './onboarding.js';

/**
 * What the API and CLI show of a connection. Built field by field (an allow-list): a secret
 * column can never reach a response by accident.
 */
export interface ConnectionView {
  id: string;
  name: string;
  region: string;
  mode: string;
  status: string;
  sendDomains: string[];
  createdAt: string;
  updatedAt: string;
  warnings: string[];
  role?: {
    roleArn: string | null;
    externalId: string;
    sessionDurationSeconds: number | null;
    sourceIdentity: boolean;
    externalIdRotatedAt: string | null;
  };
  accessKey?: { accessKeyId: string; createdAt: string | null; ageDays: number | null; rotationDue: boolean };
  secretArn?: string | null;
  secretBinding?: { sesameExternalId: string; instructions: string };
  health: {
    lastAssumedAt: string | null;
    credentialsExpireAt: string | null;
    assumedRoleId: string | null;
    lastError: { code: string; message: string | null; at: string | null } | null;
    lastTestedAt: string | null;
    lastTestStatus: string | null;
  };
  configurationSet: string | null;
  snsTopicArns: string[];
  paused: { reason: string; at: string | null } | null;
  reputation?: {
    sample: number;
    bounceRate: number;
    complaintRate: number;
    level: 'ok' | 'warn' | 'pause' | 'too_few_sends';
  };
  onboarding?: OnboardingLinks;
  nextSteps?: string[];
  /** SNS deliveries refused in the last 24 hours, when any were: why SES events may have stopped. */
  refusedDeliveries?: {
    last24h: number;
    byCode: Array<{ code: string; count: number; lastAt: string; topicArn: string | null }>;
    hint: string;
  };
}

const DAY = 86_400_000;

export function toView(
  r: ConnectionTable,
  ctx: { now: Date; keyAgeWarnDays: number; warning: string | null },
): ConnectionView {
  const warnings: string[] = ctx.warning ? [ctx.warning] : [];
  const v: ConnectionView = {
    id: r.id,
    name: r.name,
    region: r.region,
    mode: r.mode,
    status: r.status,
    sendDomains: JSON.parse(r.send_domains) as string[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    warnings,
    configurationSet: r.configuration_set,
    snsTopicArns: JSON.parse(r.sns_topic_arns ?? '[]') as string[],
    paused: r.paused_reason ? { reason: r.paused_reason, at: r.paused_at } : null,
    health: {
      lastAssumedAt: r.last_assumed_at,
      credentialsExpireAt: r.credentials_expire_at,
      assumedRoleId: r.assumed_role_id,
      lastError: r.last_error_code
        ? { code: r.last_error_code, message: r.last_error_message, at: r.last_error_at }
        : null,
      lastTestedAt: r.last_tested_at,
      lastTestStatus: r.last_test_status,
    },
  };
  if (r.mode === 'role') {
    v.role = {
      roleArn: r.role_arn,
      externalId: r.external_id ?? '',
      sessionDurationSeconds: r.session_duration_seconds,
      sourceIdentity: r.source_identity === 1,
      externalIdRotatedAt: r.external_id_rotated_at,
    };
    if (!r.role_arn)
      warnings.push(
        'Waiting for the role ARN: create the stack from the onboarding links, then set its RoleArn output.',
      );
  }
  if (r.mode === 'access_keys') {
    const ageDays = r.access_key_created_at
      ? Math.floor((ctx.now.getTime() - Date.parse(r.access_key_created_at)) / DAY)
      : null;
    const rotationDue = ageDays !== null && ageDays >= ctx.keyAgeWarnDays;
    v.accessKey = { accessKeyId: maskKeyId(r.access_key_id), createdAt: r.access_key_created_at, ageDays, rotationDue };
    if (rotationDue)
      warnings.push(
        `This access key is ${ageDays} days old (Sesame warns at ${ctx.keyAgeWarnDays}). Rotate it: create a new key in IAM, submit it with \`sesame aws rotate-keys\`, then deactivate the old one.`,
      );
  }
  if (r.mode === 'secrets_manager') {
    v.secretArn = r.secret_arn;
    v.secretBinding = {
      sesameExternalId: r.external_id ?? '',
      instructions:
        'Add "sesameExternalId" with this value to the secret\'s JSON, next to accessKeyId and secretAccessKey. Sesame refuses a secret without it, so nobody else can point Sesame at your secret.',
    };
  }
  return v;
}

/** `AKIA…WXYZ`: enough to recognise a key, never enough to use or search for it. */
export const maskKeyId = (id: string | null): string => (id ? `${id.slice(0, 4)}…${id.slice(-4)}` : '');

/** Refused SNS deliveries: the figures, and a warning with the reason and what to do. */
export function addRefusals(v: ConnectionView, s: RefusalSummary | null): ConnectionView {
  if (!s) return v;
  v.refusedDeliveries = { last24h: s.total, byCode: s.byCode, hint: s.hint };
  v.warnings.push(`SES events: ${s.message} ${s.hint}`);
  return v;
}
