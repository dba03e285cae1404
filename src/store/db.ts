import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  type Transaction,
  PostgresDialect,
  SqliteDialect,
  type Migration,
  type MigrationProvider,
} from 'kysely';
import pg from 'pg';
import * as m001 from './migrations/001_initial.js';
import * as m002 from './migrations/002_sending.js';
import * as m003 from './migrations/003_pgboss.js';
import * as m004 from './migrations/004_workers.js';
import * as m005 from './migrations/005_events.js';
import * as m006 from './migrations/006_webhooks.js';
import * as m007 from './migrations/007_reputation_index.js';
import * as m008 from './migrations/008_domains.js';
import * as m009 from './migrations/009_warmup.js';
import * as m010 from './migrations/010_external_id_proof.js';
import * as m011 from './migrations/011_master_key_check.js';
import * as m012 from './migrations/012_sns_refusals.js';
import * as m013 from './migrations/013_key_age_and_leftovers.js';
import * as m014 from './migrations/014_jobs.js';
import * as m015 from './migrations/015_sends_on_jobs.js';
import * as m016 from './migrations/016_domain_checks_on_jobs.js';
import * as m017 from './migrations/017_webhook_jobs.js';
import * as m018 from './migrations/018_operators.js';
import * as m019 from './migrations/019_analytics.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
/** The database itself or a transaction: what a repository runs its statements on. */
export type Executor = Db | Transaction<Database>;
export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Db;
  dialect: Dialect;
  /** PostgreSQL schema the store lives in (search_path), when not the default. */
  schema?: string;
  close(): Promise<void>;
}

/** Migrations are compiled in, so a built install needs no migration folder on disk. */
const MIGRATIONS: Record<string, Migration> = {
  '001_initial': m001,
  '002_sending': m002,
  '003_pgboss': m003,
  '004_workers': m004,
  '005_events': m005,
  '006_webhooks': m006,
  '007_reputation_index': m007,
  '008_domains': m008,
  '009_warmup': m009,
  '010_external_id_proof': m010,
  '011_master_key_check': m011,
  '012_sns_refusals': m012,
  '013_key_age_and_leftovers': m013,
  '014_jobs': m014,
  '015_sends_on_jobs': m015,
  '016_domain_checks_on_jobs': m016,
  '017_webhook_jobs': m017,
  '018_operators': m018,
  '019_analytics': m019,
};
const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Open the store for a URL: `sqlite:<path>` / `file:<path>` (`:memory:` allowed) or `postgres://…`.
 * `schema` (PostgreSQL only) isolates tests in their own schema.
 */
export function openStore(url: string, opts: { schema?: string } = {}): Store {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    // An idle client losing its server (restart, failover) must not crash the process; the pool
    // replaces it and the next query reports the error where it can be handled.
    pool.on('error', (err) => process.emitWarning(`PostgreSQL pool: ${err.message}`));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', ...(opts.schema ? { schema: opts.schema } : {}), close: () => db.destroy() };
  }
  const path = url.replace(/^(sqlite|file):/, '');
  if (path !== ':memory:') createPrivateFile(resolve(path));
  const sqlite = withStatementCache(new SQLite(path));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL'); // WAL: durable at checkpoints, never corrupt
  sqlite.pragma('cache_size = -32000'); // 32 MB page cache
  sqlite.pragma('temp_store = MEMORY');
  sqlite.pragma('mmap_size = 268435456');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

/*
 * The database holds sealed secrets, API key hashes and mail: like the master key, it is for the
 * account Sesame runs as only. Directories 0700, files 0600.
 */

/** Create a directory (and missing parents) readable by its owner only; an existing one is left as is. */
export function makePrivateDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // the mode above is filtered by the umask
}

/**
 * A data directory made by an older version may be readable by everyone: it is made owner-only when
 * it evidently is Sesame's (it holds the database or the master key) and belongs to this user.
 */
export function tightenDataDir(dir: string): void {
  if (!['sesame.db', 'master.key'].some((f) => existsSync(join(dir, f)))) return;
  restrict(dir);
}

/**
 * SQLite creates the -wal and -shm files with the mode of the database file, whatever the umask:
 * a database created (or tightened) to 0600 before it is opened keeps them 0600 too.
 */
function createPrivateFile(file: string): void {
  makePrivateDir(dirname(file));
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) if (existsSync(f)) restrict(f);
}

/** Take away every group and other permission; the owner's stay. */
function restrict(path: string): void {
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) === 0) return;
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return;
    chmodSync(path, st.mode & 0o700);
  } catch {
    // Best effort: a file this user cannot change is reported by SQLite itself if it cannot open it.
  }
}

/**
 * Kysely prepares every query anew; preparing costs about as much as running a small statement.
 * The set of distinct SQL strings is small (queries are built from fixed shapes), so cache them.
 * Safe because better-sqlite3 runs each statement to completion synchronously.
 */
function withStatementCache(db: SQLite.Database, max = 1000): SQLite.Database {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, SQLite.Statement>();
  db.prepare = ((source: string) => {
    let stmt = cache.get(source);
    if (!stmt) {
      stmt = prepare(source);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(source, stmt);
    }
    return stmt;
  }) as typeof db.prepare;
  return db;
}

/** Run pending migrations; throws with the failing migration's name. */
export async function migrate(db: Db, schema?: string, upTo?: string): Promise<string[]> {
  // Name the schema of the migration tables: otherwise Kysely looks for them in every schema, and
  // two stores migrating side by side in one database trip over each other.
  const migrator = new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) });
  // `upTo` (a migration's name) stops there: tests of an upgrade start from the schema before it.
  const { error, results } = upTo ? await migrator.migrateTo(upTo) : await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
