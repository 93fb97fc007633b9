// kill -9 at each apply point (issue 20, item 9): the built `fleetspec reconcile` is killed with
// SIGKILL (reconciler/failpoints.ts, FLEETSPEC_FAILPOINT) at each point of an approved merge's apply
// and its report, and the next `fleetspec reconcile` must leave a known end state in one tick:
//   apply:begun         recorded as begun ('applying', run APPLYING), nothing live
//   apply:between       the first of the two changes live, the second not
//   apply:done          both changes live, the outcome not recorded
//   report:before       the outcome recorded (applied, run DONE) with its reports queued, nothing said on GitHub
//   report:after-first  the result comment delivered, the fleetspec/apply status not
// What the next tick does (loop/phases/recover.ts): an apply whose process died is never retried.
// When live holds all of the approved plan it is recorded 'applied' and reported as such (the
// process died after the apply and before its record: apply:done); otherwise it is recorded
// interrupted ('abandoned'), reported once as such, and what remains is a drift PR, which, approved
// and merged, applies the rest once. Queued reports are delivered once, a delivery begun before
// looked for by its marker (phases/report.ts). After that tick: each ticket has at most one issue,
// each report was delivered once (one result comment, one fleetspec/apply status, no report left
// in the outbox), the killed run has ended (DONE or FAILED), and a third run writes nothing to GitHub.
// The fleet is test/security/harness.ts's: tickets only, whose live side is the stand-in's issues.
// The figures are printed as a table after the file and added to fleetspec-fault-figures.json in
// the OS temp folder. Waits are on conditions, each with a budget that names what it waited for.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APPLY_CONTEXT, resultMarker } from '../../reconciler/loop/pr-text.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import { getRun } from '../../reconciler/state/ledger.js';
import { trustedTip } from '../../reconciler/state/loop.js';
import { allReports } from '../../reconciler/state/outbox.js';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import { addTicket, BOT, OWNER, REPO, REPO_KEY, TOKEN, useSecurityHarness } from '../security/harness.js';
import { fleetspec, killLeftovers, recordFigures, table, type Exit, type Fleetspec } from './children.js';
import { within } from './wait.js';

/** What one `fleetspec reconcile` may take on a loaded 2-core machine (a quiet one takes a few seconds). */
const RUN_BUDGET_MS = 90_000;

type Point = 'apply:begun' | 'apply:between' | 'apply:done' | 'report:before' | 'report:after-first';

interface Case {
  point: Point;
  /** What the kill leaves: which of the two tickets have their issue, the commit's outcome, the killed run's state. */
  left: { live: [number, number]; outcome: 'applying' | 'applied'; run: 'APPLYING' | 'DONE'; comments: number; statuses: number };
  /** What the next tick makes of it. */
  then: { outcome: 'applied' | 'abandoned'; run: 'DONE' | 'FAILED'; heading: string; status: 'success' | 'error'; recoveredRun: boolean; recoveredApply: boolean; delivered: number };
}

const APPLIED = (sha: string) => `### fleetspec applied ${sha.slice(0, 7)}`;
const INTERRUPTED = (sha: string) => `### fleetspec's apply of ${sha.slice(0, 7)} was interrupted`;

const CASES: Case[] = [
  { point: 'apply:begun', left: { live: [0, 0], outcome: 'applying', run: 'APPLYING', comments: 0, statuses: 0 }, then: { outcome: 'abandoned', run: 'FAILED', heading: 'interrupted', status: 'error', recoveredRun: true, recoveredApply: true, delivered: 2 } },
  { point: 'apply:between', left: { live: [1, 0], outcome: 'applying', run: 'APPLYING', comments: 0, statuses: 0 }, then: { outcome: 'abandoned', run: 'FAILED', heading: 'interrupted', status: 'error', recoveredRun: true, recoveredApply: true, delivered: 2 } },
  { point: 'apply:done', left: { live: [1, 1], outcome: 'applying', run: 'APPLYING', comments: 0, statuses: 0 }, then: { outcome: 'applied', run: 'DONE', heading: 'applied', status: 'success', recoveredRun: true, recoveredApply: true, delivered: 2 } },
  { point: 'report:before', left: { live: [1, 1], outcome: 'applied', run: 'DONE', comments: 0, statuses: 0 }, then: { outcome: 'applied', run: 'DONE', heading: 'applied', status: 'success', recoveredRun: false, recoveredApply: false, delivered: 2 } },
  { point: 'report:after-first', left: { live: [1, 1], outcome: 'applied', run: 'DONE', comments: 1, statuses: 0 }, then: { outcome: 'applied', run: 'DONE', heading: 'applied', status: 'success', recoveredRun: false, recoveredApply: false, delivered: 1 } },
];

interface Figures {
  point: Point;
  outcome: string;
  next: string;
  killedMs: number;
  nextMs: number;
  thirdMs: number;
}

const h = useSecurityHarness();
const figures: Figures[] = [];

