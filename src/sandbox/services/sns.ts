import { randomBytes, randomUUID } from 'node:crypto';
import { baseContext, identityDecision, notAuthorizedMessage } from '../auth.js';
import type { RequestContext, SandboxDeps } from '../context.js';
import { AwsError } from '../errors.js';
import { queryResponse, xmlEl, type SandboxResponse } from '../protocol.js';
import { publish, sendConfirmation } from '../sns-publish.js';
import { snsState, type SnsSubscriptionRecord, type SnsTopicRecord } from '../state.js';

/**
 * Amazon SNS (Query protocol, API version 2010-03-31): the topic, subscription and publish
 * actions event wiring needs, with HTTP/S delivery signed as SNS signs it.
 */
export const SNS_NAMESPACE = 'http://sns.amazonaws.com/doc/2010-03-31/';
const TOPIC_NAME = /^[A-Za-z0-9_-]{1,256}$/;
const SETTABLE = new Set([
  'Policy',
  'DisplayName',
  'DeliveryPolicy',
  'SignatureVersion',
  'KmsMasterKeyId',
  'TracingConfig',
]);
const MAX_MESSAGE_BYTES = 256 * 1024;

const invalid = (m: string) => new AwsError('InvalidParameter', m, 400);
const notFound = (m: string) => new AwsError('NotFound', m, 404);

export function handleSns(ctx: RequestContext, params: URLSearchParams): SandboxResponse {
  const action = params.get('Action') ?? '';
  const p = (name: string) => params.get(name) ?? '';
  switch (action) {
    case 'CreateTopic':
      // Tagging at creation is also authorised as sns:TagResource.
      if ([...params.keys()].some((k) => k.startsWith('Tags.member.')))
        check(ctx, 'sns:TagResource', `arn:aws:sns:${ctx.region}:${ctx.caller.account}:${p('Name')}`);
      return createTopic(ctx, p('Name'), attributesOf(params));
    case 'GetTopicAttributes':
      return getTopicAttributes(ctx, p('TopicArn'));
    case 'SetTopicAttributes':
      return setTopicAttributes(ctx, p('TopicArn'), p('AttributeName'), params.get('AttributeValue') ?? '');
    case 'DeleteTopic':
      return deleteTopic(ctx, p('TopicArn'));
    case 'ListTopics':
      return listTopics(ctx);
    case 'Subscribe':
      return subscribe(ctx, p('TopicArn'), p('Protocol'), p('Endpoint'), p('ReturnSubscriptionArn') === 'true');
    case 'ConfirmSubscription':
      return respond(
        ctx.requestId,
        'ConfirmSubscription',
        xmlEl('SubscriptionArn', confirm(ctx.deps, p('TopicArn'), p('Token')).arn),
      );
    case 'ListSubscriptionsByTopic':
      return listSubscriptionsByTopic(ctx, p('TopicArn'));
    case 'Unsubscribe':
      return unsubscribeAction(ctx, p('SubscriptionArn'));
    case 'Publish':
      return publishAction(ctx, p('TopicArn'), p('Message'), params.get('Subject') ?? undefined);
    default:
      throw new AwsError(
        'InvalidAction',
        `Could not find operation ${action} for version 2010-03-31 (the Sesame sandbox implements topics, HTTP/S subscriptions and Publish)`,
        400,
      );
  }
}

/**
 * The SubscribeURL and UnsubscribeURL SNS puts in its messages are plain GETs without a
 * signature: the token (or the subscription ARN) is the proof.
 */
export function handleAnonymousSns(
  deps: SandboxDeps,
  query: URLSearchParams,
  requestId: string,
): SandboxResponse | undefined {
  const action = query.get('Action');
  if (action === 'ConfirmSubscription') {
    const sub = confirm(deps, query.get('TopicArn') ?? '', query.get('Token') ?? '');
    return respond(requestId, 'ConfirmSubscription', xmlEl('SubscriptionArn', sub.arn));
  }
  if (action === 'Unsubscribe') {
    unsubscribe(deps, query.get('SubscriptionArn') ?? '');
    return respond(requestId, 'Unsubscribe', '');
  }
  return undefined;
}

const respond = (requestId: string, action: string, xml: string) =>
  queryResponse(action, SNS_NAMESPACE, xml, requestId);

function check(
  ctx: RequestContext,
  action: string,
  resource: string,
  resourceAccount: string = ctx.caller.account,
): void {
  const decision =
    resourceAccount === ctx.caller.account
      ? identityDecision(
          ctx.deps.store.state,
          ctx.caller,
          action,
          resource,
          baseContext(ctx.caller, ctx.now, ctx.region),
        )
      : 'implicitDeny';
  if (decision !== 'allowed')
    throw new AwsError('AuthorizationError', notAuthorizedMessage(ctx.caller, action, resource), 403);
}

