import { z } from 'zod';
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
