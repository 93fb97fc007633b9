// The built `fleetspec` CLI as a child process, for fault tests: its JSON tick lines as they come,
// its exit, SIGTERM with how long it took, and the children a failed test left behind, killed
// before the next test needs the store they hold. Also where the figures of a fault suite go: a
// table on the console and one JSON file in the OS temp folder that every fault test file adds to.
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TickLog } from '../../reconciler/loop/daemon.js';
import { parseJournalLine } from '../../reconciler/journal.js';
import type { FaultProxy } from './proxy.js';
import { timed, until, within } from './wait.js';

export const BIN = resolve(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
/** Where the fault suite's figures are collected: one section per test file. */
export const FIGURES_FILE = join(tmpdir(), 'fleetspec-fault-figures.json');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Fleetspec {
  child: ChildProcess;
  /** The JSON lines on stdout (a daemon's tick lines), in order. */
  logs: TickLog[];
  /** stdout lines that were not JSON tick lines, and stderr, as one text: for a failing test's message. */
  output(): string;
  /** The whole of stdout (a `reconcile --format json` report is one JSON document over many lines). */
  stdout(): string;
  exited: Promise<Exit>;
  /** When the child was spawned (Date.now()). */
  spawnedAt: number;
  /** With `journal`: every line of stdout (stderr joins it there), with the syslog priority its prefix gave (undefined: none). */
  lines: JournalLine[];
}

export interface JournalLine {
  priority: number | undefined;
  text: string;
}

export interface SpawnOptions {
  /**
   * As under systemd with its output on the journal: stderr joins stdout (StandardError=inherit)
   * and JOURNAL_STREAM holds that stream's "DEVICE:INODE", as systemd sets it. A shell finds the
   * pipe's device and inode (stat of its own fd 1) and execs fleetspec in its place.
   */
  journal?: boolean;
}

const live = new Set<ChildProcess>();

/** Runs `fleetspec <args>` with exactly `env` (nothing inherited but what the caller passes). */
export function fleetspec(args: string[], env: NodeJS.ProcessEnv, cwd?: string, opts: SpawnOptions = {}): Fleetspec {
  const spawnedAt = Date.now();
  const child = opts.journal
    ? spawn('/bin/sh', ['-c', 'JOURNAL_STREAM="$(stat -L -c %d:%i /proc/$$/fd/1)" && export JOURNAL_STREAM && exec "$@" 2>&1', 'sh', process.execPath, BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const logs: TickLog[] = [];
  const journal: JournalLine[] = [];
  let buffered = '';
  let out = '';
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const raw of lines) {
      const parsed = opts.journal ? parseJournalLine(raw) : undefined;
      const line = parsed?.text ?? raw;
      if (opts.journal) journal.push({ priority: parsed?.priority, text: line });
      if (line.startsWith('{"time"')) logs.push(JSON.parse(line) as TickLog);
      else text += `${line}\n`;
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (text += c));
  const exited = new Promise<Exit>((done) =>
    child.on('exit', (code, signal) => {
      live.delete(child);
      done({ code, signal });
    }),
  );
  return { child, logs, output: () => text, stdout: () => out, exited, spawnedAt, lines: journal };
}

/** Kills (SIGKILL) every child still running: a test that failed half-way leaves its daemon holding the store. */
export async function killLeftovers(): Promise<void> {
  for (const c of [...live]) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((done) => c.once('exit', done));
    c.kill('SIGKILL');
    await within(`a leftover fleetspec process (pid ${c.pid}) to exit after SIGKILL`, gone, 10_000);
  }
}

/** Waits for a tick line matching `match` after the first `from` lines; fails naming `what`, and at once if the child exits. */
export async function tickLine(f: Fleetspec, what: string, match: (l: TickLog) => boolean, from: number, budgetMs: number): Promise<TickLog> {
  const exit = f.exited.then((e) => Promise.reject(new Error(`fleetspec exited (${e.code ?? e.signal}) while waiting for ${what}; its lines: ${f.logs.map((l) => `${l.state ?? '-'}: ${l.message}`).join(' | ')}; output: ${f.output().slice(-2000)}`)));
  exit.catch(() => {});
  const found = until(what, () => f.logs.slice(from).find(match), budgetMs);
  found.catch(() => {});
  try {
    return await Promise.race([found, exit]);
  } catch (err) {
    const lines = f.logs.slice(from).map((l) => `${l.state ?? '-'} in ${l.durationMs} ms: ${l.message}`);
    throw new Error(`${err instanceof Error ? err.message : String(err)}; tick lines meanwhile: ${lines.join(' | ') || 'none'}`);
  }
}

/** SIGTERM, and how long the child took to exit. */
export async function terminate(f: Fleetspec, budgetMs = 30_000): Promise<{ ms: number; exit: Exit }> {
  f.child.kill('SIGTERM');
  const { ms, value, error } = await timed(within('fleetspec to exit after SIGTERM', f.exited, budgetMs));
  if (error) throw error;
  return { ms, exit: value! };
}

/** When a tick line's tick started. */
export const startedAt = (l: TickLog) => Date.parse(l.time) - l.durationMs;
/** When a tick line's tick ended. */
export const endedAt = (l: TickLog) => Date.parse(l.time);

/** `url` with its host and port replaced by the proxy's. */
export function through(proxy: FaultProxy, url: string): string {
  const u = new URL(url);
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}

/** A table for the console: the figures a closing note quotes. */
export function table(title: string, rows: Record<string, string | number | null | undefined>[]): string {
  if (!rows.length) return `${title}: no figures`;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [title, line(columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

/**
 * Adds `rows` as section `name` of FIGURES_FILE, keeping the other files' sections. Test files run
 * in parallel workers, so the read-modify-write happens under a lock file.
 */
export async function recordFigures(name: string, rows: unknown[]): Promise<void> {
  const lock = `${FIGURES_FILE}.lock`;
  const handle = await until(
    `the lock on ${FIGURES_FILE}`,
    async () => {
      try {
        return await open(lock, 'wx');
      } catch (err) {
        // A lock older than a minute was left by a killed run.
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          const stale = await readFile(lock, 'utf8').then((t) => Date.now() - Number(t) > 60_000, () => false);
          if (stale) await rm(lock, { force: true });
          return undefined;
        }
        throw err;
      }
    },
    10_000,
    50,
  );
  try {
    await handle.writeFile(String(Date.now()));
    const before = await readFile(FIGURES_FILE, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => ({}));
    const next = { ...before, [name]: { at: new Date().toISOString(), rows } };
    await writeFile(`${FIGURES_FILE}.tmp`, `${JSON.stringify(next, null, 2)}\n`);
    await rename(`${FIGURES_FILE}.tmp`, FIGURES_FILE);
  } finally {
    await handle.close();
    await rm(lock, { force: true });
  }
}

/**
 * The environment of a fleetspec child working in `dir` against the stand-ins: the git server's
 * repository `fleet` as acme/fleet on the GitHub stand-in, the LLM stand-in's model, its own store,
 * clone and work folders there, and no terraform or SSH key (nothing reaches a host).
 */
export function standInEnv(dir: string, peers: { token: string; githubUrl: string; gitUrl: string; llmBaseUrl: string; model: string }): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    NO_COLOR: '1',
    FLEETSPEC_STATE_DIR: join(dir, 'state'),
    FLEETSPEC_REPO_DIR: join(dir, 'repo'),
    FLEETSPEC_WORK_DIR: join(dir, 'terraform'),
    FLEETSPEC_GITHUB_REPO: 'acme/fleet',
    FLEETSPEC_GITHUB_TOKEN: peers.token,
    FLEETSPEC_GITHUB_API: peers.githubUrl,
    FLEETSPEC_GIT_URL: peers.gitUrl,
    FLEETSPEC_TERRAFORM: join(dir, 'no-terraform'),
    FLEETSPEC_SSH_KEY: join(dir, 'no-key'),
    FLEETSPEC_LLM_BASE_URL: peers.llmBaseUrl,
    FLEETSPEC_LLM_MODEL: peers.model,
  };
}
