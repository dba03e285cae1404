import type { SandboxDeps, SnsDelivery } from './context.js';
import { signingKey, writeCertificate } from './sns-publish.js';
import { parseZone, type ZoneRecord } from './zone-parse.js';
import { deleteStack as removeStack, deployStack, parseTemplate } from './cloudformation.js';
import { SandboxError } from './errors.js';
import { secretAccessKey, upperAlnum, userAccessKeyId, userId, uuid } from './ids.js';
import { policyProblem, type PolicyDocument } from './policy.js';
import { newIdentity, resetSentWindows, sentLast24Hours } from './services/ses.js';
import { s3Target } from './services/s3.js';
import {
  CUSTOMER_ACCOUNT,
  PLATFORM_ACCOUNT,
  PLATFORM_USER_ARN,
  sesAccount,
  snsState,
  type MailboxMessage,
  type RoleRecord,
  type StsCallRecord,
} from './state.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  arn: string;
  account: string;
}

export interface DeployTemplateInput {
  templateBody?: string;
  /** Alternative to templateBody: an object URL in the sandbox's own S3 (as CloudFormation accepts S3 only). */
  templateURL?: string;
  stackName: string;
  parameters?: Record<string, string>;
  account?: string;
  region?: string;
  capabilities?: string[];
}

export interface DeployResult {
  stackId: string;
  stackName: string;
  outputs: Record<string, string>;
  notes: string[];
}

export interface TemplateSummary {
  description?: string;
  parameters: {
    name: string;
    type: string;
    default?: string;
    description?: string;
    noEcho: boolean;
    allowedValues?: string[];
  }[];
  resourceTypes: string[];
  capabilities: string[];
}

