// One SQL dialect, two engines: PostgreSQL through `pg` when DATABASE_URL is set,
// embedded PGlite in .fleetspec/state otherwise, so the main job needs no server.
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { redactUrl } from '../redact.js';
import { shellQuote } from '../ssh/quote.js';
import { lockFolder } from './lock.js';
import { migrate } from './migrations.js';
import { storeTemplate } from './template.js';
import { StateError } from './errors.js';
import { pgSettings, type PgTimeouts } from './pg-settings.js';
import { checkEmbeddedStore, connectionIsDead, embeddedStoreError, fileSystemError, postgresError } from './store-errors.js';

export { StateError, redactUrl };
export type { PgTimeouts };

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
  session(): Promise<Session>;
  close(): Promise<void>;
}

export interface Session extends Queryable {
  /**
   * Aborted, with a StateError as its reason, when the connection is lost (the server closed it,
   * the network failed, a query on it timed out): whatever the session held, such as an advisory
   * lock, is no longer held. Never aborted on PGlite, which is this process.
   */
  readonly lost: AbortSignal;
  release(): Promise<void>;
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
  /**
   * PostgreSQL: deadlines (pg-settings.ts). The connection string's own parameters win over
   * these, and these over FLEETSPEC_DB_* in the environment.
   */
  timeouts?: Partial<PgTimeouts>;
}

/** DATABASE_URL and FLEETSPEC_STATE_DIR from the environment, as every command reads them. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): OpenOptions {
  return {
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    stateDir: env.FLEETSPEC_STATE_DIR ?? join('.fleetspec', 'state'),
  };
}


export async function openDb(opts: OpenOptions = optionsFromEnv()): Promise<Db> {
  const db = opts.databaseUrl
    ? await openPostgres(opts.databaseUrl, opts.maxConnections ?? 20, opts.timeouts ?? {})
    : // The template holds the migrations: not for a store that is to stay unmigrated.
      await openPglite(opts.stateDir ?? join('.fleetspec', 'state'), opts.waitMs ?? 0, opts.migrate !== false);
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

/** A node-postgres client's socket, to destroy when a graceful end cannot finish (a silent peer never answers it). */
function socketOf(client: pg.Client | pg.PoolClient): { destroy(): void } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
}

