import { createPrivateKey, createPublicKey } from 'node:crypto';
import { authorize, baseContext } from '../auth.js';
import type { RequestContext } from '../context.js';
import { AwsError } from '../errors.js';
import { lowerAlnum, sesMessageId } from '../ids.js';
import { addressOnly, bodyOf, domainOf, parseAddress, parseHeaders, splitAddressList } from '../mime.js';
import { context } from '../policy.js';
import { jsonResponse, type SandboxResponse } from '../protocol.js';
import { publishSesEvents } from '../ses-events.js';
import {
  sesAccount,
  type ConfigurationSetRecord,
  type MailboxMessage,
  type SandboxState,
  type SesAccountRecord,
  type SesIdentityRecord,
} from '../state.js';

// From the SES developer guide: at most 50 recipients per message.
const MAX_RECIPIENTS = 50;
const SIMULATOR_DOMAIN = 'simulator.amazonses.com';
const DAY_MS = 86_400_000;

const notFound = (m: string) => new AwsError('NotFoundException', m, 404);
const badRequest = (m: string) => new AwsError('BadRequestException', m, 400);

/** Sliding one-second windows of recipients sent, per (account, region), for MaxSendRate in the SES sandbox. */
const rateWindows = new WeakMap<SandboxState, Map<string, { at: number; n: number }[]>>();

export function handleSes(ctx: RequestContext, method: string, path: string, body: unknown): SandboxResponse {
  const segments = path
    .split('/')
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  // segments: ['v2', 'email', resource, id?, sub?, subId?]
  const [v2, email, resource, id, sub, subId] = segments;
  if (v2 !== 'v2' || email !== 'email' || !resource) throw notFound(`No SES v2 operation at ${method} ${path}`);
  const route = routeKey(method, segments);
  switch (route) {
    case 'PUT identities/{id}/mail-from':
      return putMailFrom(ctx, id!, body);
    case 'GET configuration-sets/{id}':
      return getConfigurationSet(ctx, id!);
    case 'DELETE configuration-sets/{id}':
      return deleteConfigurationSet(ctx, id!);
    case 'GET configuration-sets/{id}/event-destinations':
      return getEventDestinations(ctx, id!);
    case 'POST configuration-sets/{id}/event-destinations':
      return putEventDestination(ctx, id!, undefined, body);
    case 'PUT configuration-sets/{id}/event-destinations/{sub}':
      return putEventDestination(ctx, id!, subId!, body);
    case 'DELETE configuration-sets/{id}/event-destinations/{sub}':
      return deleteEventDestination(ctx, id!, subId!);
    case 'GET account':
      return getAccount(ctx);
    case 'GET identities':
    case 'POST list-identities': // newer SDKs list with POST
      return listIdentities(ctx);
    case 'POST identities':
      return createIdentity(ctx, body);
    case 'GET identities/{id}':
      return getIdentity(ctx, id!);
    case 'DELETE identities/{id}':
      return deleteIdentity(ctx, id!);
    case 'GET configuration-sets':
    case 'POST list-configuration-sets':
      return listConfigurationSets(ctx);
    case 'POST configuration-sets':
      return createConfigurationSet(ctx, body);
    case 'POST outbound-emails':
      return sendEmail(ctx, body);
    default:
      void sub;
      throw notFound(`The Sesame sandbox does not implement SES v2 ${method} ${path}`);
  }
}

/** `GET configuration-sets/{id}/event-destinations/{sub}` from the path segments. */
function routeKey(method: string, segments: string[]): string {
  const [, , resource, id, sub, subId] = segments;
  return `${method} ${resource ?? ''}${id !== undefined ? '/{id}' : ''}${sub !== undefined ? `/${sub}` : ''}${subId !== undefined ? '/{sub}' : ''}`;
}

