import { z } from 'zod';
import { DKIM_ORIGINS, DOMAIN_KINDS, DOMAIN_ORIGINS, DOMAIN_STATUSES, SES_STATUSES } from '../../store/domains.js';
import { domain as domainName } from '../connections/schemas.js';
import { checkAddress } from '../messages/address.js';

const label = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i, 'must be one DNS label such as mail');
// The same rule as a `from` address, so an identity Sesame adds can always send.
const email = z
  .string()
  .trim()
  .max(254)
  .refine((v) => checkAddress(v).ok, 'must be an email address such as me@example.com');

export const addDomainSchema = z.strictObject({
  domain: domainName,
  connection: z.string().min(1).max(100),
  mailFromSubdomain: label.nullable().optional(),
  dmarcReportEmail: email.optional(),
  byodkim: z.strictObject({ selector: label, privateKey: z.string().min(100).max(10_000) }).optional(),
  import: z.boolean().optional(),
});

export const addEmailSchema = z.strictObject({ email, connection: z.string().min(1).max(100) });

export type AddDomainBody = z.infer<typeof addDomainSchema>;

/** The service input from a validated body (absent optional fields stay absent). */
export function addDomainInput(body: AddDomainBody) {
  const { byodkim, mailFromSubdomain, dmarcReportEmail, ...rest } = body;
  return {
    ...rest,
    ...(byodkim ? { byodkim } : {}),
    ...(mailFromSubdomain !== undefined ? { mailFromSubdomain } : {}),
    ...(dmarcReportEmail ? { dmarcReportEmail } : {}),
  };
}

// Views: the answer of every domain route, an allow-list (nothing outside it can leak), and the
// type the CLI reads.

const recordCheckView = z
  .object({
    status: z.enum(['ok', 'mismatch', 'missing', 'lookup_failed']),
    found: z.array(z.string()),
    message: z.string(),
    hint: z.string(),
  })
  .nullable();

export const publishRecordView = z.object({
  purpose: z.enum(['dkim', 'mail_from_mx', 'mail_from_spf', 'dmarc']),
  /** DMARC is a recommendation: SES verifies without it, mailbox providers increasingly do not. */
  required: z.boolean(),
  name: z.string(),
  type: z.enum(['CNAME', 'MX', 'TXT']),
  value: z.string(),
  priority: z.number().optional(),
  note: z.string().optional(),
  check: recordCheckView,
});

const problemView = z.object({
  code: z.string(),
  severity: z.enum(['error', 'warning']),
  name: z.string(),
  message: z.string(),
  hint: z.string(),
  tag: z.string().optional(),
});

export const sendDomainsChangeView = z.object({
  connection: z.string(),
  before: z.array(z.string()),
  after: z.array(z.string()),
  message: z.string(),
});

export const domainView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(DOMAIN_KINDS),
  connectionId: z.string(),
  origin: z.enum(DOMAIN_ORIGINS),
  status: z.enum(DOMAIN_STATUSES),
  dkim: z.object({ origin: z.enum(DKIM_ORIGINS), status: z.enum(SES_STATUSES) }),
  mailFrom: z.object({ domain: z.string().nullable(), status: z.enum(SES_STATUSES).nullable() }),
  records: z.array(publishRecordView),
  problems: z.array(problemView),
  zone: z.string(),
  checkedAt: z.string().nullable(),
  /** When Sesame looks again by itself; null once verified, failed or given up. */
  nextCheckAt: z.string().nullable(),
  verifiedAt: z.string().nullable(),
  createdAt: z.string(),
  /** Present when this answer's check verified the identity and so changed the connection's send domains. */
  sendDomainsChanged: sendDomainsChangeView.optional(),
});

export const domainDeletedView = z.object({ id: z.string(), deleted: z.literal(true), identityDeleted: z.boolean() });

export type DomainView = z.infer<typeof domainView>;
export type PublishRecordView = z.infer<typeof publishRecordView>;
export type SendDomainsChange = z.infer<typeof sendDomainsChangeView>;
