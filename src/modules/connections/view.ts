import { externalIdCondition } from '../../aws/credentials.js';
import type { Connection } from '../../store/connections.js';
import type { RefusalSummary } from '../events/refusals.js';
import { roleSafetyOf, templateMismatch } from './safety.js';
import type { ConnectionView } from './schemas.js';

export type { ConnectionView };

const DAY = 86_400_000;

/** Built field by field (an allow-list): a secret column can never reach a response by accident. */
export function toView(
  r: Connection,
  ctx: { now: Date; keyAgeWarnDays: number; warning: string | null },
): ConnectionView {
  const warnings: string[] = ctx.warning ? [ctx.warning] : [];
  const v: ConnectionView = {
    id: r.id,
    name: r.name,
    region: r.region,
    mode: r.mode,
    status: r.status,
    sendDomains: [...r.sendDomains],
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    warnings,
    configurationSet: r.configurationSet,
    snsTopicArns: [...r.snsTopicArns],
    paused: r.pausedReason ? { reason: r.pausedReason, at: r.pausedAt } : null,
    health: {
      lastAssumedAt: r.lastAssumedAt,
      credentialsExpireAt: r.credentialsExpireAt,
      assumedRoleId: r.assumedRoleId,
      lastError: r.lastErrorCode ? { code: r.lastErrorCode, message: r.lastErrorMessage, at: r.lastErrorAt } : null,
      lastTestedAt: r.lastTestedAt,
      lastTestStatus: r.lastTestStatus,
    },
  };
  if (r.mode === 'role') {
    v.role = {
      roleArn: r.roleArn,
      externalId: r.externalId ?? '',
      sessionDurationSeconds: r.sessionDurationSeconds,
      sourceIdentity: r.sourceIdentity,
      externalIdRotatedAt: r.externalIdRotatedAt,
      safety: {
        status: roleSafetyOf(r) ?? 'unproven',
        provenAt: roleSafetyOf(r) === 'proven' ? r.externalIdProvenAt : null,
        lastProbe: r.externalIdCheck,
        lastProbeAt: r.externalIdCheckedAt,
      },
    };
    const safety = v.role.safety;
    if (!r.roleArn)
      warnings.push(
        'Waiting for the role ARN: create the stack from the onboarding links, then set its RoleArn output.',
      );
    else if (safety.status === 'unsafe') {
      safety.condition = externalIdCondition(r.externalId ?? '');
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
    const known = r.accessKeyAwsCreatedAt;
    const since = known ?? r.accessKeyCreatedAt;
    const ageDays = since ? Math.floor((ctx.now.getTime() - Date.parse(since)) / DAY) : null;
    const rotationDue = ageDays !== null && ageDays >= ctx.keyAgeWarnDays;
    v.accessKey = {
      accessKeyId: maskKeyId(r.accessKeyId),
      createdAt: known,
      firstSeenAt: r.accessKeyCreatedAt,
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
    v.secretArn = r.secretArn;
    v.secretBinding = {
      sesameExternalId: r.externalId ?? '',
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
