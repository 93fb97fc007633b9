// The real `fleetspec daemon` (the built CLI, a child process, ticking every few seconds) with a
// fault proxy (proxy.ts) in front of each of its peers: git http-backend, the OpenAPI-checked
// GitHub stand-in and, when the suite has PostgreSQL, the state store. For each network fault
// (inject.ts: refuse, blackhole, slow, cut, dropReply) on each peer, an approved merge is staged
// before the fault, so that every tick during the fault is one that would apply it. Then:
//   - ticks fail while the fault lasts, each within its budget, and the daemon goes on ticking;
//   - once the fault clears, a tick on schedule applies the merge and ends DONE (time to recover);
//   - with the fault back on and a tick inside it, SIGTERM ends the daemon within 10 s (SIGTERM time);
//   - the merge was applied once (one issue for its ticket, one APPLYING in the ledger) and its
//     outcome reported once (one result comment, one fleetspec/apply status), never "interrupted".
// The fleet is test/security/harness.ts's: tickets only, whose live side is the stand-in's issues,
// so an apply goes through the GitHub proxy too. The figures are printed as a table after the file
// and added to fleetspec-fault-figures.json in the OS temp folder. Waits are on conditions, each
// with a budget that names what it waited for.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APPLY_CONTEXT, resultMarker } from '../../reconciler/loop/pr-text.js';
import { allReports } from '../../reconciler/state/outbox.js';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import { addTicket, BOT, OWNER, REPO, REPO_KEY, TOKEN, useSecurityHarness } from '../security/harness.js';
import { endedAt, fleetspec, killLeftovers, recordFigures, startedAt, table, terminate, through, tickLine, type Fleetspec } from './children.js';
import { activity, FAULTS, inject, type Fault, type Injected } from './inject.js';
import { startFaultProxy, type FaultProxy } from './proxy.js';
import { until } from './wait.js';

/** Every 4 seconds (node-cron's seconds field); a quiet tick of this fleet takes well under a second. */
const SCHEDULE = '*/4 * * * * *';
const PERIOD_MS = 4_000;
/** The tick's budget: what a tick held by a fault may take before it is abandoned at its next wait. */
const BUDGET = '3s';
const BUDGET_MS = 3_000;
/** What SIGTERM may take: the goal, with nothing subtracted for a loaded machine. */
const SIGTERM_LIMIT_MS = 10_000;
/** A tick starts within this of its due time (node-cron fires within the second; a loaded machine adds some). */
const LATENESS_MS = 1_000;
/** The store's own deadlines, small so that a silent database fails a query quickly (FLEETSPEC_DB_*). */
const DB_DEADLINES = { FLEETSPEC_DB_CONNECT_TIMEOUT: '2', FLEETSPEC_DB_QUERY_TIMEOUT: '2s', FLEETSPEC_DB_STATEMENT_TIMEOUT: '2s', FLEETSPEC_DB_KEEPALIVE_IDLE: '1' };

type Target = 'git' | 'github' | 'postgres';
const ON_POSTGRES = Boolean(process.env.TEST_DATABASE_URL);
const TARGETS: Target[] = ['git', 'github', ...(ON_POSTGRES ? (['postgres'] as const) : [])];
const CASES = TARGETS.flatMap((target) => FAULTS.map((fault) => ({ target, fault })));

interface Figures {
  target: Target;
  fault: Fault;
  /** Ticks that ended while the fault was on (all of them failed). */
  faultyTicks: number;
  /** What the first of them said. */
  failure: string;
  /** From the fault clearing to the end of the tick that applied the merge and ended DONE. */
  recoverMs: number;
  /** From the fault clearing to the start of that tick. */
  doneStartedMs: number;
  /** SIGTERM sent while a tick was inside the fault, to the daemon's exit. */
  sigtermMs: number;
  /** The whole case, for the suite's wall time. */
  caseMs: number;
}

const h = useSecurityHarness();
const figures: Figures[] = [];

