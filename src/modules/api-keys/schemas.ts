import { z } from 'zod';
import { SCOPES } from '../../store/operators.js';

/** An API key as the API shows it: prefix and last 4 characters, never the key or its hash. */
export const apiKeyInfo = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  last4: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  scopes: z.array(z.enum(SCOPES)),
  /** The connections the key may use; null: all of the workspace's. */
  connectionIds: z.array(z.string()).nullable(),
});
