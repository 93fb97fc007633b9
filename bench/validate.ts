// Benchmark: load + validate a generated fleet of N resources spread over many files.
// Prints a table; no goal for issue 2 beyond seeing how validation scales.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadSpecs } from '../reconciler/specs/load.js';
import { generateFleet, printTable } from './fleet.js';

const sizes = (process.argv[2] ?? '100,1000,5000').split(',').map(Number);
const rows: string[][] = [];
for (const n of sizes) {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-'));
  const files = await generateFleet(dir, n);
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const loaded = await loadSpecs(dir);
  const ms = performance.now() - t0;
  const rss = process.memoryUsage().rss;
  if (loaded.diagnostics.length > 0) throw new Error(`generated fleet is invalid: ${loaded.diagnostics[0]!.message}`);
  rows.push([String(loaded.resources.length), String(files), ms.toFixed(0), (loaded.resources.length / (ms / 1000)).toFixed(0), ((rss - before) / 2 ** 20).toFixed(0), (rss / 2 ** 20).toFixed(0)]);
  await rm(dir, { recursive: true, force: true });
}
printTable(['resources', 'files', 'validate ms', 'resources/s', 'RSS growth MB', 'RSS MB'], rows);