export function sesActionName(method: string, path: string): string {
  const map: Record<string, string> = {
    'PUT identities/{id}/mail-from': 'PutEmailIdentityMailFromAttributes',
    'GET configuration-sets/{id}': 'GetConfigurationSet',
    'DELETE configuration-sets/{id}': 'DeleteConfigurationSet',
    'GET configuration-sets/{id}/event-destinations': 'GetConfigurationSetEventDestinations',
    'POST configuration-sets/{id}/event-destinations': 'CreateConfigurationSetEventDestination',
    'PUT configuration-sets/{id}/event-destinations/{sub}': 'UpdateConfigurationSetEventDestination',
    'DELETE configuration-sets/{id}/event-destinations/{sub}': 'DeleteConfigurationSetEventDestination',
    'GET account': 'GetAccount',
    'GET identities': 'ListEmailIdentities',
    'POST list-identities': 'ListEmailIdentities',
    'POST list-configuration-sets': 'ListConfigurationSets',
    'POST identities': 'CreateEmailIdentity',
    'GET identities/{id}': 'GetEmailIdentity',
    'DELETE identities/{id}': 'DeleteEmailIdentity',
    'GET configuration-sets': 'ListConfigurationSets',
    'POST configuration-sets': 'CreateConfigurationSet',
    'POST outbound-emails': 'SendEmail',
  };
  return map[routeKey(method, path.split('/').filter(Boolean))] ?? 'Unknown';
}

const identityArn = (ctx: RequestContext, identity: string) =>
  `arn:aws:ses:${ctx.region}:${ctx.caller.account}:identity/${identity}`;

function check(
  ctx: RequestContext,
  action: string,
  resource: string,
  extra: Record<string, string | string[] | undefined> = {},
): void {
  authorize(ctx.deps.store.state, ctx.caller, {
    action,
    resource,
    context: { ...baseContext(ctx.caller, ctx.now, ctx.region), ...context({ 'ses:ApiVersion': '2', ...extra }) },
    protocol: 'rest-json',
  });
}

function account(ctx: RequestContext): SesAccountRecord {
  return sesAccount(ctx.deps.store.state, ctx.caller.account, ctx.region);
}

/** Per (account, region): recipients sent, in mailbox order, scanned once (amortised O(1) per send). */
interface SentWindow {
  scanned: number;
  entries: Array<{ t: number; n: number }>;
  head: number;
  sum: number;
  lastNow: number;
}
const sentWindows = new WeakMap<SandboxState, Map<string, SentWindow>>();

/** Forget the counts (the mailbox was emptied). */
export function resetSentWindows(state: SandboxState): void {
  sentWindows.delete(state);
}

export function sentLast24Hours(state: SandboxState, acct: string, region: string, now: Date): number {
  let byKey = sentWindows.get(state);
  if (!byKey) sentWindows.set(state, (byKey = new Map()));
  const key = `${acct}/${region}`;
  let w = byKey.get(key);
  const t = now.getTime();
  // The mailbox was cleared, or time went backwards (tests): count again from scratch.
  if (!w || state.mailbox.length < w.scanned || t < w.lastNow) {
    w = { scanned: 0, entries: [], head: 0, sum: 0, lastNow: t };
    byKey.set(key, w);
  }
  for (; w.scanned < state.mailbox.length; w.scanned++) {
    const m = state.mailbox[w.scanned]!;
    if (m.account !== acct || m.region !== region) continue;
    const n = m.to.length + m.cc.length + m.bcc.length;
    w.entries.push({ t: Date.parse(m.sentAt), n });
    w.sum += n;
  }
  while (w.head < w.entries.length && t - w.entries[w.head]!.t >= DAY_MS) w.sum -= w.entries[w.head++]!.n;
  if (w.head > 1024 && w.head * 2 > w.entries.length) {
    w.entries = w.entries.slice(w.head);
    w.head = 0;
  }
  w.lastNow = t;
  return w.sum;
}

