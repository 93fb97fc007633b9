// Benchmark: what `fleetspec daemon --listen` adds to a quiet tick. The real daemon (built CLI)
// ticks every second against a bare repository behind real `git http-backend` and the GitHub
// test server, on the embedded PGlite store, once without --listen and once with it while a
// scraper reads /metrics every second (as Prometheus would). After the first ticks settle, every
// tick is quiet. Compared: the quiet ticks' durations, and, in process, the metrics update a tick
// makes (FleetMetrics.tickEnded with its ledger queries, on the daemon's own store) and one
// /metrics render. Goal: serving and updating the metrics add under 5% to a quiet tick.
//
//   node dist/bench/metrics.js [QUIET_TICKS=20, per daemon; four daemons, off-on-on-off]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startGitServer } from '../test/git/http-backend.js';
import { startGitHubServer } from '../test/github/server.js';
import { openDb } from '../reconciler/state/db.js';
import { FleetMetrics } from '../reconciler/metrics/registry.js';
import type { TickReport } from '../reconciler/loop/tick.js';
import { standInLoopEnv } from '../test/loop/env.js';
import { fleetRepoFiles, printTable } from './fleet.js';

const quietTicks = Number(process.argv[2] ?? 20);
const settle = 5;
const TOKEN = 'ghp_benchMetrics00000000000000000000000';
const BIN = resolve(import.meta.dirname, '..', 'reconciler', 'cli.js');
const root = await mkdtemp(join(tmpdir(), 'fleetspec-bench-metrics-'));
const files = await fleetRepoFiles(join(root, 'seed'), 100);

interface Run {
  durations: number[];
  lastReport: Omit<TickReport, 'durationMs'> & { durationMs?: number };
  stateDir: string;
  scrapes: number;
}

/** A daemon on a fresh repository and store; the durations of its quiet ticks (after `settle`). */
async function runDaemon(name: string, listen: boolean): Promise<Run> {
  const dir = join(root, name);
  const git = await startGitServer({ token: TOKEN });
  await git.createBare('fleet', files);
  const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => git.git('fleet', 'rev-parse', b) });
  const args = [BIN, 'daemon', '--schedule', '* * * * * *', '--immediately', '--log-format', 'json', '--finding-tickets', 'none', ...(listen ? ['--listen', '127.0.0.1:0'] : [])];
  const child = spawn(process.execPath, args, {
    env: standInLoopEnv(dir, { githubApi: gh.url, gitUrl: git.url('fleet'), token: TOKEN }, root),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const durations: number[] = [];
  let lastReport: Run['lastReport'] | undefined;
  let ticks = 0;
  let stderr = '';
  let buffered = '';
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { durationMs: number; report?: Run['lastReport'] };
      if (++ticks > settle) durations.push(entry.durationMs);
      if (entry.report) lastReport = entry.report;
      if (durations.length >= quietTicks) done();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let scrapes = 0;
  let scraper: NodeJS.Timeout | undefined;
  if (listen) {
    const url = await new Promise<string>((ok, fail) => {
      const look = setInterval(() => {
        const m = /serving \/metrics and \/healthz on (http:\/\/\S+)/.exec(stderr);
        if (m) (clearInterval(look), ok(m[1]!));
      }, 50);
      void exited.then((code) => (clearInterval(look), fail(new Error(`the daemon exited (${code}): ${stderr}`))));
    });
    scraper = setInterval(() => void fetch(`${url}/metrics`).then((r) => r.text()).then(() => scrapes++, () => {}), 1000);
  }
  const budgetMs = (settle + quietTicks + 120) * 3000;
  await Promise.race([
    finished,
    exited.then((code) => Promise.reject(new Error(`the daemon exited (${code}) after ${ticks} ticks: ${stderr}`))),
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`waited ${budgetMs / 1000} s for ${quietTicks} quiet ticks; ${ticks} logged: ${stderr}`)), budgetMs).unref()),
  ]);
  clearInterval(scraper);
  child.kill('SIGTERM');
  await exited;
  await Promise.all([git.close(), gh.close()]);
  return { durations, lastReport: lastReport!, stateDir: join(dir, 'state'), scrapes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;
const timed = async (n: number, f: () => Promise<unknown>) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return out;
};

// Off, on, on, off: the machine's drift over the run (a shared machine) weighs on both alike.
const pool = (a: Run, b: Run): Run => ({ ...a, durations: [...a.durations, ...b.durations], scrapes: a.scrapes + b.scrapes });
const off1 = await runDaemon('off1', false);
const on1 = await runDaemon('on1', true);
const on2 = await runDaemon('on2', true);
const off2 = await runDaemon('off2', false);
const off = pool(off1, off2);
const on = pool(on1, on2);

// The update a tick makes and one render, in process, on the store the quiet daemon left.
const db = await openDb({ stateDir: off2.stateDir });
const metrics = new FleetMetrics();
const report = { ...off2.lastReport, durationMs: 0 } as TickReport;
const update = await timed(200, () => metrics.tickEnded(report, median(off.durations), db, 'acme/fleet'));
const render = await timed(200, () => metrics.expose());
metrics.close();
await db.close();

const quiet = median(off.durations);
const rows = [
  ['quiet tick, no --listen', String(off.durations.length), median(off.durations).toFixed(0), p90(off.durations).toFixed(0), ''],
  [`quiet tick, --listen, scraped every 1 s (${on.scrapes} scrapes)`, String(on.durations.length), median(on.durations).toFixed(0), p90(on.durations).toFixed(0), `${(((median(on.durations) - quiet) / quiet) * 100).toFixed(1)}%`],
  ['metrics update per tick (tickEnded, ledger queries)', '200', median(update).toFixed(2), p90(update).toFixed(2), `${((median(update) / quiet) * 100).toFixed(2)}%`],
  ['one /metrics render', '200', median(render).toFixed(2), p90(render).toFixed(2), `${((median(render) / quiet) * 100).toFixed(2)}%`],
];
printTable(['what', 'n', 'median ms', 'p90 ms', 'vs quiet tick'], rows);
const added = median(update) + median(render);
console.log(`metrics add ${added.toFixed(2)} ms per quiet tick of ${quiet} ms (update + one scrape): ${((added / quiet) * 100).toFixed(2)}% (goal < 5%); the daemon-to-daemon difference includes the machine's noise`);
await rm(root, { recursive: true, force: true });
