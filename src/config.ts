import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AppError } from './errors.js';

/**
 * The one place that reads process.env. Everything else receives a Config.
 * Each setting names its environment variable so an error can point at it.
 */
const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

const url = z.string().url();

const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== ''),
);

const ROLE_NAMES = ['owner', 'admin', 'developer', 'viewer'] as const;
/** `value=role` or `value=workspace:role` entries, comma-separated. */
const roleMap = z.string().transform((v, ctx) => {
  const out: Array<{ value: string; workspace: string | null; role: (typeof ROLE_NAMES)[number] }> = [];
  for (const entry of v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const m = /^([^=]+)=(?:([a-z0-9][a-z0-9_-]*):)?(owner|admin|developer|viewer)$/.exec(entry);
    if (!m) {
      ctx.addIssue({
        code: 'custom',
        message: `"${entry}" is not value=role or value=workspace:role (roles: ${ROLE_NAMES.join(', ')})`,
      });
      return z.NEVER;
    }
    out.push({ value: m[1]!.trim(), workspace: m[2] ?? null, role: m[3] as (typeof ROLE_NAMES)[number] });
  }
  return out;
});

/**
 * DNS servers for the domain checks, as `ip`, `ip:port`, `ipv6` or `[ipv6]:port`, comma-separated:
 * the forms node:dns Resolver#setServers takes. Host names are refused, since resolving them
 * would need the DNS this setting replaces.
 */
const dnsServers = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  )
  .refine((list) => list.length > 0, 'must list at least one server')
  .refine(
    (list) => list.every(isDnsServer),
    'must be comma-separated ip, ip:port or [ipv6]:port entries, ports 1-65535',
  );

function isDnsServer(entry: string): boolean {
  if (isIP(entry) !== 0) return true;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(entry);
  if (!m) return false;
  const port = Number(m[3]);
  return port >= 1 && port <= 65535 && (m[1] !== undefined ? isIP(m[1]) === 6 : isIP(m[2]!) === 4);
}

/**
 * Which proxies may tell the client's address (X-Forwarded-For), as Fastify's trustProxy takes it:
 * `false` (off), `true` (every hop: the left-most forwarded address, which a client can forge), or
 * a comma-separated list of proxy addresses, CIDR ranges and the names loopback, linklocal,
 * uniquelocal. A hop count is refused: Fastify 5 ignores it (it trusts no proxy then).
 */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const trustProxy = z.union([z.boolean(), z.string()]).transform((v, ctx): boolean | string[] => {
  if (typeof v === 'boolean') return v;
  const t = v.trim().toLowerCase();
  if (t === 'false' || t === 'no' || t === '0') return false;
  if (t === 'true' || t === 'yes') return true;
  if (/^\d+$/.test(t)) {
    ctx.addIssue({
      code: 'custom',
      message: 'a hop count is not supported; list the proxy addresses instead (e.g. loopback or 10.0.0.0/8)',
    });
    return z.NEVER;
  }
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0 || !list.every(isProxyEntry)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be true, false, or comma-separated proxy addresses, CIDR ranges, loopback, linklocal or uniquelocal',
    });
    return z.NEVER;
  }
  return list;
});

function isProxyEntry(entry: string): boolean {
  if (PROXY_RANGES.has(entry)) return true;
  const [ip, bits, extra] = entry.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n >= 1 && n <= (family === 4 ? 32 : 128);
}

