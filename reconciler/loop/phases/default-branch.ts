// Phase 3, the default branch: every commit since the trusted commit (the last one fleetspec
// accepted) is examined, oldest first. A merged PR is applied only if it was approved under the
// trusted rules by someone who did not make it, its merge holds exactly the approved head on the
// trusted commit, and the plan made now is the approved one (one apply per tick). Anything else
// is refused and keeps the default branch untrusted until a revert or an approved PR catches up.
// Record, then report: each outcome is committed to the ledger with its reports (the result comment,
// the fleetspec/apply status) queued in the same transaction; they are delivered after (report.ts).
// Commits pushed straight to the default branch are refused as one: each refusal is recorded with the
// tick's single status and commit comment about them rewritten to cover it, so a burst of a thousand
// costs two writes on GitHub, and a tick stopped half-way still has said all it refused.
import { DRIVERS } from '../../kinds/drivers.js';
import type { PullRequest } from '../../github/client.js';
import { applyPlan, blockingFindings, planDifferences } from '../../plan/engine.js';
import type { Plan } from '../../plan/plan.js';
import type { PolicyContext } from '../../policies/index.js';
import type { Queryable } from '../../state/db.js';
import { getRun, transition, type Run } from '../../state/ledger.js';
import { ACCEPTED, mainCommits, plannedCommit, recordMain, trust, trustedTip, type MainOutcome } from '../../state/loop.js';
import { decideApproval, overridesOf } from '../approval.js';
import { authorsOf, soleWriter } from '../authors.js';
import * as text from '../pr-text.js';
import { ROLLBACK_PREFIX, rollbackTimes } from '../rollback.js';
import { rollbackOfBranch } from '../../state/commands.js';
import { contentChanges, linkProblems, mergeIntegrity } from '../trust.js';
import { appliedRoots, checkStop, enterApply, linkFreeRoots, refusedIn, specsDir, stacksDir } from './shared.js';
import { applyStatus, deliverReports, directPushReports, queueReports, refusalComment, refusalStatus, replaceReports, resultComment } from './report.js';
import type { Report } from '../../state/outbox.js';
import { applyRecord, recordApply } from '../../state/reports.js';
import type { Services, TickReport, TrustedRules } from './types.js';
import { heldForWindow, windowLetGo } from './windows.js';

/** More commits than this since the trusted commit: nothing is examined piecemeal, the tick fails and says so. */
export const MAX_MAIN_COMMITS = 1000;
/** What an approved merge's apply ended as: its approval was checked, so it is trusted as it is. */
const APPLY_OUTCOMES: readonly MainOutcome[] = ['applied', 'failed', 'abandoned', 'stale', 'blocked'];

/** The trusted commit, or on the very first tick the default branch's tip, taken as the baseline (history is not replayed). */
export async function trustedBase(svc: Services, runId: number, mainSha: string, report: Pick<TickReport, 'main'>): Promise<string> {
  const tip = await trustedTip(svc.db, svc.repoKey);
  if (tip) return tip.sha;
  await recordMain(svc.db, svc.repoKey, { sha: mainSha, outcome: 'baseline', pr: null, runId, detail: 'first tick: commits before this one are not applied' });
  await trust(svc.db, svc.repoKey, { sha: mainSha, via: 'baseline', pr: null });
  report.main.push({ sha: mainSha, outcome: 'baseline', pr: null, detail: null });
  return mainSha;
}

/** The commits after the trusted one, oldest first; an error when there are too many or the trusted one is not among the first parents. */
async function sinceTrusted(svc: Services, main: string, mainSha: string, trusted: string): Promise<string[]> {
  const chain = await svc.git.firstParents(mainSha, (sha) => sha === trusted, MAX_MAIN_COMMITS + 1);
  if (chain.length > MAX_MAIN_COMMITS) {
    throw new Error(`${main} is more than ${MAX_MAIN_COMMITS} commits ahead of the trusted commit ${text.short(trusted)}; nothing is applied. Revert ${main} to it, or examine the commits and reset the trusted base`);
  }
  const [first] = chain;
  if (first && (await svc.git.parents(first))[0] !== trusted) {
    throw new Error(`${main} no longer has the trusted commit ${text.short(trusted)} among its first parents (history rewritten, or a merge in the wrong direction); nothing is applied until ${main} holds it again`);
  }
  return chain;
}

