// The watchdog's parts on their own: budgets from a schedule, a tick's waits given up at its budget
// (never during an apply), the daemon calling a tick wedged that heeds no signal, a stop that does
// not wait for such a tick for ever, and the narratives' budget and breaker against the LLM stand-in.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSystemdWatchdog } from '../../reconciler/loop/sd-notify.js';
import { GitHub } from '../../reconciler/github/client.js';
import { startGitHubServer } from '../github/server.js';
import { startDaemon, type TickLog } from '../../reconciler/loop/daemon.js';
import { TickAbandoned, type TickReport } from '../../reconciler/loop/tick.js';
import { budgetsFor, parseDuration, TickWatch, watched } from '../../reconciler/loop/watchdog.js';
import { NarrativeBudget } from '../../reconciler/narrative/budget.js';
import { buildPlan, type Plan } from '../../reconciler/plan/plan.js';
import { startLlmServer, type LlmTestServer } from '../llm/server.js';
import { timed, until } from '../faults/wait.js';

const report = (run: number): TickReport => ({ run, state: 'DONE', reason: 'ok', recovered: { runs: [], applies: [] }, branches: [], commands: [], main: [], drift: [], pulled: [], findings: [], waiting: 0, errors: [], durationMs: 1 });
const never = () => new Promise<never>(() => undefined);

describe('tick budgets', () => {
  it('come from the schedule: 80% of its interval within bounds, the rest as grace, 30 minutes for an apply', () => {
    expect(budgetsFor('*/5 * * * *')).toEqual({ tickMs: 240_000, graceMs: 60_000, applyMs: 1_800_000 });
    expect(budgetsFor('* * * * * *')).toEqual({ tickMs: 30_000, graceMs: 10_000, applyMs: 1_800_000 });
    expect(budgetsFor('0 * * * *')).toEqual({ tickMs: 1_800_000, graceMs: 300_000, applyMs: 1_800_000 });
    // Two due times a minute apart, then a long gap: the short one counts.
    expect(budgetsFor('0,1 * * * *').tickMs).toBe(48_000);
    // The grace runs to the next due time: a wedge is called when the next tick could not start.
    expect(budgetsFor('*/5 * * * *', { tickMs: 90_000, applyMs: 600_000 })).toEqual({ tickMs: 90_000, graceMs: 210_000, applyMs: 600_000 });
    expect([parseDuration('240'), parseDuration('90s'), parseDuration('4m'), parseDuration('1.5h'), parseDuration('250ms')]).toEqual([240_000, 90_000, 240_000, 5_400_000, 250]);
    expect([parseDuration('soon'), parseDuration('-3'), parseDuration('0')]).toEqual([undefined, undefined, undefined]);
  });
});

describe('a tick watch', () => {
  it('gives up a call that ignores its signal at the budget, naming the phase and the call', async () => {
    const watch = new TickWatch({ budgetMs: 300 });
    watch.phase = 'branches';
    const github = watched({ upsertComment: never, fullName: 'acme/fleet' }, watch, 'GitHub');
    expect(github.fullName).toBe('acme/fleet');
    const { ms, error } = await timed(github.upsertComment());
    expect(error).toBeInstanceOf(TickAbandoned);
    expect((error as Error).message).toMatch(/^the tick passed its budget of 300 ms in phase branches, waiting \d+ ms for GitHub upsertComment$/);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(1500);
    // A safe point: nothing new starts once the tick must stop.
    let started = false;
    await expect(watch.wait('GitHub setStatus', async () => void (started = true))).rejects.toBeInstanceOf(TickAbandoned);
    expect(started).toBe(false);
  });

  it('never interrupts an apply: a stop during one takes effect when it and its report are done', async () => {
    const stop = new AbortController();
    const watch = new TickWatch({ budgetMs: 100, stop: stop.signal });
    watch.startApply();
    stop.abort();
    let release!: () => void;
    const call = watch.wait('GitHub comment', () => new Promise<string>((r) => (release = () => r('reported'))));
    await new Promise((r) => setTimeout(r, 300)); // past the tick's budget, too
    expect(watch.signal.aborted).toBe(false);
    release();
    expect(await call).toBe('reported');
    watch.endApply();
    expect(watch.signal.aborted).toBe(true);
    expect((watch.signal.reason as Error).message).toMatch(/^stop requested in phase start/);
  });
});

