import type { RoleSafety } from '../../aws/credentials.js';
import type { ConnectionTable } from '../../store/schema.js';
import { defaultRoleName } from './onboarding.js';

type Row = Pick<
  ConnectionTable,
  'mode' | 'status' | 'role_arn' | 'external_id_proven_role_arn' | 'external_id_proven_at' | 'role_account_id'
>;

/**
 * Whether a role connection may be used: only once, for its current role ARN, AssumeRole with the
 * External ID succeeded and the probe proved the role refuses callers without it.
 */
export function roleSafetyOf(r: Row): RoleSafety | null {
  if (r.mode !== 'role') return null;
  if (r.status === 'unsafe') return 'unsafe';
  return r.role_arn && r.external_id_proven_at && r.external_id_proven_role_arn === r.role_arn ? 'proven' : 'unproven';
}

const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(.+)$/;

export const roleArnAccount = (arn: string | null): string | null => (arn ? (ROLE_ARN.exec(arn)?.[1] ?? null) : null);

/**
 * How the role ARN differs from the role this connection's template (CloudFormation, Terraform or
 * AWS CLI form) creates: another role name, or another account than the one the connection was
 * proven in. Such a denial is no IAM propagation delay, so it is said at once instead of retried.
 */
export function templateMismatch(
  r: Pick<ConnectionTable, 'mode' | 'role_arn' | 'role_name' | 'name' | 'role_account_id'>,
): string | null {
  if (r.mode !== 'role' || !r.role_arn) return null;
  const m = ROLE_ARN.exec(r.role_arn);
  if (!m) return null;
  const [, account, resource] = m;
  const expected = r.role_name ?? defaultRoleName(r);
  const problems: string[] = [];
  if (resource !== expected)
    problems.push(`it names the role "${resource}", but this connection's template creates "${expected}"`);
  if (r.role_account_id && account !== r.role_account_id)
    problems.push(`it is in account ${account}, but this connection's role was proven in account ${r.role_account_id}`);
  return problems.length
    ? `The role ARN ${r.role_arn} is not the role this connection's template creates: ${problems.join('; ')}.`
    : null;
}
