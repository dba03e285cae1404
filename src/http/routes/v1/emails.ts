import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../../container.js';
import { AppError } from '../../../errors.js';
import { MESSAGE_STATUSES } from '../../../modules/messages/service.js';
import { messageView } from '../../../modules/messages/schemas.js';
import { access, actorOf, type Principal } from '../../auth.js';
import type { Submitter } from '../../../modules/messages/service.js';
import { idParams } from '../../schemas.js';

const iso = z.string().datetime({ offset: true, message: 'must be an ISO-8601 time' });
/** Base64 attachments make JSON bodies about a third larger than the 40 MB message limit. */
const EMAIL_BODY_LIMIT = 56 * 1024 * 1024;

export const emailRoutes =
  (c: Pick<Container, 'messages'>): FastifyPluginAsyncZod =>
  async (app) => {
    const idempotencyKey = (headers: Record<string, unknown>): string | undefined => {
      const v = headers['idempotency-key'];
      if (Array.isArray(v)) throw new AppError('idempotency_key_invalid', 'Send one Idempotency-Key header.');
      return typeof v === 'string' ? v : undefined;
    };
    // People were checked by role already; a key's scopes and connections go to the service.
    const submitter = (req: { principal: Principal }, actor: string): Submitter =>
      req.principal.kind === 'api_key'
        ? { workspaceId: req.principal.workspaceId, apiKeyId: req.principal.apiKeyId, access: req.principal, actor }
        : { workspaceId: req.principal.workspaceId, apiKeyId: null, actor };

    // The body is validated by the service (the idempotency hash covers the body as sent).
    app.post(
      '/v1/emails',
      {
        config: access.to('emails.send'),
        bodyLimit: EMAIL_BODY_LIMIT,
        schema: { response: { 202: z.object({ id: z.string(), status: z.enum(MESSAGE_STATUSES) }) } },
      },
      async (req, reply) => {
        const key = idempotencyKey(req.headers);
        const r = await c.messages.submit(submitter(req, actorOf(req)), req.body, key ? { idempotencyKey: key } : {});
        if (r.replayed) reply.header('idempotent-replayed', 'true');
        return reply.status(202).send(r.value);
      },
    );

    app.post(
      '/v1/emails/batch',
      {
        config: access.to('emails.send'),
        bodyLimit: EMAIL_BODY_LIMIT,
        schema: {
          body: z.object({ emails: z.array(z.unknown()).min(1).max(100) }),
          response: {
            200: z.object({
              data: z.array(
                z.object({
                  index: z.number(),
                  id: z.string().optional(),
                  status: z.string().optional(),
                  error: z.object({ code: z.string(), message: z.string(), hint: z.string() }).optional(),
                }),
              ),
            }),
          },
        },
      },
      async (req, reply) => {
        const key = idempotencyKey(req.headers);
        const r = await c.messages.submitBatch(
          submitter(req, actorOf(req)),
          req.body.emails,
          key ? { idempotencyKey: key } : {},
        );
        if (r.replayed) reply.header('idempotent-replayed', 'true');
        return r.value;
      },
    );

    app.get(
      '/v1/emails',
      {
        config: access.to('emails.read'),
        schema: {
          querystring: z.strictObject({
            status: z.enum(MESSAGE_STATUSES).optional(),
            recipient: z.string().max(254).optional(),
            tag: z
              .string()
              .max(520)
              .regex(/^[A-Za-z0-9_-]+[=:][A-Za-z0-9_-]+$/, 'must be name=value')
              .optional(),
            since: iso.optional(),
            until: iso.optional(),
            limit: z.coerce.number().int().min(1).max(200).optional(),
            cursor: z.string().max(100).optional(),
          }),
          response: { 200: z.object({ data: z.array(messageView), nextCursor: z.string().nullable() }) },
        },
      },
      async (req) => {
        const q = req.query;
        return c.messages.list(req.principal.workspaceId, {
          ...(q.status ? { status: q.status } : {}),
          ...(q.recipient ? { recipient: q.recipient } : {}),
          ...(q.tag ? { tag: q.tag } : {}),
          ...(q.since ? { since: q.since } : {}),
          ...(q.until ? { until: q.until } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        });
      },
    );

    app.get(
      '/v1/emails/:id',
      { config: access.to('emails.read'), schema: { params: idParams, response: { 200: messageView } } },
      async (req) => c.messages.get(req.principal.workspaceId, req.params.id),
    );
    app.post(
      '/v1/emails/:id/cancel',
      { config: access.to('emails.manage'), schema: { params: idParams, response: { 200: messageView } } },
      async (req) => c.messages.cancel(req.principal.workspaceId, req.params.id, actorOf(req)),
    );
    app.post(
      '/v1/emails/:id/retry',
      { config: access.to('emails.send'), schema: { params: idParams, response: { 200: messageView } } },
      async (req) => c.messages.retry(submitter(req, actorOf(req)), req.params.id),
    );
  };
