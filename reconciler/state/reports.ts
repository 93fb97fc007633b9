// What a run did beyond its states (migration 10): an approved apply's record (who approved, what was
// applied, failed and rolled back) and a tick's report (its PRs, the default branch's commits, drift per
// kind, findings). Written where the run is; read by `fleetspec runs show` and `fleetspec status`, which
// read only the store: they work offline, and say only what the loop recorded.
import type { PlanSummary } from '../plan/plan.js';
import type { Queryable } from './db.js';
import type { Run, RunState } from './ledger.js';

/** An apply the loop or `fleetspec apply` ran for an approved plan. Changes as "kind/name action". */
export interface ApplyRecord {
  /** The merged PR and its commit (the loop); absent for `fleetspec apply`. */
  pr?: number;
  sha?: string;
  /** The approved plan's summary (its hash is the run's plan_hash). */
  summary?: PlanCounts;
  /** Who approved: a GitHub login (the loop), or the actor and the approval (`fleetspec apply`). */
  approvedBy: string;
  /** applied, failed; or invalid, stale, blocked: nothing was applied. */
  status: string;
  done: string[];
  failed?: { change: string; error: string };
  notDone: string[];
  rolledBack: string[];
  rollbackFailed: { description: string; error: string }[];
}

/** The parts of the engine's apply report a record keeps (plan/engine.ts ApplyReport). */
interface ApplyReportLike {
  status: string;
  done: { kind: string; name: string; action: string }[];
  failed?: { change: { kind: string; name: string; action: string }; error: string };
  notDone: { kind: string; name: string; action: string }[];
  rolledBack: string[];
  rollbackFailed: { description: string; error: string }[];
}

/** A plan's counts, as the plan has them. */
export type PlanCounts = PlanSummary;

const change = (c: { kind: string; name: string; action: string }) => `${c.kind}/${c.name} ${c.action}`;

export function applyRecord(report: ApplyReportLike, approval: { approvedBy: string; pr?: number; sha?: string; summary?: PlanCounts }): ApplyRecord {
  return {
    ...(approval.summary ? { summary: { ...approval.summary } } : {}),
    ...(approval.pr === undefined ? {} : { pr: approval.pr }),
    ...(approval.sha === undefined ? {} : { sha: approval.sha }),
    approvedBy: approval.approvedBy,
    status: report.status,
    done: report.done.map(change),
    ...(report.failed ? { failed: { change: change(report.failed.change), error: report.failed.error } } : {}),
    notDone: report.notDone.map(change),
    rolledBack: [...report.rolledBack],
    rollbackFailed: report.rollbackFailed.map((r) => ({ description: r.description, error: r.error })),
  };
}

export async function recordApply(db: Queryable, runId: number, record: ApplyRecord): Promise<void> {
  await db.query(`update runs set apply = $2 where id = $1`, [runId, JSON.stringify(record)]);
}

/** A PR a tick planned (a spec branch, or a drift PR), as it stood at that tick. */
export interface TickPull {
  pr: number;
  branch: string;
  sha: string;
  /** opened, updated, unchanged (closed: a drift PR the tick closed). */
  action: string;
  /** The drift PR's kind. */
  kind?: string;
}

/** What a tick recorded when it ended: the loop's TickReport, with what its live check of the trusted commit found. */
export interface TickRecord {
  durationMs: number;
  branches: { branch: string; sha: string; pr: number; action: string; status: string }[];
  main: { sha: string; outcome: string; pr: number | null; detail: string | null }[];
  applied?: { sha: string; pr: number; changes: number; status: string };
  drift: { kind: string; pr: number; action: string }[];
  findings: { key: string; id: string; branch: string; pr?: number; action: string }[];
  pulled: unknown[];
  waiting: number;
  /** What sync windows held this tick (loop/phases/windows.ts Held) and what was suspended, one line each: `fleetspec status` shows them. */
  /** The VM resize proposals the vm-scale rule needed (loop/scale.ts), when there were any. */
  scale?: { vm: string; branch: string; pr?: number; action: string; detail?: string }[];
  /** /fleetspec commands acted on (rollback, plan), when there were any. */
  commands?: { command: string; pr: number; by: string; state: string; detail: string; resultPr?: number }[];
  held?: { sha?: string; pr: number | null; kind?: string; resource: string; window: string; opens: string | null; detail: string }[];
  suspended?: string[];
  errors: string[];
  /** The live plan of the trusted commit (the drift check), when this tick made one. */
  live?: {
    trustedSha?: string;
    /** Kinds whose live state differs from the trusted commit: how many changes each. */
    drift: Record<string, number>;
    verdict: { status: string; errors: number; warnings: number };
    findings: { severity: string; kind: string; name: string; code: string; message: string }[];
  };
}

