import { z } from 'zod';

export const suppressionView = z.object({
  email: z.string(),
  reason: z.string(),
  source: z.string(),
  createdAt: z.string(),
});
export type Suppression = z.infer<typeof suppressionView>;
