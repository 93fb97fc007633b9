// The real `fleetspec daemon` (built CLI, a child process) against a bare repository behind real
// `git http-backend`, the OpenAPI-checked GitHub stand-in and the LLM stand-in, on the embedded
// store. A peer that stops answering (GitHub holding a request, the LLM never replying) holds a
// tick only until its budget: the tick is abandoned, its run FAILED naming the phase and the call
// it waited for, and the next tick starts at its due time. SIGTERM ends the daemon within 10 s
// whether it is idle or waiting on a stalled peer. Waits are on conditions, each with a budget.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fleetRepoFiles } from '../../bench/fleet.js';
import { openDb } from '../../reconciler/state/db.js';
import { getRun, type Run } from '../../reconciler/state/ledger.js';
import type { TickLog } from '../../reconciler/loop/daemon.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { startLlmServer, type LlmTestServer } from '../llm/server.js';
import { fleetspec as run, killLeftovers, standInEnv } from './children.js';
import { timed, until, within } from './wait.js';

const TOKEN = 'ghp_faultsDeadlines0000000000000000000000';
const MODEL = 'fleetspec-test';
/** Every 5 seconds (node-cron's seconds field), with a tick budget of 4 s: quiet ticks here take about a second. */
const FAST = '*/5 * * * * *';
const FAST_MS = 5_000;
const BUDGET = '4s';
const BUDGET_MS = 4_000;
/** Never due within a test: the daemon ticks once, at start (--immediately). */
const YEARLY = '0 0 1 1 *';
/** What SIGTERM may take: the goal, with nothing subtracted for a loaded machine. */
const SIGTERM_LIMIT_MS = 10_000;

interface Daemon {
  child: ChildProcess;
  logs: TickLog[];
  stderr(): string;
  exited: Promise<number | null>;
  /** The log lines after the first `from`, once there are `n` more; fails naming what it waited for. */
  lines(what: string, n: number, from: number, budgetMs: number): Promise<TickLog[]>;
}

