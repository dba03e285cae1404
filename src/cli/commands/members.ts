import { Command } from 'commander';
import { AppError } from '../../errors.js';
import { seg, type ApiClient } from '../api-client.js';
import { action, type CliContext } from '../context.js';
import { printRecord, type Output } from '../output.js';

export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;

export interface Member {
  id: string;
  email: string;
  role: string;
  createdAt: string;
  lastSignInAt: string | null;
}

export interface Invitation {
  id: string;
  email: string;
  role: string;
  createdAt: string;
  expiresAt: string;
}

function role(r: string): string {
  const v = r.trim().toLowerCase();
  if (!(ROLES as readonly string[]).includes(v))
    throw new AppError('validation_failed', `${r} is not a role.`, { hint: `Use one of: ${ROLES.join(', ')}.` });
  return v;
}

/** A member named by id or by email (as people know them), as the API's member id. */
export async function memberId(api: Pick<ApiClient, 'get'>, who: string): Promise<Member> {
  const all = (await api.get<{ data: Member[] }>('/v1/members')).data;
  const found = who.includes('@')
    ? all.find((m) => m.email.toLowerCase() === who.trim().toLowerCase())
    : all.find((m) => m.id === who);
  if (!found)
    throw new AppError('not_found', `${who} is not a member of this workspace.`, {
      hint: 'List the members with `sesame members list`; invite a new one with `sesame members invite <email> --role <role>`.',
    });
  return found;
}

export function printMembers(out: Output, rows: Member[]): void {
  out.table(rows, [
    { key: 'email', label: 'EMAIL' },
    { key: 'role', label: 'ROLE' },
    { key: 'lastSignInAt', label: 'LAST SIGN-IN' },
    { key: 'createdAt', label: 'MEMBER SINCE' },
    { key: 'id', label: 'ID' },
  ]);
}

export function printInvitations(out: Output, rows: Invitation[]): void {
  out.table(rows, [
    { key: 'email', label: 'EMAIL' },
    { key: 'role', label: 'ROLE' },
    { key: 'expiresAt', label: 'EXPIRES' },
    { key: 'createdAt', label: 'INVITED' },
    { key: 'id', label: 'ID' },
  ]);
}

function printMember(ctx: CliContext, m: Member, what: string): void {
  ctx.out.result(m, () => {
    ctx.out.line(what);
    printRecord(ctx.out, { email: m.email, role: m.role, 'last sign-in': m.lastSignInAt, id: m.id });
  });
}

export function membersCommand(): Command {
  const cmd = new Command('members').description(
    'people of the workspace and their roles (owner, admin, developer, viewer); invitations by email',
  );
  cmd
    .command('list')
    .description("the workspace's members")
    .action(
      action(async (ctx) => {
        const rows = (await ctx.api().get<{ data: Member[] }>('/v1/members')).data;
        ctx.out.result(rows, () => printMembers(ctx.out, rows));
      }),
    );
  cmd
    .command('invite <email>')
    .description('invite someone: they become a member at their first sign-in with this verified email')
    .requiredOption('--role <role>', ROLES.join(', '))
    .action(
      action(async (ctx, email: string, o: { role: string }) => {
        const inv = await ctx.api().post<Invitation>('/v1/invitations', { email, role: role(o.role) });
        ctx.out.result(inv, () => {
          ctx.out.line(`Invited ${inv.email} as ${inv.role}; the invitation expires at ${inv.expiresAt}.`);
          ctx.out.line('They become a member when they first sign in with this email.');
        });
      }),
    );
  cmd
    .command('invitations')
    .description('invitations not yet accepted')
    .action(
      action(async (ctx) => {
        const rows = (await ctx.api().get<{ data: Invitation[] }>('/v1/invitations')).data;
        ctx.out.result(rows, () => printInvitations(ctx.out, rows));
      }),
    );
  cmd
    .command('set-role <member> <role>')
    .description("change a member's role (by email or id); it applies from their next request")
    .action(
      action(async (ctx, who: string, r: string) => {
        const api = ctx.api();
        const m = await memberId(api, who);
        const updated = await api.patch<Member>(`/v1/members/${seg(m.id)}`, { role: role(r) });
        printMember(ctx, updated, `${updated.email} is now ${updated.role}.`);
      }),
    );
  cmd
    .command('remove <member>')
    .description('remove a member (by email or id): their sessions end at once')
    .action(
      action(async (ctx, who: string) => {
        const api = ctx.api();
        const m = await memberId(api, who);
        const removed = await api.delete<Member>(`/v1/members/${seg(m.id)}`);
        printMember(ctx, removed, `Removed ${removed.email} from the workspace.`);
      }),
    );
  cmd
    .command('end-sessions <member>')
    .description('sign a member out everywhere (by email or id); they may sign in again')
    .action(
      action(async (ctx, who: string) => {
        const api = ctx.api();
        const m = await memberId(api, who);
        const r = await api.delete<{ ended: number }>(`/v1/members/${seg(m.id)}/sessions`);
        ctx.out.result({ member: m.id, email: m.email, ...r }, () =>
          ctx.out.line(`Ended ${r.ended} session${r.ended === 1 ? '' : 's'} of ${m.email}.`),
        );
      }),
    );
  return cmd;
}