/**
 * Examines each new default-branch commit against the trusted rules; returns the run when it applied.
 * Accepted commits (inert pushes, reverts, approved applies) move the trusted base.
 */
export async function reconcileMain(svc: Services, run: Run, main: string, mainSha: string, rules: TrustedRules, report: Pick<TickReport, 'main' | 'applied' | 'waiting' | 'held'>): Promise<Run | undefined> {
  const done = await examineMain(svc, run, main, mainSha, rules, report);
  // What was recorded is said now; what GitHub does not take waits in the outbox for the next tick.
  await deliverReports(svc);
  return done;
}

async function examineMain(svc: Services, run: Run, main: string, mainSha: string, rules: TrustedRules, report: Pick<TickReport, 'main' | 'applied' | 'waiting' | 'held'>): Promise<Run | undefined> {
  let trusted = rules.sha;
  if (trusted === mainSha) return undefined;
  const pending = await sinceTrusted(svc, main, mainSha, trusted);
  const seen = await mainCommits(svc.db, svc.repoKey);
  const roots = appliedRoots(svc);
  const position = new Map(pending.map((sha, i) => [sha, i]));
  // Direct pushes refused this tick, oldest first: one status and one comment, on the newest, however many there are.
  const direct: text.RefusedPush[] = [];
  for (const [i, sha] of pending.entries()) {
    // What is left if the tick stops here (checkStop, or a wait on GitHub given up): this commit and those after it.
    report.waiting = pending.length - i;
    checkStop(svc);
    const before = seen.get(sha)?.outcome;
    // Refused before: reported once, and it keeps the default branch untrusted.
    if (before && !ACCEPTED.includes(before)) continue;
    // Approved and applied (or tried) by a run that stopped before it moved the trusted base: never applied twice.
    if (before && APPLY_OUTCOMES.includes(before)) {
      await trust(svc.db, svc.repoKey, { sha, via: before, pr: seen.get(sha)!.pr });
      trusted = sha;
      continue;
    }
    const pulls = await svc.github.pullsForCommit(sha);
    const merged = pulls.find((p) => p.merged && p.mergeCommitSha === sha);
    if (!merged) {
      const changes = await contentChanges(svc.git, trusted, sha, roots);
      if (!changes.length) {
        // Rendered SVGs, a README fix, or content back to the trusted commit's: nothing to approve.
        const [parent] = await svc.git.parents(sha);
        const outcome: MainOutcome = parent === trusted ? 'no-changes' : 'reverted';
        const detail = outcome === 'no-changes' ? 'pushed without a pull request; changes only inert files' : `brings ${main} back to the trusted commit ${text.short(trusted)}`;
        svc.progress(`${text.short(sha)}: ${detail}`);
        await accept(svc, run.id, report.main, sha, outcome, null, detail);
        trusted = sha;
        continue;
      }
      // A rebase merge puts copies of the PR's commits on the default branch; the last one is the merge,
      // checked whole. A commit the PR's head itself contains is no copy: it was pushed, and is judged as such.
      const rebasedBy = pulls.find((p) => p.merged && p.baseRef === main && p.mergeCommitSha && (position.get(p.mergeCommitSha) ?? -1) > i);
      if (rebasedBy && !(await svc.git.isAncestor(sha, rebasedBy.headSha).catch(() => true))) continue;
      const listed = changes.slice(0, 5).join(', ') + (changes.length > 5 ? ` and ${changes.length - 5} more` : '');
      // Only the first ones are listed by message in the comment: the others' messages are not read.
      const subject = direct.length < text.DIRECT_PUSHES_LISTED ? text.subjectOf((await svc.git.commitMessage(sha)).message) : undefined;
      const refused = [...direct, { sha, ...(subject === undefined ? {} : { subject }) }];
      await refuse(svc, run.id, report.main, sha, null, 'not-approved', `pushed to ${main} without a pull request; changes ${listed}`, directPushReports(main, refused, run.id), true);
      direct.push(refused.at(-1)!);
      continue;
    }
    const untrusted = await integrityProblems(svc, main, trusted, merged, sha, roots);
    if (untrusted.length) {
      await refuse(svc, run.id, report.main, sha, merged.number, 'untrusted', untrusted.join('; '), [
        refusalStatus(sha, `not applied: ${untrusted[0]}`, run.id),
        refusalComment(sha, merged.number, text.untrustedComment(sha, main, untrusted), run.id),
      ]);
      continue;
    }
    const planned = await plannedCommit(svc.db, svc.repoKey, merged.headSha);
    // Refused commits the approved head contains count only if the plan the reviewer saw listed them.
    const unseen = (await refusedIn(svc, merged.headSha)).filter((c) => !(planned?.carries ?? []).includes(c.sha));
    if (unseen.length) {
      const detail = `the approved head contains ${unseen.map((c) => text.short(c.sha)).join(', ')}, refused on ${main}, which the plan the reviewer saw did not list; push to the branch for a new plan and review`;
      await refuse(svc, run.id, report.main, sha, merged.number, 'untrusted', detail, [
        refusalStatus(sha, 'not applied: it carries a refused commit the reviewer was not shown', run.id),
        refusalComment(sha, merged.number, text.untrustedComment(sha, main, [detail]), run.id),
      ]);
      continue;
    }
    const [reviews, authors, sole] = await Promise.all([
      svc.github.reviews(merged.number),
      authorsOf(svc.github, svc.db, svc.repoKey, merged),
      rules.approvers.solo ? soleWriter(svc.github, rules.approvers.solo) : false,
    ]);
    const decision = decideApproval({ authors, headSha: merged.headSha, headPlanned: Boolean(planned?.planHash), reviews, approvers: rules.approvers, soleWriter: sole });
    if (!decision.approved) {
      await refuse(svc, run.id, report.main, sha, merged.number, 'not-approved', decision.reasons.join('; '), [
        refusalStatus(sha, `not applied: ${decision.reasons[0]}`, run.id),
        refusalComment(sha, merged.number, text.refusedComment(sha, main, decision.reasons), run.id),
      ]);
      continue;
    }
    if (planned!.rulesDigest && planned!.rulesDigest !== rules.digest) {
      // Approved under other rules: who may approve or the policies changed since the review.
      const detail = `the approvers or policies changed since the plan was approved (it was judged under ${text.short(planned!.trustedSha ?? '')}, they are now those of ${text.short(rules.sha)}); push to the branch again for a new plan and review`;
      await refuse(svc, run.id, report.main, sha, merged.number, 'untrusted', detail, [
        refusalStatus(sha, 'not applied: the approvers or policies changed since the approval', run.id),
        refusalComment(sha, merged.number, text.staleRulesComment(sha, detail), run.id),
      ]);
      continue;
    }
    const events = await svc.github.labelEvents(merged.number);
    const overrides = overridesOf(events, reviews, rules.approvers, authors, merged.mergedAt);
    const by = decision.self ? `${decision.by} (their own change: solo-operator policy)` : decision.by;
    // A sync window that holds one of its changes now: not applied, not refused; it and the commits after it wait.
    if (await heldForWindow(svc, sha, merged, planned!.plan!, rules, report)) {
      report.waiting = pending.length - i;
      return undefined;
    }
    const done = await applyMerge(svc, run, sha, merged, planned!.plan!, planned!.scope, by, { ...rules.policy, overrides }, report);
    // One apply per tick: the commits after this one wait for the next.
    report.waiting = pending.length - i - 1;
    const outcome = report.main.at(-1)?.outcome;
    if (outcome && ACCEPTED.includes(outcome)) await trust(svc.db, svc.repoKey, { sha, via: outcome, pr: merged.number });
    if (outcome) await windowLetGo(svc, sha, merged.number, rules, outcome);
    return done;
  }
  report.waiting = 0;
  return undefined;
}

