// The fleetspec command line: subcommands, options and help, parsed by commander.
// Commands return an exit code; only cli.ts touches process.exit.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { schemaCommand } from './commands/schema.js';
import { validateCommand } from './commands/validate.js';
import type { Output } from './commands/output.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { KINDS } from './kinds/index.js';

/** fleetspec's version from its package.json, found from the source (reconciler/) or the build (dist/reconciler/). */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fleetspec' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

const version = packageVersion();

const EXIT_CODES_HELP = `
Exit codes:
  0  success (plan: no changes)
  1  invalid input or policy failure
  2  plan has changes
  3  internal or connection error`;

export async function run(argv: readonly string[], out: Output): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  const program = new Command('fleetspec')
    .description('GitOps reconciler for a small fleet: desired state as YAML in git, plans as pull requests, apply on approved merge.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out.stdout(s.replace(/\n$/, '')),
      writeErr: (s) => out.stderr(s.replace(/\n$/, '')),
    });

  program
    .command('validate')
    .description('check spec files: YAML syntax, each kind\'s schema, cross-references and secret literals; reports every problem in one run')
    .argument('[path]', 'a specs folder or one spec file', 'specs')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Each problem prints as "file:line:col kind/name: message" with a hint below it.
Exit codes: 0 valid, 1 invalid, 3 internal error.`,
    )
    .action(async (path: string, opts: { format: 'text' | 'json' }) => {
      code = await validateCommand(path, opts, out);
    });

  program
    .command('schema')
    .description('print or write the JSON Schema (draft 2020-12) of each kind, for editors and CI')
    .option('--out <dir>', 'write <kind>.schema.json files into this folder instead of printing')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KINDS.flatMap((k) => [k.folder, k.kind])))
    .addHelpText(
      'after',
      `
Spec files name their schema for editors on their first line:
  # yaml-language-server: $schema=../schemas/hosts.schema.json`,
    )
    .action(async (opts: { out?: string; kind?: string }) => {
      code = await schemaCommand(opts, out);
    });

  // Apply exit-code conventions and the shared output to every subcommand.
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput(program.configureOutput()).showHelpAfterError('(run with --help for usage)');
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors are invalid input.
      return err.exitCode === 0 ? EXIT.OK : EXIT.INVALID;
    }
    throw err;
  }
  return code;
}