function getAccount(ctx: RequestContext): SandboxResponse {
  check(ctx, 'ses:GetAccount', '*');
  const a = account(ctx);
  return jsonResponse(
    'rest-json',
    {
      DedicatedIpAutoWarmupEnabled: false,
      EnforcementStatus: a.enforcementStatus,
      ProductionAccessEnabled: a.productionAccessEnabled,
      SendingEnabled: a.sendingEnabled,
      SendQuota: {
        Max24HourSend: a.max24HourSend,
        MaxSendRate: a.maxSendRate,
        SentLast24Hours: sentLast24Hours(ctx.deps.store.state, a.account, a.region, ctx.now),
      },
      SuppressionAttributes: { SuppressedReasons: [] },
      ...(a.productionAccessEnabled
        ? {
            Details: {
              MailType: 'TRANSACTIONAL',
              WebsiteURL: 'https://example.com',
              ContactLanguage: 'EN',
              UseCaseDescription: 'Sesame sandbox',
              ReviewDetails: { Status: 'GRANTED', CaseId: 'sandbox' },
            },
          }
        : {}),
    },
    ctx.requestId,
  );
}

const verificationStatus = (i: SesIdentityRecord) => (i.verified ? 'SUCCESS' : 'PENDING');

function dkimAttributes(i: SesIdentityRecord) {
  if (i.type === 'EMAIL_ADDRESS')
    return { SigningEnabled: false, Status: 'NOT_STARTED', SigningAttributesOrigin: 'AWS_SES' };
  // With BYODKIM, SES reports the selector in Tokens.
  if (i.dkimOrigin === 'EXTERNAL')
    return {
      SigningEnabled: true,
      Status: i.verified ? 'SUCCESS' : 'PENDING',
      Tokens: [i.dkimSelector ?? ''],
      SigningAttributesOrigin: 'EXTERNAL',
    };
  return {
    SigningEnabled: true,
    Status: i.verified ? 'SUCCESS' : 'PENDING',
    Tokens: i.dkimTokens ?? [],
    SigningAttributesOrigin: 'AWS_SES',
    NextSigningKeyLength: 'RSA_2048_BIT',
    CurrentSigningKeyLength: 'RSA_2048_BIT',
  };
}

function listIdentities(ctx: RequestContext): SandboxResponse {
  check(ctx, 'ses:ListEmailIdentities', '*');
  const items = Object.values(account(ctx).identities).map((i) => ({
    IdentityType: i.type,
    IdentityName: i.identity,
    SendingEnabled: true,
    VerificationStatus: verificationStatus(i),
  }));
  return jsonResponse('rest-json', { EmailIdentities: items }, ctx.requestId);
}

export function newIdentity(identity: string, now: Date, verified: boolean): SesIdentityRecord {
  const type = identity.includes('@') ? 'EMAIL_ADDRESS' : 'DOMAIN';
  return {
    identity,
    type,
    verified,
    createdAt: now.toISOString(),
    // Easy DKIM hands out three 32-character tokens for a domain.
    ...(type === 'DOMAIN' ? { dkimTokens: [lowerAlnum(32), lowerAlnum(32), lowerAlnum(32)] } : {}),
  };
}