/** Why a merged PR's commit is not what was approved for the default branch, or nothing. */
async function integrityProblems(svc: Services, main: string, trusted: string, merged: PullRequest, sha: string, roots: string[]): Promise<string[]> {
  if (merged.baseRef !== main) return [`#${merged.number} was merged into ${merged.baseRef}, not ${main}; its approval does not cover ${main}`];
  const links = await linkProblems(svc.git, sha, linkFreeRoots(svc));
  if (links.length) return links;
  return mergeIntegrity(svc.git, trusted, merged.headSha, sha, roots);
}

async function accept(svc: Services, runId: number, reported: TickReport['main'], sha: string, outcome: MainOutcome, pr: number | null, detail: string): Promise<void> {
  await recordMain(svc.db, svc.repoKey, { sha, outcome, pr, runId, detail });
  await trust(svc.db, svc.repoKey, { sha, via: outcome, pr });
  reported.push({ sha, outcome, pr, detail });
}

/**
 * Records a refusal and queues what is said about it, in one transaction. `replace`: the reports
 * are the run's growing ones about its direct pushes, rewritten to cover this refusal too.
 */
async function refuse(svc: Services, runId: number, reported: TickReport['main'], sha: string, pr: number | null, outcome: MainOutcome, detail: string, reports: Report[], replace = false): Promise<void> {
  svc.progress(`not applying ${text.short(sha)}: ${detail}`);
  await svc.db.transaction(async (tx) => {
    await recordMain(tx, svc.repoKey, { sha, outcome, pr, runId, detail });
    await (replace ? replaceReports : queueReports)(tx, svc.repoKey, reports);
  });
  reported.push({ sha, outcome, pr, detail });
}