describe('fleetspec reconcile killed (SIGKILL) at each apply point', () => {
  let work: string;
  let env: NodeJS.ProcessEnv;

  /** One `fleetspec reconcile --format json` with the store let go meanwhile: its exit, report (when it printed one) and wall time. */
  async function reconcile(what: string, extra: NodeJS.ProcessEnv = {}): Promise<{ f: Fleetspec; exit: Exit; report?: TickReport; ms: number }> {
    h.syncFromGit();
    await h.releaseStore();
    try {
      const f = fleetspec(['reconcile', '--format', 'json'], { ...env, ...extra }, work);
      const exit = await within(`${what} to exit`, f.exited, RUN_BUDGET_MS);
      const ms = Date.now() - f.spawnedAt;
      const out = f.stdout().trim();
      const report = out.startsWith('{') ? (JSON.parse(out) as TickReport) : undefined;
      return { f, exit, ms, ...(report ? { report } : {}) };
    } finally {
      await h.reopenStore();
    }
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetspec-faults-points-'));
    const databaseUrl = h.storeOptions.databaseUrl;
    env = {
      PATH: process.env.PATH,
      HOME: work,
      NO_COLOR: '1',
      FLEETSPEC_GITHUB_REPO: `${OWNER}/${REPO}`,
      FLEETSPEC_GITHUB_TOKEN: TOKEN,
      FLEETSPEC_GITHUB_API: h.gh.url,
      FLEETSPEC_GIT_URL: h.gitServer.url(REPO),
      FLEETSPEC_REPO_DIR: join(work, 'repo'),
      FLEETSPEC_WORK_DIR: join(work, 'terraform'),
      FLEETSPEC_SSH_KEY: join(work, 'no-key'),
      FLEETSPEC_TERRAFORM: '/nonexistent/terraform',
      FLEETSPEC_FINDING_TICKETS: 'none',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { FLEETSPEC_STATE_DIR: h.storeOptions.stateDir! }),
    };
    // The CLI's own clone, made once by a quiet run: each case's runs then cost a fetch.
    const first = await reconcile('the first reconcile');
    if (first.exit.code !== 0) throw new Error(`the first reconcile failed (${first.exit.code ?? first.exit.signal}): ${first.f.output()}`);
  }, 180_000);

  afterEach(async () => {
    await killLeftovers();
    await h.reopenStore();
    // The CLI's runs moved the trusted commit: reset restores main to it when a case left main ahead.
    h.trusted = (await trustedTip(h.db, REPO_KEY))?.sha ?? h.trusted;
    expect(h.gh.takeViolations()).toEqual([]);
    await h.reset();
  });

  afterAll(async () => {
    await killLeftovers();
    if (work) await rm(work, { recursive: true, force: true });
    const rows = figures.map((f) => ({
      failpoint: f.point,
      'outcome after the next run': f.outcome,
      'what the next run did': f.next,
      'killed run (ms)': f.killedMs,
      'next run (ms)': f.nextMs,
      'third run (ms)': f.thirdMs,
    }));
    console.log(table('fleetspec reconcile killed (SIGKILL) at each apply point, then run again', rows));
    await recordFigures('apply-points', figures);
  });

  /** fleetspec's result comments for main commit `sha` on PR `pr`. */
  const results = (pr: number, sha: string) => h.commentsOn(pr).filter((c) => c.includes(resultMarker(sha)));
  const applyStatuses = (sha: string) => h.gh.repo().statuses.filter((s) => s.sha === sha && s.context === APPLY_CONTEXT);
  /** Runs that went APPLYING for PR `pr`: how many times the ledger says its merge was applied. */
  const appliesOf = async (pr: number) =>
    Number(
      (
        await h.db.query<{ n: string }>(`select count(*) as n from run_transitions t join runs r on r.id = t.run_id where r.repo = $1 and t.to_state = 'APPLYING' and t.reason like $2`, [REPO_KEY, `#${pr} %`])
      )[0]!.n,
    );
  /** Reports neither delivered nor given up. */
  const undelivered = async () => (await allReports(h.db, REPO_KEY)).filter((r) => r.deliveredAt === null && r.abandonedAt === null);
  /** What fleetspec wrote to GitHub since request `from`: every request but a read. */
  const writesSince = (from: number) => h.gh.requests.slice(from).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path} → ${r.status}`);

  it.each(CASES.map((c, i) => ({ ...c, i })))('$point: the next run ends it in a known state in one tick, nothing applied or reported twice, a third run writes nothing', async ({ point, left, then, i }) => {
    const ids = [`T-${2101 + 2 * i}`, `T-${2102 + 2 * i}`] as const;
    const branch = `kill-${point.replace(':', '-')}`;
    // An approved merge whose apply has two changes (two tickets become two issues), so apply:between is reached.
    h.push(branch, { ...addTicket(ids[0], `Killed at ${point}, first`), ...addTicket(ids[1], `Killed at ${point}, second`) }, { as: 'bob' });
    await h.tick();
    const pr = h.mustPr(branch).number;
    h.approve(pr, 'alice');
    const sha = h.mergeCommit(pr, 'alice');

    // The run killed at the point.
    const killed = await reconcile(`fleetspec reconcile with FLEETSPEC_FAILPOINT=${point}`, { FLEETSPEC_FAILPOINT: point });
    expect(killed.exit, `it did not die at ${point}: ${killed.f.output()}`).toEqual({ code: null, signal: 'SIGKILL' });
    const row = (await h.ledger(sha))!;
    expect(row, `the killed run recorded nothing for ${sha.slice(0, 7)}`).toBeDefined();
    expect(row.outcome).toBe(left.outcome);
    expect(ids.map((id) => h.issuesOf(id).length)).toEqual(left.live);
    const killedRun = row.runId!;
    expect((await getRun(h.db, killedRun))?.state).toBe(left.run);
    // Reports go oldest first: the result comment, then the status.
    expect([results(pr, sha).length, applyStatuses(sha).length]).toEqual([left.comments, left.statuses]);

    // The next run, without the failpoint: one tick to the known end state.
    const next = await reconcile('the run after the kill');
    expect(next.exit, next.f.output()).toEqual({ code: 0, signal: null });
    const report = next.report!;
    expect(report.recovered.runs).toEqual(then.recoveredRun ? [killedRun] : []);
    expect(report.recovered.applies).toEqual(then.recoveredApply ? [sha] : []);
    expect(report.recovered.reports).toEqual({ delivered: then.delivered, waiting: 0, abandoned: [] });
    expect(report.applied, 'the next run applied again').toBeUndefined();
    expect(await h.outcome(sha)).toBe(then.outcome);
    expect((await getRun(h.db, killedRun))?.state).toBe(then.run);
    expect(await appliesOf(pr)).toBe(1);
    // Nothing applied twice: at most one issue per ticket; none made by this run when the apply was interrupted.
    expect(ids.map((id) => h.issuesOf(id).length)).toEqual(then.outcome === 'applied' ? [1, 1] : left.live);
    // Reported once, as what happened.
    expect(results(pr, sha).map((c) => c.split(' (run ')[0]!.split('\n')[0])).toEqual([then.heading === 'applied' ? APPLIED(sha) : INTERRUPTED(sha)]);
    expect(applyStatuses(sha).map((s) => s.state)).toEqual([then.status]);
    if (then.outcome === 'applied') expect(h.commentsOn(pr).some((c) => c.includes('was interrupted'))).toBe(false);
    // The apply finished but its record was lost: the comment says how it was found.
    if (point === 'apply:done') expect(results(pr, sha)[0]).toContain('found live holding all of it, so it is recorded as applied, not interrupted');
    expect(await undelivered()).toEqual([]);
    const drift = report.drift.map((d) => `drift ${d.kind} #${d.pr} ${d.action}`);
    // What the interrupted apply left is drift, one PR for the tickets; a complete one leaves none.
    if (then.outcome === 'abandoned') expect(report.drift).toEqual([{ kind: 'tickets', pr: expect.any(Number), action: expect.stringMatching(/^(opened|updated)$/) }]);
    else expect(report.drift).toEqual([]);

    // A third run changes nothing on GitHub.
    const from = h.gh.requests.length;
    const third = await reconcile('the third run');
    expect(third.exit, third.f.output()).toEqual({ code: 0, signal: null });
    expect(third.report!.recovered).toEqual({ runs: [], applies: [] });
    expect(writesSince(from)).toEqual([]);
    expect(results(pr, sha)).toHaveLength(1);
    expect(applyStatuses(sha)).toHaveLength(1);

    // What an interrupted apply left, the drift PR applies once approved and merged; then each ticket has one issue.
    if (then.outcome === 'abandoned') {
      const driftPr = h.mustPr('fleetspec/drift-tickets').number;
      h.approve(driftPr, 'alice');
      const d = h.mergeCommit(driftPr, 'alice');
      const applied = await reconcile('the run that applies the drift PR');
      expect(applied.exit, applied.f.output()).toEqual({ code: 0, signal: null });
      expect(applied.report!.applied).toMatchObject({ sha: d, pr: driftPr, status: 'applied', changes: left.live.filter((n) => n === 0).length });
      expect(ids.map((id) => h.issuesOf(id).length)).toEqual([1, 1]);
      expect(await undelivered()).toEqual([]);
    }
    // Across the file: no ticket has two issues.
    const marked = h.gh.issues().filter((x) => x.author === BOT).map((x) => markerOf(x.body ?? '')?.id);
    expect(marked.filter((x, j) => x && marked.indexOf(x) !== j)).toEqual([]);

    const did = [
      report.recovered.runs.length ? `ended run ${report.recovered.runs.join(', ')} ${then.run}` : '',
      report.recovered.applies.length ? `recorded ${sha.slice(0, 7)} ${then.outcome}` : '',
      `delivered ${report.recovered.reports?.delivered ?? 0} report(s)`,
      ...drift,
    ].filter(Boolean);
    figures.push({ point, outcome: then.outcome, next: did.join('; '), killedMs: killed.ms, nextMs: next.ms, thirdMs: third.ms });
  }, 300_000);
});
