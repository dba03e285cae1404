import type { RoleSafety } from '../../aws/credentials.js';
import type { Connection } from '../../store/connections.js';
import { defaultRoleName } from './onboarding.js';

type Row = Pick<Connection, 'mode' | 'status' | 'roleArn' | 'externalIdProvenRoleArn' | 'externalIdProvenAt'>;

/**
 * Whether a role connection may be used: only once, for its current role ARN, AssumeRole with the
 * External ID succeeded and the probe proved the role refuses callers without it.
 */
export function roleSafetyOf(r: Row): RoleSafety | null {
  if (r.mode !== 'role') return null;
  if (r.status === 'unsafe') return 'unsafe';
  return r.roleArn && r.externalIdProvenAt && r.externalIdProvenRoleArn === r.roleArn ? 'proven' : 'unproven';
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(.+)$/;

export const roleArnAccount = (arn: string | null): string | null => (arn ? (ROLE_ARN.exec(arn)?.[1] ?? null) : null);

/**
 * How the role ARN differs from the role this connection's template (CloudFormation, Terraform or
 * AWS CLI form) creates: another role name, or another account than the one the connection was
 * proven in. Such a denial is no IAM propagation delay, so it is said at once instead of retried.
 */
export function templateMismatch(
  r: Pick<Connection, 'mode' | 'roleArn' | 'roleName' | 'name' | 'roleAccountId'>,
): string | null {
  if (r.mode !== 'role' || !r.roleArn) return null;
  const m = ROLE_ARN.exec(r.roleArn);
  if (!m) return null;
  const [, account, resource] = m;
  const expected = r.roleName ?? defaultRoleName(r);
  const problems: string[] = [];
  if (resource !== expected)
    problems.push(`it names the role "${resource}", but this connection's template creates "${expected}"`);
  if (r.roleAccountId && account !== r.roleAccountId)
    problems.push(`it is in account ${account}, but this connection's role was proven in account ${r.roleAccountId}`);
  return problems.length
    ? `The role ARN ${r.roleArn} is not the role this connection's template creates: ${problems.join('; ')}.`
    : null;
}
