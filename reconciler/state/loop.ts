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
}

export async function recordPlanned(db: Queryable, repo: string, p: PlannedCommit): Promise<void> {
  await db.query(
    `insert into planned_commits (repo, sha, scope, pr, plan_hash, plan, problem, run_id) values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (repo, sha, scope) do update set pr = excluded.pr, plan_hash = excluded.plan_hash, plan = excluded.plan,
       problem = excluded.problem, run_id = excluded.run_id, created_at = now()`,
    [repo, p.sha, p.scope, p.pr, p.planHash, p.plan ? JSON.stringify(p.plan) : null, p.problem, p.runId],
  );
}

export async function plannedCommit(db: Queryable, repo: string, sha: string): Promise<PlannedCommit | undefined> {
  const [row] = await db.query<PlannedCommit>(
    `select sha, scope, pr, plan_hash as "planHash", plan, problem, run_id::integer as "runId"
       from planned_commits where repo = $1 and sha = $2 order by created_at desc limit 1`,
    [repo, sha],
  );
  if (row && typeof row.plan === 'string') row.plan = JSON.parse(row.plan) as Plan;
  return row;
}

export type MainOutcome = 'baseline' | 'applying' | 'applied' | 'failed' | 'abandoned' | 'not-approved' | 'stale' | 'blocked' | 'invalid' | 'no-changes';

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
 * The commits refused as not approved since the default branch was last applied (or taken as
 * the baseline), oldest first, and that last applied commit.
 */
export async function unapprovedSinceApplied(db: Queryable, repo: string): Promise<{ applied?: string; commits: MainCommit[] }> {
  const [applied] = await db.query<{ sha: string }>(`select sha from main_commits where repo = $1 and outcome in ('baseline', 'applied') order by at desc limit 1`, [repo]);
  const commits = await db.query<MainCommit>(
    `select ${MAIN_COLUMNS} from main_commits where repo = $1 and outcome = 'not-approved'
       and at > coalesce((select max(at) from main_commits where repo = $1 and outcome in ('baseline', 'applied')), '-infinity'::timestamptz)
     order by at`,
    [repo],
  );
  return { ...(applied ? { applied: applied.sha } : {}), commits };
}