function createIdentity(ctx: RequestContext, body: unknown): SandboxResponse {
  const input = (body ?? {}) as {
    EmailIdentity?: unknown;
    ConfigurationSetName?: unknown;
    DkimSigningAttributes?: { DomainSigningSelector?: unknown; DomainSigningPrivateKey?: unknown };
  };
  if (typeof input.EmailIdentity !== 'string' || input.EmailIdentity === '')
    throw badRequest('EmailIdentity is required.');
  const name = input.EmailIdentity.toLowerCase();
  check(ctx, 'ses:CreateEmailIdentity', identityArn(ctx, name));
  const a = account(ctx);
  if (a.identities[name]) throw new AwsError('AlreadyExistsException', `Email identity ${name} already exists.`, 400);
  const rec = newIdentity(name, ctx.now, false);
  if (typeof input.ConfigurationSetName === 'string') rec.configurationSetName = input.ConfigurationSetName;
  const byo = input.DkimSigningAttributes;
  if (byo && (byo.DomainSigningSelector !== undefined || byo.DomainSigningPrivateKey !== undefined)) {
    if (rec.type !== 'DOMAIN') throw badRequest('DKIM signing attributes apply to domain identities only.');
    if (
      typeof byo.DomainSigningSelector !== 'string' ||
      !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(byo.DomainSigningSelector)
    )
      throw badRequest('DomainSigningSelector must be a DNS label.');
    rec.dkimOrigin = 'EXTERNAL';
    rec.dkimSelector = byo.DomainSigningSelector;
    rec.dkimPublicKey = publicKeyOf(byo.DomainSigningPrivateKey);
    delete rec.dkimTokens;
  }
  ctx.deps.identities.onCreate(rec);
  a.identities[name] = rec;
  ctx.deps.store.save();
  return jsonResponse(
    'rest-json',
    { IdentityType: rec.type, VerifiedForSendingStatus: rec.verified, DkimAttributes: dkimAttributes(rec) },
    ctx.requestId,
  );
}

function getIdentity(ctx: RequestContext, id: string): SandboxResponse {
  const name = id.toLowerCase();
  check(ctx, 'ses:GetEmailIdentity', identityArn(ctx, name));
  const i = account(ctx).identities[name];
  if (!i) throw notFound(`Email identity ${id} does not exist.`);
  return jsonResponse(
    'rest-json',
    {
      IdentityType: i.type,
      FeedbackForwardingStatus: true,
      VerifiedForSendingStatus: i.verified,
      VerificationStatus: verificationStatus(i),
      DkimAttributes: dkimAttributes(i),
      MailFromAttributes: {
        BehaviorOnMxFailure: i.behaviorOnMxFailure ?? 'USE_DEFAULT_VALUE',
        ...(i.mailFromDomain
          ? { MailFromDomain: i.mailFromDomain, MailFromDomainStatus: i.mailFromVerified ? 'SUCCESS' : 'PENDING' }
          : {}),
      },
      Policies: {},
      Tags: [],
      ...(i.configurationSetName ? { ConfigurationSetName: i.configurationSetName } : {}),
    },
    ctx.requestId,
  );
}

/** The public half of a BYODKIM key (base64 DER, PKCS#8 or PKCS#1), as SES publishes it for the selector. */
function publicKeyOf(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    throw badRequest('DomainSigningPrivateKey must be a base64-encoded RSA private key.');
  const der = Buffer.from(value.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    try {
      const key = createPrivateKey({ key: der, format: 'der', type });
      if (key.asymmetricKeyType !== 'rsa') break;
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits !== 1024 && bits !== 2048) throw badRequest('The DKIM key must be a 1024- or 2048-bit RSA key.');
      return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
    } catch (e) {
      if (e instanceof AwsError) throw e;
    }
  }
  throw badRequest('DomainSigningPrivateKey is not a base64-encoded RSA private key.');
}

