import { randomBytes } from 'node:crypto';
import { type CredentialProvider, externalIdCondition, roleSessionName } from '../../aws/credentials.js';
import { awsErrorName, translateAwsError } from '../../aws/errors.js';
import type { AwsGateway, SesAccount } from '../../aws/gateway.js';
import type { Platform } from '../../aws/platform.js';
import { PURPOSE_ACTIONS, PURPOSES, type Purpose } from '../../aws/policies.js';
import { SES_REGIONS } from '../../aws/regions.js';
import { backoffMs } from '../../backoff.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { AppError, isAppError } from '../../errors.js';
import type { Audit } from '../audit/audit.js';
import { templateMismatch } from './safety.js';
import type { Check, TestReport } from './schemas.js';
import type { Connection, Connections } from './service.js';

export type { Check, CheckStatus, TestReport } from './schemas.js';

/** Told before each wait while AccessDenied may be IAM propagating a new role. */
export type PropagationProgress = (p: { retry: number; of: number; waitMs: number }) => void;

/** Waits while IAM may be propagating a new role: 500 ms doubling to 8 s, no jitter (a person watches them). */
const PROPAGATION_BACKOFF = { baseMs: 500, capMs: 8000, jitter: 'none' } as const;

/** The wait before propagation retry `retry` (0-based), cut short where the budget ends. */
const propagationWait = (retry: number, waitedMs: number, budgetMs: number): number =>
  Math.min(backoffMs(retry, PROPAGATION_BACKOFF), budgetMs - waitedMs);

/** How many waits the propagation budget allows, to say "retry 3 of 7". */
export function propagationRetries(budgetMs: number): number {
  let n = 0;
  for (let waited = 0; waited < budgetMs; n++) waited += propagationWait(n, waited, budgetMs);
  return n;
}

/** How long a role counts as new: AccessDenied then may be IAM propagation, not a wrong policy. */
const NEW_ROLE_WINDOW_MS = 10 * 60_000;

export interface TestDeps {
  clock: Clock;
  config: Pick<Config, 'propagationRetrySeconds' | 'region' | 'keyAgeWarnDays'>;
  platform: Pick<Platform, 'identity' | 'credentials'>;
  gateway: Pick<
    AwsGateway,
    'callerIdentity' | 'assumeRoleRaw' | 'getAccount' | 'simulate' | 'probeSend' | 'listConfigurationSets'
  > &
    Pick<AwsGateway, 'listOwnAccessKeys'>;
  connections: Pick<Connections, 'row' | 'subject' | 'recordTest' | 'recordExternalIdCheck' | 'recordAccessKeyCreated'>;
  /** The test alone may assume a role not yet proven safe: that is how it is proven. */
  broker: {
    providerForTest: (s: ReturnType<Connections['subject']>, p: Purpose) => Promise<CredentialProvider>;
    drop(id: string): void;
  };
  /** A role connection became usable or stopped being so (the worker holds or releases its queue). */
  onSafetyChanged?: (connectionId: string) => void;
  audit: Pick<Audit, 'record'>;
  /** The SES → SNS → Sesame wiring check. */
  events?: { check(r: Connection, readCreds: CredentialProvider): Promise<Check> };
}

const ok = (id: string, message: string): Check => ({ id, status: 'pass', message, hint: '' });
const fromError = (id: string, e: unknown, prefix = ''): Check => {
  const err = isAppError(e) ? e : new AppError('internal_error', e instanceof Error ? e.message : String(e));
  return { id, status: 'fail', message: `${prefix}${err.message}`, hint: err.hint, code: err.code };
};

/**
 * Test connection: a report of checks a person can act on. It never stops at the first failure
 * when later checks can still say something useful, and it proves the External ID is required.
 */
