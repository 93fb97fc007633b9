// What several phases use: the checkout's folders, its specs and policies, live plans, and publishing a plan on a PR.
import { join, relative } from 'node:path';
import { countBySeverity } from '../../diagnostics.js';
import { DIAGRAMS_DIR } from '../../diagrams/index.js';
import type { PullRequest } from '../../github/client.js';
import { narrate, type NarrativeResult } from '../../narrative/narrate.js';
import { planFleet, type Planned } from '../../plan/engine.js';
import { hasChanges, type Plan } from '../../plan/plan.js';
import { loadPolicies, type PolicyContext } from '../../policies/index.js';
import { loadSpecs, type LoadedSpecs } from '../../specs/load.js';
import { stackModels } from '../../stacks/model.js';
import { approvers, overridesOf, type Approvers } from '../approval.js';
import { approverRules, authorsOf } from '../authors.js';
import { unapprovedSinceApplied, type MainCommit } from '../../state/loop.js';
import { rulesDigest } from '../trust.js';
import { soloLogin } from '../../policies/rules/solo-operator.js';
import { suspensionsOf } from '../../policies/suspend.js';
import * as text from '../pr-text.js';
import { TickAbandoned, type Services, type TrustedRules } from './types.js';

/** Throws TickAbandoned when a stop was asked for or the tick's budget is spent: called before each step that starts new work. */
export function checkStop(svc: Services): void {
  if (!svc.signal?.aborted) return;
  const reason: unknown = svc.signal.reason;
  throw reason instanceof TickAbandoned ? new TickAbandoned(reason.message) : new TickAbandoned('stop requested before this step started');
}

/**
 * The last safe point before an apply: throws like checkStop, else tells the watchdog that an apply
 * begins, after which neither a stop nor the tick's budget interrupts the tick until its report is done.
 */
export function enterApply(svc: Services): void {
  checkStop(svc);
  svc.watch?.startApply();
}

export const specsDir = (svc: Services) => join(svc.git.dir, svc.specsPath);
export const stacksDir = (svc: Services) => join(specsDir(svc), '..', 'stacks');
export const diagramsDir = (svc: Services) => join(specsDir(svc), '..', DIAGRAMS_DIR);
export const policiesDir = (svc: Services) => join(specsDir(svc), '..', 'policies');
/** The folders an apply reads, relative to the repository: specs, stacks and policies. */
export const appliedRoots = (svc: Services) => [specsDir(svc), stacksDir(svc), policiesDir(svc)].map((p) => relative(svc.git.dir, p));
/** The folders fleetspec reads or writes in a checkout (the applied ones and the diagrams' sources): no links allowed there. */
export const linkFreeRoots = (svc: Services) => [...appliedRoots(svc), relative(svc.git.dir, diagramsDir(svc))];

/** The policies of the commit checked out now. Invalid ones block every plan they would judge. */
export async function policiesOf(svc: Services): Promise<PolicyContext> {
  const { set, diagnostics } = await loadPolicies(policiesDir(svc));
  const problems = diagnostics.filter((d) => d.severity === 'error');
  return { set: problems.length ? { policies: [] } : set, root: svc.git.dir, ...(problems.length ? { problems } : {}) };
}

/** Checks out `sha` and loads its specs. */
export async function load(svc: Services, sha: string): Promise<LoadedSpecs> {
  await svc.git.checkout(sha);
  return loadSpecs(specsDir(svc));
}

/**
 * The rules of the trusted commit `sha`, and its specs (left checked out): who may approve, with the
 * account behind each login, and the policies that judge every plan. Never a branch's own rules.
 */
export async function trustedRules(svc: Services, sha: string): Promise<{ rules: TrustedRules; loaded: LoadedSpecs }> {
  const loaded = await load(svc, sha);
  const roles = approversOf(loaded);
  const [policy, policiesTree] = await Promise.all([policiesOf(svc), svc.git.pathOid(sha, relative(svc.git.dir, policiesDir(svc)))]);
  const approvers = await approverRules(svc.github, svc.db, svc.repoKey, roles, soloLogin(policy.set));
  const stackSecrets = Object.fromEntries(stackModels(loaded.index).map((m) => [m.name, m.secrets.map((x) => x.ref)]));
  // What is suspended, resolved here from the trusted specs and policies: every plan judged by these rules
  // (a branch's, drift's, an apply's) leaves those alone, and none by what the planned specs say themselves.
  policy.suspended = suspensionsOf(policy.set, loaded.index, svc.git.dir);
  return { rules: { sha, approvers, policy, digest: rulesDigest(roles, policiesTree), stackSecrets, index: loaded.index }, loaded };
}

export function approversOf(loaded: LoadedSpecs): Map<string, string[]> {
  return countBySeverity(loaded.diagnostics).errors ? new Map() : approvers(loaded.index);
}

/**
 * A live plan of `loaded`. `trusted` (a branch's plan): the secrets each stack gets from the trusted
 * specs (terraform gets no other before approval), and the trusted specs, whose reads alone a
 * branch's plan makes (LiveContext.trusted).
 */
