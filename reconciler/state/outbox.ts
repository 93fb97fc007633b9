// The report outbox (migration 7): what the loop has to say on GitHub about an outcome it recorded,
// queued in the same transaction as the outcome, so an outcome is never said before it is recorded
// and never lost when GitHub does not take it. Each tick delivers what is pending, oldest first.
import type { Queryable } from './db.js';

export type ReportKind = 'comment' | 'commit-comment' | 'status';

export interface CommentPayload {
  body: string;
  /** The marker the comment carries, by which a delivery whose answer was lost is found. */
  marker: string;
}

export interface StatusPayload {
  state: 'success' | 'failure' | 'pending' | 'error';
  description: string;
  context: string;
}

export type Report =
  | { key: string; kind: 'comment'; target: number; payload: CommentPayload; runId?: number | null }
  | { key: string; kind: 'commit-comment'; target: string; payload: CommentPayload; runId?: number | null }
  | { key: string; kind: 'status'; target: string; payload: StatusPayload; runId?: number | null };

export type QueuedReport = Report & {
  id: number;
  /** Deliveries begun (counted before each is sent): more than 0 means GitHub may have it already. */
  attempts: number;
  lastError: string | null;
  deliveredAt: Date | null;
  abandonedAt: Date | null;
};

/** Queues a report; one with the same key already queued (or delivered) is kept as it is. */
export async function queueReport(db: Queryable, repo: string, r: Report): Promise<void> {
  await db.query(
    `insert into outbox (repo, key, kind, target, payload, run_id) values ($1, $2, $3, $4, $5, $6) on conflict (repo, key) do nothing`,
    [repo, r.key, r.kind, String(r.target), JSON.stringify(r.payload), r.runId ?? null],
  );
}

/**
 * Queues a report, or rewrites the target and payload of the one queued under its key, but only while
 * no delivery of it has begun (attempts 0; not delivered nor given up): once a delivery began GitHub
 * may hold what was sent, and the marker a later look searches for must stay the one sent. Returns
 * whether the report now says what `r` says; false: the key's report stays as it was.
 * For a report that grows as a tick goes on (the direct pushes a tick refuses, each recorded with it).
 */
export async function upsertReport(db: Queryable, repo: string, r: Report): Promise<boolean> {
  const rows = await db.query<{ id: number }>(
    `insert into outbox (repo, key, kind, target, payload, run_id) values ($1, $2, $3, $4, $5, $6)
     on conflict (repo, key) do update set target = excluded.target, payload = excluded.payload
       where outbox.attempts = 0 and outbox.delivered_at is null and outbox.abandoned_at is null and outbox.kind = excluded.kind
     returning id::integer as id`,
    [repo, r.key, r.kind, String(r.target), JSON.stringify(r.payload), r.runId ?? null],
  );
  return rows.length > 0;
}

const COLUMNS = `id::integer as id, key, kind, target, payload, run_id::integer as "runId", attempts, last_error as "lastError",
  delivered_at as "deliveredAt", abandoned_at as "abandonedAt"`;

function toReport(row: Record<string, unknown>): QueuedReport {
  const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
  const target = row.kind === 'comment' ? Number(row.target) : String(row.target);
  return { ...row, payload, target, attempts: Number(row.attempts) } as QueuedReport;
}

/** Reports not yet delivered nor given up, oldest first. */
export async function pendingReports(db: Queryable, repo: string): Promise<QueuedReport[]> {
  const rows = await db.query<Record<string, unknown>>(
    `select ${COLUMNS} from outbox where repo = $1 and delivered_at is null and abandoned_at is null order by id`,
    [repo],
  );
  return rows.map(toReport);
}

/** Every report of `repo`, oldest first (for `fleetspec` itself and tests). */
export async function allReports(db: Queryable, repo: string): Promise<QueuedReport[]> {
  const rows = await db.query<Record<string, unknown>>(`select ${COLUMNS} from outbox where repo = $1 order by id`, [repo]);
  return rows.map(toReport);
}

/** Counts a delivery as begun; committed before the report is sent. */
export async function beginDelivery(db: Queryable, id: number): Promise<void> {
  await db.query(`update outbox set attempts = attempts + 1 where id = $1`, [id]);
}

export async function markDelivered(db: Queryable, id: number): Promise<void> {
  await db.query(`update outbox set delivered_at = now(), last_error = null where id = $1`, [id]);
}

/** Records why a delivery failed; `abandon`: GitHub refused it for good, so it is not sent again. */
export async function markFailed(db: Queryable, id: number, error: string, abandon: boolean): Promise<void> {
  await db.query(`update outbox set last_error = $2, abandoned_at = case when $3::boolean then now() else abandoned_at end where id = $1`, [id, error.slice(0, 2000), abandon]);
}
