// One SQL dialect, two engines: PostgreSQL through `pg` when DATABASE_URL is set,
// embedded PGlite in .fleetspec/state otherwise, so the main job needs no server.
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { redactUrl } from '../redact.js';
import { shellQuote } from '../ssh/quote.js';
import { lockFolder } from './lock.js';
import { migrate } from './migrations.js';
import { StateError } from './errors.js';

export { StateError, redactUrl };

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  engine: 'postgres' | 'pglite';
  /** Where it is, for messages: a URL without its password, or the state folder. */
  location: string;
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** A connection of its own for session-level advisory locks; PGlite has only one session. */
  session(): Promise<Queryable & { release(): Promise<void> }>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgres://… ; when absent, PGlite in `stateDir`. */
  databaseUrl?: string;
  stateDir?: string;
  /** Pool size for PostgreSQL. */
  maxConnections?: number;
  /** Skip migrations (tests of the migration runner itself). */
  migrate?: boolean;
  /** PGlite: how long to wait for another process to release the store. */
  waitMs?: number;
}

/** DATABASE_URL and FLEETSPEC_STATE_DIR from the environment, as every command reads them. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): OpenOptions {
  return {
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    stateDir: env.FLEETSPEC_STATE_DIR ?? join('.fleetspec', 'state'),
  };
}


export async function openDb(opts: OpenOptions = optionsFromEnv()): Promise<Db> {
  const db = opts.databaseUrl ? await openPostgres(opts.databaseUrl, opts.maxConnections ?? 20) : await openPglite(opts.stateDir ?? join('.fleetspec', 'state'), opts.waitMs ?? 0);
  if (opts.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

async function openPostgres(url: string, max: number): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000, application_name: 'fleetspec' });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const location = redactUrl(url);
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => {});
    // pg's own message may quote the connection string or parts of it.
    throw new StateError(`cannot connect to PostgreSQL at ${location}: ${redactUrl((err as Error).message)}`, 'check DATABASE_URL, or unset it to use the embedded PGlite store', 3);
  }
  const run = (client: pg.Pool | pg.PoolClient | pg.Client): Queryable => ({
    query: async <T>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[],
    exec: async (sql: string) => void (await client.query(sql)),
  });
  return {
    engine: 'postgres',
    location,
    ...run(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await fn(run(client));
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async session() {
      const client = new pg.Client({ connectionString: url, application_name: 'fleetspec' });
      client.on('error', () => {});
      await client.connect();
      return { ...run(client), release: () => client.end() };
    },
    close: () => pool.end(),
  };
}

/*
 * The embedded store's folder is its owner's alone: created 0700, refused when group or others
 * can write it or another user owns it, set to 0700 otherwise, and everything in it set to 0600
 * (folders 0700) after PGlite opens and again after it closes.
 *
 * Why not the process umask: PGlite's Emscripten file system creates each file with Node's
 * writeFileSync (where the umask applies) and then chmods it to the mode the wasm side asked
 * for, 0666 (FS.open's default; Postgres's own 0600 does not reach it). chmod ignores the umask,
 * so files PGlite creates are 0666 whatever the umask is; a umask also leaks into everything else
 * the process writes (stacks/, diagrams). What does hold for the files PGlite creates while the
 * store is open (new relations, WAL segments) is the folder: at 0700, checked on every open, no
 * other user can reach anything under it, whatever the files' own modes say. The chmod on open
 * and close keeps the files themselves 0600 at rest; a crash in between is put right by the next
 * open. The lock file beside the folder is created 0600 (lock.ts).
 */
const FOLDER_MODE = 0o700;
const FILE_MODE = 0o600;

async function privateFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: FOLDER_MODE });
  const info = await stat(dir);
  if (!info.isDirectory()) throw new StateError(`the state store ${dir} is not a folder`, 'set FLEETSPEC_STATE_DIR to a folder');
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new StateError(
      `the state folder ${dir} belongs to uid ${info.uid}, not to this user (uid ${uid}); refusing to use it`,
      'run fleetspec as the folder\'s owner, or set FLEETSPEC_STATE_DIR to a folder of your own',
    );
  }
  const mode = info.mode & 0o777;
  if (mode & 0o022) {
    const who = [mode & 0o020 ? 'its group' : '', mode & 0o002 ? 'all users' : ''].filter(Boolean).join(' and ');
    throw new StateError(
      `the state folder ${dir} can be written by ${who} (mode ${mode.toString(8).padStart(4, '0')}); refusing to use it`,
      `check that nothing in it was planted by someone else, then: chmod -R go-rwx ${shellQuote(dir)}`,
    );
  }
  if (mode !== FOLDER_MODE) await chmod(dir, FOLDER_MODE);
}

/** Everything under `dir` to 0600, folders to 0700; symbolic links are not followed. */
async function tighten(dir: string): Promise<void> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  await Promise.all(
    entries.map((e) => {
      const path = join(e.parentPath, e.name);
      if (e.isDirectory()) return chmod(path, FOLDER_MODE);
      if (e.isFile()) return chmod(path, FILE_MODE);
      return undefined;
    }),
  );
}

async function openPglite(stateDir: string, waitMs: number): Promise<Db> {
  const dir = resolve(stateDir);
  await privateFolder(dir);
  const lock = await lockFolder(dir, { waitMs });
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dir);
    await tighten(dir);
  } catch (err) {
    await lock.release();
    throw new StateError(`cannot open the embedded state store in ${dir}: ${(err as Error).message}`, 'set FLEETSPEC_STATE_DIR to use another folder', 3);
  }
  const run = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    query: async <T>(sql: string, params: unknown[] = []) => (await q.query<T>(sql, params)).rows,
    exec: async (sql: string) => void (await q.exec(sql)),
  });
  return {
    engine: 'pglite',
    location: dir,
    ...run(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(run(tx))),
    // PGlite is one session; advisory locks taken on it live as long as the instance.
    session: async () => ({ ...run(pglite), release: async () => {} }),
    async close() {
      try {
        await pglite.close();
        await tighten(dir);
      } finally {
        await lock.release();
      }
    },
  };
}
