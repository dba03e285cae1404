import type { IncomingHttpHeaders } from 'node:http';
import type { SandboxAdmin } from './admin.js';
import { isSandboxError } from './errors.js';
import type { PolicyDocument } from './policy.js';
import type { SandboxResponse } from './protocol.js';

/**
 * The admin API: JSON over HTTP under /_sandbox/…, the same operations as SandboxAdmin.
 * It is unauthenticated (a local development tool bound to 127.0.0.1 by default), so it refuses
 * cross-origin browser requests: mutations need a JSON body and a same-origin (or absent) Origin.
 */

interface AdminRequest {
  admin: SandboxAdmin;
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  url: string | undefined;
}

const json = (status: number, value: unknown): SandboxResponse => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  body: value === undefined ? '' : JSON.stringify(value),
});
const error = (status: number, code: string, message: string) => json(status, { error: { code, message } });

export async function handleAdmin(r: AdminRequest): Promise<SandboxResponse> {
  const segments = r.rawPath
    .split('/')
    .filter(Boolean)
    .slice(1)
    .map((s) => decodeURIComponent(s));
  const query = Object.fromEntries(new URLSearchParams(r.rawQuery));
  const scope = {
    ...(query['account'] ? { account: query['account'] } : {}),
    ...(query['region'] ? { region: query['region'] } : {}),
  };
  if (r.method !== 'GET') {
    const origin = r.headers.origin;
    if (origin !== undefined && (r.url === undefined || origin !== new URL(r.url).origin)) {
      return error(403, 'CrossOriginRefused', 'The sandbox admin API only accepts requests from its own origin.');
    }
    if (r.body.length > 0 && !String(r.headers['content-type'] ?? '').startsWith('application/json')) {
      return error(415, 'UnsupportedMediaType', 'Send JSON with Content-Type: application/json.');
    }
  }
  let body: Record<string, unknown> = {};
  if (r.body.length > 0) {
    try {
      body = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return error(400, 'InvalidJson', 'The request body is not valid JSON.');
    }
  }
  const a = r.admin;
  const [head, arg, sub, subArg] = segments;
  const route = `${r.method} ${head ?? ''}${arg !== undefined ? '/:arg' : ''}${sub !== undefined ? `/${sub}` : ''}${subArg !== undefined ? '/:name' : ''}`;
  try {
    switch (route) {
      case 'GET status':
        return json(200, a.status());
      case 'GET platform-credentials':
        return json(200, a.platformCredentials());
      case 'POST users':
      case 'POST access-keys':
        return json(201, a.createUser(body as Parameters<SandboxAdmin['createUser']>[0]));
      case 'GET stacks':
        return json(200, a.listStacks());
      case 'POST stacks':
        return json(201, a.deployTemplate(body as unknown as Parameters<SandboxAdmin['deployTemplate']>[0]));
      case 'POST template-summary':
        return json(200, a.templateSummary(body as Parameters<SandboxAdmin['templateSummary']>[0]));
      case 'DELETE stacks/:arg':
        return a.deleteStack(arg!, scope)
          ? json(200, { deleted: arg })
          : error(404, 'StackNotFound', `Stack ${arg} does not exist.`);
      case 'GET roles/:arg': {
        const role = a.getRole(arg!);
        return role ? json(200, role) : error(404, 'NoSuchEntity', `The role ${arg} cannot be found.`);
      }
      case 'DELETE roles/:arg':
        a.deleteRole(arg!);
        return json(200, { deleted: arg });
      case 'PUT roles/:arg/trust-policy':
        a.updateAssumeRolePolicy(arg!, (body['policy'] ?? body) as unknown as PolicyDocument);
        return json(200, { updated: arg });
      case 'PUT roles/:arg/policies/:name':
        a.putRolePolicy(arg!, subArg!, (body['policy'] ?? body) as unknown as PolicyDocument);
        return json(200, { updated: arg, policy: subArg });
      case 'DELETE roles/:arg/policies/:name':
        a.deleteRolePolicy(arg!, subArg!);
        return json(200, { deleted: subArg });
      case 'POST identities':
        return json(
          201,
          a.verifyIdentity(String(body['identity'] ?? ''), body as { account?: string; region?: string }),
        );
      case 'GET account':
        return json(200, a.getAccount(scope));
      case 'PUT account':
        return json(200, a.setAccount(body as Parameters<SandboxAdmin['setAccount']>[0]));
      case 'GET mailbox':
        return json(200, a.mailbox(scope));
      case 'DELETE mailbox':
        a.clearMailbox();
        return json(200, { cleared: true });
      case 'POST secrets':
        return json(201, a.putSecret(body as Parameters<SandboxAdmin['putSecret']>[0]));
      case 'GET sts-calls':
        return json(200, a.stsCalls());
      case 'PUT propagation-delay':
        a.setPropagationDelay(Number(body['ms']));
        return json(200, { ms: Number(body['ms']) });
      case 'GET sns/:arg': {
        if (arg === 'topics') return json(200, a.snsTopics());
        if (arg === 'deliveries') return json(200, a.snsDeliveries());
        if (arg !== 'certificate')
          return error(404, 'RouteNotFound', `No sandbox admin route ${r.method} ${r.rawPath}.`);
        const cert = a.snsCertificate();
        return {
          status: 200,
          headers: { 'content-type': 'application/x-pem-file', 'x-sns-cert-file': cert.certFile },
          body: cert.certificatePem,
        };
      }
      case 'GET dns':
        return json(200, a.dnsRecords());
      case 'POST dns':
        return json(
          201,
          a.dnsAdd(
            typeof body['zone'] === 'string'
              ? body['zone']
              : ((body['records'] as Parameters<SandboxAdmin['dnsAdd']>[0]) ?? []),
          ),
        );
      case 'DELETE dns/:arg':
        return json(200, {
          removed: a.dnsRemove(
            arg!,
            typeof r.rawQuery === 'string' ? (new URLSearchParams(r.rawQuery).get('type') ?? undefined) : undefined,
          ),
        });
      case 'POST faults':
        a.inject(
          String(body['service'] ?? ''),
          String(body['action'] ?? ''),
          String(body['errorCode'] ?? ''),
          body['times'] === undefined ? 1 : Number(body['times']),
        );
        return json(201, { injected: true });
      default:
        return error(404, 'RouteNotFound', `No sandbox admin route ${r.method} ${r.rawPath}.`);
    }
  } catch (e) {
    if (isSandboxError(e)) return error(e.status, e.code, e.message);
    return error(500, 'InternalError', e instanceof Error ? e.message : String(e));
  }
}
