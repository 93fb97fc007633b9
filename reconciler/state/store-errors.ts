// What went wrong with the state store, said so an operator can act on it: a folder that is not
// a complete store is refused before PGlite sees it (PGlite would silently initialise a fresh,
// empty store over it: ledger, port allocations and secrets gone); permission, disk-full and
// corruption errors of either engine name their cause and what to do; a PostgreSQL server that
// stops answering is a timeout that names its limit.
import { lstat, readdir, readFile, statfs } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { userInfo } from 'node:os';
import { redactUrl } from '../redact.js';
import { shellQuote } from '../ssh/quote.js';
import { StateError } from './errors.js';
import { seconds, type PgTimeouts } from './pg-settings.js';

/** What every PGlite (PostgreSQL) data folder holds; PG_VERSION is what PGlite looks for. */
const STORE_ENTRIES = ['PG_VERSION', 'global', 'global/pg_control', 'base', 'pg_wal', 'pg_xact', 'pg_multixact'] as const;
const PG_CONTROL_SIZE = 8192;
/** Below this much free space an embedded store that fails to start is reported as a full disk (one WAL segment). */
const LOW_SPACE = 16 * 1024 * 1024;

function message(err: unknown): string {
  if (err instanceof Error && err.message) return err.message;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; errno?: unknown; name?: unknown };
    const parts = [e.name, e.code, e.errno].filter((p) => p !== undefined && p !== '');
    if (parts.length) return parts.join(' ');
  }
  return String(err);
}

function withCause(error: StateError, cause: unknown): StateError {
  (error as { cause?: unknown }).cause = cause;
  return error;
}

const whoAmI = (): string => {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'the fleetspec user');
  }
};

const restoreHint = (dir: string): string =>
  `restore the folder from a backup (stop fleetspec first); or, to start over with an empty store (run ledger, port allocations and secrets are lost), move it away: mv ${shellQuote(dir)} ${shellQuote(`${dir}.damaged`)}`;

const permissionHint = (dir: string): string => `make the store this user's again: chown -R ${shellQuote(whoAmI())} ${shellQuote(dir)} && chmod -R u+rwX,go-rwx ${shellQuote(dir)}`;

const spaceHint = (dir: string): string => `free space on the disk holding ${dir} (df -h ${shellQuote(dir)}); nothing was lost, run the command again once there is room`;

/**
 * Refuses a folder that is not empty and not a complete store, and a store with files this user
 * cannot use. An absent or empty folder is a new store: PGlite initialises it.
 */
export async function checkEmbeddedStore(dir: string): Promise<'new' | 'existing'> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw (await fileSystemError(err, dir, `cannot read the state folder ${dir}`)) ?? err;
  }
  if (names.length === 0) return 'new';

  const present = new Set<string>();
  for (const entry of STORE_ENTRIES) {
    if (await lstat(join(dir, entry)).then(() => true, () => false)) present.add(entry);
  }
  if (present.size === 0) {
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length} entries)` : '');
    throw new StateError(
      `the state folder ${dir} is not empty and holds no state store (no PG_VERSION; it holds ${shown}); refusing to create a store over it`,
      'set FLEETSPEC_STATE_DIR to the store\'s folder, or to an empty or absent folder for a new store',
    );
  }

  await checkPermissions(dir);

  const missing = STORE_ENTRIES.filter((e) => !present.has(e));
  if (missing.length) {
    throw new StateError(
      `the state store in ${dir} is incomplete: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing; fleetspec will not replace it with an empty store`,
      restoreHint(dir),
      3,
    );
  }
  const version = (await readFile(join(dir, 'PG_VERSION'), 'utf8')).trim();
  if (!/^\d{1,3}$/.test(version)) {
    throw new StateError(`the state store in ${dir} is damaged: PG_VERSION holds ${JSON.stringify(version.slice(0, 40))}, not a PostgreSQL version`, restoreHint(dir), 3);
  }
  const control = await lstat(join(dir, 'global', 'pg_control'));
  if (!control.isFile() || control.size !== PG_CONTROL_SIZE) {
    throw new StateError(`the state store in ${dir} is damaged: global/pg_control is ${control.isFile() ? `${control.size} bytes, not ${PG_CONTROL_SIZE}` : 'not a file'}`, restoreHint(dir), 3);
  }
  return 'existing';
}

/** Every file and folder in the store must be this user's with owner read and write (folders: and search). */
async function checkPermissions(dir: string): Promise<void> {
  const uid = process.getuid?.();
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    throw (await fileSystemError(err, dir, `cannot read the state store in ${dir}`)) ?? err;
  }
  const foreign: string[] = [];
  const locked: string[] = [];
  let foreignUid: number | undefined;
  const stats = await Promise.all(
    entries.filter((e) => e.isFile() || e.isDirectory()).map(async (e) => ({ e, path: join(e.parentPath, e.name), info: await lstat(join(e.parentPath, e.name)) })),
  );
  for (const { e, path, info } of stats) {
    if (uid !== undefined && info.uid !== uid) {
      foreign.push(relative(dir, path));
      foreignUid ??= info.uid;
    } else if ((info.mode & (e.isDirectory() ? 0o700 : 0o600)) !== (e.isDirectory() ? 0o700 : 0o600)) {
      locked.push(`${relative(dir, path)} (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')})`);
    }
  }
  const some = (list: string[]) => list.slice(0, 3).join(', ') + (list.length > 3 ? ` and ${list.length - 3} more` : '');
  if (foreign.length) {
    throw new StateError(
      `cannot use the state store in ${dir}: ${some(foreign)} ${foreign.length === 1 ? 'belongs' : 'belong'} to uid ${foreignUid}, not to this user (uid ${uid}); was fleetspec run as another user (sudo) on this store?`,
      permissionHint(dir),
      3,
    );
  }
  if (locked.length) {
    throw new StateError(`cannot use the state store in ${dir}: this user may not read and write ${some(locked)}`, `chmod -R u+rwX,go-rwx ${shellQuote(dir)}`, 3);
  }
}

