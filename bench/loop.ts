// Benchmark: ticks of the GitOps loop over a generated fleet (hosts without SSH settings, so
// nothing outside loopback is contacted) in a bare repository behind real `git http-backend`,
// with the OpenAPI-checked GitHub test server (its validation runs in this process and is
// included in the times) and embedded PGlite. Goal: a quiet tick, the steady state every five
// minutes, well under a second and a handful of GitHub requests (5,000 an hour is the limit).
// Writes are not spaced here (writeIntervalMs 0); in production each write waits 1-3 s.
// Then a second table (bench/latency.ts): how long a person waits, from a push to the PR with its
// plan and from an approved merge to the apply's result, with the built daemon as a child process,
// triggered by the stand-ins' webhooks and by polling (needs dist: npm run build).
//
//   node dist/bench/loop.js [RESOURCES=500] [BRANCHES=10] [LATENCY_RUNS=3]
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GitHub } from '../reconciler/github/client.js';
import { SpecRepo } from '../reconciler/git/repo.js';
import { tick, type TickReport } from '../reconciler/loop/tick.js';
import { FINDING_SOURCES, type FindingSource } from '../reconciler/loop/findings.js';
import { loadSpecs } from '../reconciler/specs/load.js';
import { synthesiseAll } from '../reconciler/stacks/files.js';
import { openDb } from '../reconciler/state/db.js';
import { startGitServer } from '../test/git/http-backend.js';
import { startGitHubServer } from '../test/github/server.js';
import { generateFleet, printTable } from './fleet.js';
import { runLatencyBench } from './latency.js';

const resources = Number(process.argv[2] ?? 500);
const branches = Number(process.argv[3] ?? 10);
const latencyRuns = Number(process.argv[4] ?? 3);
const TOKEN = 'ghp_bench0000000000000000000000000000000';
const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-loop-'));
const seed = join(dir, 'seed');
await mkdir(join(seed, 'specs'), { recursive: true });
await generateFleet(join(seed, 'specs'), resources);
const loaded = await loadSpecs(join(seed, 'specs'));
await synthesiseAll(loaded.index, join(seed, 'stacks'));
const files: Record<string, string> = {};
for (const name of await readdir(seed, { recursive: true })) {
  const path = join(seed, name);
  if (/\.(ya?ml|json)$/.test(name)) files[relative(seed, path)] = await readFile(path, 'utf8');
}

const gitServer = await startGitServer({ token: TOKEN });
await gitServer.createBare('fleet', files);
const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', b) });
const db = await openDb({ stateDir: join(dir, 'state') });
const repo = await SpecRepo.open({ dir: join(dir, 'repo'), url: gitServer.url('fleet'), token: TOKEN, author: { name: 'fleetspec[bot]', email: 'bot@example.com' } });
const github = new GitHub({ owner: 'acme', repo: 'fleet', token: TOKEN, baseUrl: gh.url, writeIntervalMs: 0 });
// Findings open tickets, as the daemon's default has it; one quiet tick runs without, for comparison.
let findings: Set<FindingSource> = new Set(FINDING_SOURCES);
// The dashboard issue (on in the daemon's config) is measured on its own, against the same quiet tick.
let dashboard = false;
const run = () =>
  tick({
    findings,
    dashboard,
    db,
    repoKey: 'acme/fleet',
    git: repo,
    github,
    specsPath: 'specs',
    llmProblem: 'no LLM in the benchmark',
    engine: {
      specs: join(dir, 'repo', 'specs'),
      mode: 'live',
      db,
      noSsh: 'no SSH in the benchmark',
      secret: async () => undefined,
      progress: () => {},
      stacks: { dir: join(dir, 'repo', 'stacks'), workDir: join(dir, 'terraform'), noTerraform: 'no terraform in the benchmark' },
    },
    trigger: 'manual',
    progress: () => {},
  });

const rows: string[][] = [];
const rssBefore = process.memoryUsage().rss / 2 ** 20;
const measure = async (what: string): Promise<TickReport> => {
  const requests = gh.requests.length;
  const t0 = performance.now();
  const report = await run();
  const ms = performance.now() - t0;
  const sent = gh.requests.slice(requests);
  const writes = sent.filter((r) => r.method !== 'GET').length;
  const proposed = report.findings.filter((f) => f.action === 'opened').length;
  rows.push([what, report.state, ms.toFixed(0), String(sent.length - writes), String(writes), String(proposed), (process.memoryUsage().rss / 2 ** 20).toFixed(0)]);
  return report;
};

const first = await measure(`first tick: clone, baseline, drift check, findings (${loaded.resources.length} resources)`);
await measure('second tick: plans the finding tickets\' PRs');
await measure('quiet tick');
findings = new Set();
await measure('quiet tick, findings off');
findings = new Set(FINDING_SOURCES);
// Quiet ticks with and without the dashboard, alternated so the machine's drift falls on both.
dashboard = true;
await measure('first tick with the dashboard (opens its issue)');
const quiet: Record<'off' | 'on', number[]> = { off: [], on: [] };
for (let i = 0; i < 10; i++) {
  for (const side of i % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
    dashboard = side === 'on';
    const t0 = performance.now();
    await run();
    quiet[side].push(performance.now() - t0);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
rows.push(['quiet tick, dashboard off (median of 10)', '', median(quiet.off).toFixed(0), '', '', '', '']);
rows.push(['quiet tick, dashboard on, nothing to edit (median of 10)', '', median(quiet.on).toFixed(0), '', '', '', `+${(((median(quiet.on) - median(quiet.off)) / median(quiet.off)) * 100).toFixed(1)}% (goal < 5%)`]);
dashboard = false;
for (let i = 0; i < branches; i++) {
  gitServer.commit('fleet', `change-${i}`, { [`specs/hosts/bench-${i}.yaml`]: `kind: Host\nname: bench-${i}\naddress: 10.9.0.${i + 1}\n` }, `Add host bench-${i}`);
}
await measure(`tick planning ${branches} new branches (PR, comment, status each)`);
await measure(`quiet tick, ${branches} branches already planned`);
// Every first-parent commit since the trusted one is examined (none is skipped past a limit): 200 inert pushes.
const clone = gitServer.clone('fleet');
for (let i = 0; i < 200; i++) clone.git('commit', '--quiet', '--allow-empty', '-m', `README touch ${i}`);
clone.git('push', '--quiet', 'origin', 'HEAD:refs/heads/main');
await measure('tick examining 200 new commits on main (each accepted as inert)');
printTable(['tick', 'run', 'wall ms', 'GitHub GETs', 'GitHub writes', 'tickets proposed', 'RSS MB after (whole process: test servers, cdktf)'], rows);
console.log(`Finding tickets the first tick proposed: ${first.findings.map((f) => `${f.id} ${f.key}`).join(', ') || 'none'}`);
console.log(`RSS before the first tick (seed synthesised, servers up): ${rssBefore.toFixed(0)} MB`);
console.log(`GitHub requests checked against the OpenAPI description: ${gh.requests.length}, violations: ${gh.violations.length}`);

await db.close();
await Promise.all([gitServer.close(), gh.close()]);
await rm(dir, { recursive: true, force: true });

// The second table: end-to-end latency with the built daemon as a child, webhooks against polling (bench/latency.ts).
console.log('');
await runLatencyBench(latencyRuns);