export interface StackSummary {
  stackId: string;
  stackName: string;
  account: string;
  region: string;
  outputs: Record<string, string>;
  parameters: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface AccountScope {
  account?: string;
  region?: string;
}

export interface SesAccountView {
  account: string;
  region: string;
  productionAccessEnabled: boolean;
  max24HourSend: number;
  maxSendRate: number;
  sentLast24Hours: number;
  sendingEnabled: boolean;
  enforcementStatus: string;
}

export interface SetAccountInput extends AccountScope {
  productionAccessEnabled?: boolean;
  max24HourSend?: number;
  maxSendRate?: number;
  sendingEnabled?: boolean;
  enforcementStatus?: string;
}

export interface SandboxStatus {
  label: string;
  url: string | undefined;
  platform: { arn: string; accessKeyId: string; account: string };
  customerAccount: string;
  users: number;
  roles: number;
  stacks: number;
  messages: number;
  propagationDelayMs: number;
}

/** In-process control of the sandbox; the admin HTTP API exposes the same operations. */
export interface SandboxAdmin {
  status(): SandboxStatus;
  platformCredentials(): Credentials;
  /** `keyCreatedAt` back-dates the new key's CreateDate (an old key, for key-age checks). */
  createUser(input: { account?: string; userName: string; policies?: PolicyDocument[]; keyCreatedAt?: string }): {
    arn: string;
    accessKeyId: string;
    secretAccessKey: string;
  };
  deployTemplate(input: DeployTemplateInput): DeployResult;
  /** Like CloudFormation's GetTemplateSummary: what the console needs to render the quick-create form. */
  templateSummary(input: { templateBody?: string; templateURL?: string }): TemplateSummary;
  deleteStack(stackName: string, scope?: AccountScope): boolean;
  listStacks(): StackSummary[];
  getRole(arn: string): RoleRecord | undefined;
  updateAssumeRolePolicy(roleArn: string, policyDoc: PolicyDocument): void;
  putRolePolicy(roleArn: string, name: string, policyDoc: PolicyDocument): void;
  deleteRolePolicy(roleArn: string, name: string): void;
  deleteRole(roleArn: string): void;
  verifyIdentity(
    identity: string,
    scope?: AccountScope,
  ): { identity: string; type: string; verified: boolean; dkimTokens?: string[] };
  setAccount(input: SetAccountInput): SesAccountView;
  getAccount(scope?: AccountScope): SesAccountView;
  mailbox(scope?: AccountScope): MailboxMessage[];
  clearMailbox(): void;
  putSecret(input: { name: string; value: string; account?: string; region?: string }): { arn: string };
  stsCalls(): StsCallRecord[];
  setPropagationDelay(ms: number): void;
  inject(service: string, action: string, errorCode: string, times?: number): void;
  /** The SNS signing certificate: its file name (as in SigningCertURL) and PEM; `dir` also writes it there. */
  snsCertificate(dir?: string): { certFile: string; certificatePem: string; path?: string };
  /** SNS topics with their subscriptions (confirmed or pending). */
  snsTopics(): SnsTopicView[];
  /** HTTP deliveries the sandbox SNS made, oldest first. */
  snsDeliveries(): SnsDelivery[];
  /** Resolves once every SNS delivery under way has ended. */
  snsSettled(): Promise<void>;
  /** Records of the sandbox DNS (served while the sandbox listens with DNS). */
  dnsRecords(): ZoneRecord[];
  /** Publish records, as a person does at their DNS provider; a zone-file snippet works too. */
  dnsAdd(records: ZoneRecord[] | string): ZoneRecord[];
  dnsRemove(name: string, type?: string): number;
}

export interface SnsTopicView {
  arn: string;
  account: string;
  region: string;
  attributes: Record<string, string>;
  subscriptions: Array<{ arn: string; endpoint: string; protocol: string; confirmed: boolean }>;
}

const ENFORCEMENT = ['HEALTHY', 'PROBATION', 'SHUTDOWN'];

export function createAdmin(deps: SandboxDeps, url: () => string | undefined): SandboxAdmin {
  const store = deps.store;
  const st = () => store.state;
  const now = () => deps.clock.now();
  const region = (r?: string) => r ?? deps.defaultRegion;

  const role = (arn: string): RoleRecord => {
    const r = st().roles[arn];
    if (!r) throw new SandboxError('NoSuchEntity', `The role ${arn} cannot be found.`, 404);
    return r;
  };
  const checkDoc = (doc: PolicyDocument, trust: boolean) => {
    const problem = policyProblem(doc, { trust });
    if (problem) throw new SandboxError('MalformedPolicyDocument', problem);
  };
  const view = (account: string, reg: string): SesAccountView => {
    const a = sesAccount(st(), account, reg);
    return {
      account,
      region: reg,
      productionAccessEnabled: a.productionAccessEnabled,
      max24HourSend: a.max24HourSend,
      maxSendRate: a.maxSendRate,
      sentLast24Hours: sentLast24Hours(st(), account, reg, now()),
      sendingEnabled: a.sendingEnabled,
      enforcementStatus: a.enforcementStatus,
    };
  };

  const templateFromUrl = (templateURL: string): string => {
    let u: URL;
    try {
      u = new URL(templateURL);
    } catch {
      throw new SandboxError('ValidationError', 'TemplateURL must be a valid URL.');
    }
    const base = url();
    const t = s3Target(u.pathname);
    const obj = st().buckets[t.bucket]?.objects[t.key];
    // Mirrors CloudFormation, which only reads templates from S3: here, the sandbox's own S3.
    if ((base !== undefined && u.origin !== new URL(base).origin) || !obj) {
      throw new SandboxError(
        'ValidationError',
        `TemplateURL must point to an object in the Sesame sandbox's S3${base ? ` (${base}/<bucket>/<key>)` : ''}; got ${templateURL}`,
      );
    }
    return Buffer.from(obj.body, 'base64').toString('utf8');
  };

  return {
    snsCertificate(dir) {
      const k = signingKey(deps);
      return {
        certFile: k.certFile,
        certificatePem: k.certificatePem,
        ...(dir ? { path: writeCertificate(k, dir) } : {}),
      };
    },
    snsTopics() {
      return Object.values(snsState(st()).topics).map((t) => ({
        arn: t.arn,
        account: t.account,
        region: t.region,
        attributes: { ...t.attributes },
        subscriptions: Object.values(t.subscriptions).map((x) => ({
          arn: x.arn,
          endpoint: x.endpoint,
          protocol: x.protocol,
          confirmed: x.confirmed,
        })),
      }));
    },
    snsDeliveries() {
      return deps.snsDeliveries.map((d) => ({ ...d }));
    },
    dnsRecords() {
      return [...(st().dnsRecords ?? [])];
    },
    dnsAdd(records) {
      const list = typeof records === 'string' ? parseZone(records) : records;
      const all = (st().dnsRecords ??= []);
      for (const r of list) {
        const rec = { name: r.name.toLowerCase().replace(/\.$/, ''), type: r.type, value: r.value };
        if (!['A', 'AAAA', 'CNAME', 'MX', 'TXT'].includes(rec.type) || !rec.name || !rec.value)
          throw new SandboxError(
            'InvalidRecord',
            'A record needs a name, a type (A, AAAA, CNAME, MX, TXT) and a value.',
          );
        if (all.some((x) => x.name === rec.name && x.type === rec.type && x.value === rec.value)) continue;
        deps.dns?.add(rec.name, rec.type, rec.value);
        all.push(rec);
      }
      store.save();
      return list;
    },
    dnsRemove(name, type) {
      const all = st().dnsRecords ?? [];
      const n = name.toLowerCase().replace(/\.$/, '');
      const keep = all.filter((x) => !(x.name === n && (type === undefined || x.type === type)));
      st().dnsRecords = keep;
      deps.dns?.remove(n, type as never);
      store.save();
      return all.length - keep.length;
    },
    async snsSettled() {
      while (deps.snsInFlight.size > 0) await Promise.allSettled([...deps.snsInFlight]);
    },

    status() {
      const platform = st().users.find((u) => u.arn === PLATFORM_USER_ARN)!;
      return {
        label: 'Sesame local AWS sandbox (development stand-in, not AWS)',
        url: url(),
        platform: { arn: platform.arn, accessKeyId: platform.accessKeys[0]!.accessKeyId, account: PLATFORM_ACCOUNT },
        customerAccount: CUSTOMER_ACCOUNT,
        users: st().users.length,
        roles: Object.keys(st().roles).length,
        stacks: Object.keys(st().stacks).length,
        messages: st().mailbox.length,
        propagationDelayMs: st().propagationDelayMs,
      };
    },

    platformCredentials() {
      const u = st().users.find((x) => x.arn === PLATFORM_USER_ARN)!;
      const k = u.accessKeys[0]!;
      return { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey, arn: u.arn, account: u.account };
    },

    createUser({ account = CUSTOMER_ACCOUNT, userName, policies, keyCreatedAt }) {
      if (!/^[\w+=,.@-]{1,64}$/.test(userName ?? ''))
        throw new SandboxError('ValidationError', 'userName must be 1-64 characters of [\\w+=,.@-].');
      for (const p of policies ?? []) checkDoc(p, false);
      if (keyCreatedAt !== undefined && Number.isNaN(Date.parse(keyCreatedAt)))
        throw new SandboxError('ValidationError', 'keyCreatedAt must be an ISO-8601 time.');
      const arn = `arn:aws:iam::${account}:user/${userName}`;
      let user = st().users.find((u) => u.arn === arn);
      const key = {
        accessKeyId: userAccessKeyId(),
        secretAccessKey: secretAccessKey(),
        createdAt: new Date(keyCreatedAt ?? now()).toISOString(),
      };
      if (user) {
        // Existing user: add a key (like CreateAccessKey) and replace its policies if given.
        user.accessKeys.push(key);
        if (policies) user.policies = policies;
      } else {
        user = { arn, account, userName, userId: userId(), accessKeys: [key], ...(policies ? { policies } : {}) };
        st().users.push(user);
      }
      store.save();
      return { arn, ...key };
    },

    deployTemplate(input) {
      const body =
        input.templateBody ?? (input.templateURL !== undefined ? templateFromUrl(input.templateURL) : undefined);
      if (body === undefined)
        throw new SandboxError('ValidationError', 'Either templateBody or templateURL must be given.');
      const stack = deployStack(
        st(),
        {
          templateBody: body,
          stackName: input.stackName,
          parameters: input.parameters ?? {},
          account: input.account ?? CUSTOMER_ACCOUNT,
          region: region(input.region),
          capabilities: input.capabilities ?? [],
        },
        now(),
      );
      store.save();
      return { stackId: stack.stackId, stackName: stack.stackName, outputs: stack.outputs, notes: stack.notes };
    },

    templateSummary(input) {
      const body =
        input.templateBody ?? (input.templateURL !== undefined ? templateFromUrl(input.templateURL) : undefined);
      if (body === undefined)
        throw new SandboxError('ValidationError', 'Either templateBody or templateURL must be given.');
      const t = parseTemplate(body);
      const resources = Object.values(t.Resources ?? {});
      const named = resources.some((r) => r.Type === 'AWS::IAM::Role' && r.Properties?.['RoleName'] !== undefined);
      const iam = resources.some((r) => r.Type?.startsWith('AWS::IAM::'));
      return {
        ...(t.Description ? { description: t.Description } : {}),
        parameters: Object.entries(t.Parameters ?? {}).map(([name, p]) => ({
          name,
          type: p.Type ?? 'String',
          ...(p.Default !== undefined
            ? { default: Array.isArray(p.Default) ? p.Default.join(',') : String(p.Default) }
            : {}),
          ...(p.Description ? { description: p.Description } : {}),
          noEcho: p.NoEcho === true || p.NoEcho === 'true',
          ...(p.AllowedValues ? { allowedValues: p.AllowedValues.map(String) } : {}),
        })),
        resourceTypes: [...new Set(resources.map((r) => r.Type ?? ''))],
        capabilities: iam ? [named ? 'CAPABILITY_NAMED_IAM' : 'CAPABILITY_IAM'] : [],
      };
    },

    deleteStack(stackName, scope = {}) {
      const ok = removeStack(st(), stackName, scope.account ?? CUSTOMER_ACCOUNT, region(scope.region));
      store.save();
      return ok;
    },

    listStacks() {
      return Object.values(st().stacks).map((s) => ({
        stackId: s.stackId,
        stackName: s.stackName,
        account: s.account,
        region: s.region,
        outputs: s.outputs,
        parameters: s.parameters,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
      }));
    },

    getRole: (arn) => {
      const r = st().roles[arn];
      return r ? structuredClone(r) : undefined;
    },

    updateAssumeRolePolicy(roleArn, doc) {
      checkDoc(doc, true);
      role(roleArn).assumeRolePolicy = doc;
      store.save();
    },

    putRolePolicy(roleArn, name, doc) {
      checkDoc(doc, false);
      role(roleArn).policies[name] = doc;
      store.save();
    },

    deleteRolePolicy(roleArn, name) {
      const r = role(roleArn);
      if (!(name in r.policies))
        throw new SandboxError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
      delete r.policies[name];
      store.save();
    },

    deleteRole(roleArn) {
      role(roleArn);
      delete st().roles[roleArn];
      store.save();
    },

    verifyIdentity(identity, scope = {}) {
      const name = identity.trim().toLowerCase();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(name) && !/^(?=.{1,253}$)([a-z0-9-]+\.)+[a-z0-9-]+$/.test(name)) {
        throw new SandboxError('ValidationError', `${identity} is neither an email address nor a domain name.`);
      }
      const a = sesAccount(st(), scope.account ?? CUSTOMER_ACCOUNT, region(scope.region));
      const rec = a.identities[name] ?? newIdentity(name, now(), true);
      rec.verified = true;
      a.identities[name] = rec;
      store.save();
      return {
        identity: rec.identity,
        type: rec.type,
        verified: true,
        ...(rec.dkimTokens ? { dkimTokens: rec.dkimTokens } : {}),
      };
    },

    setAccount(input) {
      const account = input.account ?? CUSTOMER_ACCOUNT;
      const reg = region(input.region);
      const a = sesAccount(st(), account, reg);
      if (input.enforcementStatus !== undefined && !ENFORCEMENT.includes(input.enforcementStatus)) {
        throw new SandboxError('ValidationError', `enforcementStatus must be one of ${ENFORCEMENT.join(', ')}.`);
      }
      for (const [k, v] of [
        ['max24HourSend', input.max24HourSend],
        ['maxSendRate', input.maxSendRate],
      ] as const) {
        if (v !== undefined && (!Number.isFinite(v) || v < 0))
          throw new SandboxError('ValidationError', `${k} must be a non-negative number.`);
      }
      if (input.productionAccessEnabled !== undefined) {
        a.productionAccessEnabled = input.productionAccessEnabled;
        // Leaving the SES sandbox raises the quotas unless they are given explicitly.
        if (input.productionAccessEnabled && input.max24HourSend === undefined && a.max24HourSend === 200)
          a.max24HourSend = 50_000;
        if (input.productionAccessEnabled && input.maxSendRate === undefined && a.maxSendRate === 1) a.maxSendRate = 14;
      }
      if (input.max24HourSend !== undefined) a.max24HourSend = input.max24HourSend;
      if (input.maxSendRate !== undefined) a.maxSendRate = input.maxSendRate;
      if (input.sendingEnabled !== undefined) a.sendingEnabled = input.sendingEnabled;
      if (input.enforcementStatus !== undefined) a.enforcementStatus = input.enforcementStatus;
      store.save();
      return view(account, reg);
    },

    getAccount(scope = {}) {
      return view(scope.account ?? CUSTOMER_ACCOUNT, region(scope.region));
    },

    mailbox(scope = {}) {
      return st()
        .mailbox.filter(
          (m) =>
            (scope.account === undefined || m.account === scope.account) &&
            (scope.region === undefined || m.region === scope.region),
        )
        .map((m) => structuredClone(m));
    },

    clearMailbox() {
      st().mailbox.length = 0;
      resetSentWindows(st());
      store.save();
    },

    putSecret({ name, value, account = PLATFORM_ACCOUNT, region: reg = 'us-east-1' }) {
      if (!/^[\w/+=.@-]{1,512}$/.test(name ?? ''))
        throw new SandboxError('ValidationError', 'Secret name must be 1-512 characters of [\\w/+=.@-].');
      if (typeof value !== 'string') throw new SandboxError('ValidationError', 'Secret value must be a string.');
      const existing = st().secrets.find((s) => s.name === name && s.account === account && s.region === reg);
      if (existing) {
        existing.value = value;
        existing.versionId = uuid();
        store.save();
        return { arn: existing.arn };
      }
      // Secret ARNs end with a dash and six random characters.
      const arn = `arn:aws:secretsmanager:${reg}:${account}:secret:${name}-${upperAlnum(6).replace(/\d/g, 'a')}`;
      st().secrets.push({ arn, name, account, region: reg, value, versionId: uuid(), createdAt: now().toISOString() });
      store.save();
      return { arn };
    },

    stsCalls: () => st().stsCalls.map((c) => ({ ...c })),

    setPropagationDelay(ms) {
      if (!Number.isFinite(ms) || ms < 0)
        throw new SandboxError('ValidationError', 'ms must be a non-negative number.');
      st().propagationDelayMs = ms;
      store.save();
    },

    inject(service, action, errorCode, times = 1) {
      if (!service || !action || !errorCode)
        throw new SandboxError('ValidationError', 'service, action and errorCode are required.');
      deps.faults.inject(service, action, errorCode, times);
    },
  };
}
