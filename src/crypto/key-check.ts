import { existsSync } from 'node:fs';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import { type Envelope, opensKeyCheck, sealedKeyId, sealKeyCheck } from './envelope.js';

/**
 * The master key guard: the database keeps a check value sealed under its master key, and a process
 * whose key is missing or different is refused before it reads or seals any secret. Without it, a
 * lost key file was silently replaced by a new key, and every stored secret failed only when used.
 */

/** Where the configured master key comes from, for messages (never the key itself). */
export interface KeyPlace {
  source: 'env' | 'file' | 'none';
  /** The data directory's key file, read when SESAME_MASTER_KEY is not set. */
  file: string;
}

export interface KeyCheckDeps {
  db: Db;
  clock: Clock;
  /** An envelope under the configured master key (or under none). */
  envelope: Envelope;
  place: KeyPlace;
}

/** A stored secret, named so a person can find and replace it. */
export interface SealedSecret {
  kind: 'connection' | 'webhook';
  id: string;
  label: string;
  sealed: string;
  context: string;
}

const CHECK_ID = 'master';

/**
 * Check the configured master key against the database. With a check value: the key must open it.
 * Without one (a new database, or one from a version before the check): stored secrets, if any, must
 * open with the key; then the check value is recorded. Secrets the key cannot open (sealed under an
 * earlier key) are returned so they can be named.
 */
export async function verifyMasterKey(deps: KeyCheckDeps): Promise<{ recorded: boolean; unreadable: SealedSecret[] }> {
  const { envelope, place } = deps;
  const check = await readCheck(deps.db);
  if (check) {
    if (!envelope.keyId) throw keyMissing(place, check.key_id);
    if (!opensKeyCheck(envelope, check.check_value)) throw keyMismatch(place, check.key_id, envelope.keyId);
    return { recorded: false, unreadable: [] };
  }
  const secrets = await sealedSecrets(deps.db);
  if (secrets.length > 0 && !envelope.keyId) throw keyMissing(place, sealedKeyId(secrets[0]!.sealed));
  if (!envelope.keyId) return { recorded: false, unreadable: [] }; // nothing sealed, no key: nothing to protect
  const unreadable = secrets.filter((s) => !opens(envelope, s));
  if (secrets.length > 0 && unreadable.length === secrets.length)
    throw keyMismatch(place, sealedKeyId(secrets[0]!.sealed), envelope.keyId);
  await deps.db
    .insertInto('master_key_check')
    .values({
      id: CHECK_ID,
      key_id: envelope.keyId,
      check_value: sealKeyCheck(envelope),
      created_at: deps.clock.now().toISOString(),
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  // Another process may have recorded its key first: whichever won, this key must match it.
  const recorded = (await readCheck(deps.db))!;
  if (!opensKeyCheck(envelope, recorded.check_value)) throw keyMismatch(place, recorded.key_id, envelope.keyId);
  return { recorded: true, unreadable };
}

/**
 * After the master key was lost for good: make the configured key the database's key. Returns the
 * key the database expected before (if any) and the secrets the new key cannot open, which are lost.
 */
export async function replaceMasterKey(
  deps: Omit<KeyCheckDeps, 'place'>,
): Promise<{ previousKeyId: string | undefined; unreadable: SealedSecret[] }> {
  const { envelope } = deps;
  if (!envelope.keyId) throw new AppError('master_key_missing', 'No master key is configured to replace the lost one.');
  const previous = await readCheck(deps.db);
  const unreadable = (await sealedSecrets(deps.db)).filter((s) => !opens(envelope, s));
  const row = {
    key_id: envelope.keyId,
    check_value: sealKeyCheck(envelope),
    created_at: deps.clock.now().toISOString(),
  };
  await deps.db
    .insertInto('master_key_check')
    .values({ id: CHECK_ID, ...row })
    .onConflict((oc) => oc.column('id').doUpdateSet(row))
    .execute();
  return { previousKeyId: previous?.key_id, unreadable };
}

function readCheck(db: Db) {
  return db
    .selectFrom('master_key_check')
    .select(['key_id', 'check_value'])
    .where('id', '=', CHECK_ID)
    .executeTakeFirst();
}

function opens(envelope: Envelope, s: SealedSecret): boolean {
  try {
    envelope.open(s.sealed, s.context);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every stored secret, with the context its module binds it to (connections/service.ts and
 * webhooks/webhooks.ts): a change there is caught by the tests that start on an older database.
 */
async function sealedSecrets(db: Db): Promise<SealedSecret[]> {
  const connections = await db
    .selectFrom('connections')
    .select(['id', 'name', 'secret_ciphertext', 'pending_secret_ciphertext'])
    .where((eb) => eb.or([eb('secret_ciphertext', 'is not', null), eb('pending_secret_ciphertext', 'is not', null)]))
    .orderBy('id')
    .execute();
  const webhooks = await db.selectFrom('webhooks').select(['id', 'url', 'secret_ciphertext']).orderBy('id').execute();
  const out: SealedSecret[] = [];
  for (const c of connections)
    for (const sealed of [c.secret_ciphertext, c.pending_secret_ciphertext])
      if (sealed)
        out.push({
          kind: 'connection',
          id: c.id,
          label: c.name,
          sealed,
          context: `connection:${c.id}:secret_access_key`,
        });
  for (const w of webhooks)
    out.push({
      kind: 'webhook',
      id: w.id,
      label: w.url,
      sealed: w.secret_ciphertext,
      context: `webhook:${w.id}:secret`,
    });
  return out;
}

const fingerprint = (kid: string | undefined): string => (kid ? ` ${kid}` : '');

function keyMissing(place: KeyPlace, expected: string | undefined): AppError {
  return new AppError(
    'master_key_missing',
    `This database was set up with master key${fingerprint(expected)}, which seals its stored secrets, but no master key is configured: there is no key file at ${place.file} and SESAME_MASTER_KEY is not set. Sesame does not make a new key in its place.`,
    {
      hint: `Restore the key file from your backup to ${place.file} (mode 0600), or set SESAME_MASTER_KEY to the key. If the key is lost for good, \`sesame init --replace-lost-master-key\` starts a new one; the secrets sealed under the old key cannot be recovered.`,
      details: { expectedKeyFile: place.file, ...(expected ? { expectedKeyId: expected } : {}) },
    },
  );
}

function keyMismatch(place: KeyPlace, expected: string | undefined, configured: string): AppError {
  const inEnv = place.source === 'env';
  const which = inEnv ? 'SESAME_MASTER_KEY is set, but it is not' : `The master key file ${place.file} does not hold`;
  const fallback = inEnv && existsSync(place.file) ? `, or unset it to use the key file at ${place.file}` : '';
  return new AppError(
    'master_key_mismatch',
    `${which} the master key this database was set up with (the database expects key${fingerprint(expected)}; the configured key is ${configured}).`,
    {
      hint:
        (inEnv
          ? `Set SESAME_MASTER_KEY to the original key from your backup${fallback}.`
          : `Restore the original key file from your backup to ${place.file}, or set SESAME_MASTER_KEY to the original key.`) +
        " If that key is lost for good, `sesame init --replace-lost-master-key` makes the configured key the database's key; the secrets sealed under the old one cannot be recovered.",
      details: {
        ...(inEnv ? { setting: 'SESAME_MASTER_KEY' } : { keyFile: place.file }),
        ...(expected ? { expectedKeyId: expected } : {}),
        configuredKeyId: configured,
      },
    },
  );
}
