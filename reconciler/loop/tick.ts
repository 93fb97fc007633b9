// One tick of the GitOps loop, as one run in the ledger under the leader lock. Level-based:
// every tick reads git, GitHub and live afresh and acts on the difference, so a tick that died
// half-way is repaired by the next one. Its phases, in order, each in loop/phases/ and given the facts it needs:
//   1. recover (recover.ts): runs a dead process left unfinished end FAILED; an interrupted apply is reported, never retried;
//   2a. commands (commands.ts): /fleetspec rollback and /fleetspec plan comments by approvers (and `fleetspec
//      rollback`): a revert PR opened on the trusted commit, or an open PR marked to be planned again now;
//   2. branches (branches.ts): each spec branch is validated, its stacks synthesised and committed, planned live,
//      narrated, and its PR opened or updated (one plan comment, edited in place) with a commit status;
//      then tickets opened as issues become PRs (loop/tickets.ts);
//   3. the default branch (default-branch.ts): every commit since the trusted one (the last fleetspec accepted) is
//      examined; a merged PR is applied only if its merge holds exactly the approved head on the trusted commit, it
//      was approved under the trusted rules by someone who made no part of it, and the plan made now is the approved
//      one (one apply per tick); anything else is refused and keeps the default branch untrusted;
//   4. drift (drift.ts): what live differs from the trusted commit by, per kind, as one PR each;
//   5. findings (findings.ts; a disk over threshold, a failed apply, unapproved commits, drift): one ticket each,
//      proposed and closed by PRs like any ticket (loop/findings.ts);
//   6. scale (loop/scale.ts): the vm-scale rule over the live VMs proposes one resize PR while it holds, withdrawn when the load falls.
// What several phases use (checkout folders, specs, policies, plan comments) is in phases/shared.ts.
// Under the daemon a tick runs under a watch (loop/watchdog.ts): its calls to GitHub, git's network and
// the LLM are waits the watch gives up when the tick's budget is spent or a stop comes, never during an
// apply (phases/shared.ts enterApply to the end of reconcileMain).
import { countBySeverity } from '../diagnostics.js';
import type { Planned } from '../plan/engine.js';
import { getRun, holdRun, renewRun, runsStillHeld, startRun, transition, type Run, type RunTrigger } from '../state/ledger.js';
import { acquireLeader, LockHeld } from '../state/lock.js';
import { thisProcess } from '../state/holder.js';
import { recordBotCommit, trustedTip, type MainOutcome } from '../state/loop.js';
import { recordTick } from '../state/reports.js';
import { tickRecord } from './tick-record.js';
import { pullTickets } from './tickets.js';
import type { FindingSource } from './findings.js';
import { planBranches } from './phases/branches.js';
import { runCommands } from './phases/commands.js';
import { reconcileMain, trustedBase } from './phases/default-branch.js';
import { reconcileDrift } from './phases/drift.js';
import { findingTickets } from './phases/findings.js';
import { reconcileScale } from './scale.js';
import { updateDashboard } from './dashboard.js';
import { eventsOf, type Notifier } from '../notify/index.js';
import { recover } from './phases/recover.js';
import { checkStop, trustedRules } from './phases/shared.js';
import { suspensionLines } from '../policies/suspend.js';
import { TickAbandoned, type Services, type TickReport } from './phases/types.js';
import * as text from './pr-text.js';
import { NarrativeBudget } from '../narrative/budget.js';
import { formatDuration, llmBudgetMs, watched, type TickWatch } from './watchdog.js';

export { DRIFT_PREFIX } from './phases/drift.js';
export { TickAbandoned, type TickReport } from './phases/types.js';

export interface TickContext extends Services {
  /** The default branch; absent: asked of GitHub. */
  branch?: string;
  trigger: RunTrigger;
  /** Which findings open tickets (loop/findings.ts); none when absent. */
  findings?: ReadonlySet<FindingSource>;
  /** The tick's budget and stop (the daemon's): its signal replaces `signal`; GitHub, git's network and the LLM become waits it can give up. */
  watch?: TickWatch;
  /** The narratives' budget for this tick (ms); default half the tick's budget, at most 2 minutes (loop/watchdog.ts). */
  llmBudgetMs?: number;
  /** How long this tick's run counts as alive on another host after its last renewal (ms); default RUN_LEASE_MS. */
  leaseMs?: number;
  /** Keep the dashboard issue (loop/dashboard.ts) at the end of the tick; FLEETSPEC_DASHBOARD, on in the loop's config. */
  dashboard?: boolean;
  /** Where apply results, findings and an untrusted default branch are told (FLEETSPEC_NOTIFY); after the lock is let go, never failing the tick. */
  notify?: Notifier;
}