function putMailFrom(ctx: RequestContext, id: string, body: unknown): SandboxResponse {
  const name = id.toLowerCase();
  check(ctx, 'ses:PutEmailIdentityMailFromAttributes', identityArn(ctx, name));
  const i = account(ctx).identities[name];
  if (!i) throw notFound(`Email identity ${id} does not exist.`);
  const input = (body ?? {}) as { MailFromDomain?: unknown; BehaviorOnMxFailure?: unknown };
  const behavior = input.BehaviorOnMxFailure ?? 'USE_DEFAULT_VALUE';
  if (behavior !== 'USE_DEFAULT_VALUE' && behavior !== 'REJECT_MESSAGE')
    throw badRequest('BehaviorOnMxFailure must be USE_DEFAULT_VALUE or REJECT_MESSAGE.');
  const domain = typeof input.MailFromDomain === 'string' ? input.MailFromDomain.toLowerCase() : '';
  if (domain === '') {
    delete i.mailFromDomain;
    delete i.mailFromVerified;
  } else {
    const parent = i.type === 'DOMAIN' ? i.identity : domainOf(i.identity);
    // SES: the MAIL FROM domain must be a subdomain of the verified identity.
    if (!domain.endsWith(`.${parent}`)) throw badRequest(`MailFromDomain ${domain} must be a subdomain of ${parent}.`);
    if (i.mailFromDomain !== domain) {
      i.mailFromDomain = domain;
      i.mailFromVerified = ctx.deps.identities.mode === 'immediate';
    }
  }
  i.behaviorOnMxFailure = behavior;
  ctx.deps.store.save();
  return jsonResponse('rest-json', {}, ctx.requestId);
}

function deleteIdentity(ctx: RequestContext, id: string): SandboxResponse {
  const name = id.toLowerCase();
  check(ctx, 'ses:DeleteEmailIdentity', identityArn(ctx, name));
  const a = account(ctx);
  if (!a.identities[name]) throw notFound(`Email identity ${id} does not exist.`);
  delete a.identities[name];
  ctx.deps.store.save();
  return jsonResponse('rest-json', {}, ctx.requestId);
}

function listConfigurationSets(ctx: RequestContext): SandboxResponse {
  check(ctx, 'ses:ListConfigurationSets', '*');
  return jsonResponse('rest-json', { ConfigurationSets: Object.keys(account(ctx).configurationSets) }, ctx.requestId);
}

function createConfigurationSet(ctx: RequestContext, body: unknown): SandboxResponse {
  const input = (body ?? {}) as { ConfigurationSetName?: unknown };
  const name = input.ConfigurationSetName;
  if (typeof name !== 'string' || !/^[\w-]{1,64}$/.test(name))
    throw badRequest('ConfigurationSetName must be 1-64 letters, digits, underscores or hyphens.');
  check(ctx, 'ses:CreateConfigurationSet', `arn:aws:ses:${ctx.region}:${ctx.caller.account}:configuration-set/${name}`);
  const a = account(ctx);
  if (a.configurationSets[name])
    throw new AwsError('AlreadyExistsException', `Configuration set <${name}> already exists.`, 400);
  a.configurationSets[name] = { name, createdAt: ctx.now.toISOString() };
  ctx.deps.store.save();
  return jsonResponse('rest-json', {}, ctx.requestId);
}

const EVENT_TYPES = [
  'SEND',
  'REJECT',
  'BOUNCE',
  'COMPLAINT',
  'DELIVERY',
  'OPEN',
  'CLICK',
  'RENDERING_FAILURE',
  'DELIVERY_DELAY',
  'SUBSCRIPTION',
];
const configurationSetArn = (ctx: RequestContext, name: string) =>
  `arn:aws:ses:${ctx.region}:${ctx.caller.account}:configuration-set/${name}`;

function configurationSet(ctx: RequestContext, name: string, action: string): ConfigurationSetRecord {
  check(ctx, action, configurationSetArn(ctx, name));
  const cs = account(ctx).configurationSets[name];
  if (!cs) throw notFound(`Configuration set <${name}> does not exist.`);
  return cs;
}

function getConfigurationSet(ctx: RequestContext, name: string): SandboxResponse {
  const cs = configurationSet(ctx, name, 'ses:GetConfigurationSet');
  return jsonResponse(
    'rest-json',
    {
      ConfigurationSetName: cs.name,
      DeliveryOptions: { TlsPolicy: 'OPTIONAL' },
      ReputationOptions: { ReputationMetricsEnabled: false },
      SendingOptions: { SendingEnabled: true },
      Tags: [],
    },
    ctx.requestId,
  );
}

