import { systemClock } from '../../clock.js';
import type { Kysely } from 'kysely';
import { newId } from '../../ids.js';

/**
 * A role connection is used only once it is proven to require its External ID (AssumeRole with it
 * succeeded, without it and with a wrong one denied) for its current role ARN.
 *
 * Existing role connections are judged by what their last test since the role ARN was set showed,
 * so an upgrade neither stops a proven connection nor keeps using a role known to be too open:
 * - the last test passed or only warned (the probe cannot have failed): proven at that time;
 * - it failed, and its audit row shows the role assumable with the External ID and the probe not
 *   failing: proven too (other failures, such as the SES account's state, are not about safety);
 * - its audit row shows the probe failed: `unsafe`, with an audit row saying why;
 * - anything else (never tested, or tested before the role ARN changed): not proven, so the next
 *   test decides; sends are refused with `connection_not_ready` until then, and say so.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const column of [
    'external_id_proven_at',
    'external_id_proven_role_arn',
    'external_id_check',
    'external_id_checked_at',
    'role_account_id',
  ]) {
    await db.schema.alterTable('connections').addColumn(column, 'text').execute();
  }

  const q = db as unknown as Kysely<Tables>;
  const rows = await q
    .selectFrom('connections')
    .select(['id', 'workspace_id', 'role_arn', 'role_arn_set_at', 'last_tested_at', 'last_test_status'])
    .where('mode', '=', 'role')
    .where('role_arn', 'is not', null)
    .where('last_tested_at', 'is not', null)
    .execute();
  for (const r of rows) {
    if (!r.role_arn || !r.last_tested_at) continue;
    if (r.role_arn_set_at && r.role_arn_set_at > r.last_tested_at) continue;
    let verdict: 'proven' | 'unsafe' | undefined;
    if (r.last_test_status === 'pass' || r.last_test_status === 'warn') verdict = 'proven';
    else {
      const tested = await q
        .selectFrom('audit_log')
        .select(['details'])
        .where('connection_id', '=', r.id)
        .where('action', '=', 'connection.tested')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      const d = parse(tested?.details);
      if (d?.failed.includes('external_id_required')) verdict = 'unsafe';
      else if (d && !d.failed.includes('role_assumable') && !d.warned.includes('external_id_required'))
        verdict = 'proven';
    }
    if (verdict === 'proven') {
      await q
        .updateTable('connections')
        .set({
          external_id_proven_at: r.last_tested_at,
          external_id_proven_role_arn: r.role_arn,
          external_id_check: 'pass',
          external_id_checked_at: r.last_tested_at,
          role_account_id: /^arn:[^:]+:iam::(\d{12}):/.exec(r.role_arn)?.[1] ?? null,
        })
        .where('id', '=', r.id)
        .execute();
    } else if (verdict === 'unsafe') {
      await q
        .updateTable('connections')
        .set({ status: 'unsafe', external_id_check: 'fail', external_id_checked_at: r.last_tested_at })
        .where('id', '=', r.id)
        .execute();
      const now = systemClock.now().toISOString();
      await q
        .insertInto('audit_log')
        .values({
          id: newId('aud', systemClock.ms()),
          workspace_id: r.workspace_id,
          connection_id: r.id,
          actor: 'system',
          action: 'connection.unsafe',
          outcome: 'aws_trust_policy_too_open',
          details: JSON.stringify({
            roleArn: r.role_arn,
            reason:
              "The last connection test before this upgrade found that the role can be assumed without this connection's External ID or with a wrong one; Sesame no longer uses such a role. Add the sts:ExternalId condition to its trust policy and test again.",
          }),
          created_at: now,
        })
        .execute();
    }
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of [
    'role_account_id',
    'external_id_checked_at',
    'external_id_check',
    'external_id_proven_role_arn',
    'external_id_proven_at',
  ]) {
    await db.schema.alterTable('connections').dropColumn(column).execute();
  }
}

function parse(details: string | undefined): { failed: string[]; warned: string[] } | undefined {
  if (!details) return undefined;
  try {
    const d = JSON.parse(details) as { failed?: unknown; warned?: unknown };
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
    return { failed: list(d.failed), warned: list(d.warned) };
  } catch {
    return undefined;
  }
}

/** The columns this migration reads and writes, as they are at this point of the history. */
interface Tables {
  connections: {
    id: string;
    workspace_id: string;
    mode: string;
    status: string;
    role_arn: string | null;
    role_arn_set_at: string | null;
    last_tested_at: string | null;
    last_test_status: string | null;
    external_id_proven_at: string | null;
    external_id_proven_role_arn: string | null;
    external_id_check: string | null;
    external_id_checked_at: string | null;
    role_account_id: string | null;
  };
  audit_log: {
    id: string;
    workspace_id: string | null;
    connection_id: string | null;
    actor: string;
    action: string;
    outcome: string;
    details: string;
    created_at: string;
  };
}