export function createConnectionTester(deps: TestDeps) {
  const { clock, gateway, platform } = deps;

  /** Resolve credentials, retrying AccessDenied with backoff while a new role may still be propagating. */
  async function credentialsWithPropagation(
    r: Connection,
    purpose: Purpose,
    onRetry?: PropagationProgress,
  ): Promise<{ creds: CredentialProvider; retried: number; waitedMs: number }> {
    const subject = deps.connections.subject(r);
    // Another role than the template's was not created moments ago by it: no propagation to wait for.
    const mismatch = templateMismatch(r);
    const isNew = !mismatch && r.roleArnSetAt !== null && clock.ms() - Date.parse(r.roleArnSetAt) < NEW_ROLE_WINDOW_MS;
    const budget = r.mode === 'role' && isNew ? deps.config.propagationRetrySeconds * 1000 : 0;
    let waited = 0;
    let retried = 0;
    for (;;) {
      try {
        const creds = await deps.broker.providerForTest(subject, purpose);
        await creds();
        return { creds, retried, waitedMs: waited };
      } catch (e) {
        const denied = isAppError(e) && e.code === 'aws_trust_policy_denied';
        if (denied && mismatch) {
          throw new AppError('role_arn_mismatch', `${mismatch} AssumeRole was denied: ${e.message}`, {
            hint: "Copy the RoleArn output of the stack created from this connection's onboarding link and set it again (sesame aws setup --connection <connection> --role-arn <RoleArn>). If you created this role yourself under another name, check that its trust policy names Sesame's principal and this connection's External ID; a role made moments ago may need a minute before IAM lets it be assumed.",
          });
        }
        if (!denied || waited >= budget) {
          if (denied && isNew) {
            throw new AppError(
              'aws_role_propagating',
              `${e instanceof Error ? e.message : ''} (still denied after ${retried} retries over ${Math.round(waited / 1000)} s; the role ARN was set ${Math.round((clock.ms() - Date.parse(r.roleArnSetAt!)) / 1000)} s ago, so IAM may still be propagating it, or the trust policy is wrong)`,
              {
                hint: "Wait a minute and test again. If it still fails, check that the trust policy names the principal shown by `sesame aws whoami` and this connection's External ID.",
              },
            );
          }
          throw e;
        }
        deps.broker.drop(r.id);
        const step = propagationWait(retried, waited, budget);
        onRetry?.({ retry: retried + 1, of: propagationRetries(budget), waitMs: step });
        await clock.sleep(step);
        waited += step;
        retried++;
      }
    }
  }

  /** Only meaningful once AssumeRole with the External ID succeeded: otherwise every denial proves nothing. */
  async function probeExternalId(r: Connection, trustedPrincipalArn: string | undefined): Promise<Check> {
    const attempts: Array<{ label: string; externalId?: string }> = [
      { label: 'without an External ID' },
      { label: 'with a wrong External ID', externalId: randomBytes(24).toString('hex') },
    ];
    const accepted: string[] = [];
    for (const a of attempts) {
      const sessionName = roleSessionName(r.id, 'probe');
      try {
        const got = await gateway.assumeRoleRaw(platform.credentials, deps.config.region, {
          RoleArn: r.roleArn!,
          RoleSessionName: sessionName,
          DurationSeconds: 900,
          ...(a.externalId ? { ExternalId: a.externalId } : {}),
        });
        accepted.push(a.label);
        await deps.audit.record({
          workspaceId: r.workspaceId,
          connectionId: r.id,
          actor: 'system',
          action: 'sts.probe',
          outcome: 'assumed',
          details: {
            probe: a.label,
            roleArn: r.roleArn,
            roleSessionName: sessionName,
            assumedRoleId: got.assumedRoleId,
            expiresAt: got.expiresAt,
          },
        });
      } catch (e) {
        const name = awsErrorName(e);
        await deps.audit.record({
          workspaceId: r.workspaceId,
          connectionId: r.id,
          actor: 'system',
          action: 'sts.probe',
          outcome: name ?? 'error',
          details: { probe: a.label, roleArn: r.roleArn, roleSessionName: sessionName },
        });
        if (name !== 'AccessDenied') {
          const t = translateAwsError(e, { action: 'sts:AssumeRole', region: r.region, roleArn: r.roleArn! });
          return {
            id: 'external_id_required',
            status: 'warn',
            message: `The probe ${a.label} could not be judged: ${t.message}`,
            hint: t.hint,
            code: t.code,
          };
        }
      }
    }
    if (accepted.length > 0) {
      return {
        id: 'external_id_required',
        status: 'fail',
        message: `The role can be assumed ${accepted.join(' and ')}: it does not require this connection's External ID, so another Sesame customer who learns the role ARN could make Sesame act on your account (confused deputy). Sesame does not use this connection until a test proves otherwise.`,
        hint: `Add ${externalIdCondition(r.externalId ?? '')} to the trust policy statement that allows ${trustedPrincipalArn ?? "Sesame's principal"} to call sts:AssumeRole (re-deploying the Sesame template does this), then test again.`,
        code: 'aws_trust_policy_too_open',
      };
    }
    return ok(
      'external_id_required',
      "AssumeRole without the External ID and with a wrong one were both denied: the role requires this connection's External ID.",
    );
  }

  async function permissionChecks(
    r: Connection,
    readCreds: CredentialProvider,
    principalArn: string | undefined,
    domains: string[],
  ): Promise<Check[]> {
    const checks: Check[] = [];
    let simulated: Map<string, string> | undefined;
    if (principalArn) {
      try {
        const all = [...new Set(PURPOSES.flatMap((p) => PURPOSE_ACTIONS[p]))];
        const context = { 'ses:FromAddress': `sesame-check@${domains[0] ?? 'example.com'}` };
        // SNS grants are scoped to Sesame's own topics: simulate them against such a topic.
        const account = /::(\d{12}):/.exec(principalArn)?.[1] ?? '*';
        const topic = `arn:aws:sns:${r.region}:${account}:sesame-events`;
        const [general, sns] = await Promise.all([
          gateway.simulate(
            readCreds,
            r.region,
            principalArn,
            all.filter((a) => !a.startsWith('sns:')),
            context,
          ),
          gateway.simulate(
            readCreds,
            r.region,
            principalArn,
            all.filter((a) => a.startsWith('sns:')),
            context,
            [topic],
          ),
        ]);
        simulated = new Map([...general, ...sns].map((x) => [x.action.toLowerCase(), x.decision]));
      } catch {
        simulated = undefined; // no iam:SimulatePrincipalPolicy: fall back to a harmless call per purpose
      }
    }
    for (const purpose of PURPOSES) {
      const id = `permissions_${purpose}`;
      if (simulated) {
        const denied = PURPOSE_ACTIONS[purpose].filter((a) => simulated!.get(a.toLowerCase()) !== 'allowed');
        if (denied.length === 0)
          checks.push(ok(id, `The ${purpose} permissions are all allowed (IAM policy simulation).`));
        else
          checks.push({
            id,
            status: purpose === 'manage' ? 'warn' : 'fail',
            message: `Not allowed for ${purpose}: ${denied.join(', ')} (IAM policy simulation).`,
            hint:
              purpose === 'manage'
                ? 'Sesame cannot set up identities or event wiring itself; do it by hand, or deploy the template with AllowManage=true.'
                : 'Add these actions to the role or user policy (the Sesame template grants exactly these).',
            code: 'aws_access_denied',
          });
        continue;
      }
      try {
        const creds = purpose === 'read' ? readCreds : (await credentialsWithPropagation(r, purpose)).creds;
        if (purpose === 'read') await gateway.getAccount(creds, r.region);
        if (purpose === 'manage') await gateway.listConfigurationSets(creds, r.region);
        if (purpose === 'send') {
          const verdict = await gateway.probeSend(creds, r.region, `sesame-check@${domains[0] ?? 'example.com'}`);
          if (verdict === 'denied')
            throw new AppError('aws_access_denied', 'ses:SendEmail is denied for these credentials.');
        }
        checks.push(
          ok(
            id,
            `The ${purpose} credentials were accepted by a harmless ${purpose} call (IAM simulation was not available).`,
          ),
        );
      } catch (e) {
        const c = fromError(id, e, `${purpose}: `);
        if (purpose === 'manage') c.status = 'warn';
        checks.push(c);
      }
    }
    return checks;
  }

  function accountChecks(a: SesAccount): Check[] {
    const checks: Check[] = [];
    checks.push(
      a.sendingEnabled
        ? ok('ses_sending_enabled', 'Sending is enabled for the SES account in this region.')
        : {
            id: 'ses_sending_enabled',
            status: 'fail',
            message: 'Sending is disabled for this SES account in this region.',
            hint: 'Check the SES console (Reputation metrics, account dashboard) for why AWS paused sending, fix the cause, then re-enable sending or contact AWS Support.',
            code: 'ses_sending_disabled',
          },
    );
    checks.push(
      a.productionAccessEnabled
        ? ok('ses_production_access', 'The SES account has production access.')
        : {
            id: 'ses_production_access',
            status: 'warn',
            message: `The SES account is in the sandbox: it may only send to verified addresses, ${a.max24HourSend} messages a day, ${a.maxSendRate} per second.`,
            hint: 'Request production access: SES console > Account dashboard > Request production access (or `aws sesv2 put-account-details --production-access-enabled ...`).',
            code: 'ses_sandbox',
          },
    );
    const enforcement = a.enforcementStatus;
    checks.push(
      enforcement === 'HEALTHY'
        ? ok('ses_enforcement', 'Enforcement status is HEALTHY.')
        : {
            id: 'ses_enforcement',
            status: enforcement === 'SHUTDOWN' ? 'fail' : 'warn',
            message: `Enforcement status is ${enforcement}.`,
            hint: 'AWS is reviewing the account (bounce or complaint rates). Read the notice in the SES console under Reputation metrics and fix the cause before sending more.',
            code: 'ses_enforcement',
          },
    );
    const remaining = Math.max(0, a.max24HourSend - a.sentLast24Hours);
    checks.push({
      id: 'ses_quota',
      status: remaining === 0 && a.max24HourSend > 0 ? 'warn' : 'pass',
      message: `Quota: ${a.maxSendRate}/s, ${a.max24HourSend} per 24 h, ${a.sentLast24Hours} sent in the last 24 h (${remaining} left).`,
      hint:
        remaining === 0 && a.max24HourSend > 0
          ? 'The daily quota is used up; new messages wait until it frees up. Ask AWS for a higher quota if this repeats.'
          : '',
    });
    return checks;
  }

  function probeSkipped(r: Connection, why: string): Check {
    return {
      id: 'external_id_required',
      status: 'skip',
      message: `Not judged: ${why}, so a refusal without the External ID would prove nothing. Sesame does not use the role until this probe passes.`,
      hint: templateMismatch(r) ?? 'Fix the role_assumable check first, then test again.',
    };
  }

  /** Record what the probe showed; a change of safety is audited with its reason and told to the worker. */
  async function settle(r: Connection, probe: Check, actor: string): Promise<void> {
    const outcome = probe.status;
    const { before, after } = await deps.connections.recordExternalIdCheck(r, outcome);
    if (before === after) return;
    if (after === 'unsafe') {
      await deps.audit.record({
        workspaceId: r.workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.unsafe',
        outcome: probe.code ?? 'aws_trust_policy_too_open',
        details: { roleArn: r.roleArn, reason: probe.message },
      });
    } else if (after === 'proven') {
      await deps.audit.record({
        workspaceId: r.workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.proven',
        details: {
          roleArn: r.roleArn,
          previously: before,
          reason:
            'AssumeRole with the External ID succeeded; without it and with a wrong one it was denied. Sesame now uses this role.',
        },
      });
    }
    deps.onSafetyChanged?.(r.id);
  }

  /**
   * How old the access key is: IAM's CreateDate, read with the key itself (ListAccessKeys without a
   * user name lists the signing key's own user). Without it only a lower bound is known, the day
   * Sesame first saw the key, and the check says so rather than calling an old key new.
   */
  async function keyAgeCheck(
    r: Connection,
    readCreds: CredentialProvider | undefined,
    userArn: string | undefined,
  ): Promise<Check> {
    const DAY = 86_400_000;
    const now = clock.now();
    const warnDays = deps.config.keyAgeWarnDays;
    const rotate = 'Rotate it: create a new key in IAM, run `sesame aws rotate-keys`, then deactivate the old key.';
    let createdAt: string | null = null;
    let why = 'the credentials did not resolve';
    if (readCreds) {
      try {
        const keys = await gateway.listOwnAccessKeys(readCreds, deps.config.region);
        const key = keys.find((k) => k.accessKeyId === r.accessKeyId);
        createdAt = key?.createdAt ?? null;
        if (!createdAt) why = key ? 'IAM gave no creation date for it' : 'IAM did not list this key for its user';
      } catch (e) {
        why =
          isAppError(e) && e.code === 'aws_access_denied'
            ? 'the key may not call iam:ListAccessKeys on its own user'
            : `IAM could not be asked: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    if (createdAt) {
      await deps.connections.recordAccessKeyCreated(r.id, r.accessKeyId!, createdAt);
      const days = Math.floor((now.getTime() - Date.parse(createdAt)) / DAY);
      const message = `The access key is ${days} days old (IAM created it on ${createdAt.slice(0, 10)}).`;
      return days >= warnDays
        ? { id: 'access_key_age', status: 'warn', message, hint: rotate, code: 'access_key_old' }
        : ok('access_key_age', message);
    }
    const seen = r.accessKeyCreatedAt ?? now.toISOString();
    const days = Math.floor((now.getTime() - Date.parse(seen)) / DAY);
    const grant = `Grant iam:ListAccessKeys on the user itself (Resource ${userArn ?? 'arn:aws:iam::<account>:user/${aws:username}'}) to see the real age.`;
    return {
      id: 'access_key_age',
      status: 'warn',
      message: `The access key's real age is unknown (${why}): it is at least ${days} days old, since Sesame first saw it on ${seen.slice(0, 10)}.`,
      hint: days >= warnDays ? `${rotate} ${grant}` : grant,
      code: days >= warnDays ? 'access_key_old' : 'access_key_age_unknown',
    };
  }

  return {
    /**
     * The probe alone, when a role ARN is set or changed: one AssumeRole with the External ID (no
     * waiting for IAM propagation: the test does that), then without it and with a wrong one.
     */
    async proveRole(workspaceId: string, id: string, actor: string): Promise<Check | undefined> {
      const r = await deps.connections.row(workspaceId, id);
      if (r.mode !== 'role' || !r.roleArn) return undefined;
      let probe: Check;
      try {
        await (
          await deps.broker.providerForTest(deps.connections.subject(r), 'read')
        )();
        const trusted = await platform.identity().then(
          (i) => i.trustedPrincipalArn,
          () => undefined,
        );
        probe = await probeExternalId(r, trusted);
      } catch (e) {
        deps.broker.drop(r.id);
        const err = isAppError(e) ? e : undefined;
        probe = probeSkipped(r, `the role could not be assumed with the External ID (${err?.code ?? 'error'})`);
      }
      await settle(r, probe, actor);
      return probe;
    },

    async test(
      workspaceId: string,
      id: string,
      actor: string,
      opts: { onPropagationRetry?: PropagationProgress } = {},
    ): Promise<TestReport> {
      const r = await deps.connections.row(workspaceId, id);
      const startedAt = clock.now().toISOString();
      const checks: Check[] = [];
      const domains = r.sendDomains;

      // 1. Sesame's own principal.
      let identity: Awaited<ReturnType<Platform['identity']>> | undefined;
      try {
        identity = await platform.identity();
        const notes: string[] = [];
        if (identity.roleChaining)
          notes.push('Sesame runs on role credentials, so sessions are capped at 1 hour (role chaining).');
        const root = /:root$/.test(identity.callerArn);
        const configuredAccount = /::(\d{12}):/.exec(identity.trustedPrincipalArn)?.[1];
        if (root) {
          checks.push({
            id: 'platform_principal',
            status: 'fail',
            message: `Sesame runs with the root user of account ${identity.account}: roles would trust the whole account.`,
            hint: 'Run Sesame with a dedicated IAM role or user (never root credentials).',
            code: 'root_credentials',
          });
        } else if (identity.principalSource === 'configured' && configuredAccount !== identity.account) {
          checks.push({
            id: 'platform_principal',
            status: 'fail',
            message: `SESAME_PLATFORM_PRINCIPAL_ARN (${identity.trustedPrincipalArn}) is in another account than Sesame's credentials (${identity.callerArn}).`,
            hint: 'Set SESAME_PLATFORM_PRINCIPAL_ARN to the ARN of the role or user Sesame actually runs as.',
            code: 'principal_mismatch',
          });
        } else
          checks.push({
            id: 'platform_principal',
            status: identity.principalSource === 'derived' && r.mode === 'role' ? 'warn' : 'pass',
            message:
              `Sesame's principal is ${identity.callerArn}; roles must trust ${identity.trustedPrincipalArn}. ${notes.join(' ')}`.trim(),
            hint:
              identity.principalSource === 'derived' && r.mode === 'role'
                ? "The role path of an assumed-role principal cannot be read from STS. If Sesame's role has a path, set SESAME_PLATFORM_PRINCIPAL_ARN to its exact ARN."
                : '',
          });
      } catch (e) {
        checks.push(fromError('platform_principal', e));
      }

      // 2. Region.
      checks.push(
        SES_REGIONS.has(r.region)
          ? ok('region', `${r.region} is an Amazon SES region.`)
          : {
              id: 'region',
              status: 'fail',
              message: `Amazon SES is not offered in ${r.region}.`,
              hint: 'Create the connection in an SES region (for example us-east-1 or eu-west-1).',
              code: 'aws_region_invalid',
            },
      );

      // 3. Credentials for `read`, the role assumable with the External ID.
      let readCreds: CredentialProvider | undefined;
      let probe: Check | undefined;
      if (r.mode === 'role' && !r.roleArn) {
        checks.push({
          id: 'role_assumable',
          status: 'fail',
          message: 'No role ARN is set yet.',
          hint: 'Create the stack from the onboarding links and set its RoleArn output (sesame aws setup --role-arn, or PATCH /v1/connections/:id).',
          code: 'role_arn_missing',
        });
      } else {
        try {
          const got = await credentialsWithPropagation(r, 'read', opts.onPropagationRetry);
          readCreds = got.creds;
          const label = r.mode === 'role' ? 'role_assumable' : 'credentials';
          const retryNote = got.retried
            ? ` (after ${got.retried} retries over ${Math.round(got.waitedMs / 1000)} s while IAM propagated the new role)`
            : '';
          checks.push(
            ok(
              label,
              r.mode === 'role'
                ? `Assumed ${r.roleArn} with the External ID${retryNote}.`
                : `Credentials resolved for mode ${r.mode}.`,
            ),
          );
        } catch (e) {
          let c = fromError(r.mode === 'role' ? 'role_assumable' : 'credentials', e);
          if (r.mode === 'role' && isAppError(e) && e.code === 'aws_trust_policy_denied' && r.sourceIdentity) {
            c = await diagnoseSourceIdentity(r, c);
          }
          checks.push(c);
        }
      }

      // 4. Confused-deputy probe (role mode), only once the role was assumed with the External ID.
      if (r.mode === 'role') {
        probe = !r.roleArn
          ? probeSkipped(r, 'no role ARN is set yet')
          : readCreds
            ? await probeExternalId(r, identity?.trustedPrincipalArn)
            : probeSkipped(r, 'the role could not be assumed with the External ID');
        checks.push(probe);
        if (r.roleArn) await settle(r, probe, actor);
      }

      // 5. Who the credentials are.
      let principalArn: string | undefined;
      let account: SesAccount | undefined;
      if (readCreds) {
        try {
          const who = await gateway.callerIdentity(readCreds, deps.config.region);
          await deps.audit.record({
            workspaceId: r.workspaceId,
            connectionId: r.id,
            actor: 'system',
            action: 'sts.get_caller_identity',
            details: { purpose: 'read', arn: who.arn, account: who.account },
          });
          if (r.mode === 'role') {
            const expectedAccount = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(r.roleArn ?? '');
            const matches =
              expectedAccount &&
              who.account === expectedAccount[1] &&
              who.arn.includes(`:assumed-role/${expectedAccount[2]}/`);
            checks.push(
              matches
                ? ok('caller_identity', `Calls run as ${who.arn}.`)
                : {
                    id: 'caller_identity',
                    status: 'fail',
                    message: `Calls run as ${who.arn}, not as the role ${r.roleArn}.`,
                    hint: 'Check the role ARN given to Sesame.',
                    code: 'caller_mismatch',
                  },
            );
            principalArn = r.roleArn ?? undefined;
          } else {
            const root = /:root$/.test(who.arn);
            checks.push(
              root
                ? {
                    id: 'caller_identity',
                    status: 'fail',
                    message: `These are the account's root user credentials (${who.arn}).`,
                    hint: 'Never give root keys to any service. Create an IAM role (role mode) or an IAM user limited to SES, and delete the root access key.',
                    code: 'root_credentials',
                  }
                : ok('caller_identity', `Calls run as ${who.arn} in account ${who.account}.`),
            );
            const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(who.arn);
            principalArn = assumed ? `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}` : who.arn;
          }
        } catch (e) {
          checks.push(fromError('caller_identity', e));
        }

        // 6. The SES account.
        try {
          account = await gateway.getAccount(readCreds, r.region);
          checks.push(...accountChecks(account));
        } catch (e) {
          checks.push(fromError('ses_account', e));
        }

        // 7. Permissions per purpose.
        checks.push(...(await permissionChecks(r, readCreds, principalArn, domains)));

        // 8. SES events wired to Sesame.
        if (deps.events) checks.push(await deps.events.check(r, readCreds));
      }

      // 9. Key age (access keys).
      if (r.mode === 'access_keys' && r.accessKeyId) checks.push(await keyAgeCheck(r, readCreds, principalArn));

      const status: TestReport['status'] = checks.some((c) => c.status === 'fail')
        ? 'fail'
        : checks.some((c) => c.status === 'warn')
          ? 'warn'
          : 'pass';
      // Only a passing probe lifts `unsafe`; one that could not judge leaves it as it was.
      const unsafe =
        probe?.status === 'fail' || (probe !== undefined && probe.status !== 'pass' && r.status === 'unsafe');
      await deps.connections.recordTest(r.id, status, unsafe ? 'unsafe' : status === 'fail' ? 'failing' : 'active');
      await deps.audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.tested',
        outcome: status,
        details: {
          failed: checks.filter((c) => c.status === 'fail').map((c) => c.id),
          warned: checks.filter((c) => c.status === 'warn').map((c) => c.id),
        },
      });
      return {
        connectionId: r.id,
        status,
        startedAt,
        finishedAt: clock.now().toISOString(),
        checks,
        ...(account ? { account } : {}),
      };
    },
  };

  /** If AssumeRole works without SourceIdentity, the trust policy lacks sts:SetSourceIdentity: say exactly that. */
  async function diagnoseSourceIdentity(r: Connection, original: Check): Promise<Check> {
    try {
      await gateway.assumeRoleRaw(platform.credentials, deps.config.region, {
        RoleArn: r.roleArn!,
        RoleSessionName: roleSessionName(r.id, 'test'),
        ExternalId: r.externalId!,
        DurationSeconds: 900,
      });
      await deps.audit.record({
        workspaceId: r.workspaceId,
        connectionId: r.id,
        actor: 'system',
        action: 'sts.probe',
        outcome: 'assumed',
        details: { probe: 'without source identity', roleArn: r.roleArn },
      });
      return {
        ...original,
        message: `${original.message} The role can be assumed with the External ID but without a source identity: its trust policy does not allow sts:SetSourceIdentity.`,
        hint: 'Update the stack with EnableSourceIdentity=true, or turn source identity off for this connection (PATCH { "sourceIdentity": false }).',
        code: 'aws_source_identity_denied',
      };
    } catch {
      return original;
    }
  }
}

export type ConnectionTester = ReturnType<typeof createConnectionTester>;
