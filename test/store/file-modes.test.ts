import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { migrate, openStore } from '../../src/store/db.js';

/** The SQLite files are the running user's only, -wal and -shm included, whatever the umask. */
const dir = mkdtempSync(join(tmpdir(), 'sesame-modes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

it('creates the database directory 0700 and sesame.db, -wal and -shm 0600 under a permissive umask', async () => {
  const previous = process.umask(0o022);
  try {
    const file = join(dir, 'nested', 'data', 'sesame.db');
    const store = openStore(`sqlite:${file}`);
    try {
      await migrate(store.db);
      await store.db.insertInto('workers').values({ id: 'w', heartbeat_at: 'x', started_at: 'x' }).execute();
      expect(mode(join(dir, 'nested', 'data'))).toBe('700');
      expect(mode(file)).toBe('600');
      expect(mode(`${file}-wal`)).toBe('600');
      expect(mode(`${file}-shm`)).toBe('600');
    } finally {
      await store.close();
    }
  } finally {
    process.umask(previous);
  }
});
