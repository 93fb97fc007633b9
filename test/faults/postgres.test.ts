// PostgreSQL behind the fault proxy (issue 20): a database that goes silent, as when its host
// loses power, fails a query within the query timeout instead of holding the caller forever; the
// pool works again once the network does; the leader lock's holder learns that it lost its
// connection; and `fleetspec` commands, `reconcile` included, exit with a clear error in time.
// The deadlines are made small (2 s) through the settings the store reads, so the test is quick.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, StateError, type Db, type PgTimeouts } from '../../reconciler/state/db.js';
import { acquireLeader } from '../../reconciler/state/lock.js';
import { pgSettings } from '../../reconciler/state/pg-settings.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { postgres } from '../state/engines.js';
import { startFaultProxy, type FaultProxy } from './proxy.js';
import { timed, until, within } from './wait.js';

const ADMIN = process.env.TEST_DATABASE_URL;
const BIN = join(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
const TIMEOUTS: Partial<PgTimeouts> = { connectMs: 2000, queryMs: 2000, statementMs: 1500 };
/** What a failure may take beyond the limit that ends it: scheduling on a loaded 2-core machine. */
const MARGIN = 1500;

/** `url` with its host and port replaced by the proxy's. */
function through(proxy: FaultProxy, url: string): string {
  const u = new URL(url);
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  return u.toString();
}

describe.skipIf(!ADMIN)('PostgreSQL behind a fault proxy', () => {
  let proxy: FaultProxy;
  let direct: string;
  let url: string;
  let cleanup: () => Promise<void>;
  let db: Db;

  beforeAll(async () => {
    const fresh = await postgres(ADMIN!).fresh();
    cleanup = fresh.cleanup;
    direct = fresh.options.databaseUrl!;
    const target = new URL(direct);
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    url = through(proxy, direct);
    db = await openDb({ databaseUrl: url, timeouts: TIMEOUTS });
  });
  afterAll(async () => {
    await db?.close();
    await proxy?.close();
    await cleanup?.();
  });

  it('reads its deadlines from the connection string first, then the options, then FLEETSPEC_DB_*', () => {
    const env = { FLEETSPEC_DB_QUERY_TIMEOUT: '2.5', FLEETSPEC_DB_STATEMENT_TIMEOUT: '7', FLEETSPEC_DB_KEEPALIVE_IDLE: '0', FLEETSPEC_DB_IDLE_IN_TRANSACTION_TIMEOUT: '3m' };
    const s = pgSettings('postgres://u:p%40ss@db.example:5432/fleet?query_timeout=1200&connect_timeout=3&sslmode=require&application_name=x', { statementMs: 9000, lockMs: 100 }, env);
    expect(s.timeouts).toEqual({ connectMs: 3000, queryMs: 1200, statementMs: 9000, lockMs: 100, idleInTransactionMs: 180_000, keepAliveMs: 0 });
    expect(pgSettings('postgres://db/fleet', {}, env).timeouts).toMatchObject({ queryMs: 2500, statementMs: 7000 });
    // What is read here is not left for node-postgres to read again (as strings); the rest stays.
    expect(s.connectionString).toBe('postgres://u:p%40ss@db.example:5432/fleet?sslmode=require&application_name=x');
    expect(s.options).toBeUndefined();
    const d = pgSettings('postgres://db.example/fleet?options=-c%20search_path%3Dfleet', {}, {});
    expect(d.timeouts).toEqual({ connectMs: 10_000, queryMs: 90_000, statementMs: 60_000, lockMs: 30_000, idleInTransactionMs: 120_000, keepAliveMs: 30_000 });
    expect(d.options).toBe('-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 -c search_path=fleet');
    expect(() => pgSettings('postgres://db/fleet', {}, { FLEETSPEC_DB_QUERY_TIMEOUT: 'soon' })).toThrow('FLEETSPEC_DB_QUERY_TIMEOUT="soon" is not a duration');
    expect(() => pgSettings('postgres://db/fleet?lock_timeout=5s', {}, {})).toThrow('lock_timeout="5s" in DATABASE_URL is not a number of milliseconds');
  });

  it('the server gets the limits: statement, lock and idle-in-transaction timeouts, and keepalive', async () => {
    const rows = await db.query<{ name: string; setting: string }>(
      `select name, setting from pg_settings where name in ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'tcp_keepalives_idle', 'tcp_keepalives_count') order by name`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.name, r.setting]))).toEqual({
      idle_in_transaction_session_timeout: '120000',
      lock_timeout: '30000',
      statement_timeout: '1500',
      tcp_keepalives_count: '3',
      tcp_keepalives_idle: '30',
    });
    // A statement past its limit is cancelled by the server, and the message says which limit.
    const slow = await timed(db.query('select pg_sleep(5)'));
    expect(slow.error).toBeInstanceOf(StateError);
    expect((slow.error as StateError).message).toBe(`PostgreSQL at ${url} cancelled a statement after 1.5 s (statement timeout)`);
    expect(slow.ms).toBeLessThan(1500 + MARGIN);
  });

  it('blackholed: a query fails within the query timeout, and once the network is back the same pool works again', async () => {
    await db.query('select 1'); // an idle pool connection, as between two ticks
    proxy.set('blackhole');
    try {
      const query = await timed(db.query('select 1'));
      expect(query.error).toBeInstanceOf(StateError);
      expect((query.error as StateError).message).toBe(`PostgreSQL at ${url} did not answer within 2 s (query timeout); the connection was dropped`);
      expect((query.error as StateError).exitCode).toBe(3);
      expect(query.ms).toBeGreaterThanOrEqual(1900);
      expect(query.ms).toBeLessThan(2000 + MARGIN);
      // A transaction: one timeout, not a second one spent on a rollback the dead connection cannot do.
      const tx = await timed(db.transaction((q) => q.query('select 1')));
      expect((tx.error as StateError).message).toMatch(/\((query|connect) timeout\)/);
      expect(tx.ms).toBeLessThan(2000 + MARGIN);
    } finally {
      proxy.set('pass');
    }
    // The dead connections were dropped, not handed out again.
    expect(await within('a query after the network came back', db.query<{ n: number }>('select 2 as n'), 2000 + MARGIN)).toEqual([{ n: 2 }]);
    expect(await within('a transaction after the network came back', db.transaction((q) => q.query<{ n: number }>('select 3 as n')), 2000 + MARGIN)).toEqual([{ n: 3 }]);
  });

  it('a connection cut in the middle of a transaction fails that transaction, not the process', async () => {
    const cut = await timed(
      db.transaction(async (q) => {
        await q.query('select 1');
        proxy.cut();
        return q.query('select 2');
      }),
    );
    expect((cut.error as StateError).message).toMatch(new RegExp(`^lost the connection to PostgreSQL at .+: (Connection terminated unexpectedly|(read|write) ECONNRESET|.*not queryable)$`));
    expect(cut.ms).toBeLessThan(MARGIN);
    expect(await db.query<{ n: number }>('select 4 as n')).toEqual([{ n: 4 }]);
  });

  it('the leader lock holder learns that its connection was cut, and the server gave the lock up', async () => {
    const lock = await acquireLeader(db, 'acme/cut', { heartbeatMs: 0 });
    expect(lock.lost.aborted).toBe(false);
    proxy.cut();
    await until('the lock holder to notice the cut', () => lock.lost.aborted, 5000);
    expect((lock.lost.reason as StateError).message).toMatch(new RegExp(`^lost the connection to PostgreSQL at ${url.replace(/[.?*+^$[\]\\(){}|-]/g, '\\$&')}: `));
    // Releasing a lost lock does not wait on the dead connection.
    expect((await timed(lock.release())).ms).toBeLessThan(1000);
    const next = await until('another holder to get the lock', () => acquireLeader(db, 'acme/cut').catch(() => undefined), 5000, 100);
    await next.release();
  });

  it('a blackholed leader lock connection is noticed by its heartbeat within the query timeout', async () => {
    const lock = await acquireLeader(db, 'acme/silent', { heartbeatMs: 200 });
    proxy.set('blackhole');
    const started = Date.now();
    try {
      await until('the heartbeat to find the lock connection silent', () => lock.lost.aborted, 200 + 2000 + MARGIN + 1000);
      expect(Date.now() - started).toBeLessThan(200 + 2000 + MARGIN);
      expect((lock.lost.reason as StateError).message).toBe(`PostgreSQL at ${url} did not answer within 2 s (query timeout); the connection was dropped`);
    } finally {
      proxy.set('pass');
    }
    expect((await timed(lock.release())).ms).toBeLessThan(1000);
    // The proxy closes the server side once its client is gone, and the server releases the lock with it.
    const next = await until('another holder to get the lock', () => acquireLeader(db, 'acme/silent').catch(() => undefined), 5000, 100);
    await next.release();
  });

  describe('fleetspec commands with DATABASE_URL through the proxy', () => {
    let git: GitTestServer;
    let gh: GitHubTestServer;
    let work: string;
    const TOKEN = 'ghp_faultsTestToken0123456789abcdefABCDEF';

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'fleetspec-faults-pg-'));
      git = await startGitServer({ token: TOKEN });
      gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, defaultBranch: 'main', login: 'fleetspec-bot', resolveBranch: (b) => git.git('fleet', 'rev-parse', `refs/heads/${b}`) });
      const main = await git.createBare('fleet', { 'README.md': '# fleet\n', 'specs/.keep': '' });
      gh.setBranch('main', main);
    });
    afterAll(async () => {
      await Promise.all([git?.close(), gh?.close()]);
      if (work) await rm(work, { recursive: true, force: true });
    });

    const run = (args: string[], env: Record<string, string>) => {
      const { DATABASE_URL: _, GITHUB_TOKEN: __, FLEETSPEC_GITHUB_TOKEN: ___, FLEETSPEC_SECRET_KEY: ____, ...rest } = process.env;
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: work,
        env: {
          ...rest,
          NO_COLOR: '1',
          FLEETSPEC_GITHUB_REPO: 'acme/fleet',
          FLEETSPEC_GITHUB_TOKEN: TOKEN,
          FLEETSPEC_GIT_URL: git.url('fleet'),
          FLEETSPEC_GITHUB_API: gh.url,
          FLEETSPEC_REPO_DIR: join(work, 'repo'),
          FLEETSPEC_WORK_DIR: join(work, 'terraform'),
          FLEETSPEC_SSH_KEY: join(work, 'no-such-key'),
          FLEETSPEC_TERRAFORM: '/nonexistent/terraform',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => child.on('close', (code) => done({ code, stdout, stderr })));
      return { child, exited };
    };

    it('fleetspec ports list against a blackholed database exits 3 within its connect timeout (set in the environment)', async () => {
      proxy.set('blackhole');
      try {
        const started = Date.now();
        const { child, exited } = run(['ports', 'list'], { DATABASE_URL: url, FLEETSPEC_DB_CONNECT_TIMEOUT: '2' });
        const r = await within('fleetspec ports list to exit', exited, 30_000).finally(() => child.kill('SIGKILL'));
        expect(r.code, r.stderr).toBe(3);
        expect(r.stderr).toBe(
          `fleetspec ports list: cannot connect to PostgreSQL at ${url} within 2 s (connect timeout)\n  hint: check that the database server is up and reachable; the limit is connect_timeout= (s) in DATABASE_URL or FLEETSPEC_DB_CONNECT_TIMEOUT (s)\n`,
        );
        // Node's own start-up and the bounded close come on top of the 2 s.
        expect(Date.now() - started).toBeLessThan(2000 + 2000 + 3 * MARGIN);
      } finally {
        proxy.set('pass');
      }
    });

    it('fleetspec reconcile: a database that goes silent in the middle of a tick ends it with a timeout error, exit 3, instead of a hang', async () => {
      const limits = 'connect_timeout=2&query_timeout=2000&statement_timeout=1500';
      const sep = url.includes('?') ? '&' : '?';
      const env = { DATABASE_URL: `${url}${sep}${limits}` };
      // First a tick with the network healthy: the loop runs against git and GitHub, the baseline is taken.
      const healthy = run(['reconcile'], env);
      const ok = await within('a healthy fleetspec reconcile to exit', healthy.exited, 60_000).finally(() => healthy.child.kill('SIGKILL'));
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^run \d+ DONE/m);

      // Then the database goes silent in the middle of a tick: once its run is in the ledger (read
      // directly, not through the proxy). A slow network until then keeps the tick from finishing first.
      const watcher = new pg.Client({ connectionString: direct });
      await watcher.connect();
      const lastRun = async () => (await watcher.query<{ id: number | null }>('select max(id)::int as id from runs')).rows[0]!.id ?? 0;
      const before = await lastRun();
      proxy.set('slow', { delayMs: 20 });
      const { child, exited } = run(['reconcile'], env);
      try {
        await until('the tick to start its run', async () => (await lastRun()) > before, 30_000, 5);
        proxy.set('blackhole');
        const silentAt = Date.now();
        const r = await within('fleetspec reconcile to give up on the silent database', exited, 60_000);
        const took = Date.now() - silentAt;
        expect(r.code, r.stderr).toBe(3);
        // A query on a pooled connection meets the query timeout; one that needs a new connection, the connect timeout.
        expect(r.stderr).toMatch(/^fleetspec reconcile: (PostgreSQL at .+ did not answer within 2 s \(query timeout\); the connection was dropped|cannot connect to PostgreSQL at .+ within 2 s \(connect timeout\))/m);
        // Every wait after the silence is one of the 2 s limits: the query that hit it, recording the
        // run FAILED (a new connection, connect timeout), the lock's unlock, and the bounded close.
        console.log(`fleetspec reconcile gave up ${took} ms after the database went silent`);
        expect(took).toBeLessThan(5 * 2000 + 2 * MARGIN);
      } finally {
        proxy.set('pass');
        child.kill('SIGKILL');
        await watcher.end();
      }
      // The network is back: the next tick runs (the silent connections are gone, and with them the lock).
      const after = run(['reconcile'], env);
      const next = await within('the fleetspec reconcile after the fault to exit', after.exited, 60_000).finally(() => after.child.kill('SIGKILL'));
      expect(next.code, next.stderr).toBe(0);
    }, 240_000);
  });
});
