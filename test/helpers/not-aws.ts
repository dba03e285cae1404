import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for a wrong AWS_ENDPOINT_URL: a local HTTP server that answers chosen paths with an
 * HTML error page (as a web server, proxy or captive portal would) and passes every other request
 * through to the sandbox unchanged (the Host header too, so signatures still verify).
 */
export interface FakeEndpoint {
  url: string;
  /** Where passed-through requests go (the sandbox URL). */
  upstream: string;
  /** Answer requests whose path starts with `pathPrefix` with this HTTP status and an HTML page; null passes them through again. */
  answer(pathPrefix: string, status: number | null): void;
  /** How many requests reached a path starting with `pathPrefix`. */
  hits(pathPrefix: string): number;
  close(): Promise<void>;
}

export async function startFakeEndpoint(): Promise<FakeEndpoint> {
  const rules = new Map<string, number>();
  const seen: string[] = [];
  const fake: FakeEndpoint = {
    url: '',
    upstream: '',
    answer(pathPrefix, status) {
      if (status === null) rules.delete(pathPrefix);
      else rules.set(pathPrefix, status);
    },
    hits: (pathPrefix) => seen.filter((p) => p.startsWith(pathPrefix)).length,
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      }),
  };
  const srv = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(path);
    const status = [...rules].find(([prefix]) => path.startsWith(prefix))?.[1];
    if (status !== undefined) {
      req.resume();
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!DOCTYPE html><html><head><title>${status}</title></head><body><h1>Error ${status}</h1></body></html>`);
      return;
    }
    const up = new URL(fake.upstream);
    const forward = request(
      { hostname: up.hostname, port: up.port, method: req.method, path, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      res.writeHead(599);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return fake;
}
