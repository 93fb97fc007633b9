// Phase 2, branches: each spec branch validated, its stacks and diagrams committed, planned live,
// narrated, and its PR opened or updated (one plan comment, edited in place) with a commit status.
// Branches are planned one after another; their narratives run side by side (planBranches).
import { relative } from 'node:path';
import { countBySeverity } from '../../diagnostics.js';
import { writeDiagrams } from '../../diagrams/index.js';
import { blockingFindings } from '../../plan/engine.js';
import { withOverrides } from '../../policies/index.js';
import { synthesiseAll } from '../../stacks/files.js';
import { botWrote, plannedCommit, recordPlanned } from '../../state/loop.js';
import type { PullRequest } from '../../github/client.js';
import { linkProblems } from '../trust.js';
import * as text from '../pr-text.js';
import { logLine, mdCode } from '../../escape.js';
import { ROLLBACK_PREFIX, rollbackSection } from '../rollback.js';
import { BRANCH_KINDS, branchPrefix } from '../../proposals/index.js';
import { markPlanned, rollbackOfBranch } from '../../state/commands.js';
import { DRIFT_PREFIX } from './drift.js';
import { linkFreeRoots, checkStop, refusedIn, diagramsDir, load, planLoaded, prOverrides, startPublishPlan, stacksDir, type Published } from './shared.js';
import { TickAbandoned, type Services, type TickReport, type TrustedRules } from './types.js';

type Row = TickReport['branches'][number];

/** A branch whose plan comment waits on its narrative: its row in the report once the comment is out and recorded. */
interface Publishing {
  publishing: Promise<Row>;
}

/**
 * Each spec branch in name order; one that fails is reported and the others go on. Planning is one
 * branch at a time (they share the checkout), but a branch's narrative is asked for as soon as its
 * plan exists and its comment goes out when the narrative settles, while the next branches are
 * planned: the tick's LLM concurrency limit and budget (narrative/budget.ts) decide how many wait on
 * the LLM at once. Every narrative started is settled before the phase ends.
 */
export async function planBranches(
  svc: Services,
  runId: number,
  heads: Map<string, string>,
  main: string,
  mainSha: string,
  rules: TrustedRules,
  report: Pick<TickReport, 'branches' | 'errors'>,
  /** Open PRs an approver asked to plan again now (`/fleetspec plan`), whatever was planned before. */
  replan: ReadonlySet<number> = new Set(),
): Promise<void> {
  const branches = [...heads].filter(([branch]) => branch !== main && !branch.startsWith(DRIFT_PREFIX)).sort(([a], [b]) => a.localeCompare(b));
  // By the branch's place in name order: comments go out in whatever order their narratives come back, the report lists branches by name.
  const rows: (Row | undefined)[] = [];
  const errors: (string | undefined)[] = [];
  const publishing: Promise<void>[] = [];
  let abandoned: TickAbandoned | undefined;
  const failed = (i: number, branch: string, err: unknown) => {
    // A stop or the tick's budget ends the tick, not the branch.
    if (err instanceof TickAbandoned) abandoned ??= err;
    // One bad branch must not stop the others, nor the default branch's applies.
    else errors[i] = `${branch}: ${err instanceof Error ? err.message : String(err)}`;
  };
  try {
    for (const [i, [branch, sha]] of branches.entries()) {
      checkStop(svc);
      try {
        const planned = await planBranch(svc, runId, branch, sha, main, mainSha, rules, replan);
        if (planned && 'publishing' in planned) {
          const settled = planned.publishing.then((row) => void (rows[i] = row), (err: unknown) => failed(i, branch, err));
          // Without the tick's NarrativeBudget nothing limits how many calls wait on the LLM at once: one at a time then.
          if (svc.narratives) publishing.push(settled);
          else await settled;
        } else rows[i] = planned;
      } catch (err) {
        if (err instanceof TickAbandoned) throw err;
        failed(i, branch, err);
      }
    }
  } finally {
    // Also when the tick is abandoned: its narratives are given up at once then (the watch gives up its waits, the
    // signal aborts the calls and keeps queued ones from being sent) and publish nothing, so this is quick, and
    // nothing of this phase is left running once it has ended.
    await Promise.all(publishing);
    for (const row of rows) if (row) report.branches.push(row);
    for (const error of errors) if (error) report.errors.push(error);
  }
  if (abandoned) throw abandoned;
}

