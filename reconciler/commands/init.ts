// `fleetspec init [DIR]`: a new spec repository, ready to push. Writes what is missing and
// keeps every file that exists; with --from-hosts, reads hosts over SSH into specs/hosts/.
// One line per file on stdout ("written" or "kept"), the summary on stderr.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { logLine } from '../escape.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { repositoryFiles, writeNew, type FileStatus, type InitFile } from '../init/files.js';
import { parseHostTarget, type HostTarget } from '../init/hosts.js';
import type { HostRead } from '../init/read-hosts.js';
import type { Output } from './output.js';

export interface InitOptions {
  fromHosts?: string[];
  sshKey?: string;
  yes?: boolean;
  connectTimeout?: number;
  format: 'text' | 'json';
}

/** Where init asks for a host key's confirmation; tests pass their own. */
export interface InitPrompt {
  /** Whether a person can answer (stdin is a terminal). */
  interactive: boolean;
  /** Asks one question and resolves to the line typed; undefined when input ended. */
  ask(question: string): Promise<string | undefined>;
  close(): void;
}

interface FileResult {
  path: string;
  status: FileStatus;
  /** A kept generated file that differs from what the specs give now. */
  stale?: boolean;
}

/** Questions on stderr, answers from stdin, only when stdin is a terminal. */
function terminalPrompt(): InitPrompt {
  let rl: import('node:readline').Interface | undefined;
  let ended = false;
  return {
    interactive: Boolean(process.stdin.isTTY),
    async ask(question) {
      if (ended) return undefined;
      if (!rl) {
        const { createInterface } = await import('node:readline');
        rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
        rl.once('close', () => {
          ended = true;
        });
      }
      const asking = rl;
      return new Promise((done) => {
        const onClose = () => done(undefined);
        asking.once('close', onClose);
        asking.question(question, (answer) => {
          asking.off('close', onClose);
          done(answer);
        });
      });
    },
    close() {
      rl?.close();
    },
  };
}

/** The client key for --from-hosts: --ssh-key, FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519. */
async function readSshKey(opts: InitOptions): Promise<Buffer | string> {
  const path = opts.sshKey ?? process.env.FLEETSPEC_SSH_KEY ?? join(homedir(), '.ssh', 'id_ed25519');
  try {
    return await readFile(path);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message;
    return `no SSH key for --from-hosts (${path}: ${why}); pass --ssh-key or set FLEETSPEC_SSH_KEY`;
  }
}

/** fleetspec's version, for the new README: from reconciler/commands/ or dist/reconciler/commands/. */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fleetspec' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

