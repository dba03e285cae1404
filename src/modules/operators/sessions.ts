import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { SessionKind, SessionRow, SessionsRepo, UserRow, MembersRepo } from '../../store/operators.js';

/** Activity is written at most this often per session, so authentication stays mostly a read. */
const SEEN_RESOLUTION_MS = 60_000;
/** A CLI session ends when unused this long, whatever its absolute lifetime. */
const CLI_IDLE_SECONDS = 7 * 24 * 3600;

export const SESSION_PREFIX: Record<SessionKind, string> = { browser: 'sesb_', cli: 'sesc_' };
const TOKEN_SHAPE = /^ses[bc]_[A-Za-z0-9_-]{43}$/;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export interface SessionPolicy {
  /** Absolute lifetime of a browser session. */
  maxMs: number;
  /** A browser session ends after this long without a request. */
  idleMs: number;
  /** Absolute lifetime of a CLI session. */
  cliMaxMs: number;
}

export interface ActiveSession {
  session: SessionRow;
  user: UserRow;
}

/**
 * Server-side sessions of people. The token (cookie or CLI bearer) is 256 random bits; only its
 * SHA-256 is stored. A session ends at its absolute expiry, after its idle timeout, at sign-out,
 * or when an owner ends it; each request looks it up again, so an ended session stops at once.
 */
export function createSessions(deps: {
  repo: Pick<SessionsRepo, 'insert' | 'byTokenHash' | 'touch' | 'end' | 'endAllOf'>;
  users: Pick<MembersRepo, 'userById'>;
  clock: Clock;
  policy: SessionPolicy;
}) {
  const { repo, clock, policy } = deps;
  const expired = (reason: string) =>
    new AppError('session_expired', `Your session has ended (${reason}).`, { details: { reason } });

  return {
    async start(userId: string, kind: SessionKind): Promise<{ token: string; session: SessionRow }> {
      const now = clock.ms();
      const token = SESSION_PREFIX[kind] + randomBytes(32).toString('base64url');
      const session: SessionRow = {
        id: newId('sess', now),
        tokenHash: hashToken(token),
        userId,
        kind,
        csrfToken: randomBytes(24).toString('base64url'),
        createdAt: new Date(now).toISOString(),
        lastSeenAt: new Date(now).toISOString(),
        expiresAt: new Date(now + (kind === 'cli' ? policy.cliMaxMs : policy.maxMs)).toISOString(),
        idleSeconds: kind === 'cli' ? CLI_IDLE_SECONDS : Math.round(policy.idleMs / 1000),
        endedAt: null,
        endedReason: null,
      };
      await repo.insert(session);
      return { token, session };
    },

    /** The live session of a token: `unauthorized` when unknown, `session_expired` when it has ended. */
    async authenticate(token: string): Promise<ActiveSession> {
      if (!TOKEN_SHAPE.test(token)) throw new AppError('unauthorized', 'A valid session or API key is required.');
      const session = await repo.byTokenHash(hashToken(token));
      if (!session) throw new AppError('unauthorized', 'A valid session or API key is required.');
      const now = clock.ms();
      if (session.endedAt) throw expired(session.endedReason === 'signed_out' ? 'signed out' : 'ended');
      if (now >= Date.parse(session.expiresAt)) throw expired('its lifetime is over');
      if (now - Date.parse(session.lastSeenAt) >= session.idleSeconds * 1000) {
        await repo.end(session.id, new Date(now).toISOString(), 'idle');
        throw expired('idle for too long');
      }
      const user = await deps.users.userById(session.userId);
      if (!user) throw new AppError('unauthorized', 'A valid session or API key is required.');
      if (now - Date.parse(session.lastSeenAt) >= SEEN_RESOLUTION_MS)
        await repo.touch(session.id, new Date(now).toISOString(), new Date(now - SEEN_RESOLUTION_MS).toISOString());
      return { session, user };
    },

    async end(sessionId: string, reason: 'signed_out' | 'ended_by_owner'): Promise<boolean> {
      return repo.end(sessionId, clock.now().toISOString(), reason);
    },

    async endAllOf(userId: string, reason: string): Promise<number> {
      return repo.endAllOf(userId, clock.now().toISOString(), reason);
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
