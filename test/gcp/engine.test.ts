// The vms driver inside the plan engine: the VM facts a live plan reads reach the policies (the
// vm-scale rule's warning on the user's own VM spec), `running: false` is one planned change that
// applyPlan carries out by instances.stop, and the plan text holds neither the key nor a token.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vmsDriverWith } from '../../reconciler/kinds/vms/driver.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import { loadPolicies } from '../../reconciler/policies/load.js';
import type { Queryable } from '../../reconciler/state/db.js';
import { startGcpServer, type GcpTestServer } from './server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOW = Math.floor(Date.now() / 1000);
let g: GcpTestServer;
let dir: string;
let opts: Omit<EngineOptions, 'mode'>;

beforeAll(async () => {
  g = await startGcpServer({ now: () => NOW });
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-vms-engine-'));
  // Only the user's VM (seed 003) and its committed stack: the other kinds are not this test's.
  await cp(join(ROOT, 'specs', 'vms'), join(dir, 'specs', 'vms'), { recursive: true });
  await cp(join(ROOT, 'specs', 'schemas'), join(dir, 'specs', 'schemas'), { recursive: true });
  await cp(join(ROOT, 'stacks', 'vms'), join(dir, 'stacks', 'vms'), { recursive: true });
  const { set } = await loadPolicies(join(ROOT, 'policies'));
  opts = {
    specs: join(dir, 'specs'),
    db: {} as Queryable,
    noSsh: 'no ssh in this test',
    secret: async (ref, user) => (ref === 'secret:meta/gcloud/vm_host_key' && user === 'vms/supervisor-vm' ? g.keyJson : undefined),
    progress: () => {},
    stacks: { dir: join(dir, 'stacks'), workDir: join(dir, 'work'), noTerraform: 'no terraform in this test' },
    drivers: [vmsDriverWith({ computeUrl: g.computeUrl, monitoringUrl: g.monitoringUrl, timeoutMs: 30_000, backoffMs: 1, now: () => NOW })],
    policy: { set: { ...set, policies: set.policies.filter((p) => p.name === 'vm-scale' || p.name === 'budget') }, root: dir },
  };
}, 30_000);
afterAll(async () => {
  await g?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('VMs in a live plan', () => {
  it("judges the user's VM by the CPU read live: two busy hours are a vm-scale warning on its machineType", async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'supervisor-vm', cpu: Array.from({ length: 120 }, (_, k) => (k % 10 === 0 ? 0.92 : 0.76)) });
    const planned = await planFleet({ ...opts, mode: 'live' });
    const plan = planned.plan!;
    expect(plan.unknown).toEqual([]);
    const scale = plan.findings.filter((f) => f.code === 'policy.vm-scale');
    expect(scale).toHaveLength(1);
    const line = (await readFile(join(dir, 'specs', 'vms', 'supervisor-vm.yaml'), 'utf8')).split('\n').findIndex((l) => l.startsWith('machineType:')) + 1;
    expect(scale[0]).toMatchObject({ kind: 'vms', name: 'supervisor-vm', severity: 'warning', where: `specs/vms/supervisor-vm.yaml:${line}:14` });
    expect(scale[0]!.message).toBe('CPU over the last 120 minutes: average 77.6% > 70% and max 92% > 85%; scale supervisor-vm up from n1-standard-2 to n1-standard-4');
    // The spec sets no running: nothing to start or stop; the stack is as committed.
    expect(plan.changes.map((c) => `${c.kind}/${c.name} ${c.action}`)).toEqual(['vms/stack no-op']);
  });

  it('plans running: false as one change and applies it by instances.stop; the plan holds no key or token', async () => {
    const file = join(dir, 'specs', 'vms', 'supervisor-vm.yaml');
    await writeFile(file, `${await readFile(file, 'utf8')}running: false\n`);
    const planned = await planFleet({ ...opts, mode: 'live' });
    const power = planned.plan!.changes.filter((c) => c.name === 'supervisor-vm');
    expect(power).toEqual([expect.objectContaining({ kind: 'vms', action: 'update', before: { status: 'RUNNING' }, after: { status: 'TERMINATED' }, actions: ['instances.stop supervisor-vm through the Compute Engine API, and wait for its operation'] })]);
    const text = JSON.stringify(planned.plan);
    for (const token of g.tokens) expect(text).not.toContain(token);
    expect(text).not.toContain('PRIVATE KEY');
    const report = await applyPlan(planned.plan!, opts);
    expect(report.status).toBe('applied');
    expect(report.done.map((c) => `${c.kind}/${c.name}`)).toEqual(['vms/supervisor-vm']);
    expect(g.instance('vm-host', 'us-central1-a', 'supervisor-vm')!.status).toBe('TERMINATED');
    // Stopped: no CPU to judge, so no warning; and nothing left to do.
    const after = (await planFleet({ ...opts, mode: 'live' })).plan!;
    expect(after.findings.filter((f) => f.code === 'policy.vm-scale')).toEqual([]);
    expect(after.changes.filter((c) => c.name === 'supervisor-vm')).toEqual([]);
  });
});