/** The network side of the spec repository: what the watchdog may give up on. */
const GIT_NETWORK = ['fetch', 'commitAndPush', 'writeBranch', 'deleteRemoteBranch'] as const;

/** Outcomes of a default-branch commit that leave the run DONE. */
const FINE: readonly MainOutcome[] = ['baseline', 'applied', 'no-changes', 'reverted'];

export async function tick(context: TickContext): Promise<TickReport> {
  const watch = context.watch;
  const signal = watch?.signal ?? context.signal;
  const github = watch ? watched(context.github, watch, 'GitHub') : context.github;
  const git = watch ? watched(context.git, watch, 'git', GIT_NETWORK) : context.git;
  // Tickets are the issues of the repository the loop reconciles, through its one client.
  const ctx: TickContext = {
    ...context,
    github,
    git,
    ...(signal ? { signal } : {}),
    engine: { ...context.engine, issues: github },
    ...(context.llm ? { narratives: new NarrativeBudget(context.llm, llmBudgetMs(watch?.budgetMs, context.llmBudgetMs), signal) } : {}),
    progress: (m) => {
      watch?.step(m);
      context.progress(m);
    },
  };
  delete ctx.engine.noIssues;
  context.git.signal = signal;
  context.github.signal = signal;
  // Live reads over SSH stop with the tick (its signal never aborts during an apply): a connect or command in flight ends now, not at its own timeout.
  const ssh = context.engine.ssh;
  const cancelSsh = () => void ssh?.cancel(`the tick stopped (${signal?.reason instanceof Error ? signal.reason.message : 'stop'})`).catch(() => {});
  signal?.addEventListener('abort', cancelSsh, { once: true });
  try {
    return await phases(ctx);
  } finally {
    signal?.removeEventListener('abort', cancelSsh);
    context.git.signal = undefined;
    context.github.signal = undefined;
    watch?.dispose();
  }
}

