import { z } from 'zod';

// RFC 1035 host names: labels of letters, digits and hyphens, at least one dot.
const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$/, 'must be a domain name such as example.com');
const label = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i, 'must be one DNS label such as mail');
const email = z.string().trim().max(254).email();


export const addDomainSchema = z.strictObject({
  domain: domainName,
  connection: z.string().min(1).max(100),
  mailFromSubdomain: label.nullable().optional(),
  dmarcReportEmail: email.optional(),
  byodkim: z.strictObject({ selector: label, privateKey: z.string().min(100).max(10_000) }).optional(),
  import: z.boolean().optional(),
});

export const addEmailSchema = z.strictObject({ email, connection: z.string().min(1).max(100) });
