// Benchmark: the daemon's memory over time. The real `fleetspec daemon` (built CLI, a child
// process, so its RSS is its own) ticks every second against a bare repository behind real
// `git http-backend` and the OpenAPI-checked GitHub test server, on the embedded PGlite store.
// After the first ticks settle (baseline, drift check, finding proposals), every tick is quiet:
// the steady state the east server runs every five minutes. Goal: no growth worth the name over
// 250 quiet ticks (a leak would show as RSS climbing tick after tick), and SIGTERM when idle
// answered within 10 s.
//
//   node dist/bench/daemon.js [QUIET_TICKS=250]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startGitServer } from '../test/git/http-backend.js';
import { startGitHubServer } from '../test/github/server.js';
import { standInLoopEnv } from '../test/loop/env.js';
import { fleetRepoFiles, printTable } from './fleet.js';

const quietTicks = Number(process.argv[2] ?? 250);
const TOKEN = 'ghp_benchDaemon000000000000000000000000';
const BIN = resolve(import.meta.dirname, '..', 'reconciler', 'cli.js');
const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-daemon-'));
const files = await fleetRepoFiles(join(dir, 'seed'), 100);
const gitServer = await startGitServer({ token: TOKEN });
await gitServer.createBare('fleet', files);
const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', b) });

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

const child = spawn(process.execPath, [BIN, 'daemon', '--schedule', '* * * * * *', '--immediately', '--log-format', 'json', '--finding-tickets', 'none'], {
  cwd: dir,
  env: standInLoopEnv(dir, { githubApi: gh.url, gitUrl: gitServer.url('fleet'), token: TOKEN }),
  stdio: ['ignore', 'pipe', 'pipe'],
});
let ticks = 0;
let failed = 0;
let lastState = '';
let buffered = '';
const waiters: { n: number; done: () => void }[] = [];
child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
  buffered += chunk;
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { state?: string; level?: string };
    ticks++;
    lastState = entry.state ?? entry.level ?? '';
    if (entry.level === 'error') failed++;
    for (const w of waiters.filter((x) => ticks >= x.n)) (waiters.splice(waiters.indexOf(w), 1), w.done());
  }
});
let stderr = '';
child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));

/** Resolves when `n` ticks have been logged; fails after `budgetMs` saying what it waited for. */
const ticksDone = (n: number, budgetMs: number) =>
  Promise.race([
    new Promise<void>((done) => (ticks >= n ? done() : waiters.push({ n, done }))),
    exited.then((code) => Promise.reject(new Error(`the daemon exited (${code}) after ${ticks} ticks: ${stderr}`))),
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`waited ${budgetMs / 1000} s for tick ${n}; ${ticks} logged: ${stderr}`)), budgetMs).unref()),
  ]);

const rows: string[][] = [];
const sample = (what: string) => rows.push([what, String(ticks), lastState, rssMb(child.pid!).toFixed(1)]);
const settle = 5;
await ticksDone(settle, 180_000);
sample(`at rest: after ${settle} ticks (clone, baseline, drift check)`);
const atRest = rssMb(child.pid!);
const t0 = Date.now();
for (const step of [50, 100, 150, 200, quietTicks].filter((s, i, a) => s <= quietTicks && a.indexOf(s) === i)) {
  await ticksDone(settle + step, (step + 60) * 3_000);
  sample(`after ${step} quiet ticks`);
}
const seconds = (Date.now() - t0) / 1000;
const requests = gh.requests.length;
const stopAt = Date.now();
child.kill('SIGTERM');
const code = await exited;
const stopMs = Date.now() - stopAt;
printTable(['when', 'ticks logged', 'last', 'daemon RSS MB'], rows);
console.log(`RSS after ${quietTicks} quiet ticks: ${rows.at(-1)![3]} MB, ${atRest.toFixed(1)} MB at rest; ${failed} tick(s) logged an error; ${(seconds / quietTicks).toFixed(2)} s per tick on a 1 s schedule`);
console.log(`SIGTERM while idle: exit ${code} after ${stopMs} ms (goal < 10,000 ms); GitHub requests in all: ${requests}, violations of the OpenAPI description: ${gh.violations.length}`);

await Promise.all([gitServer.close(), gh.close()]);
await rm(dir, { recursive: true, force: true });