/** Plans the merge commit again, applies it only if it is the approved plan, and reports on the PR. */
async function applyMerge(svc: Services, run: Run, sha: string, pr: PullRequest, approved: Plan, scope: string, by: string, policy: PolicyContext, report: Pick<TickReport, 'main' | 'applied'>): Promise<Run> {
  svc.progress(`applying ${text.short(sha)} (#${pr.number}, approved by @${by})`);
  await svc.git.checkout(sha);
  // The drivers the branch was planned with: the plan made now must be the approved one.
  const every = svc.engine.drivers ?? DRIVERS;
  const drivers = scope === 'all' ? every : every.filter((d) => d.folder === scope);
  const applied = await applyPlan(approved, {
    ...svc.engine,
    drivers,
    specs: specsDir(svc),
    stacks: { ...svc.engine.stacks!, dir: stacksDir(svc) },
    policy,
    beforeApply: async (current) => {
      // The last moment to stop cleanly: after this the apply finishes even on SIGTERM or past the tick's budget.
      enterApply(svc);
      run = await transition(svc.db, run.id, 'PLANNING', 'WAIT_FOR_APPROVE', { planHash: current.hash });
      await recordMain(svc.db, svc.repoKey, { sha, outcome: 'applying', pr: pr.number, runId: run.id, detail: `approved by @${by}` });
      run = await transition(svc.db, run.id, 'WAIT_FOR_APPROVE', 'APPLYING', { reason: `#${pr.number} approved by @${by}` });
    },
  });
  const push = (outcome: MainOutcome, detail: string) => report.main.push({ sha, outcome, pr: pr.number, detail });
  // From here on the outcome is recorded first, with its reports queued in the same transaction; nothing
  // is said on GitHub before that commits (reconcileMain delivers them), so a report GitHub does not take,
  // or a process killed before it is sent, never turns a finished apply into a failed or interrupted one.
  const runId = run.id;
  // Who approved and what was applied, failed and rolled back, for `fleetspec runs show` (state/reports.ts).
  const record = applyRecord(applied, { approvedBy: by, pr: pr.number, sha, summary: approved.summary });
  if (applied.status === 'invalid' || applied.status === 'stale' || applied.status === 'blocked') {
    const outcome: MainOutcome = applied.status;
    const detail =
      applied.status === 'stale'
        ? `live changed since the approval (${planDifferences(approved, applied.current!).join('; ') || 'findings or reasons differ'})`
        : applied.status === 'blocked'
          ? `blocked by ${blockingFindings(applied.current!).map((f) => `${f.policy ? `policy ${f.policy}` : f.code} (${f.kind}/${f.name}: ${f.message})`).join('; ')}`
          : 'the specs are invalid';
    const why = applied.status === 'blocked' ? text.verdictText(applied.current!) : `${detail}; nothing was applied.`;
    const body = applied.status === 'stale' ? text.staleComment(sha, planDifferences(approved, applied.current!)) : `### fleetspec did not apply ${text.short(sha)}\n\n${why}`;
    const end = applied.status === 'invalid' ? 'FAILED' : 'BLOCKED';
    run = await recordOutcome(svc, sha, outcome, runId, async (tx) => {
      await recordMain(tx, svc.repoKey, { sha, outcome, pr: pr.number, runId, detail });
      await recordApply(tx, runId, record);
      await queueReports(tx, svc.repoKey, [resultComment(sha, pr.number, body, runId), applyStatus(sha, 'failure', `not applied: ${detail}`, runId)]);
      await transition(tx, runId, 'PLANNING', end, { reason: `#${pr.number} ${text.short(sha)}: ${detail}` });
    });
    push(outcome, detail);
    return run;
  }
  const changes = applied.done.length;
  report.applied = { sha, pr: pr.number, changes, status: applied.status };
  // A revert PR's result says how the rollback did against its SLA.
  const rollback = pr.headRef.startsWith(ROLLBACK_PREFIX) ? await rollbackOfBranch(svc.db, svc.repoKey, pr.headRef).catch(() => undefined) : undefined;
  const times = rollback ? ['', '', ...rollbackTimes(rollback, pr.mergedAt ? new Date(pr.mergedAt) : undefined, svc.now?.() ?? new Date())].join('\n') : '';
  const result = resultComment(sha, pr.number, text.appliedComment(sha, runId, applied, by) + times, runId);
  if (applied.status === 'failed') {
    const clean = applied.rollbackFailed.length === 0;
    report.applied.rollback = clean ? 'complete' : 'incomplete';
    const error = applied.failed!.error;
    run = await recordOutcome(svc, sha, 'failed', runId, async (tx) => {
      await recordApply(tx, runId, record);
      await transition(tx, runId, 'APPLYING', 'ROLLBACK', { reason: error });
      await recordMain(tx, svc.repoKey, { sha, outcome: 'failed', pr: pr.number, runId, detail: error });
      await queueReports(tx, svc.repoKey, [result, applyStatus(sha, 'failure', `apply failed; ${clean ? 'rolled back' : 'NOT fully rolled back'}: ${error}`, runId)]);
      await transition(tx, runId, 'ROLLBACK', 'FAILED', { reason: clean ? 'apply failed; rolled back' : 'apply failed; rollback incomplete' });
    });
    push('failed', error);
    return run;
  }
  const detail = `${changes} change${changes === 1 ? '' : 's'} applied`;
  run = await recordOutcome(svc, sha, 'applied', runId, async (tx) => {
    await recordApply(tx, runId, record);
    await recordMain(tx, svc.repoKey, { sha, outcome: 'applied', pr: pr.number, runId, detail });
    await queueReports(tx, svc.repoKey, [result, applyStatus(sha, 'success', `applied in run ${runId}: ${detail}`, runId)]);
    await transition(tx, runId, 'APPLYING', 'DONE', { reason: `#${pr.number} ${text.short(sha)}: ${detail}` });
  });
  push('applied', detail);
  return run;
}

