import { createHash } from 'node:crypto';
import { authorize, baseContext } from '../auth.js';
import type { RequestContext } from '../context.js';
import { AwsError } from '../errors.js';
import type { SandboxResponse } from '../protocol.js';
import { firstHeader, type HeaderBag } from '../sigv4.js';
import { TEMPLATE_BUCKET, type SandboxState } from '../state.js';

const noSuchBucket = () => new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404);
const noSuchKey = () => new AwsError('NoSuchKey', 'The specified key does not exist.', 404);
const accessDenied = () => new AwsError('AccessDenied', 'Access Denied', 403);

export interface S3Target {
  bucket: string;
  key: string;
}

/** Path-style addressing only: /bucket/key (the key stays URL-decoded once). */
export function s3Target(rawPath: string): S3Target {
  const trimmed = rawPath.replace(/^\//, '');
  const slash = trimmed.indexOf('/');
  const bucket = decodeURIComponent(slash < 0 ? trimmed : trimmed.slice(0, slash));
  const key = slash < 0 ? '' : decodeURIComponent(trimmed.slice(slash + 1));
  return { bucket, key };
}

/**
 * Bodies sent with aws-chunked encoding (streaming uploads) carry chunk framing that must be
 * removed: `hex-size[;chunk-signature=…]\r\n<data>\r\n … 0\r\n<trailers>\r\n`.
 */
export function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos < body.length) {
    const eol = body.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = parseInt(body.subarray(pos, eol).toString('latin1').split(';')[0] ?? '0', 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function isChunked(headers: HeaderBag): boolean {
  const enc = firstHeader(headers, 'content-encoding') ?? '';
  const sha = firstHeader(headers, 'x-amz-content-sha256') ?? '';
  return enc.split(',').some((e) => e.trim() === 'aws-chunked') || sha.startsWith('STREAMING-');
}

export function handleS3(ctx: RequestContext): SandboxResponse {
  const { method } = ctx.req;
  const t = s3Target(ctx.req.rawPath);
  const state = ctx.deps.store.state;
  if (!t.bucket) throw new AwsError('NotImplemented', 'ListBuckets is not implemented by the Sesame sandbox', 501);
  if (!t.key) {
    if (method === 'PUT') return createBucket(ctx, t.bucket);
    throw new AwsError(
      'NotImplemented',
      'Bucket-level operations other than CreateBucket are not implemented by the Sesame sandbox',
      501,
    );
  }
  const bucket = state.buckets[t.bucket];
  const resource = `arn:aws:s3:::${t.bucket}/${t.key}`;
  const check = (action: string) =>
    authorize(state, ctx.caller, {
      action,
      resource,
      resourceAccount: bucket?.account ?? ctx.caller.account,
      context: baseContext(ctx.caller, ctx.now, ctx.region),
      protocol: 's3',
    });
  if (method === 'PUT') {
    check('s3:PutObject');
    if (!bucket) throw noSuchBucket();
    const data = isChunked(ctx.req.headers) ? decodeAwsChunked(ctx.req.body) : ctx.req.body;
    const etag = `"${createHash('md5').update(data).digest('hex')}"`;
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.req.headers))
      if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice(11)] = v;
    bucket.objects[t.key] = {
      body: data.toString('base64'),
      contentType: firstHeader(ctx.req.headers, 'content-type') ?? 'binary/octet-stream',
      etag,
      lastModified: ctx.now.toISOString(),
      metadata,
    };
    ctx.deps.store.save();
    return { status: 200, headers: { etag, 'x-amz-request-id': ctx.requestId }, body: '' };
  }
  if (method === 'GET' || method === 'HEAD') {
    check('s3:GetObject');
    return readObject(state, t, method, ctx.requestId);
  }
  throw new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
}

function createBucket(ctx: RequestContext, name: string): SandboxResponse {
  const state = ctx.deps.store.state;
  authorize(state, ctx.caller, {
    action: 's3:CreateBucket',
    resource: `arn:aws:s3:::${name}`,
    context: baseContext(ctx.caller, ctx.now, ctx.region),
    protocol: 's3',
  });
  const existing = state.buckets[name];
  if (existing) {
    if (existing.account === ctx.caller.account)
      throw new AwsError(
        'BucketAlreadyOwnedByYou',
        'Your previous request to create the named bucket succeeded and you already own it.',
        409,
      );
    throw new AwsError('BucketAlreadyExists', 'The requested bucket name is not available.', 409);
  }
  state.buckets[name] = {
    name,
    account: ctx.caller.account,
    region: ctx.region,
    createdAt: ctx.now.toISOString(),
    objects: {},
  };
  ctx.deps.store.save();
  return { status: 200, headers: { location: `/${name}`, 'x-amz-request-id': ctx.requestId }, body: '' };
}

export function readObject(state: SandboxState, t: S3Target, method: string, requestId: string): SandboxResponse {
  const bucket = state.buckets[t.bucket];
  if (!bucket) throw noSuchBucket();
  const obj = bucket.objects[t.key];
  if (!obj) throw noSuchKey();
  const data = Buffer.from(obj.body, 'base64');
  const headers: Record<string, string> = {
    'content-type': obj.contentType,
    'content-length': String(data.length),
    etag: obj.etag,
    'last-modified': new Date(obj.lastModified).toUTCString(),
    'x-amz-request-id': requestId,
  };
  for (const [k, v] of Object.entries(obj.metadata)) headers[`x-amz-meta-${k}`] = v;
  return { status: 200, headers, body: method === 'HEAD' ? '' : data };
}

/** Anonymous reads: only objects of the template bucket, which CloudFormation fetches by URL. */
export function handleAnonymousS3(
  state: SandboxState,
  rawPath: string,
  method: string,
  requestId: string,
): SandboxResponse {
  const t = s3Target(rawPath);
  if ((method !== 'GET' && method !== 'HEAD') || t.bucket !== TEMPLATE_BUCKET || !t.key) throw accessDenied();
  return readObject(state, t, method, requestId);
}
