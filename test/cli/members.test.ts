import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { memberId, printInvitations, printMembers, type Member } from '../../src/cli/commands/members.js';
import { createOutput } from '../../src/cli/output.js';
import type { AppError } from '../../src/errors.js';

/** `sesame members` formatting and how a person names a member (by email or id). */
function piped(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { out, text: () => text };
}

const members: Member[] = [
  { id: 'mem_1', email: 'ann@example.com', role: 'owner', createdAt: '2026-01-01T00:00:00.000Z', lastSignInAt: null },
  {
    id: 'mem_2',
    email: 'Bob@Example.com',
    role: 'developer',
    createdAt: '2026-01-02T00:00:00.000Z',
    lastSignInAt: '2026-02-01T10:00:00.000Z',
  },
];
const api = { get: async <T>() => ({ data: members }) as T };

describe('sesame members', () => {
  it('lists members with email, role and last sign-in first; a member never signed in shows "-"', () => {
    const s = piped();
    printMembers(createOutput(false, { out: s.out, env: {} }), members);
    const rows = s
      .text()
      .split('\n')
      .filter((l) => l.startsWith('│'));
    expect(rows[0]).toMatch(/│ EMAIL\s+│ ROLE\s+│ LAST SIGN-IN\s+│ MEMBER SINCE\s+│ ID\s+│/);
    expect(rows[1]).toMatch(/│ ann@example\.com\s+│ owner\s+│ -\s+│ 2026-01-01T00:00:00\.000Z\s+│ mem_1\s+│/);
    expect(rows[2]).toMatch(/│ Bob@Example\.com\s+│ developer\s+│ 2026-02-01T10:00:00\.000Z/);
  });

  it('lists invitations with their expiry; none is "(none)"', () => {
    const s = piped();
    const out = createOutput(false, { out: s.out, env: {} });
    printInvitations(out, [
      {
        id: 'inv_1',
        email: 'cy@example.com',
        role: 'viewer',
        createdAt: '2026-03-01T00:00:00.000Z',
        expiresAt: '2026-03-08T00:00:00.000Z',
      },
    ]);
    printInvitations(out, []);
    expect(s.text()).toMatch(/│ cy@example\.com\s+│ viewer\s+│ 2026-03-08T00:00:00\.000Z/);
    expect(s.text().trimEnd().endsWith('(none)')).toBe(true);
  });

  it('finds a member by email in any case, or by id; an unknown one is not_found with the command to list them', async () => {
    expect((await memberId(api, 'bob@example.com')).id).toBe('mem_2');
    expect((await memberId(api, 'mem_1')).email).toBe('ann@example.com');
    const e = (await memberId(api, 'zed@example.com').catch((x: unknown) => x)) as AppError;
    expect(e.code).toBe('not_found');
    expect(e.message).toBe('zed@example.com is not a member of this workspace.');
    expect(e.hint).toContain('sesame members list');
  });
});
