// Phase 1, recover: what a dead process left behind, found in the ledger before anything new starts,
// and the reports GitHub has not taken yet (phases/report.ts), delivered now.
import { transition, unfinishedRuns } from '../../state/ledger.js';
import { interruptedApplies, recordMain, trust } from '../../state/loop.js';
import * as text from '../pr-text.js';
import { applyStatus, deliverReports, queueReports, resultComment } from './report.js';
import type { Services, TickReport } from './types.js';

/**
 * Runs a dead process left behind end FAILED; an apply it was in the middle of is recorded as
 * interrupted (never retried), and reported like any outcome: queued with the record, then delivered.
 * An apply that finished has its outcome recorded before anything is said, so it is never taken for
 * an interrupted one.
 */
export async function recover(svc: Services, runId: number, recovered: TickReport['recovered']): Promise<void> {
  for (const stale of await unfinishedRuns(svc.db, svc.repoKey)) {
    if (stale.id === runId) continue;
    await transition(svc.db, stale.id, stale.state, 'FAILED', { reason: `abandoned: the reconciler stopped while the run was ${stale.state}` });
    recovered.runs.push(stale.id);
  }
  for (const c of await interruptedApplies(svc.db, svc.repoKey)) {
    await svc.db.transaction(async (tx) => {
      await recordMain(tx, svc.repoKey, { ...c, outcome: 'abandoned', detail: `interrupted during run ${c.runId ?? '?'}; not retried` });
      // It was approved and checked before its apply began: its content is trusted, and drift shows what live lacks.
      await trust(tx, svc.repoKey, { sha: c.sha, via: 'abandoned', pr: c.pr });
      await queueReports(tx, svc.repoKey, [
        ...(c.pr ? [resultComment(c.sha, c.pr, text.interruptedComment(c.sha, c.runId), c.runId)] : []),
        applyStatus(c.sha, 'error', 'apply interrupted; not retried (see the drift PR for what remains)', c.runId),
      ]);
    });
    recovered.applies.push(c.sha);
  }
  const delivery = await deliverReports(svc);
  if (delivery.delivered || delivery.waiting || delivery.abandoned.length) recovered.reports = delivery;
}
