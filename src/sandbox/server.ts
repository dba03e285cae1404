import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxAdmin } from './admin.js';
import { handleAdmin } from './admin-http.js';
import { authError, authenticate, type RawRequest } from './auth.js';
import { consolePage, bannerPage } from './console-page.js';
import type { RequestContext, SandboxDeps } from './context.js';
import { AwsError, isAwsError } from './errors.js';
import { requestId as newRequestId } from './ids.js';
import { errorResponse, protocolOf, type Protocol, type SandboxResponse } from './protocol.js';
import { handleIam } from './services/iam.js';
import { handleAnonymousS3, handleS3 } from './services/s3.js';
import { handleSecretsManager } from './services/secrets.js';
import { handleSes, sesActionName } from './services/ses.js';
import { handleAnonymousSns, handleSns } from './services/sns.js';
import { handleSts } from './services/sts.js';
import { parseAuthorization, SigV4FormatError } from './sigv4.js';
import { sesAccount } from './state.js';

/** SES raw messages may be 40 MB once encoded; base64 in JSON adds a third. */
const MAX_BODY = 60 * 1024 * 1024;
export const SANDBOX_LABEL = 'Sesame local AWS sandbox (development stand-in, not AWS)';

export interface ServerOptions {
  deps: SandboxDeps;
  admin: SandboxAdmin;
  url: () => string | undefined;
  log?: (line: string) => void;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new AwsError('RequestEntityTooLargeException', 'Request entity too large', 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function createRequestHandler(opts: ServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(opts, req, res).catch((e: unknown) => {
      opts.log?.(`[sandbox] internal error: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Sesame sandbox internal error');
    });
  };
}

async function handle(opts: ServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
  const now = opts.deps.clock.now();
  const send = (r: SandboxResponse, what: string) => {
    res.writeHead(r.status, { ...r.headers, date: now.toUTCString(), 'x-sesame-sandbox': 'true' });
    res.end(r.body);
    opts.log?.(`[sandbox] ${what} → ${r.status}`);
  };

  let body: Buffer;
  try {
    body = await readBody(req);
  } catch (e) {
    send(
      { status: 413, headers: { 'content-type': 'text/plain' }, body: isAwsError(e) ? e.message : 'error' },
      `${method} ${rawPath}`,
    );
    return;
  }

  if (rawPath === '/_sandbox' || rawPath.startsWith('/_sandbox/')) {
    send(
      await handleAdmin({ admin: opts.admin, method, rawPath, rawQuery, headers: req.headers, body, url: opts.url() }),
      `admin ${method} ${rawPath}`,
    );
    return;
  }
  if (method === 'GET' && (rawPath === '/cloudformation/home' || rawPath === '/cloudformation/home/')) {
    send(
      {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
        body: consolePage(),
      },
      'console quick-create page',
    );
    return;
  }
  if (!req.headers.authorization && method === 'GET' && rawPath === '/' && rawQuery) {
    // SNS SubscribeURL / UnsubscribeURL: unsigned GETs carrying a token.
    const snsRequestId = newRequestId();
    try {
      const r = handleAnonymousSns(opts.deps, new URLSearchParams(rawQuery), snsRequestId);
      if (r) {
        send(r, `SNS ${new URLSearchParams(rawQuery).get('Action')} (anonymous)`);
        return;
      }
    } catch (e) {
      send(toError('query', e, snsRequestId, method), `SNS anonymous ${method}`);
      return;
    }
  }
  if (method === 'GET' && rawPath === '/' && !req.headers.authorization) {
    send(
      { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: bannerPage(opts.url()) },
      'banner',
    );
    return;
  }

  const raw: RawRequest = { method, rawPath, rawQuery, headers: req.headers, body };
  const requestId = newRequestId();
  const authHeader = req.headers.authorization;
  if (!authHeader) {
    const protocol = guessProtocol(raw);
    try {
      if (protocol !== 's3') throw authError('missing', protocol);
      send(handleAnonymousS3(opts.deps.store.state, rawPath, method, requestId), `anonymous S3 ${method} ${rawPath}`);
    } catch (e) {
      send(toError(protocol, e, requestId, method), `anonymous ${method} ${rawPath}`);
    }
    return;
  }

  let protocol: Protocol = guessProtocol(raw);
  let label = `${method} ${rawPath}`;
  try {
    let auth;
    try {
      auth = parseAuthorization(authHeader);
    } catch (e) {
      if (e instanceof SigV4FormatError)
        throw new AwsError(protocol === 's3' ? 'AuthorizationHeaderMalformed' : 'IncompleteSignature', e.message, 400);
      throw e;
    }
    const p = protocolOf(auth.service);
    if (!p)
      throw new AwsError(
        'UnknownService',
        `The Sesame sandbox does not emulate the '${auth.service}' service (sts, iam, ses, sns, secretsmanager, s3 only).`,
        400,
      );
    protocol = p;
    const caller = authenticate(opts.deps.store.state, now, raw, auth, protocol);
    const ctx: RequestContext = { deps: opts.deps, now, region: auth.region, caller, requestId, req: raw };
    const { action, run } = route(ctx, auth.service);
    label = `${auth.service.toUpperCase()} ${action} by ${caller.arn}`;
    const fault = opts.deps.faults.take(auth.service, action);
    if (fault) throw fault;
    send(await run(), label);
  } catch (e) {
    send(toError(protocol, e, requestId, method), label);
  }
}

function toError(protocol: Protocol, e: unknown, requestId: string, method: string): SandboxResponse {
  const err = isAwsError(e)
    ? e
    : new AwsError(
        protocol === 'query' ? 'InternalFailure' : 'InternalFailure',
        `Sesame sandbox error: ${e instanceof Error ? e.message : String(e)}`,
        500,
        'Receiver',
      );
  return errorResponse(protocol, err, requestId, method);
}

function guessProtocol(raw: RawRequest): Protocol {
  if (raw.headers['x-amz-target']) return 'json';
  if (raw.rawPath.startsWith('/v2/email')) return 'rest-json';
  if (raw.method === 'POST' && String(raw.headers['content-type'] ?? '').includes('x-www-form-urlencoded'))
    return 'query';
  return 's3';
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new AwsError('SerializationException', 'The request body is not valid JSON.', 400);
  }
}

/** Picks the service handler; the action name is used for fault injection and logs. */
function route(
  ctx: RequestContext,
  service: string,
): { action: string; run: () => SandboxResponse | Promise<SandboxResponse> } {
  const { req } = ctx;
  switch (service) {
    case 'sts':
    case 'iam':
    case 'sns': {
      const params = new URLSearchParams(req.body.toString('utf8'));
      for (const [k, v] of new URLSearchParams(req.rawQuery)) if (!params.has(k)) params.set(k, v);
      const action = params.get('Action') ?? '';
      const handler = service === 'sts' ? handleSts : service === 'iam' ? handleIam : handleSns;
      return { action, run: () => handler(ctx, params) };
    }
    case 'ses': {
      const action = sesActionName(req.method, req.rawPath);
      // SES reports an identity after looking its DNS records up again.
      const lookup = action === 'GetEmailIdentity' || action === 'ListEmailIdentities';
      return {
        action,
        run: async () => {
          if (lookup) {
            const name =
              action === 'GetEmailIdentity'
                ? decodeURIComponent(req.rawPath.split('/').filter(Boolean)[3] ?? '').toLowerCase()
                : undefined;
            await ctx.deps.identities.refresh(
              ctx.deps,
              sesAccount(ctx.deps.store.state, ctx.caller.account, ctx.region),
              name,
            );
          }
          return handleSes(ctx, req.method, req.rawPath, parseJson(req.body));
        },
      };
    }
    case 'secretsmanager': {
      const target = String(req.headers['x-amz-target'] ?? '');
      return {
        action: target.replace(/^secretsmanager\./, ''),
        run: () => handleSecretsManager(ctx, target, parseJson(req.body)),
      };
    }
    default: {
      const hasKey = req.rawPath.replace(/^\//, '').includes('/');
      const action =
        req.method === 'PUT'
          ? hasKey
            ? 'PutObject'
            : 'CreateBucket'
          : req.method === 'HEAD'
            ? 'HeadObject'
            : 'GetObject';
      return { action, run: () => handleS3(ctx) };
    }
  }
}
