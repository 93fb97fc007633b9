// Benchmark: synthesis of the dns stack for 5,000 DNS records (goal: under 2 s) and an
// unchanged re-synth (goal: under 0.2 s, by skipping stacks whose input hash is unchanged).
// Specs are loaded once, untimed: the figures are the stacks step alone. The whole
// `fleetspec stacks synth` command, spec loading included, is timed in a child process.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadSpecs } from '../reconciler/specs/load.js';
import { stackFile, synthesiseAll } from '../reconciler/stacks/files.js';
import { generateFleet, printTable } from './fleet.js';

const records = Number(process.argv[2] ?? 5000);
const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-stacks-'));
const specs = join(dir, 'specs');
const out = join(dir, 'stacks');
await import('node:fs/promises').then((fs) => fs.mkdir(specs));
await generateFleet(specs, Math.ceil(records / 8) * 18);
const loaded = await loadSpecs(specs);
if (loaded.diagnostics.some((d) => d.severity === 'error')) throw new Error(`generated fleet is invalid: ${loaded.diagnostics[0]!.message}`);

const rows: string[][] = [];
const time = async (what: string, fn: () => Promise<unknown>, goal: string) => {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  rows.push([what, String(loaded.index.all('dns').length), ms.toFixed(0), goal, ((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)]);
  return result;
};

await time('synth dns, first (cdktf load included)', () => synthesiseAll(loaded.index, out, { only: ['dns'] }), '< 2000');
const bytes = (await readFile(stackFile(out, 'dns'))).length;
await time('synth dns again, input hash unchanged', () => synthesiseAll(loaded.index, out, { only: ['dns'] }), '< 200');
await time('synth dns forced, same bytes (not rewritten)', () => synthesiseAll(loaded.index, out, { only: ['dns'], force: true }), '');

const cli = join(import.meta.dirname, '..', 'reconciler', 'cli.js');
for (const label of ['fleetspec stacks synth (whole command), unchanged', 'fleetspec stacks synth --force (whole command)']) {
  const t0 = performance.now();
  execFileSync(process.execPath, [cli, 'stacks', 'synth', 'dns', '--specs', specs, '--stacks-dir', out, ...(label.includes('--force') ? ['--force'] : [])], { stdio: 'ignore' });
  rows.push([label, String(loaded.index.all('dns').length), (performance.now() - t0).toFixed(0), '', '']);
}
printTable(['what', 'records', 'wall ms', 'goal ms', 'RSS growth MB'], rows);
console.log(`stacks/dns/cdk.tf.json: ${(bytes / 2 ** 20).toFixed(1)} MB; spec files loaded untimed: ${loaded.resources.length} resources`);
await rm(dir, { recursive: true, force: true });
