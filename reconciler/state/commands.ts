// Commands people gave fleetspec (a `/fleetspec rollback` or `/fleetspec plan` comment on a pull
// request, or `fleetspec rollback`), as the loop's commands phase (loop/commands.ts) acts on them:
// each is acted on once, and what it did (the revert PR, why it was refused) and when (the rollback
// SLA) stays in the store.
import type { Queryable } from './db.js';

export type CommandName = 'rollback' | 'plan';
export type CommandState = 'pending' | 'done' | 'refused' | 'failed';

export interface Command {
  id: number;
  repo: string;
  source: 'comment' | 'cli';
  /** GitHub's id of the comment that gave it; null from the CLI. */
  commentId: number | null;
  /** The pull request it names. */
  pr: number;
  command: CommandName;
  requestedBy: string | null;
  requestedById: number | null;
  requestedAt: Date;
  state: CommandState;
  detail: string | null;
  /** A rollback's revert pull request and branch. */
  resultPr: number | null;
  resultBranch: string | null;
  /** What the revert cannot undo, shown in its plan. */
  notes: string[] | null;
  runId: number | null;
  openedAt: Date | null;
  plannedAt: Date | null;
}

const COLUMNS = `id::integer as id, repo, source, comment_id::bigint as "commentId", pr, command, requested_by as "requestedBy",
  requested_by_id::bigint as "requestedById", requested_at as "requestedAt", state, detail, result_pr as "resultPr",
  result_branch as "resultBranch", notes, run_id::integer as "runId", opened_at as "openedAt", planned_at as "plannedAt"`;

type Row = Omit<Command, 'commentId' | 'requestedById' | 'requestedAt' | 'openedAt' | 'plannedAt'> & {
  commentId: string | number | null;
  requestedById: string | number | null;
  requestedAt: Date | string;
  openedAt: Date | string | null;
  plannedAt: Date | string | null;
};

const date = (d: Date | string | null): Date | null => (d === null ? null : d instanceof Date ? d : new Date(d));

function fromRow(r: Row): Command {
  return {
    ...r,
    commentId: r.commentId === null ? null : Number(r.commentId),
    requestedById: r.requestedById === null ? null : Number(r.requestedById),
    requestedAt: date(r.requestedAt)!,
    openedAt: date(r.openedAt),
    plannedAt: date(r.plannedAt),
  };
}

export interface NewCommand {
  source: Command['source'];
  commentId?: number;
  pr: number;
  command: CommandName;
  requestedBy?: string;
  requestedById?: number;
  requestedAt: Date;
}

/** Records a command to act on; undefined when that comment was recorded before (it is acted on once). */
export async function recordCommand(db: Queryable, repo: string, c: NewCommand): Promise<Command | undefined> {
  const [row] = await db.query<Row>(
    `insert into commands (repo, source, comment_id, pr, command, requested_by, requested_by_id, requested_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (repo, comment_id) do nothing returning ${COLUMNS}`,
    [repo, c.source, c.commentId ?? null, c.pr, c.command, c.requestedBy ?? null, c.requestedById ?? null, c.requestedAt.toISOString()],
  );
  return row ? fromRow(row) : undefined;
}

/** Comment ids among `ids` recorded before. */
export async function knownComments(db: Queryable, repo: string, ids: readonly number[]): Promise<Set<number>> {
  if (!ids.length) return new Set();
  const rows = await db.query<{ id: string | number }>(`select comment_id as id from commands where repo = $1 and comment_id = any($2::bigint[])`, [repo, ids]);
  return new Set(rows.map((r) => Number(r.id)));
}

export async function pendingCommands(db: Queryable, repo: string): Promise<Command[]> {
  return (await db.query<Row>(`select ${COLUMNS} from commands where repo = $1 and state = 'pending' order by requested_at, id`, [repo])).map(fromRow);
}

export async function getCommand(db: Queryable, id: number): Promise<Command | undefined> {
  const [row] = await db.query<Row>(`select ${COLUMNS} from commands where id = $1`, [id]);
  return row ? fromRow(row) : undefined;
}

/** The commands of a repository, newest first. */
export async function listCommands(db: Queryable, repo: string, limit = 50): Promise<Command[]> {
  return (await db.query<Row>(`select ${COLUMNS} from commands where repo = $1 order by requested_at desc, id desc limit $2`, [repo, limit])).map(fromRow);
}

/** The rollback that opened `branch`, if any (the newest). */
export async function rollbackOfBranch(db: Queryable, repo: string, branch: string): Promise<Command | undefined> {
  const [row] = await db.query<Row>(
    `select ${COLUMNS} from commands where repo = $1 and result_branch = $2 and command = 'rollback' and state = 'done' order by id desc limit 1`,
    [repo, branch],
  );
  return row ? fromRow(row) : undefined;
}

/** Everyone who asked for the rollback that revert PR `pr` (on `branch`) carries: the first to ask, and those who asked again while it was open. */
export async function rollbackRequesters(db: Queryable, repo: string, pr: number, branch: string): Promise<{ logins: string[]; fromCli: boolean; any: boolean }> {
  const rows = await db.query<{ by: string | null; source: string }>(
    `select requested_by as by, source from commands where repo = $1 and command = 'rollback' and state = 'done' and (result_branch = $3 or result_pr = $2)`,
    [repo, pr, branch],
  );
  return { logins: [...new Set(rows.flatMap((r) => (r.by ? [r.by.toLowerCase()] : [])))], fromCli: rows.some((r) => r.source === 'cli'), any: rows.length > 0 };
}

/** The rollback whose revert PR is `pr`, if any. */
export async function rollbackOfPull(db: Queryable, repo: string, pr: number): Promise<Command | undefined> {
  const [row] = await db.query<Row>(`select ${COLUMNS} from commands where repo = $1 and result_pr = $2 and command = 'rollback' and state = 'done' order by id desc limit 1`, [repo, pr]);
  return row ? fromRow(row) : undefined;
}

export interface CommandEnd {
  state: Exclude<CommandState, 'pending'>;
  detail: string;
  runId?: number;
  resultPr?: number;
  resultBranch?: string;
  notes?: string[];
  openedAt?: Date;
}

export async function endCommand(db: Queryable, id: number, end: CommandEnd): Promise<void> {
  await db.query(
    `update commands set state = $2, detail = $3, run_id = $4, result_pr = $5, result_branch = $6, notes = $7, opened_at = $8 where id = $1`,
    [id, end.state, end.detail, end.runId ?? null, end.resultPr ?? null, end.resultBranch ?? null, end.notes ? JSON.stringify(end.notes) : null, end.openedAt?.toISOString() ?? null],
  );
}

/** When a rollback's revert PR first had its plan published. */
export async function markPlanned(db: Queryable, repo: string, branch: string, at: Date): Promise<void> {
  await db.query(`update commands set planned_at = $3 where repo = $1 and result_branch = $2 and planned_at is null`, [repo, branch, at.toISOString()]);
}

export async function cursor(db: Queryable, repo: string, name: string): Promise<Date | undefined> {
  const [row] = await db.query<{ at: Date | string }>(`select at from loop_cursors where repo = $1 and name = $2`, [repo, name]);
  return row ? date(row.at)! : undefined;
}

export async function setCursor(db: Queryable, repo: string, name: string, at: Date): Promise<void> {
  await db.query(`insert into loop_cursors (repo, name, at) values ($1, $2, $3) on conflict (repo, name) do update set at = excluded.at`, [repo, name, at.toISOString()]);
}
