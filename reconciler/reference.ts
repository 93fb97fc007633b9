// docs/reference.md: every command's own --help, in one file, generated from the command
// tree (program.ts) so the reference cannot say anything the commands do not. test/help.test.ts
// fails when the committed file is stale; `npm run reference` writes it.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { bufferOutput } from './commands/output.js';
import { mdFence } from './escape.js';
import { buildProgram } from './program.js';

/** Help is wrapped at this width whatever terminal runs the generator, so the file is the same everywhere. */
const WIDTH = 80;

/** Every command, parents before their subcommands, as [path, command]. */
export function commandTree(program: Command): [string, Command][] {
  const out: [string, Command][] = [];
  const walk = (cmd: Command, path: string) => {
    out.push([path, cmd]);
    for (const sub of cmd.commands) walk(sub, `${path} ${sub.name()}`);
  };
  walk(program, program.name());
  return out;
}

/** A command's --help text exactly as `fleetspec ... --help` prints it (at WIDTH columns). */
export function helpText(cmd: Command, captured: string[]): string {
  captured.length = 0;
  cmd.configureHelp({ helpWidth: WIDTH });
  cmd.outputHelp();
  return captured.join('\n').replace(/\s+$/, '');
}

export function renderReference(): string {
  const out = bufferOutput();
  const program = buildProgram(out);
  const tree = commandTree(program);
  const anchor = (path: string) => path.replace(/\s+/g, '-');
  const lines = [
    '# Command reference',
    '',
    '<!-- Generated from the commands\' own --help by `npm run reference` (reconciler/reference.ts). Do not edit: test/help.test.ts fails when this file is stale. -->',
    '',
    "Every command's `--help`, as printed at 80 columns. The guides in this folder say which command to use when; this page says exactly what each takes.",
    '',
    ...tree.map(([path]) => `${'  '.repeat(path.split(' ').length - 1)}- [\`${path}\`](#${anchor(path)})`),
    '',
  ];
  for (const [path, cmd] of tree) {
    lines.push(`<a id="${anchor(path)}"></a>`, '', `## \`${path}\``, '', mdFence(helpText(cmd, out.out), 'text'), '');
  }
  return lines.join('\n');
}

// `node dist/reconciler/reference.js [FILE]`: print the reference, or write it to FILE.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  const text = renderReference();
  if (file) writeFileSync(file, text);
  else process.stdout.write(text);
}
