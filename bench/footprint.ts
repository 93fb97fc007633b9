// Benchmark: what fleetspec costs the east server (issue 21). Install sizes (the development tree,
// a production-only install, the release tarball installed as the README deploys it), and the CPU
// seconds and peak RSS of whole `fleetspec` processes: --help, validate, the offline plan of
// specs/ on both stores (first run on a new machine, then warm), and one quiet reconcile tick
// against git http-backend and the OpenAPI-checked GitHub stand-in. Each figure is a process's own
// (GNU time: user+system CPU, maximum resident set size).
//
//   npm run build && node dist/bench/footprint.js [--no-install] [--runs N]
//
// --no-install skips the two installs (they fetch from the npm registry: a minute or two each).
// PostgreSQL rows need TEST_DATABASE_URL (or DATABASE_URL); needs /usr/bin/time (Debian: time).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { startGitServer } from '../test/git/http-backend.js';
import { startGitHubServer } from '../test/github/server.js';
import { fleetRepoFiles, printTable } from './fleet.js';

const args = process.argv.slice(2);
const installs = !args.includes('--no-install');
const runs = Number(args[args.indexOf('--runs') + 1]) || 3;
const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
/** The CLI the process rows run: the release as installed when the installs ran, else this checkout's build. */
let bin = BIN;
const TIME = '/usr/bin/time';
if (!existsSync(TIME)) throw new Error(`${TIME} is missing: apt-get install time`);
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: npm run build first`);

const work = await mkdtemp(join(tmpdir(), 'fleetspec-bench-footprint-'));
const rows: string[][] = [];

/** du -s in MB and the number of files under `path`. */
function size(path: string): { mb: number; files: number } {
  const kb = Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]);
  const files = Number(execFileSync('sh', ['-c', 'find "$1" -type f | wc -l', 'sh', path], { encoding: 'utf8' }).trim());
  return { mb: kb / 1024, files };
}

function npm(cwd: string, ...npmArgs: string[]): void {
  const r = spawnSync('npm', npmArgs, { cwd, encoding: 'utf8', env: { ...process.env, PUPPETEER_SKIP_DOWNLOAD: 'true' } });
  if (r.status !== 0) throw new Error(`npm ${npmArgs.join(' ')} failed in ${cwd}: ${r.stderr.slice(-2000)}`);
}

if (installs) {
  const full = size(join(ROOT, 'node_modules'));
  rows.push(['install: development tree (npm ci)', '', '', `${full.mb.toFixed(0)} MB`, `${full.files} files`]);
  const prod = join(work, 'production');
  await mkdir(prod);
  execFileSync('cp', [join(ROOT, 'package.json'), join(ROOT, 'package-lock.json'), prod]);
  npm(prod, 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund');
  const p = size(join(prod, 'node_modules'));
  rows.push(['install: production only (npm ci --omit=dev)', '', '', `${p.mb.toFixed(0)} MB`, `${p.files} files`]);
  const pack = join(work, 'pack');
  await mkdir(pack);
  const packed = spawnSync('npm', ['run', '--silent', 'release'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RELEASE_DIR: pack } });
  const tarball = (await readdir(pack)).find((f) => f.endsWith('.tgz'));
  if (packed.status !== 0 || !tarball) {
    rows.push(['install: release (npm run release)', '', '', 'failed', packed.stderr.trim().split('\n').at(-1) ?? '']);
  } else {
    // As the README deploys it: unpacked, then its shrinkwrap installed exactly, production only.
    const prefix = join(work, 'release');
    await mkdir(prefix);
    execFileSync('tar', ['xzf', join(pack, tarball), '-C', prefix, '--strip-components=1']);
    npm(prefix, 'ci', '--omit=dev', '--no-audit', '--no-fund');
    const r = size(prefix);
    const t = size(join(pack, tarball));
    rows.push([`install: release (${tarball}, ${t.mb.toFixed(1)} MB)`, '', '', `${r.mb.toFixed(0)} MB`, `${r.files} files`]);
    // What the east server runs: the rows below run this install, not the development tree.
    bin = join(prefix, 'dist', 'reconciler', 'cli.js');
  }
}

/**
 * One whole `fleetspec` process: user+system CPU seconds, peak RSS in MB, exit code. Asynchronous:
 * the git and GitHub stand-ins of the reconcile row are served by this process's event loop.
 */
async function measure(cliArgs: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<{ cpu: number; rss: number; code: number | null; wall: number; said: string }> {
  const started = Date.now();
  // --liftoff-only as the fleetspec command, the wrapper and the units give it (Node 24 takes it only there).
  const child = spawn(TIME, ['-f', '%U %S %M', process.execPath, '--liftoff-only', bin, ...cliArgs], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
  const wall = Date.now() - started;
  const lines = stderr.trim().split('\n');
  const [user, system, kb] = (lines.at(-1) ?? '').split(' ').map(Number);
  // What a failing command said last (GNU time's own lines and its figures left out).
  const said = lines.slice(0, -1).filter((l) => !/^Command exited/.test(l)).at(-1) ?? '';
  return { cpu: user! + system!, rss: kb! / 1024, code, wall, said };
}

const baseEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work, NO_COLOR: '1' };
/** The median of `runs` runs (each a fresh process), after `prepare` for each. */
async function row(what: string, cliArgs: string[], env: NodeJS.ProcessEnv, prepare?: (i: number) => void, cwd?: string): Promise<void> {
  const taken = [];
  for (let i = 0; i < runs; i++) {
    prepare?.(i);
    taken.push(await measure(cliArgs, env, cwd));
  }
  const mid = <T>(xs: T[], key: (x: T) => number) => [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)]!;
  const cpu = mid(taken, (t) => t.cpu).cpu;
  const rss = mid(taken, (t) => t.rss).rss;
  const wall = mid(taken, (t) => t.wall).wall;
  const failed = taken.find((t) => t.code !== 0 && t.code !== 2);
  rows.push([what, `${cpu.toFixed(2)} s`, `${(wall / 1000).toFixed(2)} s`, `${rss.toFixed(0)} MB`, `exit ${[...new Set(taken.map((t) => t.code))].join('/')}${failed ? `: ${failed.said.slice(0, 160)}` : ''}`]);
}

await row('fleetspec --help', ['--help'], baseEnv);
await row('fleetspec validate specs', ['validate', 'specs'], baseEnv);
const state = join(work, 'state');
await row('plan specs, PGlite, first run (new store)', ['plan', 'specs'], { ...baseEnv, FLEETSPEC_STATE_DIR: state }, () => execFileSync('rm', ['-rf', state]));
await row('plan specs, PGlite, warm', ['plan', 'specs'], { ...baseEnv, FLEETSPEC_STATE_DIR: state });

const pgUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
if (pgUrl) {
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  const name = `fleetspec_bench_footprint_${process.pid}`;
  await admin.query(`create database ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  try {
    await row('plan specs, PostgreSQL', ['plan', 'specs'], { ...baseEnv, DATABASE_URL: url.toString() });
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

// One quiet tick: a bare repository of 100 generated hosts behind git http-backend and the GitHub stand-in.
const TOKEN = 'ghp_benchFootprint0000000000000000000000';
const files = await fleetRepoFiles(join(work, 'seed'), 100);
const gitServer = await startGitServer({ token: TOKEN });
await gitServer.createBare('fleet', files);
const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', b) });
const loopEnv: NodeJS.ProcessEnv = {
  ...baseEnv,
  FLEETSPEC_STATE_DIR: join(work, 'loop-state'),
  FLEETSPEC_REPO_DIR: join(work, 'repo'),
  FLEETSPEC_WORK_DIR: join(work, 'terraform'),
  FLEETSPEC_GITHUB_REPO: 'acme/fleet',
  FLEETSPEC_GITHUB_TOKEN: TOKEN,
  FLEETSPEC_GITHUB_API: gh.url,
  FLEETSPEC_GIT_URL: gitServer.url('fleet'),
  FLEETSPEC_TERRAFORM: join(work, 'no-terraform'),
  FLEETSPEC_SSH_KEY: join(work, 'no-key'),
  FLEETSPEC_FINDING_TICKETS: 'none',
};
// The first ticks clone, record the baseline and open the drift PR; what follows is the steady state.
for (let i = 0; i < 2; i++) await measure(['reconcile'], loopEnv, work);
await row('reconcile: one quiet tick (100 hosts, PGlite)', ['reconcile'], loopEnv, undefined, work);
await gh.close();
await gitServer.close();

console.log(`fleetspec footprint: Node.js ${process.version}, median of ${runs} runs per command, each a new process (GNU time), running ${bin === BIN ? 'this checkout\'s build' : 'the release as installed'}`);
printTable(['what', 'CPU', 'wall', 'peak RSS / size', 'note'], rows);
await rm(work, { recursive: true, force: true, maxRetries: 5 });
