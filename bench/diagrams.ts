// Benchmark: `fleetspec diagrams` on generated fleets of N resources (writing the Mermaid sources)
// and what a reader's browser then does with the topology: parse and lay it out with mermaid in
// headless Chromium. Prints a table. The sources are cheap; layout is what grows, and mermaid's
// own limits (maxTextSize, maxEdges in docs/diagrams/mermaid.json) decide what still renders.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { renderDiagrams, writeDiagrams } from '../reconciler/diagrams/index.js';
import { loadSpecs } from '../reconciler/specs/load.js';
import { openMermaid } from '../test/diagrams/chromium.js';
import { generateFleet, printTable } from './fleet.js';

const ROOT = join(import.meta.dirname, '..', '..');
const sizes = (process.argv[2] ?? '100,500,1000,3000').split(',').map(Number);
const page = await openMermaid();
const rows: string[][] = [];
try {
  const fleets: [string, string][] = [['specs/', join(ROOT, 'specs')]];
  const scratch = await mkdtemp(join(tmpdir(), 'fleetspec-bench-diagrams-'));
  for (const n of sizes) {
    const dir = join(scratch, String(n));
    await mkdir(dir, { recursive: true });
    await generateFleet(dir, n);
    fleets.push([String(n), dir]);
  }
  for (const [name, specs] of fleets) {
    const loaded = await loadSpecs(specs);
    const t0 = performance.now();
    const files = renderDiagrams(loaded.index);
    const sourceMs = performance.now() - t0;
    const out = join(scratch, `out-${name.replace(/\W/g, '')}`);
    await writeDiagrams(loaded.index, out);
    const t1 = performance.now();
    const again = await writeDiagrams(loaded.index, out);
    const unchangedMs = performance.now() - t1;
    if (again.some((f) => f.status !== 'unchanged')) throw new Error('a second run rewrote a file');
    const topology = files.find((f) => f.diagram.name === 'topology')!.text;
    const t2 = performance.now();
    const r = await page.render(topology);
    const layoutMs = performance.now() - t2;
    rows.push([
      name,
      String(loaded.resources.length),
      sourceMs.toFixed(1),
      unchangedMs.toFixed(1),
      (Buffer.byteLength(topology) / 1024).toFixed(1),
      r.ok && !r.errorMarks ? layoutMs.toFixed(0) : '-',
      !r.ok ? r.error.split('\n')[0]!.slice(0, 60) : r.errorMarks ? 'maximum text size exceeded' : (Buffer.byteLength(r.svg) / 1024).toFixed(0),
    ]);
  }
  await rm(scratch, { recursive: true, force: true });
} finally {
  await page.close();
}
printTable(['fleet', 'resources', 'all sources ms', 'unchanged rerun ms', 'topology KiB', 'Chromium layout ms', 'topology SVG KiB / error'], rows);
