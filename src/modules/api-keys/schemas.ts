import { z } from 'zod';

/** An API key as the API shows it: prefix and last 4 characters, never the key or its hash. */
export const apiKeyInfo = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  last4: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  canSend: z.boolean(),
});