function deleteConfigurationSet(ctx: RequestContext, name: string): SandboxResponse {
  configurationSet(ctx, name, 'ses:DeleteConfigurationSet');
  delete account(ctx).configurationSets[name];
  ctx.deps.store.save();
  return jsonResponse('rest-json', {}, ctx.requestId);
}

function getEventDestinations(ctx: RequestContext, name: string): SandboxResponse {
  const cs = configurationSet(ctx, name, 'ses:GetConfigurationSetEventDestinations');
  const list = Object.values(cs.eventDestinations ?? {}).map((d) => ({
    Name: d.name,
    Enabled: d.enabled,
    MatchingEventTypes: d.matchingEventTypes,
    ...(d.snsTopicArn ? { SnsDestination: { TopicArn: d.snsTopicArn } } : {}),
  }));
  return jsonResponse('rest-json', { EventDestinations: list }, ctx.requestId);
}

/** Create (no destination name in the path) or update an event destination. */
function putEventDestination(
  ctx: RequestContext,
  name: string,
  destination: string | undefined,
  body: unknown,
): SandboxResponse {
  const creating = destination === undefined;
  const cs = configurationSet(
    ctx,
    name,
    creating ? 'ses:CreateConfigurationSetEventDestination' : 'ses:UpdateConfigurationSetEventDestination',
  );
  const input = (body ?? {}) as {
    EventDestinationName?: unknown;
    EventDestination?: { Enabled?: unknown; MatchingEventTypes?: unknown; SnsDestination?: { TopicArn?: unknown } };
  };
  const destName = creating ? input.EventDestinationName : destination;
  if (typeof destName !== 'string' || !/^[\w-]{1,64}$/.test(destName))
    throw badRequest('EventDestinationName must be 1-64 letters, digits, underscores or hyphens.');
  const d = input.EventDestination ?? {};
  const types = d.MatchingEventTypes;
  if (!Array.isArray(types) || types.length === 0 || types.some((t) => !EVENT_TYPES.includes(String(t))))
    throw badRequest(`MatchingEventTypes must list one or more of ${EVENT_TYPES.join(', ')}.`);
  const topicArn = d.SnsDestination?.TopicArn;
  if (
    topicArn !== undefined &&
    (typeof topicArn !== 'string' || !/^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]+$/.test(topicArn))
  )
    throw badRequest('SnsDestination.TopicArn must be an SNS topic ARN.');
  const dests = (cs.eventDestinations ??= {});
  if (creating && dests[destName])
    throw new AwsError(
      'AlreadyExistsException',
      `Event destination ${destName} already exists in configuration set ${name}.`,
      400,
    );
  if (!creating && !dests[destName])
    throw notFound(`Event destination ${destName} does not exist in configuration set ${name}.`);
  dests[destName] = {
    name: destName,
    enabled: d.Enabled === true,
    matchingEventTypes: types.map(String),
    ...(typeof topicArn === 'string' ? { snsTopicArn: topicArn } : {}),
  };
  ctx.deps.store.save();
  return jsonResponse('rest-json', {}, ctx.requestId);
}

function deleteEventDestination(ctx: RequestContext, name: string, destination: string): SandboxResponse {
  const cs = configurationSet(ctx, name, 'ses:DeleteConfigurationSetEventDestination');
  if (!cs.eventDestinations?.[destination])
    throw notFound(`Event destination ${destination} does not exist in configuration set ${name}.`);
  delete cs.eventDestinations[destination];
  ctx.deps.store.save();
  return jsonResponse('rest-json', {}, ctx.requestId);
}

/** The verified identity that covers an address: the address itself, its domain, or a parent domain. */
export function coveringIdentity(a: SesAccountRecord, address: string): SesIdentityRecord | undefined {
  const exact = a.identities[address.toLowerCase()];
  if (exact?.verified) return exact;
  const labels = domainOf(address).split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const d = a.identities[labels.slice(i).join('.')];
    if (d?.verified) return d;
  }
  return undefined;
}

