import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, isAppError } from '../errors.js';

/** One error shape for every failure: { error: { code, message, hint }, requestId }. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    let app_: AppError;
    if (isAppError(err)) app_ = err;
    else if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')}`,
        message: v.message ?? 'invalid',
      }));
      app_ = new AppError(
        'validation_failed',
        `The request is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { details: { issues } },
      );
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      app_ = new AppError('validation_failed', 'Unsupported Content-Type.', {
        status: 415,
        hint: 'Send JSON with Content-Type: application/json.',
      });
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      app_ = new AppError('payload_too_large', 'The request body is too large.');
    } else if (
      err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      err instanceof SyntaxError ||
      err.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
    ) {
      app_ = new AppError('invalid_json', 'The request body is not valid JSON.');
    } else if (err.statusCode === 429) {
      app_ = new AppError('rate_limited', 'Too many requests.');
    } else if (isResponseSerializationError(err)) {
      req.log.error({ err }, 'response failed its schema');
      app_ = new AppError('internal_error', 'The server produced an invalid response.');
    } else {
      req.log.error({ err }, 'unhandled error');
      app_ = new AppError('internal_error', 'Something went wrong on the server.');
    }
    void reply.status(app_.status).send({ error: app_.toJSON(), requestId: String(req.id) });
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new AppError('route_not_found', `No route ${req.method} ${req.url.split('?')[0]}.`);
    void reply.status(404).send({ error: e.toJSON(), requestId: String(req.id) });
  });
}
