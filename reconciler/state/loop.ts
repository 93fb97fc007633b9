// What the GitOps loop remembers between ticks: the plan it made for each commit it planned
// (what a review approves), and what became of each commit on the default branch (applied,
// refused, or the baseline it started from), so nothing is applied twice.
import type { Plan } from '../plan/plan.js';
import type { Queryable } from './db.js';

/** `all`, or one kind folder for a drift PR, whose approval covers that kind only. */
export type PlanScope = string;

export interface PlannedCommit {
  sha: string;
  scope: PlanScope;
  pr: number | null;
  /** Absent when the commit could not be planned (invalid specs): such a commit is not approvable. */
  planHash: string | null;
  plan: Plan | null;
  problem: string | null;
  runId: number | null;
  /** The trusted commit whose approvers and policies judged the plan, and their digest (absent on plans made before the trusted base). */
  trustedSha?: string | null;
  rulesDigest?: string | null;
  /** Refused default-branch commits the head contains, which its plan comment listed: what the approval knowingly covers. */
  carries?: string[] | null;
}

export async function recordPlanned(db: Queryable, repo: string, p: PlannedCommit): Promise<void> {
  await db.query(
    `insert into planned_commits (repo, sha, scope, pr, plan_hash, plan, problem, run_id, trusted_sha, rules_digest, carries) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     on conflict (repo, sha, scope) do update set pr = excluded.pr, plan_hash = excluded.plan_hash, plan = excluded.plan,
       problem = excluded.problem, run_id = excluded.run_id, trusted_sha = excluded.trusted_sha, rules_digest = excluded.rules_digest,
       carries = excluded.carries, created_at = now()`,
    [repo, p.sha, p.scope, p.pr, p.planHash, p.plan ? JSON.stringify(p.plan) : null, p.problem, p.runId, p.trustedSha ?? null, p.rulesDigest ?? null, p.carries ? JSON.stringify(p.carries) : null],
  );
}

const PLANNED_COLUMNS = `sha, scope, pr, plan_hash as "planHash", plan, problem, run_id::integer as "runId", trusted_sha as "trustedSha", rules_digest as "rulesDigest", carries`;

/** A planned_commits row with its JSON columns parsed (PGlite may hand them back as text). */
function parsed(row: PlannedCommit): PlannedCommit {
  if (typeof row.plan === 'string') row.plan = JSON.parse(row.plan) as Plan;
  if (typeof row.carries === 'string') row.carries = JSON.parse(row.carries) as string[];
  return row;
}

export async function plannedCommit(db: Queryable, repo: string, sha: string): Promise<PlannedCommit | undefined> {
  const [row] = await db.query<PlannedCommit>(`select ${PLANNED_COLUMNS} from planned_commits where repo = $1 and sha = $2 order by created_at desc limit 1`, [repo, sha]);
  return row ? parsed(row) : undefined;
}

/**
 * The plan PR `pr` was approved with, by its hash (the one an apply began with, recorded on its run): its
 * scope says which kinds the apply covered. Undefined when no plan of that PR has that hash.
 */
export async function approvedPlan(db: Queryable, repo: string, pr: number, planHash: string): Promise<PlannedCommit | undefined> {
  const [row] = await db.query<PlannedCommit>(
    `select ${PLANNED_COLUMNS} from planned_commits where repo = $1 and pr = $2 and plan_hash = $3 and plan is not null order by created_at desc limit 1`,
    [repo, pr, planHash],
  );
  return row ? parsed(row) : undefined;
}

export type MainOutcome =
  | 'baseline'
  | 'applying'
  | 'applied'
  | 'failed'
  | 'abandoned'
  | 'not-approved'
  | 'stale'
  | 'blocked'
  | 'invalid'
  | 'no-changes'
  /** A direct push that brought the default branch back to the trusted commit's content. */
  | 'reverted'
  /** Not what was approved: a merge whose content differs from the approved head on the trusted base, a PR into another branch, broken history. */
  | 'untrusted';

