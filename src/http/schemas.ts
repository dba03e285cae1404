import { z } from 'zod';

/**
 * Response schemas. They are allow-lists: the serializer drops every field not named here, so a
 * secret column can never leave the server through a response.
 */
export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  requestId: z.string(),
});

// The views are defined beside the modules that build them; the routes take them from here.
export { apiKeyInfo } from '../modules/api-keys/schemas.js';
export { auditEntry } from '../modules/audit/schemas.js';
export { connectionView, testReport, wiringResult } from '../modules/connections/schemas.js';

export const idParams = z.strictObject({ id: z.string().min(1).max(100) });
