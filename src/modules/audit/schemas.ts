import { z } from 'zod';

/** An audit entry as the API shows it (an allow-list: nothing else leaves the server). */
export const auditEntry = z.object({
  id: z.string(),
  connectionId: z.string().nullable(),
  actor: z.string(),
  action: z.string(),
  outcome: z.string(),
  details: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});
