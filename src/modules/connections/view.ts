import { externalIdCondition } from '../../aws/credentials.js';
import type { ConnectionTable } from '../../store/schema.js';
import type { RefusalSummary } from '../events/refusals.js';
import type { OnboardingLinks } from './onboarding.js';
import { roleSafetyOf, templateMismatch } from './safety.js';

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
    /**
     * Whether the role is proven to require the External ID (the confused-deputy probe): only a
     * `proven` role is used to send, read or manage; `unsafe` carries the condition to add.
     */
    safety: {
      status: 'proven' | 'unproven' | 'unsafe';
      provenAt: string | null;
      lastProbe: string | null;
      lastProbeAt: string | null;
      condition?: string;
    };
  };
  accessKey?: {
    accessKeyId: string;
    /** IAM's CreateDate, null until a connection test could read it (iam:ListAccessKeys). */
    createdAt: string | null;
    firstSeenAt: string | null;
    /** Days since createdAt; while that is unknown, days since firstSeenAt (a lower bound). */
    ageDays: number | null;
    ageKnown: boolean;
    rotationDue: boolean;
  };
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
      safety: {
        status: roleSafetyOf(r) ?? 'unproven',
        provenAt: roleSafetyOf(r) === 'proven' ? r.external_id_proven_at : null,
        lastProbe: r.external_id_check,
        lastProbeAt: r.external_id_checked_at,
      },
    };
    const safety = v.role.safety;
    if (!r.role_arn)
      warnings.push(
        'Waiting for the role ARN: create the stack from the onboarding links, then set its RoleArn output.',
      );
    else if (safety.status === 'unsafe') {
      safety.condition = externalIdCondition(r.external_id ?? '');
      warnings.push(
        `Not used: the role can be assumed without this connection's External ID or with a wrong one, so another Sesame workspace could send as you. Add ${safety.condition} to the trust policy statement that trusts Sesame, then test the connection again; queued messages wait until then.`,
      );
    } else if (safety.status === 'unproven') {
      warnings.push(
        'Not used yet: Sesame sends, reads and manages through a role only after a test proved that it requires the External ID. Run the connection test.',
      );
    }
    const mismatch = safety.status === 'proven' ? null : templateMismatch(r);
    if (mismatch) warnings.push(mismatch);
  }
  if (r.mode === 'access_keys') {
    // IAM's CreateDate once a test could read it; until then only a lower bound: the day Sesame first saw the key.
    const known = r.access_key_aws_created_at;
    const since = known ?? r.access_key_created_at;
    const ageDays = since ? Math.floor((ctx.now.getTime() - Date.parse(since)) / DAY) : null;
    const rotationDue = ageDays !== null && ageDays >= ctx.keyAgeWarnDays;
    v.accessKey = {
      accessKeyId: maskKeyId(r.access_key_id),
      createdAt: known,
      firstSeenAt: r.access_key_created_at,
      ageDays,
      ageKnown: known !== null,
      rotationDue,
    };
    if (rotationDue)
      warnings.push(
        `This access key is ${known ? '' : 'at least '}${ageDays} days old (Sesame warns at ${ctx.keyAgeWarnDays}). Rotate it: create a new key in IAM, submit it with \`sesame aws rotate-keys\`, then deactivate the old one.`,
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
