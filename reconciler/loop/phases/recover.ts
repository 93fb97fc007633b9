// Phase 1, recover: what a dead process left behind, found in the ledger before anything new starts.
import { transition, unfinishedRuns } from '../../state/ledger.js';
import { interruptedApplies, recordMain, trust } from '../../state/loop.js';
import * as text from '../pr-text.js';
import type { Services, TickReport } from './types.js';

/** Runs a dead process left behind end FAILED; an apply it was in the middle of is reported, not retried. */
export async function recover(svc: Services, runId: number, recovered: TickReport['recovered']): Promise<void> {
  for (const stale of await unfinishedRuns(svc.db, svc.repoKey)) {
    if (stale.id === runId) continue;
    await transition(svc.db, stale.id, stale.state, 'FAILED', { reason: `abandoned: the reconciler stopped while the run was ${stale.state}` });
    recovered.runs.push(stale.id);
  }
  for (const c of await interruptedApplies(svc.db, svc.repoKey)) {
    await recordMain(svc.db, svc.repoKey, { ...c, outcome: 'abandoned', detail: `interrupted during run ${c.runId ?? '?'}; not retried` });
    // It was approved and checked before its apply began: its content is trusted, and drift shows what live lacks.
    await trust(svc.db, svc.repoKey, { sha: c.sha, via: 'abandoned', pr: c.pr });
    await svc.github.setStatus(c.sha, { context: text.APPLY_CONTEXT, state: 'error', description: 'apply interrupted; not retried (see the drift PR for what remains)' });
    if (c.pr) await svc.github.comment(c.pr, text.interruptedComment(c.sha, c.runId));
    recovered.applies.push(c.sha);
  }
}