function attributesOf(params: URLSearchParams): Record<string, string> {
  // Query maps: Attributes.entry.N.key / Attributes.entry.N.value
  const out: Record<string, string> = {};
  const byIndex = new Map<string, { key?: string; value?: string }>();
  for (const [k, v] of params) {
    const m = /^Attributes\.entry\.(\d+)\.(key|value)$/.exec(k);
    if (!m) continue;
    const e = byIndex.get(m[1]!) ?? {};
    e[m[2] as 'key' | 'value'] = v;
    byIndex.set(m[1]!, e);
  }
  for (const e of byIndex.values()) if (e.key !== undefined) out[e.key] = e.value ?? '';
  return out;
}

function topicOf(ctx: RequestContext, arn: string, action: string): SnsTopicRecord {
  const m = /^arn:aws[\w-]*:sns:([\w-]+):(\d{12}):([\w-]+)$/.exec(arn);
  if (!m) throw invalid(`Invalid parameter: TopicArn`);
  check(ctx, action, arn, m[2]);
  const topic = snsState(ctx.deps.store.state).topics[arn];
  if (!topic) throw notFound('Topic does not exist');
  return topic;
}

function validateAttribute(name: string, value: string): void {
  if (!SETTABLE.has(name)) throw invalid(`Invalid parameter: AttributeName`);
  if (name === 'SignatureVersion' && value !== '1' && value !== '2')
    throw invalid('Invalid parameter: SignatureVersion must be 1 or 2');
  if (name === 'Policy') {
    try {
      JSON.parse(value);
    } catch {
      throw invalid('Invalid parameter: Policy Error: null');
    }
  }
}

function createTopic(ctx: RequestContext, name: string, attributes: Record<string, string>): SandboxResponse {
  if (!TOPIC_NAME.test(name)) throw invalid('Invalid parameter: Topic Name');
  const arn = `arn:aws:sns:${ctx.region}:${ctx.caller.account}:${name}`;
  check(ctx, 'sns:CreateTopic', arn);
  for (const [k, v] of Object.entries(attributes)) validateAttribute(k, v);
  const sns = snsState(ctx.deps.store.state);
  const existing = sns.topics[arn];
  if (existing) {
    // CreateTopic is idempotent, but not with different attributes.
    for (const [k, v] of Object.entries(attributes)) {
      if (existing.attributes[k] !== v)
        throw invalid('Invalid parameter: Attributes Reason: Topic already exists with different attributes');
    }
  } else {
    sns.topics[arn] = {
      arn,
      name,
      account: ctx.caller.account,
      region: ctx.region,
      attributes: { ...attributes },
      subscriptions: {},
      createdAt: ctx.now.toISOString(),
    };
    ctx.deps.store.save();
  }
  return respond(ctx.requestId, 'CreateTopic', xmlEl('TopicArn', arn));
}

function getTopicAttributes(ctx: RequestContext, arn: string): SandboxResponse {
  const t = topicOf(ctx, arn, 'sns:GetTopicAttributes');
  const subs = Object.values(t.subscriptions);
  const attrs: Record<string, string> = {
    TopicArn: t.arn,
    Owner: t.account,
    DisplayName: '',
    SignatureVersion: '1',
    SubscriptionsConfirmed: String(subs.filter((s) => s.confirmed).length),
    SubscriptionsPending: String(subs.filter((s) => !s.confirmed).length),
    SubscriptionsDeleted: '0',
    ...t.attributes,
  };
  const entries = Object.entries(attrs)
    .map(([k, v]) => `<entry>${xmlEl('key', k)}${xmlEl('value', v)}</entry>`)
    .join('');
  return respond(ctx.requestId, 'GetTopicAttributes', `<Attributes>${entries}</Attributes>`);
}

function setTopicAttributes(ctx: RequestContext, arn: string, name: string, value: string): SandboxResponse {
  const t = topicOf(ctx, arn, 'sns:SetTopicAttributes');
  validateAttribute(name, value);
  t.attributes[name] = value;
  ctx.deps.store.save();
  return respond(ctx.requestId, 'SetTopicAttributes', '');
}

function deleteTopic(ctx: RequestContext, arn: string): SandboxResponse {
  const m = /^arn:aws[\w-]*:sns:[\w-]+:(\d{12}):[\w-]+$/.exec(arn);
  if (!m) throw invalid('Invalid parameter: TopicArn');
  check(ctx, 'sns:DeleteTopic', arn, m[1]);
  // Deleting a topic that does not exist succeeds, as in SNS.
  delete snsState(ctx.deps.store.state).topics[arn];
  ctx.deps.store.save();
  return respond(ctx.requestId, 'DeleteTopic', '');
}

