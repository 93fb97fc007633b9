// Phase 1, recover: what a dead process left behind, found in the ledger before anything new starts,
// and the reports GitHub has not taken yet (phases/report.ts), delivered now.
import { DRIVERS } from '../../kinds/drivers.js';
import { isApplicable, planFleet, type ApplyReport } from '../../plan/engine.js';
import { getRun, transition, unfinishedRuns } from '../../state/ledger.js';
import { approvedPlan, interruptedApplies, recordMain, trust, type MainCommit, type PlannedCommit } from '../../state/loop.js';
import * as text from '../pr-text.js';
import { applyStatus, deliverReports, queueReports, resultComment } from './report.js';
import { checkStop, specsDir, stacksDir } from './shared.js';
import { TickAbandoned, type Services, type TickReport } from './types.js';

/**
 * An apply a dead process was in the middle of (its commit still 'applying') is never retried. The
 * commit is planned again as the apply planned it: when nothing of the approved plan is left to do
 * (the process died after the apply and before recording it), it is recorded 'applied' and its run
 * ends DONE; otherwise it is recorded interrupted ('abandoned'), and what remains goes out as a drift
 * PR. Either is reported like any outcome: queued with the record, then delivered. Runs a dead process
 * left behind end FAILED. An apply that finished and was recorded is never taken for an interrupted one.
 */
export async function recover(svc: Services, runId: number, recovered: TickReport['recovered']): Promise<void> {
  for (const c of await interruptedApplies(svc.db, svc.repoKey)) {
    const approved = await finished(svc, c);
    const run = c.runId ? await getRun(svc.db, c.runId) : undefined;
    await svc.db.transaction(async (tx) => {
      if (approved) {
        // Everything the approved plan holds is live: the apply finished, only its record was lost.
        const done = approved.plan!.changes.filter(isApplicable);
        const detail = `${done.length} change${done.length === 1 ? '' : 's'} applied`;
        const report: ApplyReport = { status: 'applied', current: approved.plan!, diagnostics: [], done, notDone: [], rolledBack: [], rollbackFailed: [] };
        const by = /^approved by @(.+)$/s.exec(c.detail ?? '')?.[1] ?? 'an approver';
        await recordMain(tx, svc.repoKey, { ...c, outcome: 'applied', detail: `${detail}; recorded by run ${runId} after the reconciler stopped` });
        await trust(tx, svc.repoKey, { sha: c.sha, via: 'applied', pr: c.pr });
        await queueReports(tx, svc.repoKey, [
          ...(c.pr ? [resultComment(c.sha, c.pr, `${text.appliedComment(c.sha, c.runId ?? runId, report, by)}\n\n${text.recoveredNote(c.sha, c.runId, runId)}`, c.runId)] : []),
          applyStatus(c.sha, 'success', `applied in run ${c.runId ?? '?'}: ${detail}`, c.runId),
        ]);
        if (run?.state === 'APPLYING') await transition(tx, run.id, 'APPLYING', 'DONE', { reason: `#${c.pr} ${text.short(c.sha)}: ${detail} (recorded by run ${runId})` });
      } else {
        await recordMain(tx, svc.repoKey, { ...c, outcome: 'abandoned', detail: `interrupted during run ${c.runId ?? '?'}; not retried` });
        // It was approved and checked before its apply began: its content is trusted, and drift shows what live lacks.
        await trust(tx, svc.repoKey, { sha: c.sha, via: 'abandoned', pr: c.pr });
        await queueReports(tx, svc.repoKey, [
          ...(c.pr ? [resultComment(c.sha, c.pr, text.interruptedComment(c.sha, c.runId), c.runId)] : []),
          applyStatus(c.sha, 'error', 'apply interrupted; not retried (see the drift PR for what remains)', c.runId),
        ]);
      }
    });
    if (approved && run?.state === 'APPLYING') recovered.runs.push(run.id);
    recovered.applies.push(c.sha);
  }
  for (const stale of await unfinishedRuns(svc.db, svc.repoKey)) {
    if (stale.id === runId) continue;
    await transition(svc.db, stale.id, stale.state, 'FAILED', { reason: `abandoned: the reconciler stopped while the run was ${stale.state}` });
    recovered.runs.push(stale.id);
  }
  const delivery = await deliverReports(svc);
  if (delivery.delivered || delivery.waiting || delivery.abandoned.length) recovered.reports = delivery;
}

/**
 * The approved plan of interrupted apply `c` when live holds all of it now: the commit planned again in
 * the apply's scope (all kinds, or a drift PR's one) has nothing left to do and nothing it could not
 * read. Undefined when something remains, or when that cannot be told (the plan or the commit is
 * missing, live cannot be read): the apply is then taken for interrupted, as it may be.
 */
async function finished(svc: Services, c: MainCommit): Promise<PlannedCommit | undefined> {
  const run = c.runId ? await getRun(svc.db, c.runId) : undefined;
  const approved = c.pr && run?.planHash ? await approvedPlan(svc.db, svc.repoKey, c.pr, run.planHash) : undefined;
  if (!approved) return undefined;
  try {
    // The commit is in the clone when the process that died used it; a clone made since fetches it first.
    await svc.git.checkout(c.sha).catch(async () => {
      await svc.git.fetch();
      return svc.git.checkout(c.sha);
    });
    const every = svc.engine.drivers ?? DRIVERS;
    const drivers = approved.scope === 'all' ? every : every.filter((d) => d.folder === approved.scope);
    const stacks = { ...svc.engine.stacks!, dir: stacksDir(svc), ...(svc.signal ? { signal: svc.signal } : {}) };
    const { loaded: _, beforeApply: __, ...engine } = svc.engine;
    const { plan } = await planFleet({ ...engine, drivers, specs: specsDir(svc), mode: approved.plan!.mode, stacks });
    // A stop meanwhile may have cut live reads short: nothing is decided, the next tick checks again.
    checkStop(svc);
    if (!plan) return undefined;
    const left = plan.changes.filter(isApplicable);
    svc.progress(
      `${text.short(c.sha)} was being applied when the reconciler stopped: ${left.length || plan.unknown.length ? `${left.length} change${left.length === 1 ? '' : 's'} left, ${plan.unknown.length} not read; interrupted` : 'live holds all of it; applied'}`,
    );
    return left.length === 0 && plan.unknown.length === 0 ? approved : undefined;
  } catch (err) {
    if (err instanceof TickAbandoned) throw err;
    checkStop(svc);
    svc.progress(`${text.short(c.sha)} was being applied when the reconciler stopped; whether live holds it cannot be told (${err instanceof Error ? err.message : String(err)}): interrupted`);
    return undefined;
  }
}