async function phases(ctx: TickContext): Promise<TickReport> {
  const watch = ctx.watch;
  const phase = (name: string) => {
    if (watch) watch.phase = name;
  };
  const started = Date.now();
  phase('leader lock');
  const lock = await acquireLeader(ctx.db, ctx.repoKey);
  let run: Run;
  try {
    await standBy(ctx);
    run = await startRun(ctx.db, { repo: ctx.repoKey, trigger: ctx.trigger });
    await holdRun(ctx.db, run.id, thisProcess());
  } catch (err) {
    await lock.release();
    throw err;
  }
  // The run's lease: renewed while the tick lives, so that a reconciler that gets the lock after this
  // one lost it (a cut connection) leaves the run alone, above all an apply in progress.
  let renewing = false;
  const lease = setInterval(() => {
    if (renewing) return;
    renewing = true;
    renewRun(ctx.db, run.id)
      .catch(() => {})
      .finally(() => (renewing = false));
  }, leaseRenewMs(ctx)).unref();
  // Without the lock another reconciler may start: this tick stops at its next safe point (an apply finishes first).
  const onLost = () => {
    const why = lock.lost.reason instanceof Error ? lock.lost.reason.message : 'its connection was lost';
    ctx.progress(`the leader lock was lost (${why}); stopping at the next safe point`);
    watch?.abandon(`the leader lock was lost (${why})`);
  };
  lock.lost.addEventListener('abort', onLost, { once: true });
  const report: TickReport = { run: run.id, state: run.state, reason: '', recovered: { runs: [], applies: [] }, branches: [], commands: [], main: [], drift: [], pulled: [], findings: [], waiting: 0, errors: [], durationMs: 0 };
  try {
    run = await transition(ctx.db, run.id, 'PENDING', 'PLANNING');
    phase('recover');
    await recover(ctx, run.id, report.recovered);
    phase('fetch');
    const heads = await ctx.git.fetch();
    const main = ctx.branch ?? (await ctx.github.defaultBranch());
    const mainSha = heads.get(main);
    if (!mainSha) throw new Error(`the repository has no branch "${main}"; set FLEETSPEC_BRANCH to its default branch`);
    // What fleetspec pushes to a branch is recorded first: a head it did not write is someone else's.
    ctx.git.onPushed = (branch, sha) => recordBotCommit(ctx.db, ctx.repoKey, branch, sha);
    // Approvers and policies come from the trusted commit: a PR, or a refused commit, cannot loosen the rules that judge it.
    phase('trusted rules');
    const trusted = await trustedBase(ctx, run.id, mainSha, report);
    // fleetspec's own PRs (tickets, findings) start from the trusted commit too, so they never carry a refused change.
    const { rules, loaded: trustedSpecs } = await trustedRules(ctx, trusted);

    // /fleetspec commands first: a revert PR it opens, or a PR to plan again, is planned in this tick.
    checkStop(ctx);
    phase('commands');
    const { replan } = await runCommands(ctx, run.id, main, heads, rules, report);

    phase('branches');
    await planBranches(ctx, run.id, heads, main, mainSha, rules, report, replan);

    // Tickets opened on GitHub become pull requests (planned from the next tick on, like any branch).
    if (!countBySeverity(trustedSpecs.diagnostics).errors) {
      checkStop(ctx);
      phase('tickets pull');
      try {
        report.pulled = await pullTickets(ctx, main, trusted, heads, trustedSpecs);
      } catch (err) {
        if (err instanceof TickAbandoned) throw err;
        report.errors.push(`tickets pull: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    phase('default branch');
    let merged: Run | undefined;
    try {
      merged = await reconcileMain(ctx, run, main, mainSha, rules, report);
    } finally {
      // An apply and its report are done: a stop or a budget that came meanwhile takes effect at the next safe point.
      watch?.endApply();
    }
    if (merged) run = merged;
    // Drift and findings look at the trusted commit as it is now: an approved merge moved it.
    const now = (await trustedTip(ctx.db, ctx.repoKey))!.sha;
    const current = now === rules.sha ? { rules, loaded: trustedSpecs } : await trustedRules(ctx, now);
    const suspended = suspensionLines(current.rules.policy.suspended ?? []);
    if (suspended.length) report.suspended = suspended;
    // After an apply live just changed: the next tick checks drift. A merge not applied (stale, blocked) gets its fresh plan now.
    let live: Planned | undefined;
    // A merge a sync window holds may wait for hours: drift is still checked meanwhile.
    if (!report.applied && (report.waiting === 0 || report.held?.some((h) => h.sha))) {
      checkStop(ctx);
      phase('drift');
      live = await reconcileDrift(ctx, run.id, main, current.loaded, heads, current.rules, report.drift, report);
    }
    if (ctx.findings?.size && !countBySeverity(current.loaded.diagnostics).errors) {
      checkStop(ctx);
      phase('findings');
      try {
        report.findings = await findingTickets(ctx, ctx.findings, main, now, current.loaded, heads, live, report);
      } catch (err) {
        if (err instanceof TickAbandoned) throw err;
        report.errors.push(`findings: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Seed 003's scale rule over the live VMs: one resize PR while it holds, withdrawn when the load falls.
    if (live && !countBySeverity(current.loaded.diagnostics).errors) {
      checkStop(ctx);
      phase('scale');
      try {
        const scale = await reconcileScale(ctx, main, now, current.loaded, current.rules.policy.set, heads, live);
        if (scale.length) report.scale = scale;
      } catch (err) {
        if (err instanceof TickAbandoned) throw err;
        report.errors.push(`scale: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (ctx.dashboard) {
      checkStop(ctx);
      phase('dashboard');
      try {
        report.dashboard = await updateDashboard(ctx, main, mainSha, current.loaded, report);
      } catch (err) {
        if (err instanceof TickAbandoned) throw err;
        // The dashboard only shows what the ledger holds: a failure to write it is a warning, never a failed run.
        ctx.progress(`warning: dashboard: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    phase('finish');
    if (!merged) {
      const refused = report.main.filter((m) => !FINE.includes(m.outcome));
      const end = report.errors.length ? 'FAILED' : refused.length ? 'BLOCKED' : 'DONE';
      run = await transition(ctx.db, run.id, 'PLANNING', end, { reason: summarise(report) });
    }
    // What the tick found, for `fleetspec status`; a store that fails here fails no tick (the run has ended).
    await recordTick(ctx.db, run.id, tickRecord(report, Date.now() - started, live, now)).catch(() => {});
  } catch (err) {
    const current = await getRun(ctx.db, run.id);
    const why = err instanceof TickAbandoned ? `abandoned: ${err.message}` : err instanceof Error ? err.message : String(err);
    if (current && !['DONE', 'FAILED', 'BLOCKED'].includes(current.state)) {
      run = await transition(ctx.db, run.id, current.state, 'FAILED', { reason: why }).catch(() => current);
    }
    report.state = run.state;
    report.reason = why;
    report.durationMs = Date.now() - started;
    await recordTick(ctx.db, run.id, tickRecord(report, report.durationMs)).catch(() => {});
    throw Object.assign(err instanceof Error ? err : new Error(why), { report });
  } finally {
    clearInterval(lease);
    lock.lost.removeEventListener('abort', onLost);
    await lock.release();
  }
  report.state = run.state;
  report.reason = run.reason ?? summarise(report);
  if (ctx.notify) {
    phase('notify');
    // Bounded (attempts × deadline per channel, channels side by side); a channel that fails is a warning.
    await ctx.notify.send(eventsOf(report, ctx.repoKey, ctx.notify.web || `https://github.com/${ctx.repoKey}`), ctx.progress).catch(() => undefined);
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** How long a run's holder on another host counts as alive after its last renewal; renewed every third of it. */
export const RUN_LEASE_MS = 90_000;

function leaseRenewMs(ctx: TickContext): number {
  return Math.max(50, Math.round((ctx.leaseMs ?? RUN_LEASE_MS) / 3));
}

/**
 * Got the lock, but a run of another process is still alive (it lost the lock with its connection,
 * and works on, perhaps applying): this tick does nothing and says so, as a LockHeld (exit 3, an info
 * line in the daemon's log), until that run ends or its holder dies.
 */
async function standBy(ctx: TickContext): Promise<void> {
  const [held] = await runsStillHeld(ctx.db, ctx.repoKey, ctx.leaseMs ?? RUN_LEASE_MS, thisProcess().host);
  if (!held) return;
  const { run, holder, renewedMs } = held;
  const where = holder.host === thisProcess().host ? `pid ${holder.pid}` : `pid ${holder.pid} on ${holder.host}, alive ${formatDuration(renewedMs)} ago`;
  throw new LockHeld(
    `run ${run.id} (${run.state}) of another fleetspec (${where}) is still running, though it lost the leader lock; standing by until it ends`,
    holder.host === thisProcess().host ? 'it ends at its next safe point, or when its apply is done' : `it ends at its next safe point or when its apply is done; if that host is gone, its lease runs out ${formatDuration(RUN_LEASE_MS)} after its last renewal`,
  );
}

function summarise(r: TickReport): string {
  const parts = [`${r.branches.length} branch${r.branches.length === 1 ? '' : 'es'} planned`];
  const refused = r.main.filter((m) => !FINE.includes(m.outcome));
  if (refused.length) parts.push(`${refused.length} commit${refused.length === 1 ? '' : 's'} not applied (${refused.map((m) => `${text.short(m.sha)} ${m.outcome}`).join(', ')})`);
  if (r.applied) parts.push(`applied ${text.short(r.applied.sha)} from #${r.applied.pr}: ${r.applied.changes} change${r.applied.changes === 1 ? '' : 's'}`);
  if (r.drift.length) parts.push(`drift: ${r.drift.map((d) => `${d.kind} #${d.pr} ${d.action}`).join(', ')}`);
  if (r.commands.length) parts.push(`commands: ${r.commands.map((c) => `${c.command} #${c.pr} ${c.state}${c.resultPr ? ` (#${c.resultPr})` : ''}`).join(', ')}`);
  const proposed = r.findings.filter((f) => f.action !== 'declined');
  if (proposed.length) parts.push(`findings: ${proposed.map((f) => `${f.key} ${f.id} #${f.pr ?? '?'} ${f.action}`).join(', ')}`);
  const scaled = (r.scale ?? []).filter((s) => s.action !== 'kept' && s.action !== 'declined');
  if (scaled.length) parts.push(`scale: ${scaled.map((s) => `${s.vm}${s.pr ? ` #${s.pr}` : ''} ${s.action}`).join(', ')}`);
  if (r.pulled.length) parts.push(`tickets pulled: ${r.pulled.map((p) => (p.pr ? `#${p.issue} as ${p.id} in #${p.pr}` : `#${p.issue} ${p.action}`)).join(', ')}`);
  if (r.dashboard?.handEdited) parts.push(`dashboard #${r.dashboard.issue} was edited on GitHub; rewritten`);
  if (r.errors.length) parts.push(`failed: ${r.errors.join('; ')}`);
  if (r.held?.length) parts.push(`held by sync windows: ${r.held.map((h) => `${h.sha ? `${text.short(h.sha)} (#${h.pr})` : `drift in ${h.kind}`} by ${h.window} until ${h.opens ?? 'no time within a year'}`).join(', ')}`);
  if (r.waiting) parts.push(`${r.waiting} commit${r.waiting === 1 ? '' : 's'} wait for the next tick`);
  return parts.join('; ');
}
