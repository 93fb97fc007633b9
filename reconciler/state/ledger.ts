// The run ledger: one row per reconciler run, one row per state transition (seed 002, 6.2).
// The code refuses an illegal transition before the database would; the database refuses it anyway.
import type { Queryable } from './db.js';
import { StateError } from './errors.js';
import { isAlive, isThisProcess, type Holder } from './holder.js';

export const RUN_STATES = ['PENDING', 'PLANNING', 'WAIT_FOR_APPROVE', 'APPLYING', 'ROLLBACK', 'DONE', 'BLOCKED', 'FAILED'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** Legal transitions; migration 1 holds the same table for the database's own check. */
export const TRANSITIONS: Readonly<Record<RunState, readonly RunState[]>> = {
  PENDING: ['PLANNING', 'FAILED'],
  PLANNING: ['WAIT_FOR_APPROVE', 'DONE', 'BLOCKED', 'FAILED'],
  WAIT_FOR_APPROVE: ['APPLYING', 'FAILED'],
  APPLYING: ['DONE', 'ROLLBACK', 'FAILED'],
  ROLLBACK: ['DONE', 'FAILED'],
  DONE: [],
  BLOCKED: [],
  FAILED: [],
};

/** What moves a run along each legal edge: the labels of docs/diagrams/src/states.mmd. */
export const TRANSITION_CAUSES: Readonly<Record<RunState, Readonly<Partial<Record<RunState, string>>>>> = {
  PENDING: { PLANNING: 'the run starts', FAILED: 'abandoned: the reconciler stopped' },
  PLANNING: {
    WAIT_FOR_APPROVE: 'the merged plan is the approved one',
    DONE: 'nothing to apply',
    BLOCKED: 'policy verdict fail, live changed, or no approval',
    FAILED: 'invalid specs or an error',
  },
  WAIT_FOR_APPROVE: { APPLYING: 'approved by an allowed reviewer', FAILED: 'an error' },
  APPLYING: { DONE: 'every change applied', ROLLBACK: 'a change failed', FAILED: 'an error' },
  ROLLBACK: { DONE: 'rolled back', FAILED: 'the apply failed, rolled back or not' },
  DONE: {},
  BLOCKED: {},
  FAILED: {},
};

export type RunTrigger = 'cron' | 'manual' | 'push' | 'pull_request' | 'merge' | 'drift' | 'webhook' | 'command';

export interface Run {
  id: number;
  repo: string;
  trigger: RunTrigger;
  gitSha: string | null;
  planHash: string | null;
  state: RunState;
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface Transition {
  from: RunState | null;
  to: RunState;
  reason: string | null;
  at: Date;
}

export class IllegalTransition extends StateError {}

const RUN_COLUMNS = `id::integer as id, repo, trigger, git_sha as "gitSha", plan_hash as "planHash", state, reason,
  created_at as "createdAt", updated_at as "updatedAt", finished_at as "finishedAt"`;

export async function startRun(db: Queryable, run: { repo: string; trigger: RunTrigger; gitSha?: string; reason?: string }): Promise<Run> {
  const [row] = await db.query<Run>(
    `insert into runs (repo, trigger, git_sha, reason) values ($1, $2, $3, $4) returning ${RUN_COLUMNS}`,
    [run.repo, run.trigger, run.gitSha ?? null, run.reason ?? null],
  );
  return row!;
}

/**
 * Moves a run to `to`, only from the state the caller last saw (`from`), so two
 * writers cannot both move one run. Returns the updated run.
 */
export async function transition(
  db: Queryable,
  runId: number,
  from: RunState,
  to: RunState,
  details: { reason?: string; planHash?: string } = {},
): Promise<Run> {
  if (!TRANSITIONS[from].includes(to)) {
    throw new IllegalTransition(
      `illegal run transition ${from} -> ${to}`,
      TRANSITIONS[from].length ? `from ${from} a run may go to ${TRANSITIONS[from].join(', ')}` : `${from} is final`,
    );
  }
  const rows = await db.query<Run>(
    `update runs set state = $3, reason = $4, plan_hash = coalesce($5, plan_hash)
      where id = $1 and state = $2 returning ${RUN_COLUMNS}`,
    [runId, from, to, details.reason ?? null, details.planHash ?? null],
  );
  if (rows.length === 0) {
    const current = await getRun(db, runId);
    throw new StateError(
      current ? `run ${runId} is ${current.state}, not ${from}` : `no run ${runId}`,
      current ? 'another process moved this run; read it again before changing it' : undefined,
    );
  }
  return rows[0]!;
}

export async function getRun(db: Queryable, runId: number): Promise<Run | undefined> {
  const [row] = await db.query<Run>(`select ${RUN_COLUMNS} from runs where id = $1`, [runId]);
  return row;
}

export async function listRuns(db: Queryable, opts: { repo?: string; limit?: number } = {}): Promise<Run[]> {
  return db.query<Run>(
    `select ${RUN_COLUMNS} from runs where ($1::text is null or repo = $1) order by id desc limit $2`,
    [opts.repo ?? null, opts.limit ?? 50],
  );
}

export async function runHistory(db: Queryable, runId: number): Promise<Transition[]> {
  return db.query<Transition>(
    `select from_state as "from", to_state as "to", reason, at from run_transitions where run_id = $1 order by id`,
    [runId],
  );
}

/** Runs that never reached a final state (a crashed holder's), oldest first. */
export async function unfinishedRuns(db: Queryable, repo: string): Promise<Run[]> {
  return db.query<Run>(
    `select ${RUN_COLUMNS} from runs r where repo = $1
       and not (select terminal from run_states s where s.state = r.state) order by id`,
    [repo],
  );
}

/** Records the process running `runId` and that it is alive now (migration 8). */
export async function holdRun(db: Queryable, runId: number, holder: Holder): Promise<void> {
  await db.query(`update runs set holder = $2, alive_at = now() where id = $1`, [runId, JSON.stringify(holder)]);
}

/** The run's holder is still alive: renews its lease. */
export async function renewRun(db: Queryable, runId: number): Promise<void> {
  await db.query(`update runs set alive_at = now() where id = $1`, [runId]);
}

export interface HeldRun {
  run: Run;
  holder: Holder;
  /** How long ago the holder last renewed its lease, by the database's clock. */
  renewedMs: number;
}

/**
 * Unfinished runs of `repo` whose holder is alive, though it no longer has the leader lock (its
 * connection was lost while it worked): another process must leave them, and the repository, alone
 * until they end. On this host a holder is alive while its process is; on another host while its
 * lease (`leaseMs`) is fresh. A run of this very process is no one's: ticks of one process never
 * overlap, so its tick ended without recording the end (the store failed at that moment).
 */
export async function runsStillHeld(db: Queryable, repo: string, leaseMs: number, host: string): Promise<HeldRun[]> {
  const rows = await db.query<Run & { holder: Holder | string | null; renewedMs: number | null }>(
    `select ${RUN_COLUMNS}, holder, (extract(epoch from (now() - alive_at)) * 1000)::float8 as "renewedMs"
       from runs r where repo = $1 and holder is not null
        and not (select terminal from run_states s where s.state = r.state) order by id`,
    [repo],
  );
  const held: HeldRun[] = [];
  for (const row of rows) {
    const { holder: raw, renewedMs, ...run } = row;
    const holder = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Holder;
    if (isThisProcess(holder)) continue;
    const alive = holder.host === host ? isAlive(holder) : renewedMs !== null && renewedMs < leaseMs;
    if (alive) held.push({ run: run as Run, holder, renewedMs: Number(renewedMs ?? Infinity) });
  }
  return held;
}
