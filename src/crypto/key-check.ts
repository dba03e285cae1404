import { existsSync } from 'node:fs';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { KeyCheckRepo, SealedColumn } from '../store/key-check.js';
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
  repo: Pick<KeyCheckRepo, 'read' | 'recordIfAbsent' | 'replace' | 'sealedValues'>;
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

/**
 * Check the configured master key against the database. With a check value: the key must open it.
 * Without one (a new database, or one from a version before the check): stored secrets, if any, must
 * open with the key; then the check value is recorded. Secrets the key cannot open (sealed under an
 * earlier key) are returned so they can be named.
 */
export async function verifyMasterKey(deps: KeyCheckDeps): Promise<{ recorded: boolean; unreadable: SealedSecret[] }> {
  const { envelope, place } = deps;
  const check = await deps.repo.read();
  if (check) {
    if (!envelope.keyId) throw keyMissing(place, check.keyId);
    if (!opensKeyCheck(envelope, check.checkValue)) throw keyMismatch(place, check.keyId, envelope.keyId);
    return { recorded: false, unreadable: [] };
  }
  const secrets = await sealedSecrets(deps.repo);
  if (secrets.length > 0 && !envelope.keyId) throw keyMissing(place, sealedKeyId(secrets[0]!.sealed));
  if (!envelope.keyId) return { recorded: false, unreadable: [] }; // nothing sealed, no key: nothing to protect
  const unreadable = secrets.filter((s) => !opens(envelope, s));
  if (secrets.length > 0 && unreadable.length === secrets.length)
    throw keyMismatch(place, sealedKeyId(secrets[0]!.sealed), envelope.keyId);
  await deps.repo.recordIfAbsent({
    keyId: envelope.keyId,
    checkValue: sealKeyCheck(envelope),
    createdAt: deps.clock.now().toISOString(),
  });
  // Another process may have recorded its key first: whichever won, this key must match it.
  const recorded = (await deps.repo.read())!;
  if (!opensKeyCheck(envelope, recorded.checkValue)) throw keyMismatch(place, recorded.keyId, envelope.keyId);
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
  const previous = await deps.repo.read();
  const unreadable = (await sealedSecrets(deps.repo)).filter((s) => !opens(envelope, s));
  await deps.repo.replace({
    keyId: envelope.keyId,
    checkValue: sealKeyCheck(envelope),
    createdAt: deps.clock.now().toISOString(),
  });
  return { previousKeyId: previous?.keyId, unreadable };
}

function opens(envelope: Envelope, s: SealedSecret): boolean {
  try {
    envelope.open(s.sealed, s.context);
    return true;
  } catch {
    return false;
  }
}

/** The context each module binds its sealed values to (connections/service.ts and webhooks/webhooks.ts). */
const CONTEXTS: Record<SealedColumn['kind'], (id: string) => string> = {
  connection: (id) => `connection:${id}:secret_access_key`,
  webhook: (id) => `webhook:${id}:secret`,
};

/**
 * Every stored secret, with the context its module binds it to: a change there is caught by the
 * tests that start on an older database.
 */
async function sealedSecrets(repo: Pick<KeyCheckRepo, 'sealedValues'>): Promise<SealedSecret[]> {
  return (await repo.sealedValues()).map((v) => ({
    kind: v.kind,
    id: v.id,
    label: v.label,
    sealed: v.sealed,
    context: CONTEXTS[v.kind](v.id),
  }));
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
