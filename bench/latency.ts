// Benchmark rows for bench/loop.ts: how long a person waits for fleetspec, end to end. The built
// daemon runs as a child process (as in bench/daemon.ts) against the stand-ins, which deliver
// GitHub's webhooks to its --listen address (test/github/server.ts `webhook`, test/git/activity.ts
// deliverPushes), all on loopback. Each scenario is measured two ways:
//   webhooks: the schedule is once a day, so only deliveries start ticks;
//   polling:  no webhook, a tick every 15 s (6-field cron */15 * * * * *).
// The stand-ins' state is polled every 50 ms for the moment the person would see the result.
// Beside the polling rows, what the production schedule (every 5 minutes) means is derived, not
// measured: the measured processing time (from the start of the tick that did it) plus a wait
// uniformly between 0 and 300 s, so mean +150 s and worst +300 s.
//
// A scenario is one entry of SCENARIOS: prepare (unmeasured), then act and wait (measured). The third,
// "rollback command to revert PR with its plan", is seed 002's rollback SLA's first half: an approver's
// `/fleetspec rollback` comment on the PR just applied, until the revert PR has its plan comment.
//
//   node dist/bench/latency.js [REPETITIONS=3]    (after npm run build; also run by bench/loop.js)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateKey } from '../reconciler/state/secrets.js';
import { deliverPushes } from '../test/git/activity.js';
import { runGitAsync, startGitServer, type GitTestServer } from '../test/git/http-backend.js';
import { startGitHubServer, type GitHubTestServer, type PullState } from '../test/github/server.js';
import { standInLoopEnv } from '../test/loop/env.js';
import { fleetRepoFiles, printTable } from './fleet.js';

const BIN = resolve(import.meta.dirname, '..', 'reconciler', 'cli.js');
const TOKEN = 'ghp_benchLatency0000000000000000000000000';
const SECRET = 'whsec-bench-latency-0123456789abcdef';
/** The person who pushes spec branches. */
const AUTHOR = 'bob';
/** The second person, in a role with the approve capability: approves and merges. */
const APPROVER = 'alice';
const POLL_MS = 50;
const ONCE_A_DAY = '0 3 * * *';
const EVERY_15_S = '*/15 * * * * *';
/** The production schedule the derived rows stand for. */
const PRODUCTION_INTERVAL_S = 300;

export type Trigger = 'webhooks' | 'polling';

interface TickLine {
  time: string;
  level: string;
  durationMs: number;
  run?: number;
  state?: string;
  message: string;
  poked?: string;
}

