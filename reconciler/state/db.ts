// One SQL dialect, two engines: PostgreSQL through `pg` when DATABASE_URL is set,
// embedded PGlite in .fleetspec/state otherwise, so the main job needs no server.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { lockFolder } from './lock.js';
import { migrate } from './migrations.js';
import { StateError } from './errors.js';

export { StateError };

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

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
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
    throw new StateError(`cannot connect to PostgreSQL at ${location}: ${(err as Error).message}`, 'check DATABASE_URL, or unset it to use the embedded PGlite store', 3);
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

async function openPglite(stateDir: string, waitMs: number): Promise<Db> {
  const dir = resolve(stateDir);
  await mkdir(dir, { recursive: true });
  const lock = await lockFolder(dir, { waitMs });
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dir);
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
      await pglite.close();
      await lock.release();
    },
  };
}
