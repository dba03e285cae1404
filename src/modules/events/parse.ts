import { z } from 'zod';
import type { EventKind } from '../../store/events.js';

export type { EventKind };

/**
 * SES event records, in both formats SES uses: configuration-set event publishing (`eventType`)
 * and identity feedback notifications (`notificationType`). Schemas follow the AWS documentation
 * ("Contents of event data that Amazon SES publishes to Amazon SNS"); unknown fields are kept out,
 * unknown event types are reported as such instead of failing.
 */
const mailSchema = z.object({
  timestamp: z.string(),
  messageId: z.string().min(1),
  source: z.string().optional(),
  sourceArn: z.string().optional(),
  sendingAccountId: z.string().optional(),
  destination: z.array(z.string()).default([]),
  headersTruncated: z.boolean().optional(),
  headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  tags: z.record(z.string(), z.array(z.string())).optional(),
});

const recipient = z.object({
  emailAddress: z.string(),
  action: z.string().optional(),
  status: z.string().optional(),
  diagnosticCode: z.string().optional(),
});

const bounce = z.object({
  bounceType: z.enum(['Permanent', 'Transient', 'Undetermined']),
  bounceSubType: z.string().optional(),
  bouncedRecipients: z.array(recipient),
  timestamp: z.string(),
  feedbackId: z.string().optional(),
  reportingMTA: z.string().optional(),
});
const complaint = z.object({
  complainedRecipients: z.array(z.object({ emailAddress: z.string() })),
  timestamp: z.string(),
  feedbackId: z.string().optional(),
  complaintFeedbackType: z.string().optional(),
  complaintSubType: z.string().nullable().optional(),
  userAgent: z.string().optional(),
});
const delivery = z.object({
  timestamp: z.string(),
  recipients: z.array(z.string()),
  processingTimeMillis: z.number().optional(),
  smtpResponse: z.string().optional(),
  reportingMTA: z.string().optional(),
});
const reject = z.object({ reason: z.string() });
const open = z.object({ timestamp: z.string(), ipAddress: z.string().optional(), userAgent: z.string().optional() });
const click = z.object({
  timestamp: z.string(),
  link: z.string(),
  ipAddress: z.string().optional(),
  userAgent: z.string().optional(),
  linkTags: z.record(z.string(), z.array(z.string())).optional(),
});
const failure = z.object({ errorMessage: z.string(), templateName: z.string().optional() });
const deliveryDelay = z.object({
  timestamp: z.string(),
  delayType: z.string(),
  expirationTime: z.string().optional(),
  delayedRecipients: z.array(recipient),
  reportingMTA: z.string().optional(),
});
const subscription = z.object({
  contactList: z.string(),
  timestamp: z.string(),
  source: z.string().optional(),
  newTopicPreferences: z.unknown().optional(),
  oldTopicPreferences: z.unknown().optional(),
});

export interface SesEvent {
  kind: EventKind;
  format: 'event_publishing' | 'notification';
  sesMessageId: string;
  /** From the X-Sesame-Message-Id header, when SES included headers. */
  sesameMessageId: string | null;
  occurredAt: string;
  /** The recipients this event is about (bounced, complained, delivered, delayed…). */
  recipients: string[];
  bounce?: {
    type: 'Permanent' | 'Transient' | 'Undetermined';
    subType: string | null;
    recipients: Array<{ email: string; status: string | null; diagnostic: string | null }>;
  };
  complaint?: { feedbackType: string | null };
  reject?: { reason: string };
  click?: { link: string };
  failure?: { errorMessage: string };
  delay?: { type: string };
}

export type ParseResult =
  { ok: true; event: SesEvent } | { ok: false; reason: 'not_ses' | 'unknown_type' | 'invalid'; detail: string };

const KINDS: Record<string, EventKind> = {
  Send: 'send',
  Delivery: 'delivery',
  Bounce: 'bounce',
  Complaint: 'complaint',
  Reject: 'reject',
  DeliveryDelay: 'delivery_delay',
  'Rendering Failure': 'rendering_failure',
  RenderingFailure: 'rendering_failure',
  Open: 'open',
  Click: 'click',
  Subscription: 'subscription',
};

