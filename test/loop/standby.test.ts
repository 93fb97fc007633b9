// Two reconcilers of one repository (issue 20, item 4). The leader lock is tied to a database
// connection; a leader whose connection is cut loses the lock while it may still be applying. The
// reconciler that gets the lock next must leave that run alone while its holder lives (on this host:
// its process exists; on another: its lease is fresh), say so as a standby, not as an error, and take
// over at once when the holder dies. A leader that loses its lock stops at its next safe point.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type TickLog } from '../../reconciler/loop/daemon.js';
import { tick, type TickContext, type TickReport } from '../../reconciler/loop/tick.js';
import { TickWatch } from '../../reconciler/loop/watchdog.js';
import { isAlive, thisProcess } from '../../reconciler/state/holder.js';
import { getRun, holdRun, listRuns, runsStillHeld, startRun, transition } from '../../reconciler/state/ledger.js';
import { LockHeld } from '../../reconciler/state/lock.js';
import type { Db } from '../../reconciler/state/db.js';
import { postgres, useFreshDb } from '../state/engines.js';
import { until } from '../faults/wait.js';

const ADMIN = process.env.TEST_DATABASE_URL;
const HOLDER = join(import.meta.dirname, '..', '..', 'dist', 'test', 'loop', 'hold-run.js');

/** A tick's services that must never be reached, but for git fetch, which `fetch` stands for. */
function services(db: Db, repoKey: string, fetch: () => Promise<Map<string, string>>, progress: string[] = []): TickContext {
  const unreachable = new Proxy({}, { get: (_t, key) => (key === 'signal' ? undefined : () => Promise.reject(new Error(`unexpected call ${String(key)}`))), set: () => true });
  const git = new Proxy({ fetch }, { get: (t, key) => (key in t ? Reflect.get(t, key) : key === 'signal' || key === 'onPushed' ? undefined : () => Promise.reject(new Error(`unexpected git ${String(key)}`))), set: () => true });
  return { db, repoKey, git, github: unreachable, engine: {}, specsPath: 'specs', trigger: 'cron', progress: (m: string) => void progress.push(m) } as unknown as TickContext;
}

async function failure(p: Promise<unknown>): Promise<Error & { report?: TickReport }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { report?: TickReport };
  }
  throw new Error('expected the tick to fail');
}

/** Cuts the connections of `db`'s database that hold an advisory lock (the leader lock's), as a network cut or a server restart would. */
async function cutLockConnections(db: Db): Promise<number> {
  const rows = await db.query<{ pid: number }>(
    `select pg_terminate_backend(l.pid) as done, l.pid from pg_locks l
      where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = current_database())`,
  );
  return rows.length;
}

