// What the metrics tests share: the built daemon against the loop's stand-ins (git http-backend,
// the OpenAPI-checked GitHub server, the OpenAI-compatible LLM) on an embedded store, and a real
// Prometheus (Debian's package) on loopback scraping it every second. Every wait has a budget and
// says what it waited for.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fleetRepoFiles } from '../../bench/fleet.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { standInLoopEnv } from '../loop/env.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { startLlmServer, type LlmTestServer } from '../llm/server.js';

export const BIN = resolve(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
export const TOKEN = 'ghp_metricsTest0000000000000000000000000';
export const MODEL = 'fleetspec-test';
export const PROMETHEUS = process.env['FLEETSPEC_PROMETHEUS'] ?? '/usr/bin/prometheus';

/** Polls `check` until it returns something other than undefined; after `budgetMs` fails saying what it waited for and what it saw last. */
export async function waitFor<T>(what: string, budgetMs: number, check: () => Promise<T | undefined> | T | undefined, last?: () => string): Promise<T> {
  const end = Date.now() + budgetMs;
  let error: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      error = err;
    }
    if (Date.now() > end) throw new Error(`waited ${budgetMs / 1000} s for ${what}${error ? `; last error: ${error instanceof Error ? error.message : String(error)}` : ''}${last ? `; ${last()}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

export interface Stand {
  dir: string;
  git: GitTestServer;
  gh: GitHubTestServer;
  llm: LlmTestServer;
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** A small fleet on main, and a branch `add-ticket` that adds a ticket: the first tick opens its PR with a narrative. */
export async function startStand(): Promise<Stand> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-metrics-'));
  const files = await fleetRepoFiles(join(dir, 'seed'), 3);
  const git = await startGitServer({ token: TOKEN });
  await git.createBare('fleet', files);
  const clone = git.clone('fleet');
  clone.git('checkout', '-q', '-b', 'add-ticket');
  await writeFile(join(clone.dir, 'specs', 'tickets', 'T-0099.yaml'), 'kind: Ticket\nid: T-0099\ntitle: Watch the metrics\nstatus: open\nhosts: [host0]\n');
  clone.git('add', '-A');
  clone.git('commit', '-q', '-m', 'a ticket');
  clone.git('push', '-q', 'origin', 'add-ticket');
  const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => git.git('fleet', 'rev-parse', b) });
  const llm = await startLlmServer();
  return {
    dir,
    git,
    gh,
    llm,
    env: (extra = {}) => ({
      ...standInLoopEnv(dir, { githubApi: gh.url, gitUrl: git.url('fleet'), token: TOKEN }),
      FLEETSPEC_LLM_BASE_URL: llm.baseUrl,
      FLEETSPEC_LLM_MODEL: MODEL,
      ...extra,
    }),
    async close() {
      await Promise.all([git.close(), gh.close(), llm.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface DaemonProcess {
  child: ChildProcess;
  /** The JSON tick lines so far. */
  ticks: { level: string; state?: string; run?: number; message: string }[];
  stderr(): string;
  exited: Promise<number | null>;
  /** The metrics server's URL, once the daemon said it. */
  metricsUrl(budgetMs?: number): Promise<string>;
  stop(): Promise<number | null>;
}

export function startDaemon(args: string[], env: NodeJS.ProcessEnv, cwd: string): DaemonProcess {
  const child = spawn(process.execPath, [BIN, 'daemon', '--log-format', 'json', '--finding-tickets', 'none', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ticks: DaemonProcess['ticks'] = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) ticks.push(JSON.parse(line));
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((done) => child.on('exit', (c) => done((code = c))));
  return {
    child,
    ticks,
    stderr: () => stderr,
    exited,
    metricsUrl: (budgetMs = 60_000) =>
      waitFor('the daemon to say where it serves /metrics', budgetMs, () => {
        if (code !== undefined) throw new Error(`the daemon exited (${code}): ${stderr}`);
        return /serving \/metrics and \/healthz on (http:\/\/\S+)/.exec(stderr)?.[1];
      }),
    async stop() {
      if (code === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface PrometheusProcess {
  url: string;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** A real Prometheus on loopback scraping `target` (host:port) every second, with its own storage. */
export async function startPrometheus(target: string, dir: string): Promise<PrometheusProcess> {
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: fleetspec\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['${target}']\n`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let code: number | null | undefined;
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((done) => child.on('exit', (c) => ((code = c), done())));
  await waitFor('Prometheus to be ready (/-/ready)', 60_000, async () => {
    if (code !== undefined) throw new Error(`prometheus exited (${code}): ${stderr}`);
    const res = await fetch(`${url}/-/ready`).catch(() => undefined);
    return res?.ok ? true : undefined;
  });
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
      if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
      if (body.data?.resultType !== 'vector') throw new Error(`${expr} is a ${body.data?.resultType}, not an instant vector`);
      return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
    },
    async stop() {
      if (code === undefined) child.kill('SIGTERM');
      await exited;
    },
  };
}
