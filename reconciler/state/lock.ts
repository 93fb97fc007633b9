// Two locks. The leader lock: one reconciler per spec repo, a PostgreSQL session-level
// advisory lock, released by the server when its holder's connection dies; the holder learns
// that it lost it (LeaderLock.lost) when that connection fails, or when a heartbeat on it gets no
// answer within the query timeout (a silent network, where no error ever arrives). The store lock:
// PGlite's folder can be open in one process only, so a lock file records the holder's pid;
// a holder that died is seen as dead through the OS (no guessed timeout).
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAlive, processStart } from './holder.js';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from './db.js';
import { StateError } from './errors.js';
import { fileSystemError } from './store-errors.js';

/** Another process holds what this one needs: not bad input, so exit code 3. */
export class LockHeld extends StateError {
  constructor(message: string, hint?: string) {
    super(message, hint, 3);
  }
}

export interface Lock {
  release(): Promise<void>;
}

export interface LeaderLock extends Lock {
  /**
   * Aborted, with a StateError naming why as its reason, when the lock's connection is lost: from
   * then on another reconciler may hold the lock, so the holder must stop before its next write
   * that needs leadership. Never aborted on PGlite (the lock lives as long as the process).
   */
  readonly lost: AbortSignal;
}

export interface WaitOptions {
  /** Wait up to this long for the holder to go away; 0 fails at once. */
  waitMs?: number;
  pollMs?: number;
}

export interface LeaderOptions extends WaitOptions {
  /** PostgreSQL: how often the held lock's connection is checked with a query (default 30 s; 0: never). */
  heartbeatMs?: number;
}

const HEARTBEAT_MS = 30_000;

const heldInProcess = new Set<string>();

/** Becomes the one reconciler for `repo`, or throws LockHeld naming the holder. */
export async function acquireLeader(db: Db, repo: string, opts: LeaderOptions = {}): Promise<LeaderLock> {
  const key = `fleetspec:leader:${repo}`;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  const session = await db.session();
  for (;;) {
    // PGlite is a single session where advisory locks are re-entrant; the set stands in for a second session.
    const [row] = heldInProcess.has(`${db.location}|${key}`)
      ? [{ ok: false }]
      : await session.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [key]);
    if (row?.ok) {
      heldInProcess.add(`${db.location}|${key}`);
      let released = false;
      // A silent connection raises no error: ask it something now and then. A query that gets no
      // answer in time marks the session lost (db.ts). The timer never keeps the process alive.
      const every = opts.heartbeatMs ?? HEARTBEAT_MS;
      let beating = false;
      const heartbeat =
        db.engine === 'postgres' && every > 0
          ? setInterval(() => {
              if (beating || released || session.lost.aborted) return;
              beating = true;
              session
                .query('select 1')
                .catch(() => {})
                .finally(() => (beating = false));
            }, every).unref()
          : undefined;
      session.lost.addEventListener('abort', () => clearInterval(heartbeat), { once: true });
      return {
        lost: session.lost,
        async release() {
          if (released) return;
          released = true;
          clearInterval(heartbeat);
          heldInProcess.delete(`${db.location}|${key}`);
          // A lost connection took the lock with it; asking the server to unlock would only wait.
          if (!session.lost.aborted) await session.query('select pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => {});
          await session.release();
        },
      };
    }
    if (Date.now() >= deadline) {
      const holder = await describeHolder(db, session, key);
      await session.release();
      throw new LockHeld(
        `another fleetspec is already reconciling ${repo}${holder}`,
        'wait for it to finish; a holder that crashed loses the lock when its connection closes',
      );
    }
    await sleep(opts.pollMs ?? 250);
  }
}

async function describeHolder(db: Db, session: { query: Db['query'] }, key: string): Promise<string> {
  if (db.engine !== 'postgres') return ' in this process';
  const [holder] = await session
    .query<{ pid: number; app: string; since: Date; addr: string | null }>(
      `select a.pid, a.application_name as app, a.backend_start as since, a.client_addr::text as addr
         from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted
          and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)`,
      [key],
    )
    .catch(() => []);
  return holder ? ` (server pid ${holder.pid}${holder.app ? `, ${holder.app}` : ''}, connected since ${holder.since.toISOString()})` : '';
}

interface LockFileContent {
  pid: number;
  host: string;
  /** Process start time from /proc, to tell a reused pid from the holder. */
  started: string | null;
  command: string;
  since: string;
}

/** What a folder lock guards, for the message when another process holds it. */
export interface FolderUse {
  /** "the state store", "the proposal clone" */
  what: string;
  hint: string;
}

const STORE_USE: FolderUse = { what: 'the state store', hint: 'wait for it to finish, or set DATABASE_URL to share a PostgreSQL store between processes' };

/** Exclusive use of a folder by this process (the PGlite store, a clone), until release or exit. */
export async function lockFolder(dir: string, opts: WaitOptions = {}, use: FolderUse = STORE_USE): Promise<Lock> {
  const file = `${dir}.lock`;
  const mine: LockFileContent = {
    pid: process.pid,
    host: hostname(),
    started: processStart(process.pid),
    command: process.argv.slice(1).join(' ').slice(0, 200),
    since: new Date().toISOString(),
  };
  const text = JSON.stringify(mine);
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    try {
      // 0600 like the store beside it (db.ts): it names the holder's command line.
      await writeFile(file, text, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        const beside = dirname(dir);
        const hint =
          use === STORE_USE
            ? `the lock file goes beside the store: make ${beside} writable by this user, or set FLEETSPEC_STATE_DIR to a folder whose parent this user can write`
            : `the lock file goes beside ${use.what}: make ${beside} writable by this user`;
        throw (await fileSystemError(err, dir, `cannot create ${use === STORE_USE ? "the state store's" : `${use.what}'s`} lock file ${file}`, hint)) ?? err;
      }
    }
    const holder = await readFile(file, 'utf8')
      .then((t) => JSON.parse(t) as LockFileContent)
      .catch(() => undefined);
    if (!holder || (holder.host === mine.host && !isAlive(holder))) {
      // The holder died (or left a torn file): its lock goes with it.
      await unlink(file).catch(() => {});
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LockHeld(`${use.what} ${dir} is in use by pid ${holder.pid} on ${holder.host} (${holder.command}) since ${holder.since}`, use.hint);
    }
    await sleep(opts.pollMs ?? 250);
  }
  const releaseSync = () => {
    try {
      if (readFileSync(file, 'utf8') === text) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', releaseSync);
  return {
    async release() {
      process.off('exit', releaseSync);
      releaseSync();
    },
  };
}
