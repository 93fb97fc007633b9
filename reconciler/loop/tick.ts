// One tick of the GitOps loop, as one run in the ledger under the leader lock. Level-based:
// every tick reads git, GitHub and live afresh and acts on the difference, so a tick that died
// half-way is repaired by the next one. In order:
//   1. recover: runs a dead process left unfinished end FAILED; an interrupted apply is reported, never retried;
//   2. branches: each spec branch is validated, its stacks synthesised and committed, planned live,
//      narrated, and its PR opened or updated (one plan comment, edited in place) with a commit status;
//   3. the default branch: each new commit is applied only if its merged PR was approved by an
//      allowed reviewer on the planned head and the plan made now is the approved one (one apply per tick);
//   4. drift: what live differs from the default branch by, per kind, as one PR each;
//   5. findings (a disk over threshold, a failed apply, unapproved commits, drift): one ticket each,
//      proposed and closed by PRs like any ticket (loop/findings.ts).
import { join, relative } from 'node:path';
import { countBySeverity } from '../diagnostics.js';
import { DRIVERS } from '../kinds/drivers.js';
import type { GitHub, PullRequest } from '../github/client.js';
import type { SpecRepo } from '../git/repo.js';
import { narrate, type NarrativeConfig, type NarrativeResult } from '../narrative/narrate.js';
import { applyPlan, blockingFindings, isApplicable, planDifferences, planFleet, scopedPlan, type EngineOptions, type Planned } from '../plan/engine.js';
import { loadPolicies, withOverrides, type PolicyContext } from '../policies/index.js';
import { buildPlan, hasChanges, type Plan } from '../plan/plan.js';
import { loadSpecs, type LoadedSpecs } from '../specs/load.js';
import { synthesiseAll } from '../stacks/files.js';
import { DIAGRAMS_DIR, writeDiagrams } from '../diagrams/index.js';
import { PULL_PREFIX, pullTickets, type PulledTicket } from './tickets.js';
import { FINDING_PREFIX, observeFindings, reconcileFindings, type FindingAction, type FindingSource } from './findings.js';
import type { Host } from '../kinds/hosts/index.js';
import type { Db } from '../state/db.js';
import { getRun, startRun, transition, unfinishedRuns, type Run, type RunState, type RunTrigger } from '../state/ledger.js';
import { acquireLeader } from '../state/lock.js';
import { interruptedApplies, lastApply, mainCommits, plannedCommit, recordMain, recordPlanned, unapprovedSinceApplied, type MainOutcome } from '../state/loop.js';
import { approvers, decideApproval, overridesOf } from './approval.js';
import * as text from './pr-text.js';

export const DRIFT_PREFIX = 'fleetspec/drift-';
/** At most this many new default-branch commits are examined per tick (the rest wait). */
const MAX_MAIN_COMMITS = 200;

export interface TickContext {
  db: Db;
  /** owner/repo: the ledger's and the leader lock's key. */
  repoKey: string;
  git: SpecRepo;
  github: GitHub;
  /** The default branch; absent: asked of GitHub. */
  branch?: string;
  specsPath: string;
  llm?: NarrativeConfig;
  llmProblem?: string;
  /** Engine options for live plans (store, SSH pool, secrets, terraform); specs and stacks folders are the checkout's. */
  engine: EngineOptions;
  trigger: RunTrigger;
  /** Which findings open tickets (loop/findings.ts); none when absent. */
  findings?: ReadonlySet<FindingSource>;
  /** SIGTERM: no new work starts, an apply in progress finishes. */
  signal?: AbortSignal;
  progress(message: string): void;
}

export interface TickReport {
  run: number;
  state: RunState;
  reason: string;
  recovered: { runs: number[]; applies: string[] };
  branches: { branch: string; sha: string; pr: number; action: 'opened' | 'updated' | 'unchanged'; status: string }[];
  main: { sha: string; outcome: MainOutcome; pr: number | null; detail: string | null }[];
  applied?: { sha: string; pr: number; changes: number; status: string };
  drift: { kind: string; pr: number; action: 'opened' | 'updated' | 'unchanged' | 'closed' }[];
  /** Issues opened on GitHub with the ticket label that became pull requests this tick. */
  pulled: PulledTicket[];
  /** What the findings' tickets needed this tick: PRs proposing or closing a ticket, and PRs withdrawn. */
  findings: FindingAction[];
  /** Default-branch commits left for the next tick. */
  waiting: number;
  /** Branches that could not be planned this tick (the others were); the run ends FAILED. */
  errors: string[];
  durationMs: number;
}

