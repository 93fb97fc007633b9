// Benchmark: port allocations/s and run-ledger writes/s on PGlite and PostgreSQL, with 1
// and 16 clients. PostgreSQL is BENCH_DATABASE_URL (default: the local server on loopback);
// a scratch database is created and dropped. Goal: >= 2,000 allocations/s on PostgreSQL, 16 clients.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openDb, type Db, type OpenOptions } from '../reconciler/state/db.js';
import { startRun, transition } from '../reconciler/state/ledger.js';
import { allocate, setRange } from '../reconciler/state/ports.js';

const PER_CLIENT = Number(process.env.BENCH_OPS ?? 500);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Target {
  engine: string;
  options: OpenOptions;
  cleanup(): Promise<void>;
}

async function pgliteTarget(): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-'));
  return { engine: 'pglite', options: { stateDir: dir }, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function postgresTarget(): Promise<Target | undefined> {
  const name = `fleetspec_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 });
  try {
    await admin.connect();
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
  } catch (err) {
    console.error(`postgres skipped: ${(err as Error).message}`);
    return undefined;
  } finally {
    await admin.end().catch(() => {});
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    engine: 'postgres',
    options: { databaseUrl: url.toString() },
    async cleanup() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Runs `op` PER_CLIENT times on each of `clients` connections at once; returns ops/s. */
async function measure(dbs: Db[], op: (db: Db, client: number, i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    dbs.map(async (db, c) => {
      for (let i = 0; i < PER_CLIENT; i++) await op(db, c, i);
    }),
  );
  return (dbs.length * PER_CLIENT) / ((performance.now() - t0) / 1000);
}

const rows: string[][] = [];
let round = 0;
for (const make of [pgliteTarget, postgresTarget]) {
  const target = await make();
  if (!target) continue;
  const main = await openDb(target.options);
  try {
    for (const clients of [1, 16]) {
      round++;
      // PGlite is one in-process session: its "clients" share it, as a daemon's tasks would.
      const dbs =
        target.engine === 'postgres'
          ? await Promise.all(Array.from({ length: clients }, () => openDb({ ...target.options, maxConnections: 1, migrate: false })))
          : Array.from({ length: clients }, () => main);
      // Four projects, as in the concurrency test: contention inside a project, parallelism across.
      for (let p = 0; p < 4; p++) await setRange(main, { project: `r${round}p${p}`, start: 10_000 + round * 8_000 + p * 2_000, end: 10_000 + round * 8_000 + p * 2_000 + 1_999 });
      const allocs = await measure(dbs, (db, c, i) => allocate(db, `r${round}p${c % 4}`, `c${c}s${i}`));
      // A ledger write: a run started, or one transition (each also writes its transition row).
      const ledger = await measure(dbs, async (db, _c, i) => {
        if (i % 2 === 0) (db as Db & { lastRun?: number }).lastRun = (await startRun(db, { repo: 'bench', trigger: 'cron' })).id;
        else await transition(db, (db as Db & { lastRun?: number }).lastRun!, 'PENDING', 'PLANNING');
      });
      rows.push([target.engine, String(clients), String(clients * PER_CLIENT), allocs.toFixed(0), ledger.toFixed(0)]);
      if (target.engine === 'postgres') await Promise.all(dbs.map((d) => d.close()));
    }
  } finally {
    await main.close();
    await target.cleanup();
  }
}

const header = ['engine', 'clients', 'ops/test', 'allocations/s', 'ledger writes/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const fmt = (r: string[]) => '| ' + r.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
console.log(fmt(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(fmt(r));
