import type { AwsError } from './errors.js';

/** The four AWS wire protocols the sandbox speaks; errors must be encoded the way each SDK parser expects. */
export type Protocol = 'query' | 'rest-json' | 'json' | 's3';

export interface SandboxResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<Tag>escaped</Tag>`, or nothing when the value is absent (AWS omits empty optional members). */
export function xmlEl(tag: string, value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  return `<${tag}>${xmlEscape(String(value))}</${tag}>`;
}

export const NAMESPACES = {
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
  s3: 'http://s3.amazonaws.com/doc/2006-03-01/',
} as const;

/** Query-protocol success: <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata/></ActionResponse>. */
export function queryResponse(
  action: string,
  namespace: string,
  resultXml: string,
  requestId: string,
): SandboxResponse {
  const body =
    `<${action}Response xmlns="${namespace}">` +
    `<${action}Result>${resultXml}</${action}Result>` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
    `</${action}Response>`;
  return { status: 200, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body };
}

export function jsonResponse(
  protocol: 'rest-json' | 'json',
  value: unknown,
  requestId: string,
  status = 200,
): SandboxResponse {
  const contentType = protocol === 'json' ? 'application/x-amz-json-1.1' : 'application/json';
  return {
    status,
    headers: { 'content-type': contentType, 'x-amzn-requestid': requestId },
    body: JSON.stringify(value),
  };
}

export function errorResponse(protocol: Protocol, err: AwsError, requestId: string, method = 'POST'): SandboxResponse {
  switch (protocol) {
    case 'query':
      return {
        status: err.status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body:
          `<ErrorResponse xmlns="${NAMESPACES.sts}"><Error><Type>${err.fault}</Type>` +
          `${xmlEl('Code', err.code)}${xmlEl('Message', err.message)}</Error>` +
          `<RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    case 'rest-json':
      // The SDK takes the code from x-amzn-ErrorType and the message from the body.
      return {
        status: err.status,
        headers: { 'content-type': 'application/json', 'x-amzn-errortype': err.code, 'x-amzn-requestid': requestId },
        body: JSON.stringify({ message: err.message }),
      };
    case 'json':
      return {
        status: err.status,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: err.code, message: err.message }),
      };
    case 's3':
      return {
        status: err.status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        // HEAD responses carry no body; the SDK then names the error from the status (NotFound, Forbidden).
        body:
          method === 'HEAD'
            ? ''
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${xmlEl('Code', err.code)}${xmlEl('Message', err.message)}<RequestId>${requestId}</RequestId></Error>`,
      };
  }
}

/** The protocol a service speaks, by its SigV4 signing name. */
export function protocolOf(service: string): Protocol | undefined {
  switch (service) {
    case 'sts':
    case 'iam':
    case 'sns':
      return 'query';
    case 'ses':
      return 'rest-json';
    case 'secretsmanager':
      return 'json';
    case 's3':
      return 's3';
    default:
      return undefined;
  }
}
