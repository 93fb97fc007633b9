// Every command's --help: it lists only the options the command takes, user-facing text names
// things by what they are (never the design documents the project started from), and
// docs/reference.md is exactly the commands' own help.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bufferOutput } from '../reconciler/commands/output.js';
import { buildProgram, run } from '../reconciler/program.js';
import { commandTree, helpText, renderReference } from '../reconciler/reference.js';
import { KINDS } from '../reconciler/kinds/index.js';
import { RULES } from '../reconciler/policies/index.js';

const ROOT = resolve(import.meta.dirname, '..');

const help = (...path: string[]) => {
  const out = bufferOutput();
  const program = buildProgram(out);
  const cmd = commandTree(program).find(([p]) => p === ['fleetspec', ...path].join(' '))?.[1];
  if (!cmd) throw new Error(`no command ${path.join(' ')}`);
  return helpText(cmd, out.out);
};

const optionsOf = (text: string) => [...text.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);

describe('--help', () => {
  it('the loop takes no local folders or hand-given overrides: it uses the repository and the trusted policies', () => {
    for (const cmd of [['reconcile'], ['daemon']]) {
      const options = optionsOf(help(...cmd));
      expect(options, cmd.join(' ')).toEqual(expect.arrayContaining(['--github-repo', '--ssh-key', '--terraform', '--finding-tickets']));
      for (const unused of ['--policies', '--override', '--stacks-dir']) expect(options, `${cmd.join(' ')} ${unused}`).not.toContain(unused);
    }
  });

  it('tickets pull lists the GitHub settings only: it never reaches a host or runs terraform', () => {
    const options = optionsOf(help('tickets', 'pull'));
    expect(options).toEqual(expect.arrayContaining(['--github-repo', '--git-url', '--github-api', '--branch', '--repo-dir', '--specs-path', '--format', '--quiet']));
    for (const unused of ['--ssh-key', '--trust-on-first-use', '--concurrency', '--terraform', '--stacks-dir', '--policies', '--override', '--finding-tickets']) expect(options, unused).not.toContain(unused);
  });

  it('plan and apply keep the folders and overrides they use', () => {
    for (const cmd of ['plan', 'apply']) expect(optionsOf(help(cmd))).toEqual(expect.arrayContaining(['--policies', '--override', '--stacks-dir', '--ssh-key', '--terraform']));
  });

  it('an option a command does not take is a usage error (exit 1), not silently ignored', async () => {
    const out = bufferOutput();
    expect(await run(['reconcile', '--policies', 'policies'], out)).toBe(1);
    expect(out.err.join('\n')).toContain("unknown option '--policies'");
    const pull = bufferOutput();
    expect(await run(['tickets', 'pull', '--ssh-key', 'k'], pull)).toBe(1);
  });

  it('every command has help that exits 0', async () => {
    for (const [path] of commandTree(buildProgram(bufferOutput()))) {
      const out = bufferOutput();
      expect(await run([...path.split(' ').slice(1), '--help'], out), path).toBe(0);
      expect(out.out.join('\n'), path).toMatch(new RegExp(`^Usage: ${path}`));
    }
  });

  it('names things by what they are, never by the design documents (no "seed 003"), in help, schemas and rules', () => {
    const seed = /\bseeds? ?\d{3}|\bseeds'|\bthe seeds?\b/i;
    for (const [path, cmd] of commandTree(buildProgram(bufferOutput()))) expect(helpText(cmd, []), path).not.toMatch(seed);
    for (const kind of KINDS) expect(JSON.stringify(kind.schema), kind.folder).not.toMatch(seed);
    for (const rule of RULES) expect(rule.description, rule.name).not.toMatch(seed);
  });
});

describe('docs/reference.md', () => {
  it('is the commands\' own help, regenerated (npm run reference)', () => {
    const committed = readFileSync(join(ROOT, 'docs', 'reference.md'), 'utf8');
    expect(committed, 'docs/reference.md is stale: run npm run reference').toBe(renderReference());
  });
});
