import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyDocument } from './policy.js';
import { secretAccessKey, userAccessKeyId, userId } from './ids.js';

/** Sesame's own (platform) AWS account in the sandbox. */
export const PLATFORM_ACCOUNT = '111111111111';
/** The customer's account the sandbox plays. */
export const CUSTOMER_ACCOUNT = '222222222222';
export const PLATFORM_USER_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT}:user/sesame-platform`;
export const TEMPLATE_BUCKET = 'sesame-templates';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A user's long-term key; createdAt is IAM's CreateDate (absent in state files written before it was kept). */
export interface UserAccessKey extends AccessKey {
  createdAt?: string;
}

export interface UserRecord {
  arn: string;
  account: string;
  userName: string;
  userId: string;
  accessKeys: UserAccessKey[];
  /** Absent means administrator of its account (the sandbox's convenience default). */
  policies?: PolicyDocument[];
}

export interface Tag {
  Key: string;
  Value: string;
}

export interface RoleRecord {
  arn: string;
  account: string;
  roleName: string;
  path: string;
  roleId: string;
  assumeRolePolicy: PolicyDocument;
  policies: Record<string, PolicyDocument>;
  maxSessionDuration: number;
  description?: string;
  tags: Tag[];
  createdAt: string;
  stackId?: string;
}

export interface SessionRecord extends AccessKey {
  sessionToken: string;
  account: string;
  roleArn: string;
  roleId: string;
  sessionName: string;
  assumedRoleArn: string;
  issuedAt: string;
  expiresAt: string;
  sessionPolicy?: PolicyDocument;
  sourceIdentity?: string;
  tags: Record<string, string>;
  callerArn: string;
}

export interface SesIdentityRecord {
  identity: string;
  type: 'DOMAIN' | 'EMAIL_ADDRESS';
  verified: boolean;
  dkimTokens?: string[];
  createdAt: string;
  configurationSetName?: string;
  /** Bring-your-own DKIM: the selector and the public key (the private key is not kept). */
  dkimOrigin?: 'AWS_SES' | 'EXTERNAL';
  dkimSelector?: string;
  dkimPublicKey?: string;
  mailFromDomain?: string;
  behaviorOnMxFailure?: 'USE_DEFAULT_VALUE' | 'REJECT_MESSAGE';
  mailFromVerified?: boolean;
}

export interface SesAccountRecord {
  account: string;
  region: string;
  productionAccessEnabled: boolean;
  max24HourSend: number;
  maxSendRate: number;
  sendingEnabled: boolean;
  enforcementStatus: string;
  identities: Record<string, SesIdentityRecord>;
  configurationSets: Record<string, ConfigurationSetRecord>;
}

export interface EventDestinationRecord {
  name: string;
  enabled: boolean;
  /** SESv2 names: SEND, DELIVERY, BOUNCE, COMPLAINT, REJECT, DELIVERY_DELAY, RENDERING_FAILURE, OPEN, CLICK, SUBSCRIPTION. */
  matchingEventTypes: string[];
  snsTopicArn?: string;
}

export interface ConfigurationSetRecord {
  name: string;
  createdAt: string;
  eventDestinations?: Record<string, EventDestinationRecord>;
}

export interface SnsSubscriptionRecord {
  arn: string;
  topicArn: string;
  protocol: 'http' | 'https';
  endpoint: string;
  owner: string;
  /** The confirmation token SNS sends to the endpoint; ConfirmSubscription must present it. */
  token: string;
  confirmed: boolean;
  createdAt: string;
}

export interface SnsTopicRecord {
  arn: string;
  name: string;
  account: string;
  region: string;
  attributes: Record<string, string>;
  subscriptions: Record<string, SnsSubscriptionRecord>;
  createdAt: string;
}

/** The key SNS signs with, and the certificate that Sesame is given (never fetched) in sandbox mode. */
export interface SnsSigningRecord {
  privateKeyPem: string;
  certificatePem: string;
  /** File name in the SigningCertURL path, as on sns.<region>.amazonaws.com. */
  certFile: string;
}

export interface SnsState {
  topics: Record<string, SnsTopicRecord>;
  signing?: SnsSigningRecord;
}

export interface MailboxMessage {
  messageId: string;
  account: string;
  region: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string[];
  subject: string;
  text?: string;
  html?: string;
  raw?: string;
  headers: Record<string, string>;
  configurationSet?: string;
  tags: Record<string, string>;
  attachments?: { fileName: string; contentType?: string; size: number }[];
  sentAt: string;
  accessKeyId: string;
  principalArn: string;
}

export interface SecretRecord {
  arn: string;
  name: string;
  account: string;
  region: string;
  value: string;
  versionId: string;
  createdAt: string;
}

export interface S3ObjectRecord {
  body: string; // base64
  contentType: string;
  etag: string;
  lastModified: string;
  metadata: Record<string, string>;
}

export interface BucketRecord {
  name: string;
  account: string;
  region: string;
  createdAt: string;
  objects: Record<string, S3ObjectRecord>;
}

export interface StackResource {
  logicalId: string;
  type: string;
  physicalId: string;
  /** For policy resources: the role ARNs the policy was attached to, so delete/update can detach it. */
  attachedTo?: string[];
  policyName?: string;
}

export interface StackRecord {
  stackId: string;
  stackName: string;
  account: string;
  region: string;
  parameters: Record<string, string>;
  outputs: Record<string, string>;
  resources: StackResource[];
  notes: string[];
  createdAt: string;
  updatedAt: string;
}

export interface StsCallRecord {
  action: string;
  callerArn: string;
  roleArn?: string;
  roleSessionName?: string;
  externalIdPresent: boolean;
  outcome: string; // 'ok' or the error code
  at: string;
}

export interface SandboxState {
  version: 1;
  users: UserRecord[];
  roles: Record<string, RoleRecord>;
  sessions: Record<string, SessionRecord>;
  ses: Record<string, SesAccountRecord>;
  mailbox: MailboxMessage[];
  secrets: SecretRecord[];
  buckets: Record<string, BucketRecord>;
  stacks: Record<string, StackRecord>;
  stsCalls: StsCallRecord[];
  propagationDelayMs: number;
  /** Absent in state files written before SNS existed in the sandbox. */
  sns?: SnsState;
  /** Records the sandbox DNS server serves (published by hand or from a zone snippet). */
  dnsRecords?: Array<{ name: string; type: 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT'; value: string }>;
}

export function bootstrapState(now: Date, region: string): SandboxState {
  return {
    version: 1,
    users: [
      {
        arn: PLATFORM_USER_ARN,
        account: PLATFORM_ACCOUNT,
        userName: 'sesame-platform',
        userId: userId(),
        accessKeys: [
          { accessKeyId: userAccessKeyId(), secretAccessKey: secretAccessKey(), createdAt: now.toISOString() },
        ],
      },
    ],
    roles: {},
    sessions: {},
    ses: {},
    mailbox: [],
    secrets: [],
    buckets: {
      [TEMPLATE_BUCKET]: {
        name: TEMPLATE_BUCKET,
        account: PLATFORM_ACCOUNT,
        region,
        createdAt: now.toISOString(),
        objects: {},
      },
    },
    stacks: {},
    stsCalls: [],
    propagationDelayMs: 0,
    sns: { topics: {} },
  };
}

export const stateDir = (dataDir: string): string => join(dataDir, 'sandbox');
export const statePath = (dataDir: string): string => join(stateDir(dataDir), 'state.json');
export const endpointPath = (dataDir: string): string => join(stateDir(dataDir), 'endpoint.json');
/** Where the sandbox leaves its SNS signing certificate: Sesame's SESAME_SNS_CERT_DIR in sandbox mode. */
export const snsCertDir = (dataDir: string): string => join(stateDir(dataDir), 'sns-certs');

/** Writes a file so readers never see half of it: temp file in the same directory, then rename. */
export function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

export interface StateStore {
  readonly state: SandboxState;
  /** Persists after a mutation (no-op without a data directory). */
  save(): void;
  /**
   * While serving, writes are coalesced (at most one every WRITE_DELAY_MS): rewriting the whole
   * file on every SendEmail would make a long run quadratic. `flush()` writes now.
   */
  deferWrites(on: boolean): void;
  flush(): void;
}

const WRITE_DELAY_MS = 200;

export function createStateStore(opts: { dataDir?: string; now: Date; region: string }): StateStore {
  let state: SandboxState | undefined;
  if (opts.dataDir) {
    const file = statePath(opts.dataDir);
    if (existsSync(file)) state = JSON.parse(readFileSync(file, 'utf8')) as SandboxState;
  }
  const fresh = state === undefined;
  const s = state ?? bootstrapState(opts.now, opts.region);
  let deferred = false;
  let timer: NodeJS.Timeout | undefined;
  let lastWriteMs = 0;
  const write = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!opts.dataDir) return;
    const t0 = performance.now();
    mkdirSync(stateDir(opts.dataDir), { recursive: true, mode: 0o700 });
    writeFileAtomic(statePath(opts.dataDir), JSON.stringify(s));
    lastWriteMs = performance.now() - t0;
  };
  const save = (): void => {
    if (!opts.dataDir) return;
    if (!deferred) return write();
    // The whole state is rewritten, and it grows with the mailbox: space writes out so that they
    // take at most a tenth of the time.
    timer ??= setTimeout(write, Math.max(WRITE_DELAY_MS, lastWriteMs * 10));
    timer.unref?.();
  };
  if (fresh) write();
  return {
    state: s,
    save,
    flush: () => {
      if (timer) write();
    },
    deferWrites: (on: boolean) => {
      deferred = on;
      if (!on && timer) write();
    },
  };
}

export function sesKey(account: string, region: string): string {
  return `${account}/${region}`;
}

/** SES accounts appear lazily with the defaults of a new account in the SES sandbox. */
export function sesAccount(state: SandboxState, account: string, region: string): SesAccountRecord {
  const key = sesKey(account, region);
  let rec = state.ses[key];
  if (!rec) {
    rec = {
      account,
      region,
      productionAccessEnabled: false,
      max24HourSend: 200,
      maxSendRate: 1,
      sendingEnabled: true,
      enforcementStatus: 'HEALTHY',
      identities: {},
      configurationSets: {},
    };
    state.ses[key] = rec;
  }
  return rec;
}

export function stackKey(account: string, region: string, stackName: string): string {
  return `${account}/${region}/${stackName}`;
}

export function snsState(state: SandboxState): SnsState {
  return (state.sns ??= { topics: {} });
}