/** Waits before each new try at recording an outcome when the store fails (a restart, a lost connection). */
export const RECORD_WAITS_MS: number[] = [1000, 2000, 4000, 8000];

/**
 * Commits the outcome of an apply that has ended (`write`: one transaction: the ledger, its queued
 * reports, the run's end). Giving up would leave the commit 'applying', which the next tick takes for an
 * interrupted apply, so a failing store is tried again for a while; a commit whose answer was lost shows
 * as the outcome already recorded. Returns the run as recorded.
 */
async function recordOutcome(svc: Services, sha: string, outcome: MainOutcome, runId: number, write: (tx: Queryable) => Promise<void>): Promise<Run> {
  for (let i = 0; ; i++) {
    try {
      await svc.db.transaction(write);
      break;
    } catch (err) {
      const recorded = await mainCommits(svc.db, svc.repoKey).then((all) => all.get(sha)?.outcome === outcome, () => false);
      if (recorded) break;
      const wait = RECORD_WAITS_MS[i];
      if (wait === undefined) throw err;
      svc.progress(`recording ${text.short(sha)} as ${outcome} failed (${err instanceof Error ? err.message : String(err)}); trying again in ${wait} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  const run = await getRun(svc.db, runId);
  if (!run) throw new Error(`run ${runId} is missing from the ledger`);
  return run;
}