describe('the daemon with a tick that heeds no signal', () => {
  it('logs the wedge after budget and grace, tells its owner, and starts no tick after it', async () => {
    const logs: TickLog[] = [];
    let ticks = 0;
    const wedges: string[] = [];
    const daemon = startDaemon({
      schedule: '* * * * * *',
      immediately: true,
      budgets: { tickMs: 300, graceMs: 300 },
      tick: async (_signal, watch) => {
        ticks++;
        watch.phase = 'default branch';
        return never(); // a database that stopped answering: not a wait the watch can give up
      },
      log: (e) => void logs.push(e),
      onWedge: (m) => void wedges.push(m),
    });
    const wedged = await until('the wedge to be reported', () => wedges[0], 5_000);
    expect(wedged).toMatch(/^tick wedged: its tick has run \d+ ms, past its budget of 300 ms and a grace of 300 ms, in phase default branch; no further tick can start/);
    expect(logs).toEqual([expect.objectContaining({ level: 'error', message: wedged })]);
    await new Promise((r) => setTimeout(r, 1200)); // one due time passes: nothing starts
    expect(ticks).toBe(1);
    expect(await daemon.stop()).toBe('wedged');
  });

  it('a stop waits for such a tick only for its stop deadline', async () => {
    const logs: TickLog[] = [];
    const daemon = startDaemon({
      schedule: '0 0 1 1 *',
      immediately: true,
      stopDeadlineMs: 500,
      tick: async () => never(),
      log: (e) => void logs.push(e),
    });
    await until('the tick to start', () => daemon.current(), 2_000);
    const { ms, value } = await timed(daemon.stop());
    expect(value).toBe('gave-up');
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(2_000);
    expect(logs.at(-1)?.message).toMatch(/^stop: the tick did not end within 500 ms of the stop, in phase start; not waiting for it any longer/);
  });

  it('a tick that heeds its signal ends at its budget and the next one starts on schedule', async () => {
    const logs: TickLog[] = [];
    const starts: number[] = [];
    const daemon = startDaemon({
      schedule: '* * * * * *',
      budgets: { tickMs: 400 },
      tick: async (signal, watch) => {
        starts.push(Date.now());
        if (starts.length > 1) return report(starts.length);
        watch.phase = 'branches';
        return watch.wait('GitHub listOpenPulls', never).catch((err: unknown) => {
          throw Object.assign(err as Error, { report: { ...report(1), state: 'FAILED' } });
        });
      },
      log: (e) => void logs.push(e),
    });
    await until('two ticks logged', () => logs.length >= 2, 5_000);
    await daemon.stop();
    expect(logs[0]).toMatchObject({ level: 'error', state: 'FAILED', message: expect.stringMatching(/^tick failed: the tick passed its budget of 400 ms in phase branches, waiting \d+ ms for GitHub listOpenPulls$/) });
    expect(logs[0]!.durationMs).toBeLessThan(1000);
    expect(logs[1]).toMatchObject({ level: 'info', state: 'DONE' });
    // Due every second: the next tick started at the next due time, a second after the first.
    expect(starts[1]! - starts[0]!).toBeLessThan(1600);
  });
});