const SETTINGS = {
  dataDir: { env: 'SESAME_DATA_DIR', schema: z.string().min(1).default('./data') },
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: z
      .string()
      .regex(/^(postgres(ql)?:\/\/|sqlite:|file:)/, 'must start with postgres://, postgresql://, sqlite: or file:')
      .optional(),
  },
  masterKey: { env: 'SESAME_MASTER_KEY', schema: z.string().optional() },
  host: { env: 'SESAME_HOST', schema: z.string().min(1).default('127.0.0.1') },
  port: { env: 'SESAME_PORT', schema: z.coerce.number().int().min(0).max(65535).default(3000) },
  publicUrl: { env: 'SESAME_PUBLIC_URL', schema: url.optional() },
  logLevel: {
    env: 'SESAME_LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  },
  region: {
    env: 'AWS_REGION',
    schema: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must look like us-east-1')
      .default('us-east-1'),
  },
  dnsServers: { env: 'SESAME_DNS_SERVERS', schema: dnsServers.optional() },
  platformPrincipalArn: {
    env: 'SESAME_PLATFORM_PRINCIPAL_ARN',
    schema: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/,
        'must be an IAM ARN such as arn:aws:iam::123456789012:role/sesame',
      )
      .optional(),
  },
  templateBucket: {
    env: 'SESAME_TEMPLATE_BUCKET',
    schema: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
      .optional(),
  },
  templatePrefix: {
    env: 'SESAME_TEMPLATE_PREFIX',
    schema: z
      .string()
      .regex(/^[\w!\-.*'()/]*$/, 'must be an S3 key prefix such as sesame/')
      .default('sesame/'),
  },
  templateBucketRegion: {
    env: 'SESAME_TEMPLATE_BUCKET_REGION',
    schema: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must look like us-east-1')
      .optional(),
  },
  consoleUrl: { env: 'SESAME_CONSOLE_URL', schema: url.default('https://console.aws.amazon.com') },
  sessionDurationSeconds: {
    env: 'SESAME_SESSION_DURATION_SECONDS',
    schema: z.coerce.number().int().min(900).max(43200).default(3600),
  },
  secretCacheSeconds: {
    env: 'SESAME_SECRET_CACHE_SECONDS',
    schema: z.coerce.number().int().min(0).max(3600).default(300),
  },
  propagationRetrySeconds: {
    env: 'SESAME_PROPAGATION_RETRY_SECONDS',
    schema: z.coerce.number().min(0).max(300).default(30),
  },
  keyAgeWarnDays: { env: 'SESAME_KEY_AGE_WARN_DAYS', schema: z.coerce.number().int().min(1).max(3650).default(90) },
  sandbox: { env: 'SESAME_SANDBOX', schema: bool.default(false) },
  allowDefaultChain: { env: 'SESAME_ALLOW_DEFAULT_CHAIN', schema: bool.default(false) },
  workerConcurrency: { env: 'SESAME_WORKER_CONCURRENCY', schema: z.coerce.number().int().min(1).max(512).default(32) },
  workerLeaseSeconds: {
    env: 'SESAME_WORKER_LEASE_SECONDS',
    schema: z.coerce.number().int().min(5).max(3600).default(60),
  },
  workerPollMs: { env: 'SESAME_WORKER_POLL_MS', schema: z.coerce.number().int().min(10).max(60_000).default(500) },
  sendMaxAttempts: { env: 'SESAME_SEND_MAX_ATTEMPTS', schema: z.coerce.number().int().min(1).max(50).default(8) },
  quotaRefreshSeconds: {
    env: 'SESAME_QUOTA_REFRESH_SECONDS',
    schema: z.coerce.number().int().min(1).max(86_400).default(60),
  },
  smtpPort: { env: 'SESAME_SMTP_PORT', schema: z.coerce.number().int().min(0).max(65535).default(2587) },
  smtpHost: { env: 'SESAME_SMTP_HOST', schema: z.string().min(1).default('127.0.0.1') },
  smtpTlsCert: { env: 'SESAME_SMTP_TLS_CERT', schema: z.string().min(1).optional() },
  smtpTlsKey: { env: 'SESAME_SMTP_TLS_KEY', schema: z.string().min(1).optional() },
  smtpRequireTls: { env: 'SESAME_SMTP_REQUIRE_TLS', schema: bool.default(false) },
  snsCertDir: { env: 'SESAME_SNS_CERT_DIR', schema: z.string().min(1).optional() },
  snsMaxAgeSeconds: {
    env: 'SESAME_SNS_MAX_AGE_SECONDS',
    schema: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(3600),
  },
  transientBounceLimit: {
    env: 'SESAME_TRANSIENT_BOUNCE_LIMIT',
    schema: z.coerce.number().int().min(1).max(100).default(3),
  },
  transientBounceWindowDays: {
    env: 'SESAME_TRANSIENT_BOUNCE_WINDOW_DAYS',
    schema: z.coerce.number().int().min(1).max(365).default(7),
  },
  reputationWindow: {
    env: 'SESAME_REPUTATION_WINDOW',
    schema: z.coerce.number().int().min(10).max(1_000_000).default(1000),
  },
  reputationMinSends: {
    env: 'SESAME_REPUTATION_MIN_SENDS',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(100),
  },
  webhooksAllowPrivate: { env: 'SESAME_WEBHOOKS_ALLOW_PRIVATE', schema: bool.default(false) },
  smtpMaxBytes: {
    env: 'SESAME_SMTP_MAX_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(1024)
      .max(40 * 1024 * 1024)
      .default(40 * 1024 * 1024),
  },
  trustProxy: { env: 'SESAME_TRUST_PROXY', schema: trustProxy.default(false) },
  authFailureLimit: {
    env: 'SESAME_AUTH_FAILURE_LIMIT',
    schema: z.coerce.number().int().min(1).max(100_000).default(20),
  },
  authFailureWindowSeconds: {
    env: 'SESAME_AUTH_FAILURE_WINDOW_SECONDS',
    schema: z.coerce.number().int().min(1).max(86_400).default(60),
  },
  /** Requests a minute per API key (sending is paced by SES's quota, not by this). */
  apiRateLimitPerKey: {
    env: 'SESAME_API_RATE_LIMIT_PER_KEY',
    schema: z.coerce.number().int().min(1).max(10_000_000).default(60_000),
  },
  /** Requests a minute per signed-in person, and per client address for requests with no credential. */
  apiRateLimitPerClient: {
    env: 'SESAME_API_RATE_LIMIT_PER_CLIENT',
    schema: z.coerce.number().int().min(1).max(10_000_000).default(1200),
  },
  sessionMaxHours: {
    env: 'SESAME_SESSION_MAX_HOURS',
    schema: z.coerce
      .number()
      .min(0.1)
      .max(24 * 30)
      .default(12),
  },
  sessionIdleMinutes: {
    env: 'SESAME_SESSION_IDLE_MINUTES',
    schema: z.coerce
      .number()
      .min(1)
      .max(24 * 60 * 30)
      .default(60),
  },
  cliSessionDays: {
    env: 'SESAME_CLI_SESSION_DAYS',
    schema: z.coerce.number().min(0.01).max(365).default(30),
  },
  oidcIssuer: { env: 'SESAME_OIDC_ISSUER', schema: url.optional() },
  oidcClientId: { env: 'SESAME_OIDC_CLIENT_ID', schema: z.string().min(1).optional() },
  oidcClientSecret: { env: 'SESAME_OIDC_CLIENT_SECRET', schema: z.string().min(1).optional() },
  /** The provider's name on the sign-in button. */
  oidcName: { env: 'SESAME_OIDC_NAME', schema: z.string().min(1).max(60).default('your identity provider') },
  oidcAllowedDomains: { env: 'SESAME_OIDC_ALLOWED_DOMAINS', schema: commaList.optional() },
  /** A claim whose values give roles, e.g. `groups`. */
  oidcRoleClaim: { env: 'SESAME_OIDC_ROLE_CLAIM', schema: z.string().min(1).optional() },
  /** `value=role` or `value=workspace:role`, comma-separated, e.g. `sesame-admins=admin,ops=prod:owner`. */
  oidcRoleMap: { env: 'SESAME_OIDC_ROLE_MAP', schema: roleMap.optional() },
  production: {
    env: 'NODE_ENV',
    schema: z
      .string()
      .optional()
      .transform((v) => v === 'production'),
  },
} as const;

type Settings = typeof SETTINGS;
type Raw = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

/** SDK standard endpoint settings; the SDK reads them too, we read them so tests and the sandbox can pass them explicitly. */
const ENDPOINT_ENVS = {
  sts: 'AWS_ENDPOINT_URL_STS',
  sesv2: 'AWS_ENDPOINT_URL_SESV2',
  sns: 'AWS_ENDPOINT_URL_SNS',
  iam: 'AWS_ENDPOINT_URL_IAM',
  secretsManager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  s3: 'AWS_ENDPOINT_URL_S3',
} as const;
export type AwsService = keyof typeof ENDPOINT_ENVS;

export interface Config extends Omit<Raw, 'masterKey' | 'databaseUrl'> {
  databaseUrl: string;
  /** 32-byte key, or undefined when none is configured (encryption then fails with master_key_missing). */
  masterKey: Buffer | undefined;
  /** Where the master key came from, for messages; never the key itself. */
  masterKeySource: 'env' | 'file' | 'none';
  /** The master key file of the data directory (read when SESAME_MASTER_KEY is not set), for messages. */
  masterKeyFile: string;
  /** Explicit endpoints per service; undefined means the SDK's own resolution. */
  endpoints: Partial<Record<AwsService, string>>;
}

export const masterKeyPath = (dataDir: string): string => join(resolve(dataDir), 'master.key');

export type SettingName = keyof Settings;

/**
 * Build the config from env-like values (strings) plus overrides from flags.
 * A wrong value throws config_invalid naming the setting, and the flag it came from when `flags`
 * names one for that override (`--port (SESAME_PORT) is invalid: …`).
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof Settings, unknown>> = {},
  flags: Partial<Record<keyof Settings, string>> = {},
): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(SETTINGS) as [keyof Settings, Settings[keyof Settings]][]) {
    const input = overrides[key] ?? emptyToUndefined(env[def.env]);
    const parsed = def.schema.safeParse(input);
    if (!parsed.success) {
      const reason = parsed.error.issues[0]?.message ?? 'invalid value';
      const flag = overrides[key] !== undefined ? flags[key] : undefined;
      if (flag)
        throw new AppError('config_invalid', `${flag} (${def.env}) is invalid: ${reason}; got ${String(input)}.`, {
          details: { flag, setting: def.env },
        });
      throw new AppError('config_invalid', `Setting ${def.env} is invalid: ${reason}.`, {
        details: { setting: def.env },
      });
    }
    raw[key] = parsed.data;
  }
  const r = raw as Raw;
  if (r.sandbox && r.production) {
    throw new AppError(
      'config_invalid',
      'Setting SESAME_SANDBOX is on while NODE_ENV=production: the sandbox is a local stand-in for AWS, never for production.',
      { details: { setting: 'SESAME_SANDBOX' } },
    );
  }
  const { masterKey, source } = readMasterKey(r.masterKey, r.dataDir);
  const endpoints: Partial<Record<AwsService, string>> = {};
  if (!isTrue(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)) {
    for (const [svc, name] of Object.entries(ENDPOINT_ENVS) as [AwsService, string][]) {
      const v = emptyToUndefined(env[name]) ?? emptyToUndefined(env.AWS_ENDPOINT_URL);
      if (v !== undefined) {
        if (!url.safeParse(v).success)
          throw new AppError('config_invalid', `Setting ${env[name] ? name : 'AWS_ENDPOINT_URL'} is not a URL.`, {
            details: { setting: name },
          });
        endpoints[svc] = v;
      }
    }
  }
  const { masterKey: _mk, databaseUrl, ...rest } = r;
  return {
    ...rest,
    databaseUrl: databaseUrl ?? `sqlite:${join(r.dataDir, 'sesame.db')}`,
    masterKey,
    masterKeySource: source,
    masterKeyFile: masterKeyPath(r.dataDir),
    endpoints,
  };
}

function readMasterKey(
  value: string | undefined,
  dataDir: string,
): { masterKey: Buffer | undefined; source: Config['masterKeySource'] } {
  if (value !== undefined) return { masterKey: decodeMasterKey(value, 'SESAME_MASTER_KEY'), source: 'env' };
  const path = masterKeyPath(dataDir);
  if (existsSync(path)) return { masterKey: decodeMasterKey(readKeyFile(path), path), source: 'file' };
  return { masterKey: undefined, source: 'none' };
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new AppError(
      'config_invalid',
      `The master key file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}).`,
      {
        details: { setting: 'SESAME_MASTER_KEY' },
        hint: 'Run Sesame as the user that owns the file (it is 0600), or set SESAME_MASTER_KEY to the key.',
      },
    );
  }
}

export function decodeMasterKey(value: string, where: string): Buffer {
  const buf = Buffer.from(value, 'base64');
  if (buf.length !== 32 || buf.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, '')) {
    throw new AppError(
      'config_invalid',
      `Setting SESAME_MASTER_KEY (from ${where}) must be 32 bytes encoded as base64.`,
      {
        details: { setting: 'SESAME_MASTER_KEY' },
        hint: 'Generate one with `openssl rand -base64 32`, or run `sesame init` to create one.',
      },
    );
  }
  return buf;
}

const emptyToUndefined = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
const isTrue = (v: string | undefined): boolean => v === 'true' || v === '1';