/** Thrown when a stop was asked for before the tick reached the point of no return. */
export class TickAbandoned extends Error {}

export async function tick(context: TickContext): Promise<TickReport> {
  // Tickets are the issues of the repository the loop reconciles, through its one client.
  const ctx: TickContext = { ...context, engine: { ...context.engine, issues: context.github } };
  delete ctx.engine.noIssues;
  const started = Date.now();
  const lock = await acquireLeader(ctx.db, ctx.repoKey);
  let run: Run;
  try {
    run = await startRun(ctx.db, { repo: ctx.repoKey, trigger: ctx.trigger });
  } catch (err) {
    await lock.release();
    throw err;
  }
  const report: TickReport = { run: run.id, state: run.state, reason: '', recovered: { runs: [], applies: [] }, branches: [], main: [], drift: [], pulled: [], findings: [], waiting: 0, errors: [], durationMs: 0 };
  try {
    run = await transition(ctx.db, run.id, 'PENDING', 'PLANNING');
    await recover(ctx, run.id, report);
    const heads = await ctx.git.fetch();
    const main = ctx.branch ?? (await ctx.github.defaultBranch());
    const mainSha = heads.get(main);
    if (!mainSha) throw new Error(`the repository has no branch "${main}"; set FLEETSPEC_BRANCH to its default branch`);
    const mainSpecs = await load(ctx, mainSha);
    const allowed = approversOf(mainSpecs);
    // A branch is judged by the default branch's policies: a PR cannot loosen the rules that judge it.
    const policy = await policiesOf(ctx);

    for (const [branch, sha] of [...heads].sort(([a], [b]) => a.localeCompare(b))) {
      if (branch === main || branch.startsWith(DRIFT_PREFIX)) continue;
      checkStop(ctx);
      try {
        const planned = await planBranch(ctx, run.id, branch, sha, main, mainSha, allowed, policy);
        if (planned) report.branches.push(planned);
      } catch (err) {
        // One bad branch must not stop the others, nor the default branch's applies.
        report.errors.push(`${branch}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    // Tickets opened on GitHub become pull requests (planned from the next tick on, like any branch).
    if (!countBySeverity(mainSpecs.diagnostics).errors) {
      checkStop(ctx);
      try {
        report.pulled = await pullTickets(ctx, main, mainSha, heads, mainSpecs);
      } catch (err) {
        report.errors.push(`tickets pull: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    const merged = await reconcileMain(ctx, run, main, mainSha, report);
    if (merged) run = merged;
    // After an apply live just changed: the next tick checks drift. A refused merge (stale, blocked) gets its fresh plan now.
    let live: Planned | undefined;
    if (!report.applied && report.waiting === 0) {
      checkStop(ctx);
      live = await reconcileDrift(ctx, run.id, main, mainSha, mainSpecs, heads, allowed, policy, report);
    }
    if (ctx.findings?.size && !countBySeverity(mainSpecs.diagnostics).errors) {
      checkStop(ctx);
      try {
        report.findings = await findingTickets(ctx, main, mainSha, mainSpecs, heads, live, report);
      } catch (err) {
        report.errors.push(`findings: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!merged) {
      const refused = report.main.filter((m) => m.outcome !== 'baseline' && m.outcome !== 'applied' && m.outcome !== 'no-changes');
      const end = report.errors.length ? 'FAILED' : refused.length ? 'BLOCKED' : 'DONE';
      run = await transition(ctx.db, run.id, 'PLANNING', end, { reason: summarise(report) });
    }
  } catch (err) {
    const current = await getRun(ctx.db, run.id);
    const why = err instanceof TickAbandoned ? `abandoned: ${err.message}` : err instanceof Error ? err.message : String(err);
    if (current && !['DONE', 'FAILED', 'BLOCKED'].includes(current.state)) {
      run = await transition(ctx.db, run.id, current.state, 'FAILED', { reason: why }).catch(() => current);
    }
    report.state = run.state;
    report.reason = why;
    report.durationMs = Date.now() - started;
    throw Object.assign(err instanceof Error ? err : new Error(why), { report });
  } finally {
    await lock.release();
  }
  report.state = run.state;
  report.reason = run.reason ?? summarise(report);
  report.durationMs = Date.now() - started;
  return report;
}

function checkStop(ctx: TickContext): void {
  if (ctx.signal?.aborted) throw new TickAbandoned('stop requested before this step started');
}

function summarise(r: TickReport): string {
  const parts = [`${r.branches.length} branch${r.branches.length === 1 ? '' : 'es'} planned`];
  const refused = r.main.filter((m) => !['baseline', 'applied', 'no-changes'].includes(m.outcome));
  if (refused.length) parts.push(`${refused.length} commit${refused.length === 1 ? '' : 's'} not applied (${refused.map((m) => `${text.short(m.sha)} ${m.outcome}`).join(', ')})`);
  if (r.applied) parts.push(`applied ${text.short(r.applied.sha)} from #${r.applied.pr}: ${r.applied.changes} change${r.applied.changes === 1 ? '' : 's'}`);
  if (r.drift.length) parts.push(`drift: ${r.drift.map((d) => `${d.kind} #${d.pr} ${d.action}`).join(', ')}`);
  const proposed = r.findings.filter((f) => f.action !== 'declined');
  if (proposed.length) parts.push(`findings: ${proposed.map((f) => `${f.key} ${f.id} #${f.pr ?? '?'} ${f.action}`).join(', ')}`);
  if (r.pulled.length) parts.push(`tickets pulled: ${r.pulled.map((p) => (p.pr ? `#${p.issue} as ${p.id} in #${p.pr}` : `#${p.issue} ${p.action}`)).join(', ')}`);
  if (r.errors.length) parts.push(`failed: ${r.errors.join('; ')}`);
  if (r.waiting) parts.push(`${r.waiting} commit${r.waiting === 1 ? '' : 's'} wait for the next tick`);
  return parts.join('; ');
}

/** Runs a dead process left behind end FAILED; an apply it was in the middle of is reported, not retried. */
async function recover(ctx: TickContext, runId: number, report: TickReport): Promise<void> {
  for (const stale of await unfinishedRuns(ctx.db, ctx.repoKey)) {
    if (stale.id === runId) continue;
    await transition(ctx.db, stale.id, stale.state, 'FAILED', { reason: `abandoned: the reconciler stopped while the run was ${stale.state}` });
    report.recovered.runs.push(stale.id);
  }
  for (const c of await interruptedApplies(ctx.db, ctx.repoKey)) {
    await recordMain(ctx.db, ctx.repoKey, { ...c, outcome: 'abandoned', detail: `interrupted during run ${c.runId ?? '?'}; not retried` });
    await ctx.github.setStatus(c.sha, { context: text.APPLY_CONTEXT, state: 'error', description: 'apply interrupted; not retried (see the drift PR for what remains)' });
    if (c.pr) await ctx.github.comment(c.pr, text.interruptedComment(c.sha, c.runId));
    report.recovered.applies.push(c.sha);
  }
}

const specsDir = (ctx: TickContext) => join(ctx.git.dir, ctx.specsPath);
const stacksDir = (ctx: TickContext) => join(specsDir(ctx), '..', 'stacks');
const diagramsDir = (ctx: TickContext) => join(specsDir(ctx), '..', DIAGRAMS_DIR);
const policiesDir = (ctx: TickContext) => join(specsDir(ctx), '..', 'policies');

/** The policies of the commit checked out now. Invalid ones block every plan they would judge. */
async function policiesOf(ctx: TickContext): Promise<PolicyContext> {
  const { set, diagnostics } = await loadPolicies(policiesDir(ctx));
  const problems = diagnostics.filter((d) => d.severity === 'error');
  return { set: problems.length ? { policies: [] } : set, root: ctx.git.dir, ...(problems.length ? { problems } : {}) };
}

/** Checks out `sha` and loads its specs. */
async function load(ctx: TickContext, sha: string): Promise<LoadedSpecs> {
  await ctx.git.checkout(sha);
  return loadSpecs(specsDir(ctx));
}

/** Who may approve and the policies, by the specs of `sha` (the default branch before a merge, never the PR's own). */
async function rulesAt(ctx: TickContext, sha: string): Promise<{ allowed: Map<string, string[]>; policy: PolicyContext }> {
  const allowed = approversOf(await load(ctx, sha));
  return { allowed, policy: await policiesOf(ctx) };
}

function approversOf(loaded: LoadedSpecs): Map<string, string[]> {
  return countBySeverity(loaded.diagnostics).errors ? new Map() : approvers(loaded.index);
}

async function planLoaded(ctx: TickContext, loaded: LoadedSpecs, policy: PolicyContext): Promise<Planned> {
  return planFleet({ ...ctx.engine, specs: specsDir(ctx), mode: 'live', stacks: { ...ctx.engine.stacks!, dir: stacksDir(ctx) }, loaded: Promise.resolve(loaded), policy });
}

/** Overrides on an open PR: its labels and its approvers' review lines (one GET for the reviews). */
async function prOverrides(ctx: TickContext, pr: PullRequest, allowed: Map<string, string[]>): Promise<Map<string, string>> {
  return overridesOf(pr, await ctx.github.reviews(pr.number), allowed);
}

async function narrative(ctx: TickContext, plan: Plan): Promise<NarrativeResult> {
  if (!hasChanges(plan)) return { status: 'withheld', reason: 'the plan changes nothing, so there is nothing to explain' };
  if (!ctx.llm) return { status: 'withheld', reason: ctx.llmProblem ?? 'no LLM configured' };
  ctx.progress(`asking ${ctx.llm.model} for the narrative`);
  return narrate(plan, ctx.llm, ctx.signal ? { signal: ctx.signal } : {});
}

async function publishPlan(
  ctx: TickContext,
  pr: PullRequest,
  sha: string,
  plan: Plan,
  allowed: Map<string, string[]>,
  scope?: string,
): Promise<{ status: string; changed: boolean }> {
  const body = text.planComment({ plan, sha, narrative: await narrative(ctx, plan), approvers: [...allowed.keys()].sort(), ...(scope ? { scope } : {}) });
  const comment = await ctx.github.upsertComment(pr.number, text.PLAN_MARKER, body);
  const status = text.planStatus(plan);
  await ctx.github.setStatus(sha, { context: text.PLAN_CONTEXT, ...status });
  return { status: status.state, changed: comment.action !== 'unchanged' };
}

async function planBranch(
  ctx: TickContext,
  runId: number,
  branch: string,
  tip: string,
  main: string,
  mainSha: string,
  allowed: Map<string, string[]>,
  policy: PolicyContext,
): Promise<TickReport['branches'][number] | undefined> {
  if (tip === mainSha || (await ctx.git.isAncestor(tip, mainSha))) return undefined; // merged, or nothing to propose
  let pr = await ctx.github.openPullFor(branch);
  const known = await plannedCommit(ctx.db, ctx.repoKey, tip);
  if (pr && known && known.pr === pr.number) {
    // An override (label, approver's review line) given since the plan lifts its block now, without planning again.
    const overridable = known.plan?.findings.some((f) => f.severity === 'error' && f.override);
    const lifted = overridable ? withOverrides(known.plan!, await prOverrides(ctx, pr, allowed)) : undefined;
    if (lifted && blockingFindings(lifted).length < blockingFindings(known.plan!).length) {
      ctx.progress(`override on #${pr.number}: judging ${text.short(tip)} again`);
      const published = await publishPlan(ctx, pr, tip, lifted, allowed);
      await recordPlanned(ctx.db, ctx.repoKey, { sha: tip, scope: known.scope, pr: pr.number, planHash: lifted.hash, plan: lifted, problem: null, runId });
      return { branch, sha: tip, pr: pr.number, action: 'updated', status: published.status };
    }
    return { branch, sha: tip, pr: pr.number, action: 'unchanged', status: known.planHash ? 'planned' : 'invalid' };
  }
  // Its PR was closed by a person: respected until the branch gets a new commit.
  if (!pr && known?.pr) return undefined;
  // fleetspec opens the PRs of its own ticket branches; one a person closed stays closed.
  if (!pr && (branch.startsWith(PULL_PREFIX) || branch.startsWith(FINDING_PREFIX))) return undefined;

  ctx.progress(`planning ${branch} at ${text.short(tip)}`);
  const loaded = await load(ctx, tip);
  const title = (await ctx.git.commitMessage(tip)).message.split('\n')[0]!.slice(0, 200) || `fleetspec: ${branch}`;
  const opened = !pr;
  if (countBySeverity(loaded.diagnostics).errors) {
    pr ??= await ctx.github.createPull({ branch, base: main, title, body: branchBody(branch) });
    await ctx.github.upsertComment(pr.number, text.PLAN_MARKER, text.invalidComment(tip, loaded.diagnostics, ctx.git.dir));
    const status = text.invalidStatus(loaded.diagnostics, ctx.git.dir);
    await ctx.github.setStatus(tip, { context: text.PLAN_CONTEXT, ...status });
    await recordPlanned(ctx.db, ctx.repoKey, { sha: tip, scope: 'all', pr: pr.number, planHash: null, plan: null, problem: status.description, runId });
    return { branch, sha: tip, pr: pr.number, action: opened ? 'opened' : 'updated', status: 'invalid' };
  }

  // The stacks and diagrams the specs imply belong on the branch, so the reviewed diff holds them too.
  let sha = tip;
  const synthesised = (await synthesiseAll(loaded.index, stacksDir(ctx))).filter((s) => s.status === 'written').map((s) => s.model.name);
  const drawn = (await writeDiagrams(loaded.index, diagramsDir(ctx))).filter((d) => d.status !== 'unchanged').map((d) => d.name);
  if (synthesised.length || drawn.length) {
    const what = [
      ...(synthesised.length ? [`synthesise the ${synthesised.join(' and ')} stack${synthesised.length === 1 ? '' : 's'}`] : []),
      ...(drawn.length ? [`refresh the ${drawn.join(' and ')} diagram${drawn.length === 1 ? '' : 's'}`] : []),
    ];
    const paths = [...(synthesised.length ? [stacksDir(ctx)] : []), ...(drawn.length ? [diagramsDir(ctx)] : [])].map((p) => relative(ctx.git.dir, p));
    sha = (await ctx.git.commitAndPush(branch, `fleetspec: ${what.join(', ')} for ${text.short(tip)}`, paths)) ?? tip;
    if (sha !== tip) ctx.progress(`committed ${what.join(' and ')} to ${branch} as ${text.short(sha)}`);
  }
  const overrides = pr ? await prOverrides(ctx, pr, allowed) : new Map<string, string>();
  const { plan } = await planLoaded(ctx, loaded, { ...policy, overrides });
  pr ??= await ctx.github.createPull({ branch, base: main, title, body: branchBody(branch) });
  const published = await publishPlan(ctx, pr, sha, plan!, allowed);
  await recordPlanned(ctx.db, ctx.repoKey, { sha, scope: 'all', pr: pr.number, planHash: plan!.hash, plan: plan!, problem: null, runId });
  return { branch, sha, pr: pr.number, action: opened ? 'opened' : published.changed ? 'updated' : 'unchanged', status: published.status };
}

function branchBody(branch: string): string {
  return `Opened by fleetspec for the branch \`${branch}\`. The plan, its verdict and an explanation are in the comment below, updated on every push.`;
}

/**
 * New commits on the default branch, oldest first. The first tick records the tip as the
 * baseline and applies nothing (history is not replayed). Returns the run when it applied.
 */
async function reconcileMain(ctx: TickContext, run: Run, main: string, mainSha: string, report: TickReport): Promise<Run | undefined> {
  const seen = await mainCommits(ctx.db, ctx.repoKey);
  if (seen.size === 0) {
    await recordMain(ctx.db, ctx.repoKey, { sha: mainSha, outcome: 'baseline', pr: null, runId: run.id, detail: 'first tick: commits before this one are not applied' });
    report.main.push({ sha: mainSha, outcome: 'baseline', pr: null, detail: null });
    return undefined;
  }
  const pending = await ctx.git.firstParents(mainSha, (sha) => seen.has(sha), MAX_MAIN_COMMITS);
  for (const [i, sha] of pending.entries()) {
    checkStop(ctx);
    const merged = (await ctx.github.pullsForCommit(sha)).find((p) => p.merged && p.mergeCommitSha === sha);
    if (!merged && (await changesNothingApplied(ctx, sha))) {
      // Rendered SVGs from the diagrams workflow, a README fix: nothing a plan reads, so nothing to approve.
      ctx.progress(`${text.short(sha)} changes no specs, stacks or policies`);
      await recordMain(ctx.db, ctx.repoKey, { sha, outcome: 'no-changes', pr: null, runId: run.id, detail: 'pushed without a pull request; changes no specs, stacks or policies' });
      report.main.push({ sha, outcome: 'no-changes', pr: null, detail: 'changes no specs, stacks or policies' });
      continue;
    }
    if (!merged) {
      await refuse(ctx, run.id, report, sha, null, 'not-approved', `pushed to ${main} without a pull request`);
      await ctx.github.setStatus(sha, { context: text.APPLY_CONTEXT, state: 'failure', description: `not applied: reached ${main} without an approved pull request` });
      await ctx.github.commitComment(sha, text.directPushComment(main));
      continue;
    }
    const [parent] = await ctx.git.parents(sha);
    const { allowed, policy } = parent ? await rulesAt(ctx, parent) : { allowed: new Map<string, string[]>(), policy: { set: { policies: [] } } };
    const planned = await plannedCommit(ctx.db, ctx.repoKey, merged.headSha);
    const [reviews, commitAuthors] = await Promise.all([ctx.github.reviews(merged.number), ctx.github.pullCommitAuthors(merged.number)]);
    const decision = decideApproval({ author: merged.author, commitAuthors, headSha: merged.headSha, headPlanned: Boolean(planned?.planHash), reviews, approvers: allowed });
    if (!decision.approved) {
      await refuse(ctx, run.id, report, sha, merged.number, 'not-approved', decision.reasons.join('; '));
      await ctx.github.setStatus(sha, { context: text.APPLY_CONTEXT, state: 'failure', description: `not applied: ${decision.reasons[0]}` });
      await ctx.github.comment(merged.number, text.refusedComment(sha, main, decision.reasons));
      continue;
    }
    report.waiting = pending.length - i - 1;
    return applyMerge(ctx, run, sha, merged, planned!.plan!, planned!.scope, decision.by, { ...policy, overrides: overridesOf(merged, reviews, allowed) }, report);
  }
  return undefined;
}

/** True when a commit leaves specs/, stacks/ and policies/ exactly as its first parent had them. */
async function changesNothingApplied(ctx: TickContext, sha: string): Promise<boolean> {
  const [parent] = await ctx.git.parents(sha);
  return parent ? sameApplied(ctx, parent, sha) : false;
}

/** True when two commits hold the same specs/, stacks/ and policies/: all an apply reads. */
async function sameApplied(ctx: TickContext, a: string, b: string): Promise<boolean> {
  const paths = [specsDir(ctx), stacksDir(ctx), policiesDir(ctx)].map((p) => relative(ctx.git.dir, p));
  for (const path of paths) {
    const [before, after] = await Promise.all([ctx.git.pathOid(a, path), ctx.git.pathOid(b, path)]);
    if (before !== after) return false;
  }
  return true;
}

/** Observes the findings (the live plan when the drift check made one, the ledger, git) and reconciles their tickets. */
async function findingTickets(
  ctx: TickContext,
  main: string,
  mainSha: string,
  loaded: LoadedSpecs,
  heads: Map<string, string>,
  live: Planned | undefined,
  report: TickReport,
): Promise<FindingAction[]> {
  const sources = ctx.findings!;
  const [last, unapproved] = await Promise.all([lastApply(ctx.db, ctx.repoKey), unapprovedSinceApplied(ctx.db, ctx.repoKey)]);
  // Reverted: main again holds what was last applied. A commit git no longer has (history rewritten) counts as not.
  const reverted = unapproved.commits.length > 0 && unapproved.applied !== undefined && (await sameApplied(ctx, unapproved.applied, mainSha).catch(() => false));
  const observed = observeFindings({
    sources,
    main,
    mainSha,
    ...(live ? { live } : {}),
    driftPrs: new Map(report.drift.filter((d) => d.action !== 'closed').map((d) => [d.kind, d.pr])),
    readableHosts: new Set(loaded.index.all('hosts').filter((h) => (h.value as Host).ssh).map((h) => h.name)),
    ...(last ? { lastApply: last } : {}),
    unapproved: unapproved.commits,
    reverted,
  });
  // Ids the tickets pulled from issues took this tick, which `heads` (fetched before) cannot show.
  return reconcileFindings(ctx, main, mainSha, loaded, heads, observed, report.pulled.map((p) => p.id));
}

async function refuse(ctx: TickContext, runId: number, report: TickReport, sha: string, pr: number | null, outcome: MainOutcome, detail: string): Promise<void> {
  ctx.progress(`not applying ${text.short(sha)}: ${detail}`);
  await recordMain(ctx.db, ctx.repoKey, { sha, outcome, pr, runId, detail });
  report.main.push({ sha, outcome, pr, detail });
}

/** Plans the merge commit again, applies it only if it is the approved plan, and reports on the PR. */
async function applyMerge(ctx: TickContext, run: Run, sha: string, pr: PullRequest, approved: Plan, scope: string, by: string, policy: PolicyContext, report: TickReport): Promise<Run> {
  ctx.progress(`applying ${text.short(sha)} (#${pr.number}, approved by @${by})`);
  await ctx.git.checkout(sha);
  const drivers = scope === 'all' ? DRIVERS : DRIVERS.filter((d) => d.folder === scope);
  const applied = await applyPlan(approved, {
    ...ctx.engine,
    drivers,
    specs: specsDir(ctx),
    stacks: { ...ctx.engine.stacks!, dir: stacksDir(ctx) },
    policy,
    beforeApply: async (current) => {
      // The last moment to stop cleanly: after this the apply finishes even on SIGTERM.
      checkStop(ctx);
      run = await transition(ctx.db, run.id, 'PLANNING', 'WAIT_FOR_APPROVE', { planHash: current.hash });
      await recordMain(ctx.db, ctx.repoKey, { sha, outcome: 'applying', pr: pr.number, runId: run.id, detail: `approved by @${by}` });
      run = await transition(ctx.db, run.id, 'WAIT_FOR_APPROVE', 'APPLYING', { reason: `#${pr.number} approved by @${by}` });
    },
  });
  const push = (outcome: MainOutcome, detail: string) => report.main.push({ sha, outcome, pr: pr.number, detail });
  if (applied.status === 'invalid' || applied.status === 'stale' || applied.status === 'blocked') {
    const outcome: MainOutcome = applied.status;
    const detail =
      applied.status === 'stale'
        ? `live changed since the approval (${planDifferences(approved, applied.current!).join('; ') || 'findings or reasons differ'})`
        : applied.status === 'blocked'
          ? `blocked by ${blockingFindings(applied.current!).map((f) => `${f.policy ? `policy ${f.policy}` : f.code} (${f.kind}/${f.name}: ${f.message})`).join('; ')}`
          : 'the specs are invalid';
    await recordMain(ctx.db, ctx.repoKey, { sha, outcome, pr: pr.number, runId: run.id, detail });
    push(outcome, detail);
    await ctx.github.setStatus(sha, { context: text.APPLY_CONTEXT, state: 'failure', description: `not applied: ${detail}` });
    const why = applied.status === 'blocked' ? text.verdictText(applied.current!) : `${detail}; nothing was applied.`;
    await ctx.github.comment(pr.number, applied.status === 'stale' ? text.staleComment(sha, planDifferences(approved, applied.current!)) : `### fleetspec did not apply ${text.short(sha)}\n\n${why}`);
    return transition(ctx.db, run.id, 'PLANNING', applied.status === 'invalid' ? 'FAILED' : 'BLOCKED', { reason: `#${pr.number} ${text.short(sha)}: ${detail}` });
  }
  const changes = applied.done.length;
  report.applied = { sha, pr: pr.number, changes, status: applied.status };
  await ctx.github.comment(pr.number, text.appliedComment(sha, run.id, applied, by));
  if (applied.status === 'failed') {
    run = await transition(ctx.db, run.id, 'APPLYING', 'ROLLBACK', { reason: applied.failed!.error });
    const clean = applied.rollbackFailed.length === 0;
    await recordMain(ctx.db, ctx.repoKey, { sha, outcome: 'failed', pr: pr.number, runId: run.id, detail: applied.failed!.error });
    push('failed', applied.failed!.error);
    await ctx.github.setStatus(sha, { context: text.APPLY_CONTEXT, state: 'failure', description: `apply failed; ${clean ? 'rolled back' : 'NOT fully rolled back'}: ${applied.failed!.error}` });
    return transition(ctx.db, run.id, 'ROLLBACK', 'FAILED', { reason: clean ? 'apply failed; rolled back' : 'apply failed; rollback incomplete' });
  }
  const detail = `${changes} change${changes === 1 ? '' : 's'} applied`;
  await recordMain(ctx.db, ctx.repoKey, { sha, outcome: 'applied', pr: pr.number, runId: run.id, detail });
  push('applied', detail);
  await ctx.github.setStatus(sha, { context: text.APPLY_CONTEXT, state: 'success', description: `applied in run ${run.id}: ${detail}` });
  return transition(ctx.db, run.id, 'APPLYING', 'DONE', { reason: `#${pr.number} ${text.short(sha)}: ${detail}` });
}

/** Whether a drift branch's head records exactly `record` on top of the default branch's tip. */
async function sameRecord(ctx: TickContext, head: string, mainSha: string, path: string, record: string): Promise<boolean> {
  const [parent] = await ctx.git.parents(head).catch(() => []);
  return parent === mainSha && (await ctx.git.readFile(head, path).catch(() => undefined)) === record;
}

/** Live against the default branch, per kind: one PR each while it differs, closed when it matches. */
async function reconcileDrift(
  ctx: TickContext,
  runId: number,
  main: string,
  mainSha: string,
  loaded: LoadedSpecs,
  heads: Map<string, string>,
  allowed: Map<string, string[]>,
  policy: PolicyContext,
  report: TickReport,
): Promise<Planned | undefined> {
  // The specs were read at the start of the tick; the stacks folder needs main checked out again.
  await ctx.git.checkout(mainSha);
  if (countBySeverity(loaded.diagnostics).errors) {
    ctx.progress(`${main} at ${text.short(mainSha)} has invalid specs; no drift check`);
    return undefined;
  }
  const planned = await planLoaded(ctx, loaded, policy);
  const { byDriver, plan } = planned;
  const open = new Map((await ctx.github.listOpenPulls()).filter((p) => p.headRef.startsWith(DRIFT_PREFIX)).map((p) => [p.headRef.slice(DRIFT_PREFIX.length), p]));
  for (const [kind, part] of byDriver!) {
    const pr = open.get(kind);
    if (!part.changes.some(isApplicable)) {
      if (pr) {
        await ctx.github.comment(pr.number, `Live matches \`${main}\` for \`${kind}\` again (${text.short(mainSha)}); closing.`);
        await ctx.github.updatePull(pr.number, { state: 'closed' });
        await ctx.git.deleteRemoteBranch(pr.headRef);
        report.drift.push({ kind, pr: pr.number, action: 'closed' });
      }
      continue;
    }
    checkStop(ctx);
    // The scoped plan is exactly what planning with this kind's driver alone gives: what approval covers.
    const scoped = scopedPlan(planned, kind, policy);
    const branch = `${DRIFT_PREFIX}${kind}`;
    const record = text.driftRecord(kind, buildPlan(part.changes, { mode: plan!.mode }), mainSha, main); // volatile findings and error texts left out
    const path = `drift/${kind}.md`;
    const tip = pr?.headSha ?? heads.get(branch);
    if (!pr && tip && (await sameRecord(ctx, tip, mainSha, path, record))) {
      // A person closed this drift PR and the drift has not changed since: not reopened every tick.
      continue;
    }
    let head = pr ? tip : undefined;
    if (!head || !(await sameRecord(ctx, head, mainSha, path, record))) {
      ctx.progress(`drift in ${kind}: writing ${branch}`);
      head = await ctx.git.writeBranch(branch, mainSha, { [path]: record }, `fleetspec: record drift in ${kind}`);
    }
    if (!head) continue;
    const opened = !pr;
    const driftPr = pr ?? (await ctx.github.createPull({ branch, base: main, title: `fleetspec: drift in ${kind}`, body: text.driftBody(kind, main) }));
    const known = await plannedCommit(ctx.db, ctx.repoKey, head);
    if (known && known.planHash === scoped.hash && known.pr === driftPr.number) {
      report.drift.push({ kind, pr: driftPr.number, action: 'unchanged' });
      continue;
    }
    await publishPlan(ctx, driftPr, head, scoped, allowed, kind);
    await recordPlanned(ctx.db, ctx.repoKey, { sha: head, scope: kind, pr: driftPr.number, planHash: scoped.hash, plan: scoped, problem: null, runId });
    report.drift.push({ kind, pr: driftPr.number, action: opened ? 'opened' : 'updated' });
  }
  return planned;
}