describe('the narratives of one tick', () => {
  let llm: LlmTestServer;
  afterAll(async () => llm?.close());
  const plan = (): Plan => buildPlan([{ kind: 'dns', name: 'www.example.org', action: 'create', before: null, after: { type: 'CNAME', target: 'tunnel.example.org' }, reason: 'no such record' }], { mode: 'live' });

  it('after one timeout the LLM is asked nothing more in that tick, and each PR says why', async () => {
    llm = await startLlmServer({ mode: 'timeout', models: ['m'] });
    const budget = new NarrativeBudget({ baseUrl: llm.baseUrl, model: 'm', timeoutMs: 300 }, 60_000);
    const started = Date.now();
    const results = [await budget.narrate(plan()), await budget.narrate(plan()), await budget.narrate(plan())];
    expect(llm.requests.length).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(results[0]).toEqual({ status: 'withheld', reason: 'the LLM did not answer within 0.3 s', timedOut: true });
    const skipped = { status: 'withheld', reason: 'not asked: the LLM did not answer within 0.3 s earlier in this run, so fleetspec asks it nothing more until the next one' };
    expect(results.slice(1)).toEqual([skipped, skipped]);
    expect(budget.skipped).toBe(2);
  });

  it('share one budget: a call gets what is left of it, and none is made once it is spent', async () => {
    llm.mode = 'timeout';
    const before = llm.requests.length;
    const budget = new NarrativeBudget({ baseUrl: llm.baseUrl, model: 'm', timeoutMs: 30_000 }, 1_500);
    const first = await timed(budget.narrate(plan()));
    expect(first.ms).toBeLessThan(3_000);
    expect(first.value).toEqual({ status: 'withheld', reason: "the LLM did not answer within what was left of the narratives' time budget of 1.5 s for this run", timedOut: true });
    llm.mode = 'good';
    const spent = new NarrativeBudget({ baseUrl: llm.baseUrl, model: 'm', timeoutMs: 30_000 }, 500);
    expect(await spent.narrate(plan())).toEqual({ status: 'withheld', reason: "not asked: the narratives of this run used up their time budget of 0.5 s" });
    expect(llm.requests.length).toBe(before + 1);
  });
});

describe("systemd's watchdog", () => {
  it('is told WATCHDOG=1 every half WatchdogSec through systemd-notify, and only when systemd asks for it', async () => {
    expect(startSystemdWatchdog({ env: { PATH: process.env.PATH } })).toBeUndefined();
    expect(startSystemdWatchdog({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid + 1) } })).toBeUndefined();
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-sd-notify-'));
    try {
      const log = join(dir, 'log');
      await writeFile(join(dir, 'systemd-notify'), `#!/bin/sh\necho "$1 $NOTIFY_SOCKET" >> ${log}\n`);
      await chmod(join(dir, 'systemd-notify'), 0o755);
      const errors: string[] = [];
      const watchdog = startSystemdWatchdog({ env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '1000000', PATH: process.env.PATH }, command: join(dir, 'systemd-notify'), onError: (m) => void errors.push(m) })!;
      expect(watchdog.intervalMs).toBe(500);
      const lines = await until('three WATCHDOG=1 messages', async () => {
        const text = await readFile(log, 'utf8').catch(() => '');
        const got = text.trim().split('\n').filter(Boolean);
        return got.length >= 3 ? got : undefined;
      }, 5_000);
      watchdog.stop();
      expect(new Set(lines)).toEqual(new Set(['WATCHDOG=1 /run/systemd/notify']));
      expect(errors).toEqual([]);
      const missing: string[] = [];
      startSystemdWatchdog({ env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000' }, command: join(dir, 'absent'), onError: (m) => void missing.push(m) })!.stop();
      await until('the missing systemd-notify to be reported', () => missing[0], 5_000);
      expect(missing[0]).toMatch(/^systemd watchdog: cannot run systemd-notify: .*ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the GitHub client under a cancelled tick', () => {
  it('aborts the attempt in flight and makes no further one: nothing reaches GitHub after the tick gave the call up', async () => {
    const gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: 'ghp_cancel000000000000000000000000000000' });
    try {
      const github = new GitHub({ owner: 'acme', repo: 'fleet', token: 'ghp_cancel000000000000000000000000000000', baseUrl: gh.url, retryAfterBaseMs: 5, writeIntervalMs: 0 });
      const stop = new AbortController();
      github.signal = stop.signal;
      gh.stallNext(1, 1_500);
      const stallEnds = Date.now() + 1_500;
      const call = timed(github.defaultBranch());
      await until('the stalled request to arrive', () => gh.requests.length === 1, 5_000);
      stop.abort(new TickAbandoned('stop requested'));
      github.signal = undefined; // the tick is over; the next one would set its own
      const { ms, error } = await call;
      expect(error).toBeInstanceOf(Error);
      expect(ms).toBeLessThan(1_400);
      // Unanswered, a request is retried within milliseconds here (retryAfterBaseMs 5): none comes, not even once the stall is over.
      await until('the stall to be over', () => Date.now() > stallEnds + 200, 5_000);
      expect(gh.requests.length).toBe(1);
      expect(await github.defaultBranch()).toBe('main');
    } finally {
      await gh.close();
    }
  });
});