describe('the daemon under network faults on git, GitHub and the store', () => {
  let work: string;
  const proxies = {} as Record<Target, FaultProxy>;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetspec-faults-daemon-'));
    proxies.git = await startFaultProxy({ port: Number(new URL(h.gitServer.url(REPO)).port) });
    proxies.github = await startFaultProxy({ port: Number(new URL(h.gh.url).port) });
    const databaseUrl = h.storeOptions.databaseUrl;
    if (databaseUrl) proxies.postgres = await startFaultProxy({ host: new URL(databaseUrl).hostname, port: Number(new URL(databaseUrl).port || 5432) });
    env = {
      PATH: process.env.PATH,
      HOME: work,
      NO_COLOR: '1',
      FLEETSPEC_GITHUB_REPO: `${OWNER}/${REPO}`,
      FLEETSPEC_GITHUB_TOKEN: TOKEN,
      FLEETSPEC_GITHUB_API: through(proxies.github, h.gh.url),
      FLEETSPEC_GIT_URL: through(proxies.git, h.gitServer.url(REPO)),
      FLEETSPEC_REPO_DIR: join(work, 'repo'),
      FLEETSPEC_WORK_DIR: join(work, 'terraform'),
      FLEETSPEC_SSH_KEY: join(work, 'no-key'),
      FLEETSPEC_TERRAFORM: '/nonexistent/terraform',
      FLEETSPEC_FINDING_TICKETS: 'none',
      ...(databaseUrl ? { DATABASE_URL: through(proxies.postgres, databaseUrl), ...DB_DEADLINES } : { FLEETSPEC_STATE_DIR: h.storeOptions.stateDir! }),
    };
    // The daemon's own clone, made once with nothing in the way: a daemon never needs the network to start.
    await h.releaseStore();
    const first = fleetspec(['reconcile', '--format', 'json'], env, work);
    const exit = await first.exited;
    if (exit.code !== 0) throw new Error(`the first reconcile failed (${exit.code ?? exit.signal}): ${first.output()}`);
    await h.reopenStore();
  }, 180_000);

  afterEach(async () => {
    await killLeftovers();
    for (const p of Object.values(proxies)) p.set('pass');
    await h.reopenStore();
  });

  afterAll(async () => {
    await killLeftovers();
    await Promise.all(Object.values(proxies).map((p) => p.close()));
    if (work) await rm(work, { recursive: true, force: true });
    const rows = figures.map((f) => ({
      fault: `${f.fault} on ${f.target}`,
      'faulty ticks': f.faultyTicks,
      'time to recover (ms)': f.recoverMs,
      'DONE tick started after clear (ms)': f.doneStartedMs,
      'SIGTERM (ms)': f.sigtermMs,
      'case (ms)': f.caseMs,
    }));
    console.log(table(`fleetspec daemon under faults (schedule ${SCHEDULE}, tick budget ${BUDGET})`, rows));
    for (const f of figures) console.log(`${f.fault} on ${f.target}: first failed tick said: ${f.failure}`);
    await recordFigures('daemon-faults', figures);
  });


  const daemon = (): Fleetspec => fleetspec(['daemon', '--schedule', SCHEDULE, '--immediately', '--log-format', 'json', '--tick-budget', BUDGET], env, work);

  /** fleetspec's result comments for main commit `sha` on PR `pr`. */
  const results = (pr: number, sha: string) => h.commentsOn(pr).filter((c) => c.includes(resultMarker(sha)));
  const applyStatuses = (sha: string) => h.gh.repo().statuses.filter((s) => s.sha === sha && s.context === APPLY_CONTEXT);
  /** Runs that went APPLYING for PR `pr`: how many times the ledger says its merge was applied. */
  const appliesOf = async (pr: number) =>
    (
      await h.db.query<{ n: string }>(`select count(*) as n from run_transitions t join runs r on r.id = t.run_id where r.repo = $1 and t.to_state = 'APPLYING' and t.reason like $2`, [REPO_KEY, `#${pr} %`])
    )[0]!.n;

  it.each(CASES)('$fault on $target: ticks fail during the fault, the next on schedule applies the merge once and reports it once, SIGTERM during it exits in time', async ({ target, fault }) => {
    const caseStarted = Date.now();
    // The case's ticket on a branch of its own from main as it is now, planned: a PR staged before an
    // earlier case's merge would be stale once merged (its plan no longer what live needs), and rightly refused.
    const id = `T-${1101 + CASES.findIndex((c) => c.target === target && c.fault === fault)}`;
    const branch = `fault-${target}-${fault}`;
    h.push(branch, addTicket(id, `Fault ${fault} on ${target}`), { as: 'bob' });
    await h.tick();
    const pr = h.mustPr(branch).number;
    const proxy = proxies[target];
    let injected: Injected;
    let d: Fleetspec;
    let faultAt: number;
    let from: number;
    let sha: string;
    h.approve(pr, 'alice');
    if (target === 'postgres') {
      // A daemon cannot start without its store: it starts on a working one, then the store fails under it.
      await h.releaseStore();
      d = daemon();
      await tickLine(d, 'the first tick', () => true, 0, 60_000);
      from = d.logs.length;
      faultAt = Date.now();
      injected = inject(proxy, fault);
      sha = h.mergeCommit(pr, 'alice');
    } else {
      // Merged, then the daemon starts into the fault: every tick until it clears is one that would apply the merge.
      sha = h.mergeCommit(pr, 'alice');
      faultAt = Date.now();
      injected = inject(proxy, fault);
      await h.releaseStore();
      d = daemon();
      from = 0;
    }

    // The fault holds ticks back: at least one fails, within its budget, and none applies.
    const failed = await tickLine(d, `a tick that fails under ${fault} on ${target}`, (l) => l.level === 'error', from, 2 * PERIOD_MS + BUDGET_MS + 20_000);
    const clearedAt = Date.now();
    injected.clear();
    const during = d.logs.slice(from).filter((l) => endedAt(l) <= clearedAt);
    for (const l of during) expect(l.report?.applied, `a tick applied during ${fault} on ${target}: ${l.message}`).toBeUndefined();

    // Once the network is back, a tick on schedule applies the merge and ends DONE.
    const done = await tickLine(d, `the DONE tick that applies ${sha.slice(0, 7)} after ${fault} on ${target} cleared`, (l) => l.state === 'DONE' && l.report?.applied?.sha === sha, from, 3 * PERIOD_MS + BUDGET_MS + 20_000);
    const previous = d.logs[d.logs.indexOf(done) - 1];
    const recoverMs = endedAt(done) - clearedAt;
    const doneStartedMs = startedAt(done) - clearedAt;
    const between = d.logs.slice(from, d.logs.indexOf(done)).filter((l) => endedAt(l) > clearedAt);
    console.log(
      `${fault} on ${target}: ${during.length} tick(s) during the fault, first: ${failed.message.slice(0, 160)}; DONE tick ${doneStartedMs} ms after the clear, ended ${recoverMs} ms after it` +
        (between.length ? `; before it, ended after the clear: ${between.map((l) => `${l.state ?? '-'} started ${startedAt(l) - clearedAt} ms, ${l.message.slice(0, 160)}`).join(' | ')}` : ''),
    );
    expect(done.report?.applied).toMatchObject({ sha, pr, status: 'applied' });
    // One tick in progress at the clear may still fail (held until its budget); the one after it is due at most a period later.
    expect(doneStartedMs).toBeLessThan(BUDGET_MS + PERIOD_MS + LATENESS_MS);
    if (previous) expect(startedAt(done) - endedAt(previous), 'the DONE tick started on schedule after the one before it').toBeLessThan(PERIOD_MS + LATENESS_MS);

    // The fault again, and SIGTERM once a tick is inside it.
    const before = activity(proxy);
    const again = inject(proxy, fault);
    const seen = d.logs.length;
    await until(`a tick to reach ${target} under ${fault} again`, () => activity(proxy) !== before || d.logs.length > seen + 1, 2 * PERIOD_MS + 10_000);
    const { ms: sigtermMs, exit } = await terminate(d);
    again.clear();
    console.log(`${fault} on ${target}: SIGTERM during the fault: exit ${exit.code ?? exit.signal} after ${sigtermMs} ms; last line: ${d.logs.at(-1)?.message}`);
    expect(exit, d.output()).toEqual({ code: 0, signal: null });
    expect(sigtermMs).toBeLessThan(SIGTERM_LIMIT_MS);
    expect(d.output()).toMatch(/stopped after \d+ ticks?/);
    await h.reopenStore();

    // Applied once, reported once, nothing lost.
    expect(await h.outcome(sha)).toBe('applied');
    expect(h.issuesOf(id)).toHaveLength(1);
    expect(Number(await appliesOf(pr))).toBe(1);
    expect(results(pr, sha)).toHaveLength(1);
    expect(results(pr, sha)[0]).toContain(`### fleetspec applied ${sha.slice(0, 7)}`);
    expect(h.commentsOn(pr).some((c) => c.includes('was interrupted'))).toBe(false);
    expect(applyStatuses(sha).map((s) => s.state)).toEqual(['success']);
    expect((await allReports(h.db, REPO_KEY)).filter((r) => r.deliveredAt === null && r.abandonedAt === null)).toEqual([]);
    // Across the file: no ticket has two issues, no commit two results.
    const ids = h.gh.issues().filter((i) => i.author === BOT).map((i) => markerOf(i.body ?? '')?.id);
    expect(ids.filter((x, i) => x && ids.indexOf(x) !== i)).toEqual([]);
    expect(h.gh.takeViolations()).toEqual([]);

    figures.push({ target, fault, faultyTicks: during.length, failure: failed.message, recoverMs, doneStartedMs, sigtermMs, caseMs: Date.now() - caseStarted });
  }, 120_000);
});