describe('which unfinished runs are still held', () => {
  const store = useFreshDb(postgresOrPglite());

  it('a live process on this host, a fresh lease elsewhere; never a dead process, a stale lease, this process or a finished run', async () => {
    const repo = 'acme/held';
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const host = thisProcess().host;
      const started = async () => (await startRun(store.db, { repo, trigger: 'cron' })).id;
      const alive = await started();
      const { processStart } = await import('../../reconciler/state/holder.js');
      await holdRun(store.db, alive, { host, pid: sleeper.pid!, started: processStart(sleeper.pid!) });
      const elsewhere = await started();
      await holdRun(store.db, elsewhere, { host: 'west', pid: 4242, started: '1' });
      const stale = await started();
      await holdRun(store.db, stale, { host: 'west', pid: 4243, started: '1' });
      await store.db.query(`update runs set alive_at = now() - interval '100 seconds' where id = $1`, [stale]);
      const mine = await started();
      await holdRun(store.db, mine, thisProcess());
      const finished = await started();
      await holdRun(store.db, finished, { host: 'west', pid: 4244, started: '1' });
      await transition(store.db, finished, 'PENDING', 'FAILED');
      await started(); // no holder recorded (a run from before migration 8): nobody's

      const held = await runsStillHeld(store.db, repo, 90_000, host);
      expect(held.map((h) => h.run.id)).toEqual([alive, elsewhere]);
      expect(held[1]!.renewedMs).toBeLessThan(90_000);
      // A shorter lease: the renewal elsewhere is too old; the process here still counts while it lives.
      await store.db.query(`update runs set alive_at = now() - interval '5 seconds' where id = $1`, [elsewhere]);
      expect((await runsStillHeld(store.db, repo, 2_000, host)).map((h) => h.run.id)).toEqual([alive]);

      sleeper.kill('SIGKILL');
      await once(sleeper, 'exit');
      expect(isAlive({ pid: sleeper.pid!, started: null })).toBe(false);
      expect((await runsStillHeld(store.db, repo, 2_000, host)).map((h) => h.run.id)).toEqual([]);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});

describe('a standby in the daemon', () => {
  it('logs losing the race as an info line and ticks again at the next due time', async () => {
    const logs: TickLog[] = [];
    let ticks = 0;
    const daemon = startDaemon({
      schedule: '* * * * * *',
      immediately: true,
      tick: async () => {
        ticks++;
        throw new LockHeld('another fleetspec is already reconciling acme/fleet (server pid 77)', 'wait for it to finish');
      },
      log: (e) => void logs.push(e),
    });
    try {
      await until('a second tick at the next due time', () => ticks >= 2 && logs.length >= 2, 5_000);
    } finally {
      await daemon.stop();
    }
    expect(logs.slice(0, 2)).toEqual([
      expect.objectContaining({ level: 'info', message: 'standby: another fleetspec is already reconciling acme/fleet (server pid 77)' }),
      expect.objectContaining({ level: 'info' }),
    ]);
  });
});

describe.skipIf(!ADMIN)('leadership on PostgreSQL', () => {
  const store = useFreshDb(postgres(ADMIN!));
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  it('a tick whose leader lock is lost stops at its next safe point, its run FAILED saying why', async () => {
    const repo = 'acme/lost';
    let fetching!: () => void;
    const atFetch = new Promise<void>((r) => (fetching = r));
    const watch = new TickWatch({ budgetMs: 60_000 });
    const ctx = { ...services(store.db, repo, () => (fetching(), new Promise<never>(() => undefined))), watch };
    const running = failure(tick(ctx));
    await until('the tick to wait on git fetch', () => atFetch.then(() => true), 20_000);
    expect(await cutLockConnections(store.db)).toBe(1);
    const err = await running;
    expect(err.message).toMatch(/^the leader lock was lost \(lost the connection to PostgreSQL .*\) in phase fetch, waiting [\d.]+ m?s for git fetch$/);
    const run = await getRun(store.db, err.report!.run);
    expect(run?.state).toBe('FAILED');
    expect(run?.reason).toMatch(/^abandoned: the leader lock was lost/);
  });

  it('another reconciler leaves a run alone while its holder lives without the lock, and takes over when it dies', async () => {
    expect(existsSync(HOLDER), 'npm test builds dist/ before running vitest').toBe(true);
    const repo = 'acme/standby';
    const child = spawn(process.execPath, [HOLDER, JSON.stringify(store.options), repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let said = '';
    child.stdout!.on('data', (b: Buffer) => (said += b.toString()));
    const runId = Number((await until('the holder to start its run', () => /holding (\d+)/.exec(said)?.[1], 30_000)));

    // The holder has the lock: the ordinary standby.
    const before = (await listRuns(store.db, { repo })).length;
    const held = await failure(tick(services(store.db, repo, () => Promise.reject(new Error('no fetch while standing by')))));
    expect(held).toBeInstanceOf(LockHeld);
    expect(held.message).toMatch(/^another fleetspec is already reconciling acme\/standby/);

    // Its lock's connection is cut (a server restart, a network cut) while it applies: it lives on.
    expect(await cutLockConnections(store.db)).toBe(1);
    await until('the holder to notice the lost lock', () => said.includes('lost'), 10_000);
    const standing = await failure(tick(services(store.db, repo, () => Promise.reject(new Error('no fetch while standing by')))));
    expect(standing).toBeInstanceOf(LockHeld);
    expect(standing.message).toBe(`run ${runId} (APPLYING) of another fleetspec (pid ${child.pid}) is still running, though it lost the leader lock; standing by until it ends`);
    expect((await listRuns(store.db, { repo })).length).toBe(before);
    expect((await getRun(store.db, runId))?.state).toBe('APPLYING');

    // It dies: the next tick takes over at once, recording the run it left.
    child.kill('SIGKILL');
    await once(child, 'exit');
    const taken = await failure(tick(services(store.db, repo, () => Promise.reject(new Error('fetch reached')))));
    expect(taken.message).toBe('fetch reached');
    expect(taken.report?.recovered.runs).toEqual([runId]);
    expect((await getRun(store.db, runId))?.state).toBe('FAILED');
  });
});

function postgresOrPglite() {
  return ADMIN ? postgres(ADMIN) : { name: 'pglite' as const, fresh: async () => (await import('../state/engines.js')).pglite.fresh() };
}
