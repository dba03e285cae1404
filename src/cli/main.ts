import { Command } from 'commander';
import { adminCommand } from './commands/admin.js';
import { apiKeysCommand } from './commands/api-keys.js';
import { auditCommand } from './commands/audit.js';
import { awsCommand } from './commands/aws.js';
import { initCommand } from './commands/init.js';
import { sandboxCommand } from './commands/sandbox.js';
import { startCommand } from './commands/start.js';
import { workspacesCommand } from './commands/workspaces.js';
import { workerCommand } from './commands/worker.js';
import { webhooksCommand } from './commands/webhooks.js';
import { warmupCommand } from './commands/warmup.js';
import { domainsCommand } from './commands/domains.js';
import { emailsCommand, sendCommand, suppressionsCommand } from './commands/send.js';
import { loginCommand, logoutCommand, whoamiCommand } from './commands/login.js';
import { membersCommand } from './commands/members.js';
import { printError } from './output.js';

// Sesame supports Node 20 (see README); the SDK's notice about its future Node 22 requirement
// would otherwise print on every command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export function buildProgram(): Command {
  const program = new Command('sesame')
    .description('Send email through your own Amazon SES, connected without long-lived keys.')
    .option('--json', 'machine-readable output')
    .option('--data-dir <dir>', 'data directory (SESAME_DATA_DIR, default ./data)')
    .option('--workspace <name>', 'workspace to act on (default: "default"; sent as the Sesame-Workspace header)')
    .option('--server <url>', 'the Sesame server to talk to (SESAME_URL; default: the one running for --data-dir)')
    .option('--sandbox', 'start, worker: use the local AWS sandbox instead of AWS (SESAME_SANDBOX)')
    .configureOutput({ outputError: (str, write) => write(str) });
  program.addCommand(initCommand());
  program.addCommand(startCommand());
  program.addCommand(workerCommand());
  program.addCommand(loginCommand());
  program.addCommand(logoutCommand());
  program.addCommand(whoamiCommand());
  program.addCommand(workspacesCommand());
  program.addCommand(membersCommand());
  program.addCommand(apiKeysCommand());
  program.addCommand(awsCommand());
  program.addCommand(sendCommand());
  program.addCommand(emailsCommand());
  program.addCommand(suppressionsCommand());
  program.addCommand(webhooksCommand());
  program.addCommand(warmupCommand());
  program.addCommand(domainsCommand());
  program.addCommand(auditCommand());
  program.addCommand(adminCommand());
  program.addCommand(
    sandboxCommand({
      dataDir: () => program.opts<{ dataDir?: string }>().dataDir ?? process.env.SESAME_DATA_DIR ?? './data',
    }),
  );
  forEachCommand(program, (cmd, path) => {
    // A mistyped command or option is answered with the nearest one ("Did you mean --status?")
    // and a pointer to the help, not the whole help page.
    cmd.showSuggestionAfterError(true).showHelpAfterError(`(see \`${path} --help\`)`);
    checkRequiredAfterUnknown(cmd);
  });
  return program;
}

/**
 * Commander checks required options before unknown ones, so `--subjct x` would be reported as a
 * missing --subject. Checked just before the action instead, a typo gets its did-you-mean first.
 */
function checkRequiredAfterUnknown(cmd: Command): void {
  const required = cmd.options.filter((o) => o.mandatory);
  if (!required.length) return;
  for (const o of required) o.mandatory = false;
  cmd.hook('preAction', (_hooked, actionCommand) => {
    if (actionCommand !== cmd) return;
    const missing = required.find((o) => cmd.getOptionValue(o.attributeName()) === undefined);
    if (missing)
      cmd.error(`error: required option '${missing.flags}' not specified`, {
        code: 'commander.missingMandatoryOptionValue',
      });
  });
}

function forEachCommand(cmd: Command, fn: (cmd: Command, path: string) => void, path = cmd.name()): void {
  fn(cmd, path);
  for (const sub of cmd.commands) forEachCommand(sub, fn, `${path} ${sub.name()}`);
}

// Output piped into `head` and the like: the reader left, so stop quietly instead of crashing.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

buildProgram()
  .parseAsync(process.argv)
  .catch((e: unknown) => {
    process.exitCode = printError(e, process.argv.includes('--json'));
  });
