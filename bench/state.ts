// Benchmark: port allocations/s and run-ledger writes/s on PGlite and PostgreSQL, with 1
// and 16 clients. PostgreSQL is BENCH_DATABASE_URL (default: the local server on loopback);
// a scratch database is created and dropped. Goal: >= 2,000 allocations/s on PostgreSQL, 16 clients.
import { performance } from 'node:perf_hooks';
import { openDb, type Db, type OpenOptions } from '../reconciler/state/db.js';
import { startRun, transition } from '../reconciler/state/ledger.js';
import { allocate, setRange } from '../reconciler/state/ports.js';
import { pglite, postgres, type Engine } from '../test/state/engines.js';

const PER_CLIENT = Number(process.env.BENCH_OPS ?? 500);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Target {
  engine: string;
  options: OpenOptions;
  cleanup(): Promise<void>;
}

async function target(engine: Engine): Promise<Target | undefined> {
  try {
    const { options, cleanup } = await engine.fresh();
    return { engine: engine.name, options, cleanup };
  } catch (err) {
    console.error(`${engine.name} skipped: ${(err as Error).message}`);
    return undefined;
  }
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
for (const engine of [pglite, postgres(ADMIN_URL)]) {
  const t = await target(engine);
  if (!t) continue;
  const main = await openDb(t.options);
  try {
    for (const clients of [1, 16]) {
      round++;
      // PGlite is one in-process session: its "clients" share it, as a daemon's tasks would.
      const dbs =
        t.engine === 'postgres'
          ? await Promise.all(Array.from({ length: clients }, () => openDb({ ...t.options, maxConnections: 1, migrate: false })))
          : Array.from({ length: clients }, () => main);
      // Four projects, as in the concurrency test: contention inside a project, parallelism across.
      for (let p = 0; p < 4; p++) await setRange(main, { project: `r${round}p${p}`, start: 10_000 + round * 8_000 + p * 2_000, end: 10_000 + round * 8_000 + p * 2_000 + 1_999 });
      const allocs = await measure(dbs, (db, c, i) => allocate(db, `r${round}p${c % 4}`, `c${c}s${i}`));
      // A ledger write: a run started, or one transition (each also writes its transition row).
      const lastRun: number[] = [];
      const ledger = await measure(dbs, async (db, c, i) => {
        if (i % 2 === 0) lastRun[c] = (await startRun(db, { repo: 'bench', trigger: 'cron' })).id;
        else await transition(db, lastRun[c]!, 'PENDING', 'PLANNING');
      });
      rows.push([t.engine, String(clients), String(clients * PER_CLIENT), allocs.toFixed(0), ledger.toFixed(0)]);
      if (t.engine === 'postgres') await Promise.all(dbs.map((d) => d.close()));
    }
  } finally {
    await main.close();
    await t.cleanup();
  }
}

const header = ['engine', 'clients', 'ops/test', 'allocations/s', 'ledger writes/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const fmt = (r: string[]) => '| ' + r.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
console.log(fmt(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(fmt(r));