export async function recordTick(db: Queryable, runId: number, record: TickRecord): Promise<void> {
  await db.query(`update runs set report = $2 where id = $1`, [runId, JSON.stringify(record)]);
}

/** A run with what it recorded besides its states. */
export interface RunRecord extends Run {
  /** The PR of the default-branch commit the run dealt with (applied or refused), when it had one. */
  pr: number | null;
  apply: ApplyRecord | null;
  report: TickRecord | null;
}

const json = <T>(v: unknown): T | null => (v === null || v === undefined ? null : typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

const COLUMNS = `id::integer as id, repo, trigger, git_sha as "gitSha", plan_hash as "planHash", state, reason,
  created_at as "createdAt", updated_at as "updatedAt", finished_at as "finishedAt", apply, report,
  (select m.pr from main_commits m where m.run_id = runs.id and m.pr is not null order by m.at desc limit 1) as pr`;

function parsed(row: RunRecord): RunRecord {
  row.apply = json<ApplyRecord>(row.apply);
  row.report = json<TickRecord>(row.report);
  return row;
}

/** Runs newest first, with their records; `state` and `repo` narrow them. */
export async function runRecords(db: Queryable, opts: { repo?: string; state?: RunState; limit: number }): Promise<RunRecord[]> {
  const rows = await db.query<RunRecord>(
    `select ${COLUMNS} from runs where ($1::text is null or repo = $1) and ($2::text is null or state = $2) order by id desc limit $3`,
    [opts.repo ?? null, opts.state ?? null, opts.limit],
  );
  return rows.map(parsed);
}

export async function runRecord(db: Queryable, id: number): Promise<RunRecord | undefined> {
  const [row] = await db.query<RunRecord>(`select ${COLUMNS} from runs where id = $1`, [id]);
  return row ? parsed(row) : undefined;
}

/** The newest run of `repo` that a tick recorded (any run with a report), or with a live check when `live`. */
export async function lastTick(db: Queryable, repo: string, opts: { live?: boolean } = {}): Promise<RunRecord | undefined> {
  const [row] = await db.query<RunRecord>(
    `select ${COLUMNS} from runs where repo = $1 and report is not null ${opts.live ? `and report -> 'live' is not null` : ''} order by id desc limit 1`,
    [repo],
  );
  return row ? parsed(row) : undefined;
}

/** The repositories the ledger knows, newest run first. */
export async function ledgerRepos(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ repo: string }>(`select repo from runs group by repo order by max(id) desc`);
  return rows.map((r) => r.repo);
}

/** The holder (host, pid) of each unfinished run of `repo` and when it last renewed its lease, newest first. */
export async function unfinishedHolders(db: Queryable, repo: string): Promise<{ id: number; state: RunState; createdAt: Date; holder: { host: string; pid: number } | null; aliveAt: Date | null }[]> {
  const rows = await db.query<{ id: number; state: RunState; createdAt: Date; holder: unknown; aliveAt: Date | null }>(
    `select id::integer as id, state, created_at as "createdAt", holder, alive_at as "aliveAt" from runs r
      where repo = $1 and not (select terminal from run_states s where s.state = r.state) order by id desc`,
    [repo],
  );
  return rows.map((r) => ({ ...r, holder: json<{ host: string; pid: number }>(r.holder) }));
}