interface SendInput {
  FromEmailAddress?: string;
  Destination?: { ToAddresses?: string[]; CcAddresses?: string[]; BccAddresses?: string[] };
  ReplyToAddresses?: string[];
  FeedbackForwardingEmailAddress?: string;
  ConfigurationSetName?: string;
  EmailTags?: { Name: string; Value: string }[];
  Content?: {
    Simple?: {
      Subject?: { Data?: string };
      Body?: { Text?: { Data?: string }; Html?: { Data?: string } };
      Headers?: { Name: string; Value: string }[];
      Attachments?: { FileName?: string; ContentType?: string; RawContent?: string }[];
    };
    Raw?: { Data?: string };
    Template?: unknown;
  };
}

function sendEmail(ctx: RequestContext, body: unknown): SandboxResponse {
  const input = (body ?? {}) as SendInput;
  const state = ctx.deps.store.state;
  const content = input.Content ?? {};
  let fromHeader = input.FromEmailAddress;
  let to = input.Destination?.ToAddresses ?? [];
  let cc = input.Destination?.CcAddresses ?? [];
  let bcc = input.Destination?.BccAddresses ?? [];
  let subject = '';
  let text: string | undefined;
  let html: string | undefined;
  let raw: string | undefined;
  let headers: Record<string, string> = {};
  let attachments: MailboxMessage['attachments'];
  if (content.Simple) {
    subject = content.Simple.Subject?.Data ?? '';
    text = content.Simple.Body?.Text?.Data;
    html = content.Simple.Body?.Html?.Data;
    for (const h of content.Simple.Headers ?? []) headers[h.Name.toLowerCase()] = h.Value;
    if (content.Simple.Attachments?.length) {
      attachments = content.Simple.Attachments.map((a) => ({
        fileName: a.FileName ?? '',
        ...(a.ContentType ? { contentType: a.ContentType } : {}),
        size: Buffer.from(a.RawContent ?? '', 'base64').length,
      }));
    }
  } else if (content.Raw) {
    raw = Buffer.from(content.Raw.Data ?? '', 'base64').toString('utf8');
    headers = parseHeaders(raw);
    fromHeader ??= headers['from'];
    subject = headers['subject'] ?? '';
    if (!input.Destination) {
      to = splitAddressList(headers['to']);
      cc = splitAddressList(headers['cc']);
      bcc = splitAddressList(headers['bcc']);
    }
    const ct = headers['content-type'] ?? 'text/plain';
    if (ct.startsWith('text/plain')) text = bodyOf(raw);
    else if (ct.startsWith('text/html')) html = bodyOf(raw);
  } else if (content.Template) {
    throw badRequest('Template content is not supported by the Sesame sandbox; send Simple or Raw content.');
  } else {
    throw badRequest('Content is required: Simple, Raw or Template.');
  }
  if (!fromHeader) throw badRequest("Missing required header 'From'.");
  const from = parseAddress(fromHeader);
  const recipients = [...to, ...cc, ...bcc].map(addressOnly);

  const a = account(ctx);
  const fromIdentity = coveringIdentity(a, from.address);
  // SES authorises against the identity that covers the From address, and the configuration set.
  const sendContext = {
    'ses:FromAddress': from.address,
    'ses:FromDisplayName': from.displayName,
    'ses:Recipients': recipients,
    'ses:FeedbackAddress': input.FeedbackForwardingEmailAddress ?? from.address,
  };
  check(ctx, 'ses:SendEmail', identityArn(ctx, fromIdentity?.identity ?? domainOf(from.address)), sendContext);
  // Authorization comes before request validation, so a caller without permission always hears AccessDenied.
  if (recipients.length === 0) throw badRequest("Missing final '@domain'");
  if (recipients.length > MAX_RECIPIENTS) throw badRequest(`Recipient count exceeds ${MAX_RECIPIENTS}.`);
  if (input.ConfigurationSetName !== undefined) {
    check(
      ctx,
      'ses:SendEmail',
      `arn:aws:ses:${ctx.region}:${ctx.caller.account}:configuration-set/${input.ConfigurationSetName}`,
      sendContext,
    );
    if (!a.configurationSets[input.ConfigurationSetName])
      throw notFound(`Configuration set <${input.ConfigurationSetName}> does not exist.`);
  }
  if (a.enforcementStatus === 'SHUTDOWN') {
    throw new AwsError(
      'AccountSuspendedException',
      "The message can't be sent because the account's ability to send email has been permanently restricted.",
      400,
    );
  }
  if (!a.sendingEnabled)
    throw new AwsError(
      'SendingPausedException',
      "The message can't be sent because the account's ability to send email is currently paused.",
      400,
    );
  const regionLabel = ctx.region.toUpperCase();
  if (!fromIdentity) {
    throw new AwsError(
      'MessageRejected',
      `Email address is not verified. The following identities failed the check in region ${regionLabel}: ${from.address}`,
      400,
    );
  }
  if (!a.productionAccessEnabled) {
    const unverified = recipients.filter((r) => domainOf(r) !== SIMULATOR_DOMAIN && !coveringIdentity(a, r));
    if (unverified.length) {
      throw new AwsError(
        'MessageRejected',
        `Email address is not verified. The following identities failed the check in region ${regionLabel}: ${unverified.join(', ')}`,
        400,
      );
    }
  }
  if (sentLast24Hours(state, a.account, a.region, ctx.now) + recipients.length > a.max24HourSend) {
    throw new AwsError('TooManyRequestsException', 'Daily message quota exceeded.', 429);
  }
  if (!a.productionAccessEnabled) enforceRate(ctx, a, recipients.length);

  const msg: MailboxMessage = {
    messageId: sesMessageId(ctx.now),
    account: a.account,
    region: a.region,
    from: fromHeader,
    to,
    cc,
    bcc,
    replyTo: input.ReplyToAddresses ?? (content.Raw ? splitAddressList(headers['reply-to']) : []),
    subject,
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
    ...(raw !== undefined ? { raw } : {}),
    headers,
    ...(input.ConfigurationSetName !== undefined ? { configurationSet: input.ConfigurationSetName } : {}),
    tags: Object.fromEntries((input.EmailTags ?? []).map((t) => [t.Name, t.Value])),
    ...(attachments ? { attachments } : {}),
    sentAt: ctx.now.toISOString(),
    accessKeyId: ctx.caller.accessKeyId,
    principalArn: ctx.caller.arn,
  };
  state.mailbox.push(msg);
  ctx.deps.store.save();
  for (const listener of ctx.deps.sendListeners) listener(msg);
  if (msg.configurationSet) publishSesEvents(ctx.deps, a, msg, fromIdentity.identity);
  return jsonResponse('rest-json', { MessageId: msg.messageId }, ctx.requestId);
}

/** MaxSendRate counts recipients per second; a message is refused once the current second's budget is spent. */
function enforceRate(ctx: RequestContext, a: SesAccountRecord, n: number): void {
  let windows = rateWindows.get(ctx.deps.store.state);
  if (!windows) rateWindows.set(ctx.deps.store.state, (windows = new Map()));
  const key = `${a.account}/${a.region}`;
  const now = ctx.now.getTime();
  const recent = (windows.get(key) ?? []).filter((w) => now - w.at < 1000 && w.at <= now);
  const used = recent.reduce((s, w) => s + w.n, 0);
  if (used >= a.maxSendRate) throw new AwsError('TooManyRequestsException', 'Maximum sending rate exceeded.', 429);
  recent.push({ at: now, n });
  windows.set(key, recent);
}