/**
 * Outcomes that accept a commit as the new trusted base: the baseline, a change to inert files, a revert, and an
 * approved merge whatever became of its apply (applied, failed, interrupted, or not applied because live moved or a
 * policy blocked it: the approval of its content holds, and the drift check proposes what live still lacks).
 */
export const ACCEPTED: readonly MainOutcome[] = ['baseline', 'applied', 'failed', 'abandoned', 'stale', 'blocked', 'no-changes', 'reverted'];
/** Outcomes that mean nobody allowed to approved the commit. */
export const REFUSED: readonly MainOutcome[] = ['not-approved', 'untrusted'];

export interface MainCommit {
  sha: string;
  outcome: MainOutcome;
  pr: number | null;
  runId: number | null;
  detail: string | null;
}

const MAIN_COLUMNS = `sha, outcome, pr, run_id::integer as "runId", detail`;

export async function recordMain(db: Queryable, repo: string, c: MainCommit): Promise<void> {
  await db.query(
    `insert into main_commits (repo, sha, outcome, pr, run_id, detail) values ($1, $2, $3, $4, $5, $6)
     on conflict (repo, sha) do update set outcome = excluded.outcome, pr = excluded.pr, run_id = excluded.run_id,
       detail = excluded.detail, at = now()`,
    [repo, c.sha, c.outcome, c.pr, c.runId, c.detail],
  );
}

/** Every commit of the default branch the loop has dealt with, by sha. */
export async function mainCommits(db: Queryable, repo: string): Promise<Map<string, MainCommit>> {
  const rows = await db.query<MainCommit>(`select ${MAIN_COLUMNS} from main_commits where repo = $1`, [repo]);
  return new Map(rows.map((r) => [r.sha, r]));
}

/** Applies a process died in the middle of (the `applying` rows a crash left behind). */
export async function interruptedApplies(db: Queryable, repo: string): Promise<MainCommit[]> {
  return db.query<MainCommit>(`select ${MAIN_COLUMNS} from main_commits where repo = $1 and outcome = 'applying' order by at`, [repo]);
}

/** The last apply on the default branch: the latest commit applied, failed or interrupted, or else the baseline. */
export async function lastApply(db: Queryable, repo: string): Promise<MainCommit | undefined> {
  const [row] = await db.query<MainCommit>(
    `select ${MAIN_COLUMNS} from main_commits where repo = $1 and outcome in ('baseline', 'applied', 'failed', 'abandoned') order by at desc limit 1`,
    [repo],
  );
  return row;
}

/**
 * The commits refused as not approved (or not what was approved) since the trusted base last moved,
 * oldest first, and the trusted commit. They stay until the trusted base catches up with them.
 */
export async function unapprovedSinceApplied(db: Queryable, repo: string): Promise<{ applied?: string; commits: MainCommit[] }> {
  const tip = await trustedTip(db, repo);
  const commits = await db.query<MainCommit>(
    `select ${MAIN_COLUMNS} from main_commits where repo = $1 and outcome in ('not-approved', 'untrusted')
       and at > coalesce((select max(at) from trusted_commits where repo = $1), '-infinity'::timestamptz)
     order by at`,
    [repo],
  );
  return { ...(tip ? { applied: tip.sha } : {}), commits };
}

export interface TrustedCommit {
  sha: string;
  /** The outcome that accepted it. */
  via: MainOutcome;
  pr: number | null;
}

/** The last default-branch commit fleetspec accepted: approvers, policies and the applied state come from it. */
export async function trustedTip(db: Queryable, repo: string): Promise<TrustedCommit | undefined> {
  const [row] = await db.query<TrustedCommit>(`select sha, via, pr from trusted_commits where repo = $1 order by seq desc limit 1`, [repo]);
  return row;
}