/** The running daemon, as a bench sees it from outside. */
export interface Daemon {
  child: ChildProcess;
  ticks: TickLine[];
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Everything a scenario acts on: the stand-ins, the daemon, and the steps a person takes. */
export interface LatencyWorld {
  dir: string;
  git: GitTestServer;
  gh: GitHubTestServer;
  daemon(): Daemon;
  /** Polls `check` every 50 ms until it returns something; fails after `budgetMs` saying what it waited for. */
  until<T>(what: string, budgetMs: number, check: () => T | undefined): Promise<T>;
  /** Waits until neither stand-in has had a request for `quietMs` and every delivery is answered. */
  settle(quietMs?: number): Promise<void>;
  /** A spec change on a new branch, committed in a clone as the author; `push()` is `git push` of it over HTTP. */
  specBranch(name: string, files: Record<string, string>, message: string): Promise<{ push(): Promise<void> }>;
  /** The open PR of `branch` once fleetspec has commented its plan on it. */
  plannedPull(branch: string): PullState | undefined;
  /** The approver's APPROVED review of the PR's head. */
  approve(pr: PullState): void;
  /** A merge commit of the PR made in a clone; `merge()` is the merge on GitHub (main moves, the PR closes merged). */
  prepareMerge(pr: PullState): Promise<{ sha: string; merge(): Promise<void> }>;
  /** Whether the apply of `sha` is reported: fleetspec/apply success on it (fails on failure, with the PR's last comment). */
  applied(sha: string, pr: number): true | undefined;
  /** A fresh name for this repetition's branch, ticket and the like. */
  nextId(): number;
}

/** One latency row: set up (not measured), then the measured span from `act` to `done`. */
export interface LatencyScenario {
  name: string;
  /** Unmeasured; returns the measured step: `act` starts the clock, then `done` is polled until true. */
  prepare(world: LatencyWorld): Promise<{ act(): Promise<void>; done(): true | undefined; budgetMs: number }>;
}

/** The tickets a scenario adds: the apply opens a GitHub issue for each, with nothing beyond loopback. */
const ticketYaml = (n: number) => `kind: Ticket\nid: T-${String(9000 + n)}\ntitle: Latency bench ${n}\nstatus: open\nhosts: [host0]\n`;

/** The PR each repetition's first scenario opened, for the next one to approve and merge. */
const planned = new Map<number, PullState>();
let repetition = 0;

export const SCENARIOS: LatencyScenario[] = [
  {
    name: 'push to PR with its plan',
    async prepare(w) {
      const n = w.nextId();
      const branch = `bench/ticket-${n}`;
      const change = await w.specBranch(branch, { [`specs/tickets/T-${9000 + n}.yaml`]: ticketYaml(n) }, `Add ticket T-${9000 + n}`);
      return {
        budgetMs: 120_000,
        act: () => change.push(),
        done: () => {
          const pr = w.plannedPull(branch);
          if (!pr) return undefined;
          planned.set(repetition, pr);
          return true;
        },
      };
    },
  },
  {
    name: 'approved merge to applied',
    async prepare(w) {
      const first = planned.get(repetition);
      if (!first) throw new Error('approved merge: the push scenario left no planned PR');
      // The plan settled (a bot commit on the branch moves its head): approve the head fleetspec planned last.
      await w.settle();
      const pr = w.gh.repo().pulls.get(first.number)!;
      w.approve(pr);
      await w.settle();
      const merge = await w.prepareMerge(pr);
      return { budgetMs: 120_000, act: () => merge.merge(), done: () => w.applied(merge.sha, pr.number) };
    },
  },
  {
    // Seed 002's rollback SLA, its first half (begin under 5 minutes): from an approver's /fleetspec rollback on the
    // PR just applied to the revert PR with its plan. The second half (finish under 15) is the row above: a revert
    // is approved, merged and applied like any PR.
    name: 'rollback command to revert PR with its plan',
    async prepare(w) {
      const merged = planned.get(repetition);
      if (!merged) throw new Error('rollback: the push scenario left no PR');
      await w.settle();
      const branch = `fleetspec/rollback/pr-${merged.number}`;
      return {
        budgetMs: 120_000,
        act: async () => void w.gh.addComment(merged.number, { user: APPROVER, body: '/fleetspec rollback' }),
        done: () => (w.plannedPull(branch) ? true : undefined),
      };
    },
  },
];

interface Measurement {
  scenario: string;
  trigger: Trigger;
  /** From the act to the result seen. */
  ms: number;
  /** From the start of the tick that produced the result to the result seen. */
  processingMs: number;
}

/** Starts the stand-ins on a small fleet with a reviewer role, and the daemon for `trigger` when asked. */
export async function startLatencyWorld(resources = 20): Promise<LatencyWorld & { start(trigger: Trigger): Promise<void>; stopDaemon(): Promise<void>; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-latency-'));
  const files = await fleetRepoFiles(join(dir, 'seed'), resources);
  files['specs/roles/reviewer.yaml'] = `kind: Role\nname: reviewer\ntype: role\nhost: host0\nssh:\n  user: reviewer\n  port: 22\ncapabilities: [approve]\ngithubUsers: [${APPROVER}]\n`;
  const git = await startGitServer({ token: TOKEN });
  await git.createBare('fleet', files);
  const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => git.git('fleet', 'rev-parse', `refs/heads/${b}`) });
  gh.setBranch('main', git.git('fleet', 'rev-parse', 'main'));
  // fleetspec's own pushes authenticate as x-access-token: GitHub names the token's account.
  deliverPushes(git, gh, { actorOf: (user) => (user === 'x-access-token' ? gh.login : (user ?? null)) });
  const key = generateKey();
  const env = (extra: Record<string, string> = {}) => ({ ...standInLoopEnv(dir, { githubApi: gh.url, gitUrl: git.url('fleet'), token: TOKEN }), FLEETSPEC_SECRET_KEY: key, ...extra });
  const set = spawnSync(process.execPath, [BIN, 'secrets', 'set', 'meta/github/webhook_secret', '--own'], { cwd: dir, env: env(), input: SECRET, encoding: 'utf8', timeout: 60_000 });
  if (set.status !== 0) throw new Error(`fleetspec secrets set failed: ${set.stdout}${set.stderr}`);

  let daemon: Daemon | undefined;
  let ids = 0;
  const until = async <T>(what: string, budgetMs: number, check: () => T | undefined): Promise<T> => {
    const end = Date.now() + budgetMs;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (Date.now() > end) throw new Error(`waited ${budgetMs / 1000} s for ${what}; daemon: ${daemon?.stderr().slice(-1500)} ${JSON.stringify(daemon?.ticks.slice(-3))}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };

  const world = {
    dir,
    git,
    gh,
    daemon() {
      if (!daemon) throw new Error('no daemon running');
      return daemon;
    },
    until,
    async settle(quietMs = 1500) {
      let last = -1;
      let since = Date.now();
      const end = Date.now() + 120_000;
      for (;;) {
        await gh.deliveriesSettled();
        const seen = git.requests.length + gh.requests.length + gh.deliveries.length;
        if (seen !== last) [last, since] = [seen, Date.now()];
        else if (Date.now() - since >= quietMs) return;
        if (Date.now() > end) throw new Error('the stand-ins never went quiet for 2 minutes');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    async specBranch(name: string, change: Record<string, string>, message: string) {
      const clone = git.clone('fleet');
      clone.git('checkout', '-q', '-b', name);
      for (const [path, content] of Object.entries(change)) {
        mkdirSync(dirname(join(clone.dir, path)), { recursive: true });
        writeFileSync(join(clone.dir, path), content);
      }
      clone.git('add', '-A');
      clone.git('-c', `user.name=${AUTHOR}`, '-c', `user.email=${AUTHOR}@users.noreply.github.com`, 'commit', '-q', '-m', message);
      const remote = git.url('fleet').replace('http://', `http://${AUTHOR}:${TOKEN}@`);
      // Async: the git server answers in this process.
      return { push: async () => void (await runGitAsync(clone.dir, ['push', '-q', remote, `HEAD:refs/heads/${name}`])) };
    },
    plannedPull(branch: string) {
      const pr = [...gh.repo().pulls.values()].find((p) => p.head.ref === branch && p.state === 'open');
      if (!pr) return undefined;
      return gh.repo().issueComments.some((c) => c.issue === pr.number && c.body.includes('<!-- fleetspec:plan -->')) ? pr : undefined;
    },
    approve(pr: PullState) {
      gh.review(pr.number, { user: APPROVER, state: 'APPROVED', commitId: pr.head.sha });
    },
    async prepareMerge(pr: PullState) {
      const clone = git.clone('fleet');
      clone.git('checkout', '-q', 'main');
      const before = clone.git('rev-parse', 'HEAD');
      clone.git('-c', `user.name=${APPROVER}`, '-c', `user.email=${APPROVER}@users.noreply.github.com`, 'merge', '-q', '--no-ff', '-m', `Merge pull request #${pr.number} from acme/${pr.head.ref}`, `origin/${pr.head.ref}`);
      const sha = clone.git('rev-parse', 'HEAD');
      return {
        sha,
        async merge() {
          // GitHub's merge button: main moves (pushed as the bare repository's owner would, not over HTTP), then the PR closes merged.
          await runGitAsync(clone.dir, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
          gh.receivePush({ ref: 'refs/heads/main', before, after: sha, pusher: APPROVER, type: 'pr_merge' });
          gh.merge(pr.number, { mergeCommitSha: sha, mergedBy: APPROVER });
        },
      };
    },
    applied(sha: string, pr: number) {
      const apply = gh.repo().statuses.filter((s) => s.sha === sha && s.context === 'fleetspec/apply');
      if (apply.some((s) => s.state === 'success')) return true;
      if (apply.some((s) => s.state === 'failure' || s.state === 'error')) {
        const last = gh.repo().issueComments.filter((c) => c.issue === pr).at(-1)?.body ?? '(no comment)';
        throw new Error(`the apply of ${sha.slice(0, 7)} was not done: ${last.slice(0, 1500)}`);
      }
      return undefined;
    },
    nextId: () => ++ids,
    async start(trigger: Trigger) {
      const args = [BIN, 'daemon', '--log-format', 'json', '--finding-tickets', 'none', '--immediately', '--schedule', trigger === 'webhooks' ? ONCE_A_DAY : EVERY_15_S];
      if (trigger === 'webhooks') args.push('--listen', '127.0.0.1:0');
      const child = spawn(process.execPath, args, { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      const ticks: TickLine[] = [];
      let stderr = '';
      let buffered = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('{')) ticks.push(JSON.parse(line) as TickLine);
      });
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-20_000)));
      let code: number | null | undefined;
      const exited = new Promise<number | null>((done) => child.on('exit', (c) => done((code = c))));
      daemon = { child, ticks, stderr: () => stderr, stop: async () => (code === undefined && child.kill('SIGTERM'), exited) };
      if (trigger === 'webhooks') {
        const url = await until('the daemon to say where it listens', 60_000, () => {
          if (code !== undefined) throw new Error(`the daemon exited (${code}): ${stderr}`);
          return /serving \/metrics and \/healthz on (http:\/\/\S+)/.exec(stderr)?.[1];
        });
        if (!/taking GitHub webhooks at POST \/webhook/.test(stderr)) throw new Error(`the daemon takes no webhooks: ${stderr}`);
        gh.setWebhook({ url: `${url}/webhook`, secret: SECRET });
      } else {
        gh.setWebhook(undefined);
      }
      // The first tick (--immediately): clone or fetch, baseline; then nothing is going on.
      await until('the first tick', 180_000, () => {
        if (code !== undefined) throw new Error(`the daemon exited (${code}): ${stderr}`);
        return ticks.length > 0 ? true : undefined;
      });
      await world.settle();
    },
    async stopDaemon() {
      await daemon?.stop();
      daemon = undefined;
      gh.setWebhook(undefined);
    },
    async close() {
      await world.stopDaemon();
      await Promise.all([git.close(), gh.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** When the tick that made the result (logged once it ended) started: the first tick ending at or after `seenAt`. */
async function tickStart(w: LatencyWorld, seenAt: number): Promise<number> {
  const line = await w.until('the tick line of the tick that made the result', 120_000, () =>
    w.daemon().ticks.find((t) => Date.parse(t.time) >= seenAt - POLL_MS - 20 && Date.parse(t.time) - t.durationMs <= seenAt),
  );
  return Date.parse(line.time) - line.durationMs;
}

/** Runs every scenario `repetitions` times under `trigger`. */
export async function measureLatency(w: Awaited<ReturnType<typeof startLatencyWorld>>, trigger: Trigger, repetitions: number, scenarios = SCENARIOS): Promise<Measurement[]> {
  const out: Measurement[] = [];
  await w.start(trigger);
  const began = Date.now();
  try {
    for (let i = 0; i < repetitions; i++) {
      repetition++;
      for (const s of scenarios) {
        const step = await s.prepare(w);
        await w.settle();
        const t0 = Date.now();
        await step.act();
        await w.until(`${s.name} (${trigger})`, step.budgetMs, step.done);
        const seen = Date.now();
        const started = await tickStart(w, seen);
        out.push({ scenario: s.name, trigger, ms: seen - t0, processingMs: seen - Math.max(started, t0) });
      }
    }
    const ticks = w.daemon().ticks;
    const delivered = w.gh.deliveries;
    console.log(
      `${trigger}: ${ticks.length} ticks in ${seconds(Date.now() - began)} s (${ticks.filter((t) => t.poked).length} asked for by a delivery), ${delivered.length} deliveries (${delivered.filter((d) => d.status === 202).length} answered 202), ${ticks.filter((t) => t.level === 'error').length} tick(s) logged an error`,
    );
  } finally {
    await w.stopDaemon();
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const seconds = (ms: number) => (ms / 1000).toFixed(1);

/** The second table of bench/loop.ts: measured rows, and the 5-minute schedule derived beside the polling ones. */
export function latencyRows(measured: Measurement[], scenarios = SCENARIOS): string[][] {
  const rows: string[][] = [];
  for (const s of scenarios) {
    for (const trigger of ['webhooks', 'polling'] as const) {
      const m = measured.filter((x) => x.scenario === s.name && x.trigger === trigger);
      if (m.length === 0) continue;
      const ms = m.map((x) => x.ms);
      const processing = m.map((x) => x.processingMs);
      const how = trigger === 'webhooks' ? 'webhooks (schedule once a day)' : 'polling, tick every 15 s';
      rows.push([s.name, how, 'measured', String(m.length), seconds(median(ms)), seconds(Math.max(...ms)), seconds(median(processing)), seconds(Math.max(...processing))]);
      if (trigger === 'polling') {
        const p50 = median(processing);
        const pMax = Math.max(...processing);
        rows.push([s.name, 'polling, tick every 5 min', 'derived, not measured', '', `${seconds(p50 + (PRODUCTION_INTERVAL_S / 2) * 1000)} (mean)`, seconds(pMax + PRODUCTION_INTERVAL_S * 1000), '', '']);
      }
    }
  }
  return rows;
}

export const LATENCY_HEADER = ['latency', 'trigger', 'how', 'runs', 'median s', 'max s', 'processing median s', 'processing max s'];

/** Both ways, a fresh world each, and the table. */
export async function runLatencyBench(repetitions = 3, resources = 20): Promise<string[][]> {
  const measured: Measurement[] = [];
  for (const trigger of ['webhooks', 'polling'] as const) {
    const world = await startLatencyWorld(resources);
    try {
      measured.push(...(await measureLatency(world, trigger, repetitions)));
      const problems = world.gh.takeViolations();
      if (problems.length > 0) throw new Error(`GitHub stand-in violations: ${problems.join('\n')}`);
    } finally {
      await world.close();
    }
  }
  const rows = latencyRows(measured);
  printTable(LATENCY_HEADER, rows);
  console.log(
    `Latency: from the person's act to the result on the stand-in (polled every ${POLL_MS} ms), ${repetitions} runs each, a fleet of ${resources} resources, the built daemon as a child; ` +
      `processing: from the start of the tick that made the result. The 5-minute rows add a wait uniform in 0-${PRODUCTION_INTERVAL_S} s to the measured processing (mean +${PRODUCTION_INTERVAL_S / 2} s, worst +${PRODUCTION_INTERVAL_S} s).`,
  );
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runLatencyBench(Number(process.argv[2] ?? 3));
}
