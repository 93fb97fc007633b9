// Benchmark: the policies of policies/ (and one CEL rule per DNS record) judging a generated
// fleet of N resources, without and with a plan. Prints a table; policy evaluation runs on
// every plan and every tick, so it should stay a small part of a plan's time.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildPlan, type ResourceChange } from '../reconciler/plan/plan.js';
import { evaluatePolicies, loadPolicies } from '../reconciler/policies/index.js';
import { loadSpecs } from '../reconciler/specs/load.js';
import { generateFleet, printTable } from './fleet.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CEL_RULE = `kind: Policy
name: records-inside-their-zone
severity: error
match: {kinds: [dns]}
validations:
  - expression: resource.name.endsWith('.' + resource.zone) && has(resource.route)
    messageExpression: "resource.name + ' is outside ' + resource.zone"
`;

const sizes = (process.argv[2] ?? '100,1000,5000').split(',').map(Number);
const rows: string[][] = [];
for (const n of sizes) {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-bench-policies-'));
  await mkdir(join(dir, 'specs'));
  await generateFleet(join(dir, 'specs'), n);
  await cp(join(ROOT, 'policies'), join(dir, 'policies'), { recursive: true });
  await writeFile(join(dir, 'policies', 'cel.yaml'), CEL_RULE);
  const loaded = await loadSpecs(join(dir, 'specs'));
  const t0 = performance.now();
  const { set, diagnostics } = await loadPolicies(join(dir, 'policies'));
  const loadMs = performance.now() - t0;
  if (diagnostics.length) throw new Error(`policies invalid: ${diagnostics[0]!.message}`);
  const t1 = performance.now();
  const specsOnly = evaluatePolicies({ set }, { index: loaded.index, facts: new Map() });
  const specsMs = performance.now() - t1;
  // A plan that creates every resource and deletes 10 others: blast-radius fires.
  const changes: ResourceChange[] = loaded.resources.map((r) => ({ kind: r.kind.folder, name: r.name, action: 'create', before: null, after: r.value, reason: 'new' }));
  for (let i = 0; i < 10; i++) changes.push({ kind: 'ports', name: `gone${i}`, action: 'delete', before: {}, after: null, reason: 'removed' });
  const plan = buildPlan(changes);
  const t2 = performance.now();
  const withPlan = evaluatePolicies({ set }, { index: loaded.index, plan, facts: new Map() });
  const planMs = performance.now() - t2;
  rows.push([String(loaded.resources.length), String(set.policies.length), loadMs.toFixed(1), specsMs.toFixed(1), planMs.toFixed(1), String(specsOnly.findings.length), String(withPlan.findings.length)]);
  await rm(dir, { recursive: true, force: true });
}
printTable(['resources', 'policies', 'load+compile ms', 'judge specs ms', 'judge specs+plan ms', 'findings', 'findings with plan'], rows);
