import { randomUUID } from 'node:crypto';
import type { SandboxDeps } from './context.js';
import { domainOf, parseAddress } from './mime.js';
import { topicByArn } from './services/sns.js';
import { publish } from './sns-publish.js';
import type { MailboxMessage, SesAccountRecord } from './state.js';

/**
 * SES event publishing for a configuration set with SNS destinations, in the format of the SES
 * developer guide ("Examples of event data that Amazon SES publishes to Amazon SNS"). What
 * happens to each recipient follows the mailbox simulator: success@ is delivered, bounce@
 * bounces (hard), complaint@ is delivered then complained about, suppressionlist@ bounces as
 * suppressed, ooto@ is delivered (with an auto-reply SES does not report). Everyone else is
 * delivered: the sandbox has no real mailboxes to fail.
 */
const SIMULATOR_DOMAIN = 'simulator.amazonses.com';

type Outcome = 'delivered' | 'bounced' | 'complained' | 'suppressed';

export function simulatorOutcome(address: string): Outcome {
  const [local = '', domain = ''] = address.toLowerCase().split('@');
  if (domain !== SIMULATOR_DOMAIN) return 'delivered';
  // The simulator accepts labels: bounce+test1@simulator.amazonses.com bounces too.
  switch (local.split('+')[0]) {
    case 'bounce':
      return 'bounced';
    case 'complaint':
      return 'complained';
    case 'suppressionlist':
      return 'suppressed';
    default:
      return 'delivered';
  }
}

interface SesEventRecord {
  type: 'SEND' | 'DELIVERY' | 'BOUNCE' | 'COMPLAINT';
  body: Record<string, unknown>;
}

export function sesEventsFor(msg: MailboxMessage, identity: string, now: Date): SesEventRecord[] {
  const recipients = [...msg.to, ...msg.cc, ...msg.bcc].map((r) => parseAddress(r).address);
  const from = parseAddress(msg.from).address;
  const ts = now.toISOString();
  const tags: Record<string, string[]> = {
    'ses:operation': ['SendEmail'],
    'ses:configuration-set': [msg.configurationSet ?? ''],
    'ses:source-ip': ['127.0.0.1'],
    'ses:from-domain': [domainOf(from)],
    'ses:caller-identity': [msg.principalArn.split('/').pop() ?? ''],
  };
  for (const [k, v] of Object.entries(msg.tags)) tags[k] = [v];
  const mail = {
    timestamp: msg.sentAt,
    source: msg.from,
    sourceArn: `arn:aws:ses:${msg.region}:${msg.account}:identity/${identity}`,
    sendingAccountId: msg.account,
    messageId: msg.messageId,
    destination: recipients,
    headersTruncated: false,
    headers: Object.entries(msg.headers).map(([name, value]) => ({ name, value })),
    commonHeaders: { from: [msg.from], to: msg.to, messageId: msg.messageId, subject: msg.subject },
    tags,
  };
  const by = (o: Outcome) => recipients.filter((r) => simulatorOutcome(r) === o);
  const delivered = [...by('delivered'), ...by('complained')];
  const hard = by('bounced');
  const suppressed = by('suppressed');
  const complained = by('complained');
  const events: SesEventRecord[] = [{ type: 'SEND', body: { eventType: 'Send', mail, send: {} } }];
  if (delivered.length) {
    events.push({
      type: 'DELIVERY',
      body: {
        eventType: 'Delivery',
        mail,
        delivery: {
          timestamp: ts,
          processingTimeMillis: 120,
          recipients: delivered,
          smtpResponse: '250 2.6.0 Message received',
          reportingMTA: 'a8-30.smtp-out.amazonses.com',
        },
      },
    });
  }
  for (const [list, subType, diagnostic] of [
    [hard, 'General', 'smtp; 550 5.1.1 user unknown'],
    [
      suppressed,
      'OnAccountSuppressionList',
      'Amazon SES did not send the message to this address because it is on the suppression list for your account.',
    ],
  ] as const) {
    if (!list.length) continue;
    events.push({
      type: 'BOUNCE',
      body: {
        eventType: 'Bounce',
        mail,
        bounce: {
          feedbackId: `${msg.messageId}-${randomUUID()}`,
          bounceType: 'Permanent',
          bounceSubType: subType,
          bouncedRecipients: list.map((emailAddress) => ({
            emailAddress,
            action: 'failed',
            status: '5.1.1',
            diagnosticCode: diagnostic,
          })),
          timestamp: ts,
          reportingMTA: 'dns; amazonses.com',
        },
      },
    });
  }
  if (complained.length) {
    events.push({
      type: 'COMPLAINT',
      body: {
        eventType: 'Complaint',
        mail,
        complaint: {
          feedbackId: `${msg.messageId}-${randomUUID()}`,
          complaintSubType: null,
          complainedRecipients: complained.map((emailAddress) => ({ emailAddress })),
          timestamp: ts,
          userAgent: 'Amazon SES Mailbox Simulator',
          complaintFeedbackType: 'abuse',
          arrivalDate: ts,
        },
      },
    });
  }
  return events;
}

/** Publish the events of one accepted message to the SNS topics of its configuration set. */
export function publishSesEvents(
  deps: SandboxDeps,
  account: SesAccountRecord,
  msg: MailboxMessage,
  identity: string,
): void {
  const cs = msg.configurationSet ? account.configurationSets[msg.configurationSet] : undefined;
  const destinations = Object.values(cs?.eventDestinations ?? {}).filter((d) => d.enabled && d.snsTopicArn);
  if (destinations.length === 0) return;
  const events = sesEventsFor(msg, identity, deps.clock.now());
  for (const d of destinations) {
    const topic = topicByArn(deps, d.snsTopicArn!);
    // SES publishes only to topics in the sending account; a deleted topic just loses the events.
    if (!topic || topic.account !== account.account) continue;
    for (const e of events) if (d.matchingEventTypes.includes(e.type)) publish(deps, topic, JSON.stringify(e.body));
  }
}