export async function planLoaded(svc: Services, loaded: LoadedSpecs, policy: PolicyContext, trusted?: Pick<TrustedRules, 'stackSecrets' | 'index'>): Promise<Planned> {
  // A plan is no apply: a stop or the tick's budget stops its terraform (process group and all).
  const stacks = { ...svc.engine.stacks!, dir: stacksDir(svc), ...(trusted ? { trustedSecrets: trusted.stackSecrets } : {}), ...(svc.signal ? { signal: svc.signal } : {}) };
  return planFleet({ ...svc.engine, specs: specsDir(svc), mode: 'live', stacks, loaded: Promise.resolve(loaded), policy, ...(trusted ? { trusted: trusted.index } : {}) });
}

/** Overrides on a PR (up to its merge): labels added and review lines written by approvers who made no part of the change. */
export async function prOverrides(svc: Services, pr: PullRequest, rules: Approvers): Promise<Map<string, string>> {
  const [events, reviews, authors] = await Promise.all([svc.github.labelEvents(pr.number), svc.github.reviews(pr.number), authorsOf(svc.github, svc.db, svc.repoKey, pr)]);
  return overridesOf(events, reviews, rules, authors, pr.mergedAt);
}

async function narrative(svc: Services, plan: Plan, pr: number): Promise<NarrativeResult> {
  if (!hasChanges(plan)) return { status: 'withheld', reason: 'the plan changes nothing, so there is nothing to explain' };
  if (!svc.llm) return { status: 'withheld', reason: svc.llmProblem ?? 'no LLM configured' };
  // Said when asked for, which may be before it is sent: the tick's narratives queue behind its LLM concurrency limit.
  svc.progress(`asking ${svc.llm.model} for the narrative of #${pr}`);
  const llm = svc.llm;
  const ask = () => (svc.narratives ? svc.narratives.narrate(plan) : narrate(plan, llm, svc.signal ? { signal: svc.signal } : {}));
  // A wait of the watch from the moment it is asked for, queued or sent: an abandoned tick gives it up either way.
  return svc.watch ? svc.watch.wait(`the LLM (${llm.model}) for a narrative`, ask) : ask();
}

/** What publishing a plan did: the commit status it set, whether the comment changed, the refused commits it named. */
export interface Published {
  status: string;
  changed: boolean;
  carries: string[];
}

/** A plan's comment and status on its PR, with the narrative: everything at once (see startPublishPlan for the two-step form). */
export async function publishPlan(svc: Services, pr: PullRequest, sha: string, plan: Plan, rules: Approvers, scope?: string): Promise<Published> {
  return (await startPublishPlan(svc, pr, sha, plan, rules, scope)).published;
}

/**
 * Publishing a plan in two steps, so that a phase can plan its next branch while the LLM writes
 * this one's narrative. What reads git and the store (the refused commits the head carries) is
 * done before this returns, while the caller still does one thing at a time; the narrative is
 * asked for at once and may queue behind the tick's LLM concurrency limit (narrative/budget.ts);
 * the comment and the status go out when it settles. `published` rejects with TickAbandoned, and
 * publishes nothing, when the tick was abandoned before the narrative settled.
 */
export async function startPublishPlan(
  svc: Services,
  pr: PullRequest,
  sha: string,
  plan: Plan,
  rules: Approvers,
  scope?: string,
  /** Lines the comment opens with after the verdict (a revert PR's rollback section). */
  preface?: string[],
): Promise<{ published: Promise<Published> }> {
  // Refused commits this head carries: the reviewer must know what else their approval covers.
  const carries = await refusedIn(svc, sha);
  const published = narrative(svc, plan, pr.number).then(async (told) => {
    // An abandoned tick says nothing more on GitHub: a narrative that came in as it was abandoned is dropped with its comment.
    checkStop(svc);
    const body = text.planComment({ plan, sha, narrative: told, approvers: [...rules.roles.keys()].sort(), ...(scope ? { scope } : {}), ...(preface ? { preface } : {}), carries, ...(rules.solo ? { solo: rules.solo } : {}) });
    const comment = await svc.github.upsertComment(pr.number, text.PLAN_MARKER, body);
    const status = text.planStatus(plan);
    await svc.github.setStatus(sha, { context: text.PLAN_CONTEXT, ...status });
    return { status: status.state, changed: comment.action !== 'unchanged', carries: carries.map((c) => c.sha) };
  });
  // The caller awaits it; this only keeps a rejection that comes before it does (an abandoned tick) from counting as unhandled.
  published.catch(() => undefined);
  return { published };
}

/** The refused default-branch commits (since the trusted one) that `head` contains. */
export async function refusedIn(svc: Services, head: string): Promise<MainCommit[]> {
  const out: MainCommit[] = [];
  for (const c of (await unapprovedSinceApplied(svc.db, svc.repoKey)).commits) if (await svc.git.isAncestor(c.sha, head).catch(() => false)) out.push(c);
  return out;
}

