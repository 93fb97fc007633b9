import { beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../reconciler/state/db.js';
import { allocate, assign, deleteRange, getAllocation, listAllocations, listRanges, release, setRange } from '../../reconciler/state/ports.js';
import { ENGINES, useFreshDb } from './engines.js';

describe.each(ENGINES)('port allocation on $name', (engine) => {
  const store = useFreshDb(engine);
  beforeAll(async () => {
    await setRange(store.db, { project: 'meta-supervisor', start: 3000, end: 3999 });
    await setRange(store.db, { project: 'consilio', start: 4000, end: 4999 });
  });

  it('refuses a range that overlaps another project\'s, in the database', async () => {
    await expect(setRange(store.db, { project: 'odin', start: 4500, end: 5499 })).rejects.toThrow("the range overlaps another project's range");
    await expect(store.db.query(`insert into port_ranges values ('odin', 3999, 3999)`)).rejects.toThrow(/port_ranges_no_overlap/);
    expect((await listRanges(store.db)).map((r) => r.project)).toEqual(['meta-supervisor', 'consilio']);
  });

  it('gives a service the same port every time, and a never-used one the first time', async () => {
    expect(await allocate(store.db, 'consilio', 'web')).toBe(4000);
    expect(await allocate(store.db, 'consilio', 'api')).toBe(4001);
    expect(await allocate(store.db, 'consilio', 'web')).toBe(4000);
    expect(await release(store.db, 'consilio', 'web')).toBe(4000);
    // A port released a moment ago is not handed out again while fresh ones remain.
    expect(await allocate(store.db, 'consilio', 'worker')).toBe(4002);
    expect(await getAllocation(store.db, 'consilio', 'api')).toBe(4001);
  });

  it('refuses ports outside the project\'s range, even written directly', async () => {
    await expect(assign(store.db, { project: 'consilio', service: 'stray', port: 3500 })).rejects.toThrow("port 3500 is outside project consilio's range 4000-4999");
    await expect(store.db.query(`insert into port_allocations (project, service, port) values ('consilio', 'x', 5001)`)).rejects.toThrow(/outside project consilio/);
    await expect(setRange(store.db, { project: 'consilio', start: 4002, end: 4999 })).rejects.toThrow('project consilio has allocations outside 4002-4999');
  });

  it('refuses an unknown project and a full range with a clear message', async () => {
    await expect(allocate(store.db, 'nope', 'api')).rejects.toThrow('unknown project nope');
    await setRange(store.db, { project: 'tiny', start: 9000, end: 9001 });
    await allocate(store.db, 'tiny', 'a');
    expect(await allocate(store.db, 'tiny', 'b')).toBe(9001);
    await expect(allocate(store.db, 'tiny', 'c')).rejects.toThrow('project tiny has no free port in 9000-9001');
    // At the end of the range, released ports are reused, lowest first.
    await release(store.db, 'tiny', 'a');
    expect(await allocate(store.db, 'tiny', 'c')).toBe(9000);
    await expect(deleteRange(store.db, 'tiny')).rejects.toThrow('the project still has allocations');
  });

  it('never gives two concurrent allocators the same port (16 clients x 500)', { timeout: 240_000 }, async () => {
    // Four projects, four clients each: contention inside a project and parallelism across them.
    const projects = ['p0', 'p1', 'p2', 'p3'];
    for (const [i, p] of projects.entries()) await setRange(store.db, { project: p, start: 20_000 + i * 2_000, end: 20_000 + i * 2_000 + 1_999 });
    // Each client needs its own connection on PostgreSQL; PGlite serialises inside its one session.
    const clients = await Promise.all(Array.from({ length: 16 }, () => (engine.name === 'postgres' ? openDb({ ...store.options, maxConnections: 1, migrate: false }) : store.db)));
    try {
      const results = await Promise.all(
        clients.map(async (client, c) => {
          const got: { project: string; service: string; port: number }[] = [];
          for (let i = 0; i < 500; i++) {
            const project = projects[c % 4]!;
            const service = `c${c}-s${i}`;
            got.push({ project, service, port: await allocate(client, project, service) });
          }
          return got;
        }),
      );
      const all = results.flat();
      expect(all).toHaveLength(8_000);
      expect(new Set(all.map((a) => a.port)).size).toBe(8_000);
      for (const a of all) {
        const i = projects.indexOf(a.project);
        expect(a.port).toBeGreaterThanOrEqual(20_000 + i * 2_000);
        expect(a.port).toBeLessThanOrEqual(20_000 + i * 2_000 + 1_999);
      }
      const stored = await listAllocations(store.db);
      expect(stored.filter((s) => s.project.startsWith('p')).length).toBe(8_000);
    } finally {
      if (engine.name === 'postgres') await Promise.all(clients.map((c) => c.close()));
    }
  });
});
