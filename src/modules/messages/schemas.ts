import { z } from 'zod';
import { MESSAGE_STATUSES } from '../../store/messages.js';

/** A message as the API shows it (an allow-list: the stored draft never leaves through it). */
export const messageView = z.object({
  id: z.string(),
  status: z.enum(MESSAGE_STATUSES),
  connectionId: z.string(),
  from: z.string(),
  to: z.array(z.string()),
  cc: z.array(z.string()),
  bcc: z.array(z.string()),
  subject: z.string(),
  tags: z.record(z.string(), z.string()),
  source: z.string(),
  scheduledAt: z.string().nullable(),
  sesMessageId: z.string().nullable(),
  attempts: z.number(),
  lastError: z.object({ code: z.string(), message: z.string().nullable(), hint: z.string().nullable() }).nullable(),
  suppressed: z.array(z.object({ email: z.string(), reason: z.string() })),
  sizeBytes: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  sentAt: z.string().nullable(),
  events: z
    .array(
      z.object({
        kind: z.string(),
        occurredAt: z.string(),
        recipients: z.array(z.string()),
        details: z.record(z.string(), z.unknown()),
      }),
    )
    .optional(),
});
export type MessageView = z.infer<typeof messageView>;
