/**
 * Sesame as `sesame start` runs it (HTTP API + worker in one process), set up for the benchmark:
 * a workspace, an API key and a role connection deployed into the sandbox. Prints one JSON line.
 */
import { loadConfig } from '../src/config.js';
import { createContainer } from '../src/container.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';

const sandboxUrl = process.env.AWS_ENDPOINT_URL!;
const admin = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${sandboxUrl}/_sandbox/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
};

// The bench measures Sesame, not its request limits.
const config = loadConfig({
  SESAME_API_RATE_LIMIT_PER_KEY: '10000000',
  SESAME_API_RATE_LIMIT_PER_CLIENT: '10000000',
  ...process.env,
});
const c = await createContainer(config, { logger: createLogger('error') });
const ws = await c.workspaces.create('bench', 'bench');
const { key } = await c.apiKeys.create(ws.id, 'bench', 'bench', { scopes: ['admin'] });
const conn = await c.connections.create(ws.id, { mode: 'role', name: 'bench', region: 'us-east-1' }, 'bench');
const templateBody = await c.connections.onboarding.template(await c.connections.row(ws.id, conn.id));
const stack = await admin('POST', 'stacks', {
  templateBody,
  stackName: 'Sesame-bench',
  capabilities: ['CAPABILITY_NAMED_IAM'],
});
await c.connections.update(ws.id, conn.id, { roleArn: stack.outputs.RoleArn }, 'bench');
const app = await buildServer(c);
const url = await app.listen({ port: 0, host: '127.0.0.1' });
c.runner.start();
process.stdout.write(
  JSON.stringify({
    url,
    key,
    connectionId: conn.id,
    roleArn: stack.outputs.RoleArn,
    externalId: conn.role!.externalId,
    workspaceId: ws.id,
  }) + '\n',
);
process.once('SIGTERM', () => {
  void Promise.all([app.close(), c.close()]).then(() => process.exit(0));
});