/** Parse the `Message` of an SNS notification. Never throws. */
export function parseSesEvent(message: string): ParseResult {
  let o: unknown;
  try {
    o = JSON.parse(message);
  } catch {
    return { ok: false, reason: 'not_ses', detail: 'The message is not JSON.' };
  }
  if (!o || typeof o !== 'object') return { ok: false, reason: 'not_ses', detail: 'The message is not an object.' };
  const r = o as Record<string, unknown>;
  const typeName =
    typeof r.eventType === 'string'
      ? r.eventType
      : typeof r.notificationType === 'string'
        ? r.notificationType
        : undefined;
  if (!typeName || !('mail' in r))
    return { ok: false, reason: 'not_ses', detail: 'No eventType/notificationType and mail object.' };
  const kind = Object.hasOwn(KINDS, typeName) ? KINDS[typeName] : undefined;
  if (!kind) return { ok: false, reason: 'unknown_type', detail: `Unknown SES event type ${typeName.slice(0, 50)}.` };
  const format = typeof r.eventType === 'string' ? 'event_publishing' : 'notification';
  const mail = mailSchema.safeParse(r.mail);
  if (!mail.success)
    return { ok: false, reason: 'invalid', detail: `mail: ${mail.error.issues[0]?.message ?? 'invalid'}` };
  const m = mail.data;
  const sesameMessageId = m.headers?.find((h) => h.name.toLowerCase() === 'x-sesame-message-id')?.value ?? null;
  const base = { kind, format, sesMessageId: m.messageId, sesameMessageId } as const;
  const sub = (key: string, schema: z.ZodType) => {
    const p = schema.safeParse(r[key]);
    return p.success
      ? { ok: true as const, data: p.data }
      : { ok: false as const, detail: `${key}: ${p.error.issues[0]?.path.join('.')} ${p.error.issues[0]?.message}` };
  };
  const invalid = (detail: string): ParseResult => ({ ok: false, reason: 'invalid', detail });

  switch (kind) {
    case 'bounce': {
      const b = sub('bounce', bounce);
      if (!b.ok) return invalid(b.detail);
      const d = b.data as z.infer<typeof bounce>;
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: d.timestamp,
          recipients: d.bouncedRecipients.map((x) => x.emailAddress.toLowerCase()),
          bounce: {
            type: d.bounceType,
            subType: d.bounceSubType ?? null,
            recipients: d.bouncedRecipients.map((x) => ({
              email: x.emailAddress.toLowerCase(),
              status: x.status ?? null,
              diagnostic: x.diagnosticCode ?? null,
            })),
          },
        },
      };
    }
    case 'complaint': {
      const c = sub('complaint', complaint);
      if (!c.ok) return invalid(c.detail);
      const d = c.data as z.infer<typeof complaint>;
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: d.timestamp,
          recipients: d.complainedRecipients.map((x) => x.emailAddress.toLowerCase()),
          complaint: { feedbackType: d.complaintFeedbackType ?? null },
        },
      };
    }
    case 'delivery': {
      const c = sub('delivery', delivery);
      if (!c.ok) return invalid(c.detail);
      const d = c.data as z.infer<typeof delivery>;
      return {
        ok: true,
        event: { ...base, occurredAt: d.timestamp, recipients: d.recipients.map((x) => x.toLowerCase()) },
      };
    }
    case 'delivery_delay': {
      const c = sub('deliveryDelay', deliveryDelay);
      if (!c.ok) return invalid(c.detail);
      const d = c.data as z.infer<typeof deliveryDelay>;
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: d.timestamp,
          recipients: d.delayedRecipients.map((x) => x.emailAddress.toLowerCase()),
          delay: { type: d.delayType },
        },
      };
    }
    case 'reject': {
      const c = sub('reject', reject);
      if (!c.ok) return invalid(c.detail);
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: m.timestamp,
          recipients: m.destination.map((x) => x.toLowerCase()),
          reject: { reason: (c.data as z.infer<typeof reject>).reason },
        },
      };
    }
    case 'open': {
      const c = sub('open', open);
      if (!c.ok) return invalid(c.detail);
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: (c.data as z.infer<typeof open>).timestamp,
          recipients: m.destination.map((x) => x.toLowerCase()),
        },
      };
    }
    case 'click': {
      const c = sub('click', click);
      if (!c.ok) return invalid(c.detail);
      const d = c.data as z.infer<typeof click>;
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: d.timestamp,
          recipients: m.destination.map((x) => x.toLowerCase()),
          click: { link: d.link },
        },
      };
    }
    case 'rendering_failure': {
      const c = sub('failure', failure);
      if (!c.ok) return invalid(c.detail);
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: m.timestamp,
          recipients: m.destination.map((x) => x.toLowerCase()),
          failure: { errorMessage: (c.data as z.infer<typeof failure>).errorMessage },
        },
      };
    }
    case 'subscription': {
      const c = sub('subscription', subscription);
      if (!c.ok) return invalid(c.detail);
      return {
        ok: true,
        event: {
          ...base,
          occurredAt: (c.data as z.infer<typeof subscription>).timestamp,
          recipients: m.destination.map((x) => x.toLowerCase()),
        },
      };
    }
    case 'send':
      return {
        ok: true,
        event: { ...base, occurredAt: m.timestamp, recipients: m.destination.map((x) => x.toLowerCase()) },
      };
  }
}