/** Permission, space and I/O errors from the file system (Node's errno codes), else undefined. */
export async function fileSystemError(err: unknown, dir: string, what: string, permission = permissionHint(dir)): Promise<StateError | undefined> {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const path = (err as NodeJS.ErrnoException | undefined)?.path ?? dir;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return withCause(new StateError(`${what}: permission denied on ${path}`, permission, 3), err);
    case 'ENOSPC':
    case 'EDQUOT':
      return withCause(new StateError(`${what}: no space left on the disk holding ${path}${code === 'EDQUOT' ? ' (disk quota exceeded)' : ''}`, spaceHint(dir), 3), err);
    case 'EROFS':
      return withCause(new StateError(`${what}: ${path} is on a read-only file system`, 'remount it read-write, or set FLEETSPEC_STATE_DIR to a writable folder', 3), err);
    case 'EIO':
      return withCause(new StateError(`${what}: input/output error on ${path}; the disk may be failing`, `check the disk (dmesg, smartctl); ${restoreHint(dir)}`, 3), err);
    case 'EEXIST':
      // mkdir -p over a file.
      return withCause(new StateError(`${what}: ${path} is a file, not a folder`, 'set FLEETSPEC_STATE_DIR to a folder (an absent one is created)'), err);
    case 'ENOTDIR':
      return withCause(new StateError(`${what}: a part of ${path} is a file, not a folder`, 'set FLEETSPEC_STATE_DIR to a folder (an absent one is created)'), err);
    default:
      return undefined;
  }
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * An error of the embedded store (opening it, or a query) as a StateError naming its cause and
 * what to do; undefined when it is an ordinary SQL error (a constraint, a trigger's refusal).
 */
export async function embeddedStoreError(err: unknown, dir: string, phase: 'open' | 'query'): Promise<StateError | undefined> {
  if (err instanceof StateError) return err;
  const what = phase === 'open' ? `cannot open the embedded state store in ${dir}` : `the embedded state store in ${dir} failed`;
  const fs = await fileSystemError(err, dir, what);
  if (fs) return fs;
  const code = (err as { code?: unknown } | undefined)?.code;
  const text = message(err);
  if (code === '53100' || /no space left on device/i.test(text)) return withCause(new StateError(`${what}: no space left on the disk (${text})`, spaceHint(dir), 3), err);
  if (/permission denied/i.test(text)) return withCause(new StateError(`${what}: ${text}`, permissionHint(dir), 3), err);
  if (code === 'XX001' || code === 'XX002' || code === '58030') {
    return withCause(new StateError(`${what}: the store is damaged (${text})`, restoreHint(dir), 3), err);
  }
  // PGlite gives no reason when PostgreSQL cannot start or dies: a wasm abort, a bare "failed to
  // initialize", or a PANIC that hides the write that failed (a full disk ends in "XLogBeginInsert
  // was already called"). A full disk looks the same, so look at the space left first.
  const severity = (err as { severity?: unknown } | undefined)?.severity;
  const died = severity === 'PANIC' || severity === 'FATAL';
  const aborted = (err as Error | undefined)?.name === 'RuntimeError' || /^Aborted\(/.test(text) || /failed to initiali[sz]e/i.test(text);
  if (!aborted && !died) return undefined;
  const free = await freeBytes(dir);
  if (free !== undefined && free < LOW_SPACE) {
    return withCause(new StateError(`${what}: the disk holding it is full (${Math.floor(free / 1024)} kB free)`, spaceHint(dir), 3), err);
  }
  const reason = text.replace(/\. Build with -sASSERTIONS.*$/, '');
  if (phase === 'query') {
    return withCause(
      new StateError(`${what}: PostgreSQL stopped inside PGlite (${died ? `${severity}: ` : ''}${reason})`, `run the command again: the store recovers from its write-ahead log when it is opened; if that fails, ${restoreHint(dir)}`, 3),
      err,
    );
  }
  const version = await readFile(join(dir, 'PG_VERSION'), 'utf8').then((v) => v.trim(), () => undefined);
  return withCause(
    new StateError(`${what}: the store is damaged or was made by another PostgreSQL version${version ? ` (PG_VERSION ${version})` : ''}; PGlite could not start on it (${reason})`, restoreHint(dir), 3),
    err,
  );
}

const CONNECT_TIMEOUT = /^(timeout expired|Connection terminated due to connection timeout|timeout exceeded when trying to connect)$/;
const CONNECTION_LOST = /^(Connection terminated( unexpectedly)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)$/;
const NET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN']);

/** The connection an error came from can no longer be used (a timeout or a network failure): drop it, no rollback. */
export function connectionIsDead(err: unknown): boolean {
  const e = (err instanceof StateError ? err.cause : err) as { message?: string; code?: string } | undefined;
  const text = e?.message ?? '';
  return text === 'Query read timeout' || CONNECT_TIMEOUT.test(text) || CONNECTION_LOST.test(text) || (e?.code !== undefined && NET_CODES.has(e.code));
}

/**
 * A PostgreSQL error as a StateError naming the limit it hit or the connection it lost, with
 * where the limit is set; ordinary SQL errors (constraints, triggers) come back unchanged.
 */
export function postgresError(err: unknown, location: string, t: PgTimeouts): unknown {
  if (err instanceof StateError || !(err instanceof Error)) return err;
  const code = (err as { code?: string }).code;
  const text = redactUrl(err.message);
  const at = `PostgreSQL at ${location}`;
  let error: StateError | undefined;
  if (text === 'Query read timeout') {
    error = new StateError(
      `${at} did not answer within ${seconds(t.queryMs)} (query timeout); the connection was dropped`,
      'check that the database server and the network to it are up; the limit is query_timeout= (ms) in DATABASE_URL or FLEETSPEC_DB_QUERY_TIMEOUT (s)',
      3,
    );
  } else if (CONNECT_TIMEOUT.test(text)) {
    error = new StateError(
      `cannot connect to ${at} within ${seconds(t.connectMs)} (connect timeout)`,
      'check that the database server is up and reachable; the limit is connect_timeout= (s) in DATABASE_URL or FLEETSPEC_DB_CONNECT_TIMEOUT (s)',
      3,
    );
  } else if (code === '57014' && /statement timeout/.test(text)) {
    error = new StateError(`${at} cancelled a statement after ${seconds(t.statementMs)} (statement timeout)`, 'the server is overloaded or a query is stuck; the limit is statement_timeout= (ms) in DATABASE_URL or FLEETSPEC_DB_STATEMENT_TIMEOUT (s)', 3);
  } else if (code === '55P03' && /lock timeout/.test(text)) {
    error = new StateError(
      `a statement waited more than ${seconds(t.lockMs)} for a lock on ${at} (lock timeout)`,
      'another session holds it (another fleetspec, or a transaction left open in psql); the limit is lock_timeout= (ms) in DATABASE_URL or FLEETSPEC_DB_LOCK_TIMEOUT (s)',
      3,
    );
  } else if (code === '25P03') {
    error = new StateError(`${at} ended a session left idle inside a transaction for ${seconds(t.idleInTransactionMs)} (idle-in-transaction timeout)`, 'the limit is idle_in_transaction_session_timeout= (ms) in DATABASE_URL or FLEETSPEC_DB_IDLE_IN_TRANSACTION_TIMEOUT (s)', 3);
  } else if (code === '53100') {
    error = new StateError(`${at} has no disk space left: ${text}`, 'free space on the database server; nothing was lost, run the command again once there is room', 3);
  } else if (code === 'XX001' || code === 'XX002') {
    error = new StateError(`${at} reports damaged data: ${text}`, code === 'XX002' ? 'rebuild the index (REINDEX) on the server' : 'restore the database from a backup', 3);
  } else if (code === '58030') {
    error = new StateError(`${at} could not read or write its files: ${text}`, 'check the database server\'s disk', 3);
  } else if (connectionIsDead(err)) {
    error = new StateError(`lost the connection to ${at}: ${text}`, 'check that the database server and the network to it are up', 3);
  }
  return error ? withCause(error, err) : err;
}