describe('daemon deadlines against stalled peers', () => {
  let dir: string;
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let llm: LlmTestServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-faults-deadlines-'));
    const files = await fleetRepoFiles(join(dir, 'seed'), 18);
    gitServer = await startGitServer({ token: TOKEN });
    await gitServer.createBare('fleet', files);
    gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', `refs/heads/${b}`) });
    llm = await startLlmServer({ mode: 'good', models: [MODEL] });
  });

  // A test that failed half-way leaves its daemon running, holding the store: the next one needs it.
  afterEach(async () => {
    await killLeftovers();
  });

  afterAll(async () => {
    await Promise.all([gitServer?.close(), gh?.close(), llm?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const daemon = (schedule: string, extra: Record<string, string> = {}): Daemon => fleetspec(['daemon', '--schedule', schedule, '--immediately', '--log-format', 'json'], extra);
  const fleetspec = (args: string[], extra: Record<string, string> = {}): Daemon => {
    const f = run(
      [...args, '--finding-tickets', 'none'],
      { ...standInEnv(dir, { token: TOKEN, githubUrl: gh.url, gitUrl: gitServer.url('fleet'), llmBaseUrl: llm.baseUrl, model: MODEL }), ...extra },
      dir,
    );
    const { child, logs } = f;
    const stderr = f.output;
    const exited = f.exited.then((e) => e.code);
    return {
      child,
      logs,
      stderr,
      exited,
      lines: async (what, n, from, budgetMs) => {
        await within(
          `${what} (${logs.length - from} of ${n} tick lines so far)`,
          Promise.race([until(what, () => logs.length - from >= n, budgetMs + 1_000), exited.then((code) => Promise.reject(new Error(`the daemon exited (${code}) while waiting for ${what}: ${stderr()}`)))]),
          budgetMs,
        );
        return logs.slice(from, from + n);
      },
    };
  };
  /** SIGTERM, and how long the daemon took to exit and with what code. */
  const terminate = async (d: Daemon) => {
    d.child.kill('SIGTERM');
    const { ms, value } = await timed(within('the daemon to exit after SIGTERM', d.exited, 30_000));
    return { ms, code: value };
  };
  const runOf = async (id: number): Promise<Run | undefined> => {
    const db = await openDb({ stateDir: join(dir, 'state') });
    try {
      return await getRun(db, id);
    } finally {
      await db.close();
    }
  };
  const started = (l: TickLog) => Date.parse(l.time) - l.durationMs;
  /**
   * On schedule: the tick after an abandoned one starts at the first due time after it ended, so
   * within one interval of its end (plus node-cron's lateness within the second). A tick that started
   * off the schedule (--immediately) may end just past a due time, so its end is what counts.
   */
  const onSchedule = (previous: TickLog, next: TickLog) => started(next) - Date.parse(previous.time);

  it('SIGTERM while idle: the daemon exits within 10 s', async () => {
    const d = daemon(YEARLY);
    const [first] = await d.lines('the first tick (clone, baseline)', 1, 0, 120_000);
    expect(first).toMatchObject({ level: 'info', state: 'DONE' });
    const { ms, code } = await terminate(d);
    console.log(`SIGTERM while idle: exit ${code} after ${ms} ms`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(SIGTERM_LIMIT_MS);
    expect(d.stderr()).toMatch(/stopped after 1 tick/);
  }, 150_000);

  it('a tick stalled on GitHub is abandoned at its budget, its run FAILED naming the call, and the next tick runs at its due time', async () => {
    const d = daemon(FAST, { FLEETSPEC_TICK_BUDGET: BUDGET });
    await d.lines('a first tick', 1, 0, 60_000);
    // Between ticks: the next tick's first GitHub request is answered only after a minute.
    gh.stallNext(1, 60_000);
    const from = d.logs.length;
    const [stalled, next] = await d.lines('the stalled tick and the one after it', 2, from, FAST_MS + BUDGET_MS + FAST_MS + 10_000);
    console.log(`stalled on GitHub: ${stalled!.message} (${stalled!.durationMs} ms); next tick ${onSchedule(stalled!, next!)} ms after it ended`);
    expect(stalled).toMatchObject({ level: 'error', state: 'FAILED', message: expect.stringMatching(/^tick failed: the tick passed its budget of 4 s in phase [\w ]+, waiting [\d.]+ m?s for GitHub \w+/) });
    // Abandoned at its budget, not at the stall's end (a minute) nor at the client's own timeout (30 s).
    expect(stalled!.durationMs).toBeGreaterThanOrEqual(BUDGET_MS - 100);
    expect(stalled!.durationMs).toBeLessThan(BUDGET_MS + 2_000);
    expect(next).toMatchObject({ level: 'info', state: 'DONE' });
    expect(onSchedule(stalled!, next!)).toBeLessThan(FAST_MS + 1_000);
    const { ms, code } = await terminate(d);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(SIGTERM_LIMIT_MS);
    const run = await runOf(stalled!.run!);
    expect(run).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/^abandoned: the tick passed its budget of 4 s in phase [\w ]+, waiting [\d.]+ m?s for GitHub \w+/) });
    expect(gh.violations).toEqual([]);
  }, 150_000);

  it('a tick stalled on the LLM is abandoned at its budget naming the narrative, and the next tick plans the branch', async () => {
    const zone = (await readFile(join(dir, 'seed', 'specs', 'dns', 'project0.yaml'), 'utf8')).replace('name: svc0.project0.example.org', 'name: api.project0.example.org');
    gitServer.commit('fleet', 'rename-svc0', { 'specs/dns/project0.yaml': zone }, 'Rename svc0 to api');
    llm.mode = 'timeout';
    const requests = llm.requests.length;
    // The narratives' own budget is larger than the tick's here, so that the tick's budget is what stops the wait.
    const d = daemon(FAST, { FLEETSPEC_TICK_BUDGET: BUDGET, FLEETSPEC_LLM_BUDGET: '60s', FLEETSPEC_LLM_TIMEOUT: '60' });
    // Each tick gets to the narrative (on a loaded machine an earlier one may run out of time before it, naming its own wait).
    const failed = await until('a tick abandoned while waiting for the LLM', () => d.logs.find((l) => l.state === 'FAILED' && l.message.includes('for the LLM')), 60_000);
    console.log(`stalled on the LLM: ${failed.message} (${failed.durationMs} ms)`);
    expect(failed.message).toMatch(/^tick failed: the tick passed its budget of 4 s in phase branches, waiting [\d.]+ m?s for the LLM \(fleetspec-test\) for a narrative$/);
    for (const l of d.logs) expect(l).toMatchObject(l.state === 'FAILED' ? { message: expect.stringMatching(/^tick failed: the tick passed its budget of 4 s /) } : { state: 'DONE' });
    expect(llm.requests.length).toBeGreaterThan(requests);
    llm.mode = 'good';
    const from = d.logs.indexOf(failed) + 1;
    const [next] = await d.lines('the tick after the LLM stall', 1, from, FAST_MS + BUDGET_MS + 10_000);
    console.log(`the tick after it: ${next!.state}: ${next!.message} (${next!.durationMs} ms), ${onSchedule(failed, next!)} ms after the stalled one ended`);
    expect(onSchedule(failed, next!)).toBeLessThan(FAST_MS + 1_000);
    // Its PR was opened before the narrative was asked for; now its plan comment goes out (on a loaded
    // machine a tick may run out of its 4 s elsewhere first: each tick picks up where the last stopped).
    const pr = [...gh.repo().pulls.values()].find((p) => p.head.ref === 'rename-svc0')!;
    await until("the plan comment on rename-svc0's PR", () => gh.repo().issueComments.some((c) => c.issue === pr.number && c.body.includes('### What this changes')), 4 * FAST_MS);
    await until('a tick that ends DONE', () => d.logs.slice(from).some((l) => l.state === 'DONE'), 4 * FAST_MS);
    for (const l of d.logs.slice(from)) expect(l).toMatchObject(l.state === 'FAILED' ? { message: expect.stringMatching(/^tick failed: the tick passed its budget of 4 s /) } : { state: 'DONE' });
    const { code } = await terminate(d);
    expect(code).toBe(0);
    expect(await runOf(failed.run!)).toMatchObject({ state: 'FAILED', reason: expect.stringContaining('waiting') });
  }, 150_000);

  it.each([
    ['GitHub', /waiting [\d.]+ m?s for GitHub \w+/],
    ['the LLM', /waiting [\d.]+ m?s for the LLM \(fleetspec-test\) for a narrative/],
  ] as const)('SIGTERM during a tick stalled on %s: the daemon exits within 10 s and the run is FAILED, abandoned', async (peer, waiting) => {
    let arrived: () => boolean;
    if (peer === 'GitHub') {
      const before = gh.requests.length;
      gh.stallNext(1, 120_000);
      arrived = () => gh.requests.length > before;
    } else {
      gitServer.commit('fleet', `rename-svc1-${Date.now()}`, { 'specs/dns/project0.yaml': (await readFile(join(dir, 'seed', 'specs', 'dns', 'project0.yaml'), 'utf8')).replace('name: svc1.project0.example.org', 'name: web.project0.example.org') }, 'Rename svc1 to web');
      llm.mode = 'timeout';
      const before = llm.requests.length;
      arrived = () => llm.requests.length > before;
    }
    // One tick at start, with nothing to stop it but SIGTERM (the yearly schedule's budget is 30 minutes).
    const d = daemon(YEARLY, { FLEETSPEC_LLM_TIMEOUT: '120' });
    await until(`the tick's call to ${peer} to be stalled`, arrived, 60_000);
    const { ms, code } = await terminate(d);
    console.log(`SIGTERM during a tick stalled on ${peer}: exit ${code} after ${ms} ms`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(SIGTERM_LIMIT_MS);
    const [line] = d.logs;
    expect(line).toMatchObject({ level: 'error', state: 'FAILED', message: expect.stringMatching(/^tick failed: stop requested in phase /) });
    expect(line!.message).toMatch(waiting);
    expect(await runOf(line!.run!)).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/^abandoned: stop requested in phase /) });
    llm.mode = 'good';
  }, 150_000);

  it('SIGTERM during `fleetspec reconcile` stalled on GitHub: it stops at the safe point within 10 s, exit 3, its run FAILED', async () => {
    const before = gh.requests.length;
    gh.stallNext(1, 120_000);
    const r = fleetspec(['reconcile']);
    await until("reconcile's call to GitHub to be stalled", () => gh.requests.length > before, 60_000);
    const { ms, code } = await terminate(r);
    console.log(`SIGTERM during reconcile stalled on GitHub: exit ${code} after ${ms} ms`);
    expect(code).toBe(3);
    expect(ms).toBeLessThan(SIGTERM_LIMIT_MS);
    expect(r.stderr()).toMatch(/fleetspec reconcile: SIGTERM: stopping at the next safe point/);
    expect(r.stderr()).toMatch(/fleetspec reconcile: stop requested in phase [\w ]+, waiting [\d.]+ m?s for GitHub \w+ \(run (\d+) FAILED\)/);
    const id = Number(/\(run (\d+) FAILED\)/.exec(r.stderr())![1]);
    expect(await runOf(id)).toMatchObject({ state: 'FAILED', reason: expect.stringMatching(/^abandoned: stop requested in phase /) });
  }, 150_000);
});
