// Record, then report: what the loop says on GitHub about a default-branch commit's outcome (the
// result comment, the fleetspec/apply status, a refusal) is queued in the store's outbox in the
// transaction that records the outcome (state/outbox.ts), and delivered afterwards: right away, and
// again by every tick while GitHub does not take it. A delivery begun before (attempts > 0; the
// process may have died after GitHub took it) first looks for the report's marker, so each report
// reaches GitHub once.
import { GitHubError, MAX_STATUS_DESCRIPTION_CHARS } from '../../github/client.js';
import { logLine } from '../../escape.js';
import type { Queryable } from '../../state/db.js';
import { beginDelivery, markDelivered, markFailed, pendingReports, queueReport, upsertReport, type QueuedReport, type Report, type StatusPayload } from '../../state/outbox.js';
import * as text from '../pr-text.js';
import { TickAbandoned, type Services } from './types.js';
import { failpoint } from '../../failpoints.js';

/** GitHub's answers that no later attempt changes: the report is kept, marked given up. */
const FOR_GOOD = [400, 404, 410, 422];

/** The result comment of default-branch commit `sha` on its PR. */
export function resultComment(sha: string, pr: number, body: string, runId: number | null): Report {
  return { key: `result:${sha}:comment`, kind: 'comment', target: pr, payload: { body, marker: text.resultMarker(sha) }, runId };
}

/** The fleetspec/apply status of default-branch commit `sha`. */
export function applyStatus(sha: string, state: StatusPayload['state'], description: string, runId: number | null): Report {
  return { key: `result:${sha}:status`, kind: 'status', target: sha, payload: { state, description, context: text.APPLY_CONTEXT }, runId };
}

/** The comment refusing default-branch commit `sha`: on its PR, or (a direct push, pr null) on the commit. */
export function refusalComment(sha: string, pr: number | null, body: string, runId: number | null): Report {
  const payload = { body, marker: text.refusedMarker(sha) };
  return pr === null ? { key: `refused:${sha}:comment`, kind: 'commit-comment', target: sha, payload, runId } : { key: `refused:${sha}:comment`, kind: 'comment', target: pr, payload, runId };
}

/** The failing fleetspec/apply status of a refused commit. */
export function refusalStatus(sha: string, description: string, runId: number | null): Report {
  return { key: `refused:${sha}:status`, kind: 'status', target: sha, payload: { state: 'failure', description, context: text.APPLY_CONTEXT }, runId };
}

export async function queueReports(tx: Queryable, repo: string, reports: readonly Report[]): Promise<void> {
  for (const r of reports) await queueReport(tx, repo, r);
}

/**
 * What run `runId` says about the commits pushed straight to `main` that it refused so far (oldest
 * first): one failing fleetspec/apply status and one commit comment listing them, both on the newest,
 * under keys of the run's own. Each refusal rewrites the two (replaceReports), in the transaction
 * that records it, so however the tick ends, what it refused is said once, as one status and one comment.
 */
export function directPushReports(main: string, refused: readonly text.RefusedPush[], runId: number): Report[] {
  const newest = refused.at(-1)?.sha;
  if (!newest) throw new Error('no refused direct push to report');
  return [
    { key: `direct:${runId}:status`, kind: 'status', target: newest, payload: { state: 'failure', description: directPushDescription(main, refused), context: text.APPLY_CONTEXT }, runId },
    { key: `direct:${runId}:comment`, kind: 'commit-comment', target: newest, payload: { body: text.directPushComment(main, refused), marker: text.refusedMarker(newest) }, runId },
  ];
}

/** The status's description, within GitHub's 140 characters: the branch is named only when it fits. */
function directPushDescription(main: string, refused: readonly text.RefusedPush[]): string {
  const count = refused.length;
  const range = `${text.short(refused[0]!.sha)} to ${text.short(refused.at(-1)!.sha)}`;
  const say = (branch: string) =>
    count === 1 ? `not applied: reached ${branch} without an approved pull request` : `not applied: ${count} commits reached ${branch} without an approved pull request, ${range}`;
  const named = say(logLine(main));
  return Array.from(named).length <= MAX_STATUS_DESCRIPTION_CHARS ? named : say('the default branch');
}

/**
 * Queues `reports` or rewrites them under their keys (upsertReport). A report whose delivery has begun
 * cannot be rewritten; the transaction is then rolled back (this throws), so nothing is recorded that
 * its report does not cover. The loop never gets there: a run's direct-push reports are delivered only
 * after its examination of the default branch has ended.
 */
export async function replaceReports(tx: Queryable, repo: string, reports: readonly Report[]): Promise<void> {
  for (const r of reports) {
    if (!(await upsertReport(tx, repo, r))) throw new Error(`report ${r.key} is already being delivered and cannot cover more; nothing was recorded`);
  }
}

export interface Delivery {
  delivered: number;
  /** Still pending after this tick (GitHub failed; the next tick sends them). */
  waiting: number;
  /** Given up for good this tick, each with GitHub's answer. */
  abandoned: string[];
}

/**
 * Delivers the pending reports, oldest first. The first one GitHub fails to take (5xx, no answer) stops
 * the round: the rest wait for the next tick. Never throws for GitHub; a store failure, or a stop, is thrown.
 */
export async function deliverReports(svc: Services): Promise<Delivery> {
  const pending = await pendingReports(svc.db, svc.repoKey);
  const result: Delivery = { delivered: 0, waiting: 0, abandoned: [] };
  // Fault tests (test/faults/apply-points.test.ts) kill the process here: the outcome is recorded, nothing said yet.
  if (pending.length) failpoint('report:before');
  for (const [i, r] of pending.entries()) {
    await beginDelivery(svc.db, r.id);
    try {
      await deliver(svc, r);
      await markDelivered(svc.db, r.id);
      result.delivered++;
      // One report is on GitHub, the others are not.
      if (result.delivered === 1) failpoint('report:after-first');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const forGood = err instanceof GitHubError && err.status !== undefined && FOR_GOOD.includes(err.status);
      await markFailed(svc.db, r.id, message, forGood);
      // A stop or the tick's budget (loop/watchdog.ts): this one and the rest wait for the next tick.
      if (err instanceof TickAbandoned) throw err;
      if (forGood) {
        svc.progress(`report ${r.key} not delivered, given up: ${message}`);
        result.abandoned.push(`${r.key}: ${message}`);
        continue;
      }
      result.waiting = pending.length - i;
      svc.progress(`report ${r.key} not delivered (${message}); ${result.waiting} report${result.waiting === 1 ? '' : 's'} wait for the next tick`);
      break;
    }
  }
  return result;
}

async function deliver(svc: Services, r: QueuedReport): Promise<void> {
  // Begun before: GitHub may have taken it just before the process died or the answer was lost.
  const begun = r.attempts > 0;
  const gh = svc.github;
  switch (r.kind) {
    case 'comment':
      if (begun && (await gh.findComment(r.target, r.payload.marker))) return;
      await gh.comment(r.target, r.payload.body, r.payload.marker);
      return;
    case 'commit-comment':
      if (begun && (await gh.findCommitComment(r.target, r.payload.marker))) return;
      await gh.commitComment(r.target, r.payload.body, r.payload.marker);
      return;
    case 'status':
      if (begun && (await gh.findStatus(r.target, r.payload))) return;
      await gh.setStatus(r.target, r.payload);
      return;
  }
}