/** `published`, then `then` (the plan recorded): the branch's row. */
function publishing(published: Promise<Published>, then: (p: Published) => Promise<Row>): Publishing {
  const row = published.then(then);
  // planBranches awaits it; this only keeps a rejection that comes before it does from counting as unhandled.
  row.catch(() => undefined);
  return { publishing: row };
}

/** One branch planned and its PR brought up to date (its comment maybe still waiting on the narrative); undefined when there is nothing to propose. */
async function planBranch(
  svc: Services,
  runId: number,
  branch: string,
  tip: string,
  main: string,
  mainSha: string,
  rules: TrustedRules,
  replan: ReadonlySet<number> = new Set(),
): Promise<Row | Publishing | undefined> {
  if (tip === mainSha || (await svc.git.isAncestor(tip, mainSha))) return undefined; // merged, or nothing to propose
  const { approvers, policy } = rules;
  let pr = await svc.github.openPullFor(branch);
  if (isBotBranch(branch) && !(await botWrote(svc.db, svc.repoKey, tip, branch))) return closeTampered(svc, branch, tip, pr);
  const known = await plannedCommit(svc.db, svc.repoKey, tip);
  // A revert PR's plan comment says what it rolls back and what rolling back cannot give back, each time it is published.
  const rollback = branch.startsWith(ROLLBACK_PREFIX) ? await rollbackOfBranch(svc.db, svc.repoKey, branch) : undefined;
  const preface = rollback ? rollbackSection(rollback) : undefined;
  if (pr && known && known.pr === pr.number && !replan.has(pr.number)) {
    const number = pr.number;
    // An override (label, approver's review line) given since the plan lifts its block now, without planning again.
    const overridable = known.plan?.findings.some((f) => f.severity === 'error' && f.override);
    const lifted = overridable ? withOverrides(known.plan!, await prOverrides(svc, pr, approvers)) : undefined;
    if (lifted && blockingFindings(lifted).length < blockingFindings(known.plan!).length) {
      svc.progress(`override on #${number}: judging ${text.short(tip)} again`);
      const { published } = await startPublishPlan(svc, pr, tip, lifted, approvers, undefined, preface);
      return publishing(published, async (p) => {
        // Still the rules the plan was judged under: only the overrides are new.
        await recordPlanned(svc.db, svc.repoKey, { ...known, sha: tip, pr: number, planHash: lifted.hash, plan: lifted, problem: null, runId, carries: p.carries });
        return { branch, sha: tip, pr: number, action: 'updated', status: p.status };
      });
    }
    // A commit refused since the plan that this branch contains: the reviewer must see it before approving.
    const carries = known.plan ? (await refusedIn(svc, tip)).map((c) => c.sha) : [];
    if (known.plan && carries.some((c) => !(known.carries ?? []).includes(c))) {
      svc.progress(`#${number} carries a newly refused commit: publishing its plan again`);
      const { published } = await startPublishPlan(svc, pr, tip, known.plan, approvers, undefined, preface);
      return publishing(published, async (p) => {
        await recordPlanned(svc.db, svc.repoKey, { ...known, sha: tip, pr: number, runId, carries: p.carries });
        return { branch, sha: tip, pr: number, action: 'updated', status: p.status };
      });
    }
    return { branch, sha: tip, pr: number, action: 'unchanged', status: known.planHash ? 'planned' : 'invalid' };
  }
  // Its PR was closed by a person: respected until the branch gets a new commit.
  if (!pr && known?.pr) return undefined;
  // fleetspec opens the PRs of its own branches (tickets, findings, rollbacks, proposals); one a person closed stays closed.
  if (!pr && BRANCH_KINDS.some((kind) => branch.startsWith(branchPrefix(kind)))) return undefined;

  svc.progress(`planning ${branch} at ${text.short(tip)}`);
  const links = await linkProblems(svc.git, tip, linkFreeRoots(svc));
  const loaded = links.length ? undefined : await load(svc, tip);
  const title = logLine((await svc.git.commitMessage(tip)).message.split('\n')[0]!).slice(0, 200) || `fleetspec: ${logLine(branch)}`;
  const opened = !pr;
  if (!loaded || countBySeverity(loaded.diagnostics).errors) {
    pr ??= await svc.github.createPull({ branch, base: main, title, body: branchBody(branch) });
    await svc.github.upsertComment(pr.number, text.PLAN_MARKER, loaded ? text.invalidComment(tip, loaded.diagnostics, svc.git.dir) : text.linksComment(tip, links));
    const status = loaded ? text.invalidStatus(loaded.diagnostics, svc.git.dir) : { state: 'failure' as const, description: `not planned: ${links.length} symlink${links.length === 1 ? '' : 's'} in the folders a plan reads` };
    await svc.github.setStatus(tip, { context: text.PLAN_CONTEXT, ...status });
    await recordPlanned(svc.db, svc.repoKey, { sha: tip, scope: 'all', pr: pr.number, planHash: null, plan: null, problem: status.description, runId });
    return { branch, sha: tip, pr: pr.number, action: opened ? 'opened' : 'updated', status: 'invalid' };
  }

  // The stacks and diagrams the specs imply belong on the branch, so the reviewed diff holds them too.
  let sha = tip;
  const synthesised = (await synthesiseAll(loaded.index, stacksDir(svc))).filter((s) => s.status === 'written').map((s) => s.model.name);
  const drawn = (await writeDiagrams(loaded.index, diagramsDir(svc))).filter((d) => d.status !== 'unchanged').map((d) => d.name);
  if (synthesised.length || drawn.length) {
    const what = [
      ...(synthesised.length ? [`synthesise the ${synthesised.join(' and ')} stack${synthesised.length === 1 ? '' : 's'}`] : []),
      ...(drawn.length ? [`refresh the ${drawn.join(' and ')} diagram${drawn.length === 1 ? '' : 's'}`] : []),
    ];
    const paths = [...(synthesised.length ? [stacksDir(svc)] : []), ...(drawn.length ? [diagramsDir(svc)] : [])].map((p) => relative(svc.git.dir, p));
    sha = (await svc.git.commitAndPush(branch, `fleetspec: ${what.join(', ')} for ${text.short(tip)}`, paths)) ?? tip;
    if (sha !== tip) svc.progress(`committed ${what.join(' and ')} to ${branch} as ${text.short(sha)}`);
  }
  const overrides = pr ? await prOverrides(svc, pr, approvers) : new Map<string, string>();
  const { plan } = await planLoaded(svc, loaded, { ...policy, overrides }, rules);
  pr ??= await svc.github.createPull({ branch, base: main, title, body: branchBody(branch) });
  const number = pr.number;
  const { published } = await startPublishPlan(svc, pr, sha, plan!, approvers, undefined, preface);
  // Recorded once the comment is out, never before: a tick that ends in between leaves the head unrecorded, so the next one publishes it.
  return publishing(published, async (p) => {
    if (rollback) await markPlanned(svc.db, svc.repoKey, branch, svc.now?.() ?? new Date());
    await recordPlanned(svc.db, svc.repoKey, { sha, scope: 'all', pr: number, planHash: plan!.hash, plan: plan!, problem: null, runId, trustedSha: rules.sha, rulesDigest: rules.digest, carries: p.carries });
    return { branch, sha, pr: number, action: opened ? 'opened' : p.changed ? 'updated' : 'unchanged', status: p.status };
  });
}

/** fleetspec's own branches: their PRs are fleetspec's, so only a head fleetspec wrote may be planned there. */
function isBotBranch(branch: string): boolean {
  return branch.startsWith(DRIFT_PREFIX) || BRANCH_KINDS.some((kind) => branch.startsWith(branchPrefix(kind)));
}

/** Someone else pushed to one of fleetspec's branches: its PR is closed, saying so, and the branch deleted; nothing is planned. */
async function closeTampered(svc: Services, branch: string, tip: string, pr: PullRequest | undefined): Promise<undefined> {
  svc.progress(`${branch} at ${text.short(tip)} was not written by fleetspec; closing it`);
  if (pr) {
    await svc.github.comment(pr.number, text.tamperedComment(branch, tip));
    await svc.github.updatePull(pr.number, { state: 'closed' });
  }
  await svc.git.deleteRemoteBranch(branch);
  return undefined;
}

function branchBody(branch: string): string {
  return `Opened by fleetspec for the branch ${mdCode(branch)}. The plan, its verdict and an explanation are in the comment below, updated on every push.`;
}
