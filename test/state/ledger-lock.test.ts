import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '../../reconciler/state/db.js';
import { RUN_STATES, TRANSITIONS, getRun, runHistory, startRun, transition } from '../../reconciler/state/ledger.js';
import { acquireLeader } from '../../reconciler/state/lock.js';
import { ENGINES, useFreshDb } from './engines.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const HOLDER = join(ROOT, 'dist', 'test', 'state', 'hold-lock.js');
const SHA = 'a'.repeat(40);
const HASH = 'b'.repeat(64);

describe.each(ENGINES)('run ledger on $name', (engine) => {
  const store = useFreshDb(engine);

  it('records every transition of a run that goes the whole way', async () => {
    const run = await startRun(store.db, { repo: 'fleet', trigger: 'merge', gitSha: SHA });
    expect(run.state).toBe('PENDING');
    await transition(store.db, run.id, 'PENDING', 'PLANNING');
    await transition(store.db, run.id, 'PLANNING', 'WAIT_FOR_APPROVE', { planHash: HASH, reason: '3 to add' });
    await transition(store.db, run.id, 'WAIT_FOR_APPROVE', 'APPLYING', { reason: 'approved by reviewer' });
    const final = await transition(store.db, run.id, 'APPLYING', 'DONE');
    expect(final).toMatchObject({ state: 'DONE', planHash: HASH, gitSha: SHA });
    expect(final.finishedAt).toBeInstanceOf(Date);
    const history = await runHistory(store.db, run.id);
    expect(history.map((t) => `${t.from ?? '-'}>${t.to}`)).toEqual([
      '->PENDING',
      'PENDING>PLANNING',
      'PLANNING>WAIT_FOR_APPROVE',
      'WAIT_FOR_APPROVE>APPLYING',
      'APPLYING>DONE',
    ]);
    expect(history[2]!.reason).toBe('3 to add');
  });

  it('refuses an illegal transition in the code', async () => {
    const run = await startRun(store.db, { repo: 'fleet', trigger: 'cron' });
    await expect(transition(store.db, run.id, 'PENDING', 'APPLYING')).rejects.toThrow('illegal run transition PENDING -> APPLYING');
    expect((await getRun(store.db, run.id))!.state).toBe('PENDING');
  });

  it('refuses an illegal transition in the database when the code is bypassed', async () => {
    const run = await startRun(store.db, { repo: 'fleet', trigger: 'cron' });
    await expect(store.db.query(`update runs set state = 'DONE' where id = $1`, [run.id])).rejects.toThrow('illegal run transition PENDING -> DONE');
    await expect(store.db.query(`insert into runs (repo, trigger, state) values ('fleet', 'cron', 'APPLYING')`)).rejects.toThrow(
      'a run starts in PENDING, not APPLYING',
    );
    await transition(store.db, run.id, 'PENDING', 'FAILED', { reason: 'crashed' });
    await expect(store.db.query(`update runs set state = 'PLANNING' where id = $1`, [run.id])).rejects.toThrow('illegal run transition FAILED -> PLANNING');
  });

  it('refuses a move from a state the run is no longer in', async () => {
    const run = await startRun(store.db, { repo: 'fleet', trigger: 'cron' });
    await transition(store.db, run.id, 'PENDING', 'PLANNING');
    await expect(transition(store.db, run.id, 'PENDING', 'PLANNING')).rejects.toThrow(`run ${run.id} is PLANNING, not PENDING`);
  });

  it('keeps the same state machine in the code and in the database', async () => {
    const edges = await store.db.query<{ from_state: string; to_state: string }>('select from_state, to_state from run_state_edges');
    const inDb = edges.map((e) => `${e.from_state}>${e.to_state}`).sort();
    const inCode = RUN_STATES.flatMap((from) => TRANSITIONS[from].map((to) => `${from}>${to}`)).sort();
    expect(inDb).toEqual(inCode);
  });
});

describe.each(ENGINES)('leader lock on $name', (engine) => {
  const store = useFreshDb(engine);

  it('admits one leader per repo at a time, and another repo freely', async () => {
    const lock = await acquireLeader(store.db, 'repo-a');
    await expect(acquireLeader(store.db, 'repo-a')).rejects.toThrow('another fleetspec is already reconciling repo-a');
    const other = await acquireLeader(store.db, 'repo-b');
    await other.release();
    await lock.release();
    const again = await acquireLeader(store.db, 'repo-a');
    await again.release();
  });

  it('is released by the database when its holder is killed', async () => {
    expect(existsSync(HOLDER), 'npm test builds dist/ before running vitest').toBe(true);
    // The child needs the store to itself on PGlite: close ours first.
    if (engine.name === 'pglite') await store.db.close();
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [HOLDER, JSON.stringify(store.options), 'repo-k'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const [first] = (await once(child.stdout!, 'data')) as [Buffer];
      expect(first.toString()).toBe('locked\n');
      const contender = engine.name === 'pglite' ? undefined : await openDb(store.options);
      if (contender) {
        await expect(acquireLeader(contender, 'repo-k')).rejects.toThrow(/already reconciling repo-k \(server pid \d+, fleetspec/);
      } else {
        await expect(openDb(store.options)).rejects.toThrow(/is in use by pid \d+/);
      }
      child.kill('SIGKILL');
      await once(child, 'exit');
      const db2 = contender ?? (await openDb({ ...store.options, waitMs: 5_000 }));
      const lock = await acquireLeader(db2, 'repo-k', { waitMs: 5_000, pollMs: 50 });
      await lock.release();
      await db2.close();
    } finally {
      child?.kill('SIGKILL');
      if (engine.name === 'pglite') store.db = await openDb(store.options);
    }
  });
});
