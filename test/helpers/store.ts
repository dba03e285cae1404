import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/db.js';

export type Backend = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export const backends = (): Backend[] => ['sqlite', ...(process.env.TEST_DATABASE_URL ? (['postgres'] as const) : [])];

async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL! });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/**
 * A fresh, empty store: in-memory SQLite, or a throwaway PostgreSQL database dropped on close.
 * A database rather than a schema: catalogue introspection (the migrator's) scans every schema of
 * a database and trips over schemas other test files are dropping at the same moment.
 */
export async function testStore(backend: Backend): Promise<Store & { url?: string }> {
  if (backend === 'sqlite') return openStore('sqlite::memory:');
  const name = `sesame_t_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${name} TEMPLATE template0`);
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  const store = openStore(url.toString());
  return {
    ...store,
    url: url.toString(),
    async close() {
      await store.close();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