/** Waits for `ending` up to `ms`, then calls `force` and waits a little more; never rejects. */
async function bounded(ending: Promise<unknown>, ms: number, force: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const settled = ending.then(
    () => true,
    () => true,
  );
  const done = await Promise.race([settled, new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  if (done) return;
  force();
  await Promise.race([settled, new Promise((r) => setTimeout(r, 1000).unref())]);
}

async function openPostgres(url: string, max: number, explicit: Partial<PgTimeouts>): Promise<Db> {
  const location = redactUrl(url);
  const { connectionString, timeouts: t, options } = pgSettings(url, explicit);
  const config: pg.ClientConfig = {
    connectionString,
    application_name: 'fleetspec',
    connectionTimeoutMillis: t.connectMs,
    ...(t.queryMs ? { query_timeout: t.queryMs } : {}),
    ...(t.statementMs ? { statement_timeout: t.statementMs } : {}),
    ...(t.lockMs ? { lock_timeout: t.lockMs } : {}),
    ...(t.idleInTransactionMs ? { idle_in_transaction_session_timeout: t.idleInTransactionMs } : {}),
    ...(t.keepAliveMs ? { keepAlive: true, keepAliveInitialDelayMillis: t.keepAliveMs } : { keepAlive: false }),
    ...(options ? { options } : {}),
  };
  // Every client the pool makes, so that closing can destroy the sockets a silent server never lets end.
  const clients = new Set<pg.Client>();
  class TrackedClient extends pg.Client {
    constructor(c?: string | pg.ClientConfig) {
      super(c);
      clients.add(this);
      // A connection lost while checked out (a transaction) has no pool listener: without this one
      // its 'error' event would end the process. The query waiting on it gets the error anyway.
      this.on('error', () => {});
      this.once('end', () => clients.delete(this));
    }
  }
  const pool = new pg.Pool({ ...config, max, Client: TrackedClient });
  // An idle client losing its server must not crash the process; the pool drops it and the next query reports it.
  pool.on('error', () => {});
  // A graceful end of a connection to a silent server waits for an answer that never comes.
  const closeMs = Math.min(5000, t.connectMs || 5000);
  const failure = (err: unknown) => postgresError(err, location, t);
  try {
    await pool.query('select 1');
  } catch (err) {
    await bounded(pool.end(), closeMs, () => clients.forEach((c) => socketOf(c)?.destroy()));
    const known = failure(err);
    // A timeout names its limit; anything else is what pg said about connecting.
    if (known instanceof StateError && /\((connect|query) timeout\)/.test(known.message)) throw known;
    // pg's own message may quote the connection string or parts of it.
    throw new StateError(`cannot connect to PostgreSQL at ${location}: ${redactUrl((err as Error).message)}`, 'check DATABASE_URL, or unset it to use the embedded PGlite store', 3);
  }
  const run = (client: pg.Pool | pg.PoolClient | pg.Client): Queryable => ({
    async query<T>(sql: string, params: unknown[] = []) {
      try {
        return (await client.query(sql, params)).rows as T[];
      } catch (err) {
        throw failure(err);
      }
    },
    async exec(sql: string) {
      try {
        await client.query(sql);
      } catch (err) {
        throw failure(err);
      }
    },
  });
  return {
    engine: 'postgres',
    location,
    ...run(pool),
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw failure(err);
      }
      // Released with an error, the pool drops the connection instead of reusing it.
      let broken: Error | undefined;
      try {
        await run(client).exec('begin');
        const result = await fn(run(client));
        await run(client).exec('commit');
        return result;
      } catch (err) {
        if (connectionIsDead(err)) {
          // A timed-out or lost connection cannot roll back; the server ends its transaction
          // when it notices (idle_in_transaction_session_timeout at the latest).
          broken = err as Error;
        } else {
          await client.query('rollback').catch((e: Error) => (broken = e));
        }
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async session() {
      const client = new pg.Client(config);
      const lost = new AbortController();
      const lose = (why: string | StateError) =>
        !lost.signal.aborted && lost.abort(why instanceof StateError ? why : new StateError(`lost the connection to PostgreSQL at ${location}: ${redactUrl(why)}`, 'check that the database server and the network to it are up', 3));
      let releasing = false;
      client.on('error', (err) => lose(err.message));
      client.on('end', () => releasing || lose('the connection closed'));
      try {
        await client.connect();
      } catch (err) {
        socketOf(client)?.destroy();
        throw failure(err);
      }
      const q = run(client);
      // A query that timed out leaves the connection waiting for its answer: useless from now on.
      const guard = async <T>(call: () => Promise<T>): Promise<T> => {
        try {
          return await call();
        } catch (err) {
          if (connectionIsDead(err)) {
            lose(err instanceof StateError ? err : err instanceof Error ? err.message : String(err));
            socketOf(client)?.destroy();
          }
          throw err;
        }
      };
      return {
        query: <T>(sql: string, params?: unknown[]) => guard(() => q.query<T>(sql, params)),
        exec: (sql: string) => guard(() => q.exec(sql)),
        lost: lost.signal,
        async release() {
          releasing = true;
          // A lost connection has nothing to end gracefully: its end would wait for a reply.
          if (lost.signal.aborted) return void socketOf(client)?.destroy();
          await bounded(client.end(), closeMs, () => socketOf(client)?.destroy());
        },
      };
    },
    close: () => bounded(pool.end(), closeMs, () => clients.forEach((c) => socketOf(c)?.destroy())),
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

/** Shared buffers of the embedded store: its data is a few MB; initdb's 128MB default is all touched at start. */
const PGLITE_SHARED_BUFFERS = '16MB';

/**
 * How PGlite runs here. Its postgres is about 10 MB of WebAssembly, which V8 compiles twice: at
 * once with Liftoff, its baseline compiler, then again in the background with its optimising one.
 * That second compile costs a second of another core and 50 to 80 MB (on Node 24, a peak of
 * 630-700 MB), and pays back only over far more queries than a command or a tick makes; so
 * fleetspec keeps Liftoff's code (V8's --liftoff-only; it also applies to any other WebAssembly the
 * process compiles, such as undici's HTTP parser). Node 20 and 22 take the flag here, before the
 * first store opens; Node 24 only from the command line, where cli.ts's #! line, the deploy
 * wrapper and the systemd units put it. Measured by bench/footprint.ts: an offline plan of specs/
 * on PGlite, 2.3 → 1.4 s of CPU and 365 → 160 MB, with the smaller shared buffers.
 */
export function pgliteOptions(): { startParams: string[] } {
  setFlagsFromString('--liftoff-only');
  return { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`] };
}

async function openPglite(stateDir: string, waitMs: number, fromTemplate: boolean): Promise<Db> {
  const dir = resolve(stateDir);
  try {
    await privateFolder(dir);
  } catch (err) {
    throw (await fileSystemError(err, dir, `cannot create the state folder ${dir}`)) ?? err;
  }
  const lock = await lockFolder(dir, { waitMs });
  let pglite: PGlite;
  try {
    // Before PGlite: it would initialise an empty store over a folder that is not a complete one.
    const kind = await checkEmbeddedStore(dir);
    // A new store starts as a copy of the prepared one (template.ts) when there is one for this fleetspec.
    const template = kind === 'new' && fromTemplate ? await storeTemplate() : undefined;
    pglite = await PGlite.create(dir, { ...pgliteOptions(), ...(template ? { loadDataDir: template } : {}) });
    await tighten(dir);
  } catch (err) {
    await lock.release();
    const known = await embeddedStoreError(err, dir, 'open');
    if (known) throw known;
    throw new StateError(`cannot open the embedded state store in ${dir}: ${err instanceof Error ? err.message : String(err)}`, 'set FLEETSPEC_STATE_DIR to use another folder', 3);
  }
  const failure = async (err: unknown) => (await embeddedStoreError(err, dir, 'query')) ?? err;
  const run = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<T>(sql: string, params: unknown[] = []) {
      try {
        return (await q.query<T>(sql, params)).rows;
      } catch (err) {
        throw await failure(err);
      }
    },
    async exec(sql: string) {
      try {
        await q.exec(sql);
      } catch (err) {
        throw await failure(err);
      }
    },
  });
  return {
    engine: 'pglite',
    location: dir,
    ...run(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(run(tx))),
    // PGlite is one session; advisory locks taken on it live as long as the instance.
    session: async () => ({ ...run(pglite), lost: new AbortController().signal, release: async () => {} }),
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
