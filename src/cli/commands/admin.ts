import { Command } from 'commander';
import { action } from '../context.js';
import { printRecord } from '../output.js';
import { signInLinkFor } from './init.js';

/** Local administration on the server's machine (it opens the database directly). */
export function adminCommand(): Command {
  const admin = new Command('admin').description('administration on the machine that runs Sesame');
  admin
    .command('sign-in-link')
    .description('print a one-time sign-in link (15 minutes, single use) for an existing member')
    .argument('<email>', "the member's email address")
    .action(
      action(async (ctx, email: string) => {
        const link = await signInLinkFor(ctx, email);
        ctx.out.result({ email: email.trim().toLowerCase(), ...link }, () => {
          printRecord(ctx.out, { email: email.trim().toLowerCase(), 'valid until': link.expiresAt });
          ctx.out.line();
          ctx.out.line(`Open this link in a browser to sign in (once): ${link.url}`);
        });
      }),
    );
  return admin;
}
