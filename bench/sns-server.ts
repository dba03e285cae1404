/**
 * Sesame's public SNS endpoint as `sesame start` serves it, for `bench/sns.ts`: a workspace, a
 * connection whose topic is allowed, and `BENCH_MESSAGES` sent messages the events will find.
 * Needs no AWS: receiving events makes no AWS call. Prints one JSON line.
 */
import { loadConfig } from '../src/config.js';
import { createContainer } from '../src/container.js';
import { buildServer } from '../src/http/server.js';
import { newId } from '../src/ids.js';
import { createLogger } from '../src/logger.js';

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);
const TOPIC = process.env.BENCH_TOPIC!;
// The bench measures Sesame, not its request limits.
const c = await createContainer(
  loadConfig({
    SESAME_API_RATE_LIMIT_PER_KEY: '10000000',
    SESAME_API_RATE_LIMIT_PER_CLIENT: '10000000',
    ...process.env,
  }),
  { logger: createLogger('error') },
);
const ws = await c.workspaces.create('bench', 'bench');
const conn = await c.connections.create(
  ws.id,
  {
    mode: 'secrets_manager',
    name: 'bench',
    region: 'us-east-1',
    secretArn: 'arn:aws:secretsmanager:us-east-1:222222222222:secret:bench-AbCdEf',
  },
  'bench',
);
await c.connections.update(ws.id, conn.id, { snsTopicArns: [TOPIC] }, 'bench');
// The messages the events are about, as the worker leaves them once SES accepted them.
const now = new Date().toISOString();
for (let i = 0; i < N; i += 500) {
  const rows = Array.from({ length: Math.min(500, N - i) }, (_, k) => ({
    id: newId('msg', Date.now()),
    workspace_id: ws.id,
    connection_id: conn.id,
    api_key_id: null,
    source: 'api',
    status: 'sent',
    from_address: 'app@example.com',
    subject: 'bench',
    recipients: JSON.stringify([`r${i + k}@customer.test`]),
    recipient_count: 1,
    tags: '{}',
    payload: '{}',
    size_bytes: 100,
    scheduled_at: null,
    ses_message_id: `bench-${i + k}`,
    attempts: 1,
    last_error_code: null,
    last_error_message: null,
    last_error_hint: null,
    suppressed: null,
    created_at: now,
    updated_at: now,
    sent_at: now,
  }));
  await c.store.db.insertInto('messages').values(rows).execute();
}
const app = await buildServer(c);
const url = await app.listen({ port: 0, host: '127.0.0.1' });
c.runner.start(['events', 'webhooks']);
process.stdout.write(JSON.stringify({ url, connectionId: conn.id }) + '\n');
process.once('SIGTERM', () => {
  void Promise.all([app.close(), c.close()]).then(() => process.exit(0));
});