export async function initCommand(dir: string, opts: InitOptions, out: Output, prompt: InitPrompt = terminalPrompt()): Promise<ExitCode> {
  const json = opts.format === 'json';
  const fail = (message: string, code: ExitCode) => {
    if (json) out.stdout(JSON.stringify({ dir: resolve(dir), error: message, exitCode: code }));
    out.stderr(`fleetspec init: ${logLine(message)}`, 'err');
    return code;
  };

  // Every argument is checked before anything is written or any host contacted.
  const targets: HostTarget[] = [];
  for (const text of opts.fromHosts ?? []) {
    const parsed = parseHostTarget(text);
    if ('error' in parsed) return fail(`--from-hosts ${text}: ${parsed.error}`, EXIT.INVALID);
    targets.push(parsed);
  }
  let key: Buffer | undefined;
  if (targets.length) {
    const read = await readSshKey(opts);
    if (typeof read === 'string') return fail(read, EXIT.INVALID);
    key = read;
  }

  const root = resolve(dir);
  const files: FileResult[] = [];
  const report = (path: string, status: FileStatus, stale?: boolean) => {
    files.push({ path, status, ...(stale ? { stale } : {}) });
    if (!json) out.stdout(`${status === 'written' ? 'written' : 'kept   '} ${logLine(path)}`);
  };
  const write = async (file: InitFile) => report(file.path, await writeNew(root, file));

  let hosts: HostRead[] = [];
  try {
    for (const file of repositoryFiles(packageVersion())) await write(file);
    if (targets.length) {
      const { readHosts } = await import('../init/read-hosts.js');
      hosts = await readHosts(targets, {
        privateKey: key!,
        yes: opts.yes === true,
        connectTimeoutMs: (opts.connectTimeout ?? 10) * 1000,
        prompt,
        progress: (line) => out.stderr(line),
        write: async (file) => {
          const status = await writeNew(root, file);
          report(file.path, status);
          return status;
        },
      });
    }
  } catch (error) {
    return fail(`cannot write ${root}: ${(error as Error).message}`, EXIT.ERROR);
  } finally {
    prompt.close();
  }

  const generated = await writeGenerated(root, report).catch((error: Error) => ({ skipped: `stacks and diagrams not written: ${error.message}` }));

  const refused = hosts.filter((h) => h.status === 'refused');
  const failed = hosts.filter((h) => h.status === 'failed');
  const code: ExitCode = failed.length ? EXIT.ERROR : refused.length ? EXIT.INVALID : EXIT.OK;
  const written = files.filter((f) => f.status === 'written').length;
  const kept = files.length - written;
  const stale = files.filter((f) => f.stale).map((f) => f.path);

  if (json) {
    out.stdout(
      JSON.stringify({
        dir: root,
        files,
        hosts: hosts.map(({ status, target, name, file, hostKey, fingerprint, error }) => ({
          target: target.text,
          status,
          ...(name ? { name } : {}),
          ...(file ? { file } : {}),
          ...(hostKey ? { hostKey, fingerprint } : {}),
          ...(error ? { error } : {}),
        })),
        written,
        kept,
        ...('skipped' in generated ? { notes: [generated.skipped] } : {}),
        exitCode: code,
      }),
    );
  }
  if ('skipped' in generated) out.stderr(`fleetspec init: ${logLine(generated.skipped)}`, 'warning');
  if (stale.length) {
    out.stderr(`fleetspec init: kept, but out of date with the specs: ${stale.map(logLine).join(', ')} (fleetspec stacks synth, fleetspec diagrams specs update them)`, 'warning');
  }
  out.stderr(`fleetspec init: ${written} file${written === 1 ? '' : 's'} written, ${kept} kept in ${logLine(root)}`);
  if (refused.length) {
    out.stderr(`fleetspec init: host key not pinned for ${refused.map((h) => logLine(h.target.text)).join(', ')}: nothing written for ${refused.length === 1 ? 'it' : 'them'}; check the fingerprint out of band (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host) and re-run with --yes`, 'err');
  }
  if (failed.length) out.stderr(`fleetspec init: could not read ${failed.map((h) => logLine(h.target.text)).join(', ')}`, 'err');
  if (code === EXIT.OK && written > 0) {
    out.stderr(`next: replace the examples in specs/ with your fleet, run fleetspec validate ${logLine(join(dir, 'specs'))}, then commit and push (the README says how CI installs fleetspec)`);
  }
  return code;
}

/**
 * The files the specs imply: the synthesised stacks and the diagrams' Mermaid sources, so the
 * new repository's validate workflow (stacks synth --check, diagrams --check) passes as it is.
 * Written only when absent, like everything else; skipped when the specs do not load cleanly.
 */
async function writeGenerated(root: string, report: (path: string, status: FileStatus, stale?: boolean) => void): Promise<{ done: true } | { skipped: string }> {
  const { loadSpecs } = await import('../specs/load.js');
  const loaded = await loadSpecs(join(root, 'specs'));
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error').length;
  if (errors) return { skipped: `stacks and diagrams not written: the specs have ${errors} error${errors === 1 ? '' : 's'} (fleetspec validate ${join(root, 'specs')})` };
  const { synthesiseAll, STACK_FILE } = await import('../stacks/files.js');
  const { renderDiagrams, DIAGRAMS_DIR } = await import('../diagrams/index.js');
  const generated: InitFile[] = [];
  for (const stack of await synthesiseAll(loaded.index, join(root, 'stacks'), { write: false })) {
    // skipped: the committed file records the same input hash, so it is up to date already.
    if (stack.status === 'skipped') report(`stacks/${stack.model.name}/${STACK_FILE}`, 'kept');
    else generated.push({ path: `stacks/${stack.model.name}/${STACK_FILE}`, text: stack.text });
  }
  for (const { diagram, text } of renderDiagrams(loaded.index)) generated.push({ path: `${DIAGRAMS_DIR.split(/[\\/]/).join('/')}/${diagram.name}.mmd`, text });
  for (const file of generated) {
    const status = await writeNew(root, file);
    const stale = status === 'kept' && (await readFile(join(root, file.path), 'utf8').catch(() => '')) !== file.text;
    report(file.path, status, stale);
  }
  return { done: true };
}