export async function trust(db: Queryable, repo: string, c: TrustedCommit): Promise<void> {
  await db.query(`insert into trusted_commits (repo, sha, via, pr) values ($1, $2, $3, $4)`, [repo, c.sha, c.via, c.pr]);
}

/**
 * The PRs accepted onto the trusted base since it was last applied (or taken as the baseline): approved
 * content that live does not hold yet (blocked, stale, failed, interrupted), which a drift PR would apply.
 */
export async function unappliedPulls(db: Queryable, repo: string): Promise<number[]> {
  const rows = await db.query<{ pr: number }>(
    `select distinct pr from trusted_commits where repo = $1 and pr is not null and via not in ('applied', 'baseline')
       and seq > coalesce((select max(seq) from trusted_commits where repo = $1 and via in ('applied', 'baseline')), 0)`,
    [repo],
  );
  return rows.map((r) => Number(r.pr));
}

/** Records a commit fleetspec wrote to a branch it owns. */
export async function recordBotCommit(db: Queryable, repo: string, branch: string, sha: string): Promise<void> {
  await db.query(`insert into bot_commits (repo, branch, sha) values ($1, $2, $3) on conflict do nothing`, [repo, branch, sha]);
}

/** Whether fleetspec itself wrote `sha` (on `branch`, or on any branch when not named). */
export async function botWrote(db: Queryable, repo: string, sha: string, branch?: string): Promise<boolean> {
  const rows = branch
    ? await db.query(`select 1 from bot_commits where repo = $1 and sha = $2 and branch = $3`, [repo, sha, branch])
    : await db.query(`select 1 from bot_commits where repo = $1 and sha = $2`, [repo, sha]);
  return rows.length > 0;
}

/** Of `shas`, those fleetspec wrote. */
export async function botWritten(db: Queryable, repo: string, shas: readonly string[]): Promise<Set<string>> {
  if (!shas.length) return new Set();
  const rows = await db.query<{ sha: string }>(`select distinct sha from bot_commits where repo = $1 and sha = any($2::text[])`, [repo, [...shas]]);
  return new Set(rows.map((r) => r.sha));
}

/** Approver login (lower case) → the GitHub account id first seen behind it. */
export async function approverAccounts(db: Queryable, repo: string): Promise<Map<string, number>> {
  const rows = await db.query<{ login: string; id: string | number }>(`select login, account_id as id from approver_accounts where repo = $1`, [repo]);
  return new Map(rows.map((r) => [r.login, Number(r.id)]));
}

export async function recordApproverAccount(db: Queryable, repo: string, login: string, id: number): Promise<void> {
  await db.query(`insert into approver_accounts (repo, login, account_id) values ($1, $2, $3) on conflict do nothing`, [repo, login.toLowerCase(), id]);
}

/** The newest default-branch commit that applied PR `pr`, if fleetspec applied it. */
export async function appliedCommitOf(db: Queryable, repo: string, pr: number): Promise<MainCommit | undefined> {
  const [row] = await db.query<MainCommit>(`select ${MAIN_COLUMNS} from main_commits where repo = $1 and pr = $2 and outcome = 'applied' order by at desc limit 1`, [repo, pr]);
  return row;
}

/** The outcomes recorded for PR `pr`'s commits on the default branch, newest first. */
export async function outcomesOf(db: Queryable, repo: string, pr: number): Promise<MainCommit[]> {
  return db.query<MainCommit>(`select ${MAIN_COLUMNS} from main_commits where repo = $1 and pr = $2 order by at desc`, [repo, pr]);
}

/** The trusted commit before `sha` in the trusted chain: what was applied when `sha` was merged. */
export async function trustedBefore(db: Queryable, repo: string, sha: string): Promise<string | undefined> {
  const [row] = await db.query<{ sha: string }>(
    `select sha from trusted_commits where repo = $1 and seq < (select min(seq) from trusted_commits where repo = $1 and sha = $2) order by seq desc limit 1`,
    [repo, sha],
  );
  return row?.sha;
}