function listTopics(ctx: RequestContext): SandboxResponse {
  check(ctx, 'sns:ListTopics', '*');
  const mine = Object.values(snsState(ctx.deps.store.state).topics).filter(
    (t) => t.account === ctx.caller.account && t.region === ctx.region,
  );
  return respond(
    ctx.requestId,
    'ListTopics',
    `<Topics>${mine.map((t) => `<member>${xmlEl('TopicArn', t.arn)}</member>`).join('')}</Topics>`,
  );
}

function subscribe(
  ctx: RequestContext,
  topicArn: string,
  protocol: string,
  endpoint: string,
  returnArn: boolean,
): SandboxResponse {
  const t = topicOf(ctx, topicArn, 'sns:Subscribe');
  if (protocol !== 'http' && protocol !== 'https')
    throw invalid(`Invalid parameter: Protocol (the Sesame sandbox delivers to http and https endpoints only)`);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid('Invalid parameter: Endpoint must be a URL');
  }
  if (url.protocol !== `${protocol}:`)
    throw invalid(`Invalid parameter: ${protocol.toUpperCase()} endpoint must start with ${protocol}://`);
  const existing = Object.values(t.subscriptions).find((s) => s.endpoint === endpoint && s.protocol === protocol);
  let sub: SnsSubscriptionRecord;
  if (existing) {
    sub = existing;
  } else {
    sub = {
      arn: `${t.arn}:${randomUUID()}`,
      topicArn: t.arn,
      protocol,
      endpoint,
      owner: ctx.caller.account,
      token: randomBytes(64).toString('hex'),
      confirmed: false,
      createdAt: ctx.now.toISOString(),
    };
    t.subscriptions[sub.arn] = sub;
    ctx.deps.store.save();
  }
  // Subscribing again while pending sends the confirmation again.
  if (!sub.confirmed) sendConfirmation(ctx.deps, t, sub);
  return respond(
    ctx.requestId,
    'Subscribe',
    xmlEl('SubscriptionArn', sub.confirmed || returnArn ? sub.arn : 'pending confirmation'),
  );
}

function confirm(deps: SandboxDeps, topicArn: string, token: string): SnsSubscriptionRecord {
  const t = snsState(deps.store.state).topics[topicArn];
  if (!t) throw notFound('Topic does not exist');
  const sub = Object.values(t.subscriptions).find((s) => s.token === token);
  if (!sub || token.length === 0) throw invalid('Invalid token');
  if (!sub.confirmed) {
    sub.confirmed = true;
    deps.store.save();
  }
  return sub;
}

function listSubscriptionsByTopic(ctx: RequestContext, arn: string): SandboxResponse {
  const t = topicOf(ctx, arn, 'sns:ListSubscriptionsByTopic');
  const members = Object.values(t.subscriptions)
    .map(
      (s) =>
        `<member>${xmlEl('SubscriptionArn', s.confirmed ? s.arn : 'PendingConfirmation')}${xmlEl('Owner', s.owner)}${xmlEl('Protocol', s.protocol)}${xmlEl('Endpoint', s.endpoint)}${xmlEl('TopicArn', s.topicArn)}</member>`,
    )
    .join('');
  return respond(ctx.requestId, 'ListSubscriptionsByTopic', `<Subscriptions>${members}</Subscriptions>`);
}

function unsubscribe(deps: SandboxDeps, subscriptionArn: string): void {
  for (const t of Object.values(snsState(deps.store.state).topics)) {
    if (t.subscriptions[subscriptionArn]) {
      delete t.subscriptions[subscriptionArn];
      deps.store.save();
      return;
    }
  }
  throw notFound('Subscription does not exist');
}

function unsubscribeAction(ctx: RequestContext, subscriptionArn: string): SandboxResponse {
  const topicArn = subscriptionArn.replace(/:[^:]+$/, '');
  topicOf(ctx, topicArn, 'sns:Unsubscribe');
  unsubscribe(ctx.deps, subscriptionArn);
  return respond(ctx.requestId, 'Unsubscribe', '');
}

function publishAction(
  ctx: RequestContext,
  topicArn: string,
  message: string,
  subject: string | undefined,
): SandboxResponse {
  const t = topicOf(ctx, topicArn, 'sns:Publish');
  if (message.length === 0) throw invalid('Invalid parameter: Empty message');
  if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) throw invalid('Invalid parameter: Message too long');
  const id = publish(ctx.deps, t, message, subject);
  return respond(ctx.requestId, 'Publish', xmlEl('MessageId', id));
}

/** For SES event publishing: topics are referenced by ARN from configuration sets. */
export function topicByArn(deps: SandboxDeps, arn: string): SnsTopicRecord | undefined {
  return snsState(deps.store.state).topics[arn];
}
