import { z } from 'zod';

// Allow-lists: no schema here names the secret; only the creation answer adds it.
export const webhookView = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  eventTypes: z.array(z.string()),
  allowPrivate: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const attemptView = z.object({
  attempt: z.number(),
  at: z.string(),
  durationMs: z.number(),
  statusCode: z.number().nullable(),
  error: z.string().nullable(),
  responseExcerpt: z.string().nullable(),
});

export const deliveryView = z.object({
  id: z.string(),
  eventId: z.string(),
  type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attemptCount: z.number(),
  createdAt: z.string(),
  nextAttemptAt: z.string().nullable(),
  expiresAt: z.string(),
  lastStatusCode: z.number().nullable(),
  lastError: z.string().nullable(),
  finishedAt: z.string().nullable(),
  attempts: z.array(attemptView),
});
export type WebhookView = z.infer<typeof webhookView>;
export type AttemptView = z.infer<typeof attemptView>;
export type DeliveryView = z.infer<typeof deliveryView>;
