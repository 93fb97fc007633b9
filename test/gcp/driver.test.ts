// The vms driver's live side against the Google stand-in: what a live plan reads of each VM
// (status, machine type, CPU), what it cannot read and why (never an exception), machine type
// drift, and running: applied by instances.start/stop (with its rollback), the stack's part as before.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vmsDriverWith, POWER_REASON } from '../../reconciler/kinds/vms/driver.js';
import type { VmFacts } from '../../reconciler/kinds/vms/facts.js';
import type { LiveContext } from '../../reconciler/kinds/driver.js';
import type { Queryable } from '../../reconciler/state/db.js';
import { loadSpecs, type LoadedSpecs } from '../../reconciler/specs/load.js';
import { synthesiseAll } from '../../reconciler/stacks/files.js';
import { startGcpServer, type GcpTestServer } from './server.js';

const KEY = 'secret:meta/gcloud/vm_host_key';
const NOW = Math.floor(Date.now() / 1000);
const now = () => NOW;
let g: GcpTestServer;
let work: string;

const vmYaml = (name: string, extra: string[] = []) =>
  ['kind: VirtualMachine', `name: ${name}`, 'provider: gcp', 'project: vm-host', 'zone: us-central1-a', 'machineType: n1-standard-2', `credentials: ${KEY}`, ...extra, ''].join('\n');

async function fleet(files: Record<string, string>): Promise<{ specs: LoadedSpecs; stacks: string }> {
  const dir = await mkdtemp(join(work, 'fleet-'));
  await mkdir(join(dir, 'specs', 'vms'), { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'specs', 'vms', `${name}.yaml`), text);
  const specs = await loadSpecs(join(dir, 'specs'));
  expect(specs.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  // The stack's committed output equals the specs: the stack itself has nothing pending.
  const stacks = join(dir, 'stacks');
  await synthesiseAll(specs.index, stacks, { only: ['vms'] });
  return { specs, stacks };
}

function context(specs: LoadedSpecs, stacks: string, secrets: Record<string, string | undefined>, progress: string[] = []): LiveContext {
  return {
    mode: 'live',
    db: {} as Queryable,
    index: specs.index,
    noSsh: 'no ssh in this test',
    secret: async (ref, user) => {
      if (!user.startsWith('vms/')) throw new Error(`${ref} is not for ${user}`);
      return secrets[ref];
    },
    progress: (m) => void progress.push(m),
    stacks: { dir: stacks, workDir: join(stacks, '..', 'work'), noTerraform: 'no terraform in this test' },
  };
}

const driver = () => vmsDriverWith({ computeUrl: g.computeUrl, monitoringUrl: g.monitoringUrl, timeoutMs: 30_000, backoffMs: 1, now });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fleetspec-vms-'));
  g = await startGcpServer({ now });
}, 30_000);
afterAll(async () => {
  await g?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the vms driver, live', () => {
  it('reads status, machine type and the CPU window of each VM, and reports machine type drift', async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'busy', machineType: 'n1-standard-4', cpu: Array.from({ length: 130 }, () => 0.8) });
    const { specs, stacks } = await fleet({ busy: vmYaml('busy', ['autoscale:', '  scaleUpTo: n1-standard-4', '  when: {windowMinutes: 120, cpuAvgAbove: 70, cpuMaxAbove: 85}']) });
    const d = driver();
    const ctx = context(specs, stacks, { [KEY]: g.keyJson });
    const desired = specs.index.all('vms');
    const plan = d.diff(desired, await d.readLive(desired, ctx), ctx);
    expect(plan.unknown).toEqual([]);
    const facts = plan.facts!.get('busy') as VmFacts;
    expect(facts).toMatchObject({ status: 'RUNNING', machineType: 'n1-standard-4', cpu: { windowMinutes: 120, samples: 120, avgPercent: 80, maxPercent: 80 } });
    expect(facts.cpu!.coveredMinutes).toBe(120);
    const drift = plan.changes.filter((c) => c.name === 'busy');
    expect(drift).toEqual([
      expect.objectContaining({ kind: 'vms', action: 'drift', before: { machineType: 'n1-standard-4' }, after: { machineType: 'n1-standard-2' } }),
    ]);
    expect(drift[0]!.reason).toContain('the stack has no change pending');
    // The stack's own part is unchanged: its committed file matches the specs.
    expect(plan.changes.filter((c) => c.name === 'stack').map((c) => c.action)).toEqual(['no-op']);
  });

  it('reuses one access token across the VMs of a key and across plans, and takes a new one for a new key', async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'tok-a', cpu: [0.1] });
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'tok-b', cpu: [0.1] });
    const { specs, stacks } = await fleet({ 'tok-a': vmYaml('tok-a'), 'tok-b': vmYaml('tok-b') });
    const d = driver();
    const desired = specs.index.all('vms');
    const before = g.tokens.length;
    for (let i = 0; i < 3; i++) {
      const ctx = context(specs, stacks, { [KEY]: g.keyJson });
      expect(d.diff(desired, await d.readLive(desired, ctx), ctx).unknown).toEqual([]);
    }
    expect(g.tokens.length - before, 'two VMs, three plans, one key: one token').toBe(1);
    // The key rotated (another JSON text): a client of its own, so a token of its own.
    const rotated = JSON.stringify({ ...JSON.parse(g.keyJson), private_key_id: 'rotated' });
    const ctx = context(specs, stacks, { [KEY]: rotated });
    expect(d.diff(desired, await d.readLive(desired, ctx), ctx).unknown).toEqual([]);
    expect(g.tokens.length - before).toBe(2);
  });

  it('says so when the CPU of an autoscaling VM cannot be read, and still reads its status', async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'nocpu' });
    const { specs, stacks } = await fleet({ nocpu: vmYaml('nocpu', ['autoscale:', '  scaleUpTo: n1-standard-4', '  when: {windowMinutes: 120, cpuAvgAbove: 70}']) });
    g.failNext('/v3/projects/vm-host/timeSeries', 403, "Permission monitoring.timeSeries.list denied (or the resource may not exist).", 3);
    const d = driver();
    const ctx = context(specs, stacks, { [KEY]: g.keyJson });
    const desired = specs.index.all('vms');
    const plan = d.diff(desired, await d.readLive(desired, ctx), ctx);
    expect(plan.unknown).toEqual([]);
    expect((plan.facts!.get('nocpu') as VmFacts).status).toBe('RUNNING');
    expect(plan.findings.filter((f) => f.name !== 'stack')).toEqual([
      expect.objectContaining({ kind: 'vms', name: 'nocpu', code: 'vms.cpu-not-read', severity: 'warning', message: 'CPU not read, so the scale rule cannot be judged: timeSeries.list vm-host compute.googleapis.com/instance/cpu/utilization failed (HTTP 403): `PERMISSION_DENIED: Permission monitoring.timeSeries.list denied (or the resource may not exist).`' }),
    ]);
  });

  it('turns an unreadable VM into "not read" with the reason, never an exception, and never the key or token', async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'hostile' });
    const { specs, stacks } = await fleet({
      nocreds: vmYaml('nocreds').replace(`credentials: ${KEY}\n`, ''),
      nosecret: vmYaml('nosecret').replace(KEY, 'secret:meta/gcloud/other_key'),
      missing: vmYaml('missing'),
      hostile: vmYaml('hostile'),
    });
    g.failNext('/instances/hostile', 403, `<img src=x onerror=alert(1)> Required 'compute.instances.get' permission ${'A'.repeat(3000)}`, 3);
    const d = driver();
    const ctx = context(specs, stacks, { [KEY]: g.keyJson });
    const desired = specs.index.all('vms');
    const plan = d.diff(desired, await d.readLive(desired, ctx), ctx);
    const why = Object.fromEntries(plan.unknown.map((u) => [u.name, u.reason]));
    expect(why.nocreds).toBe('no credentials: set credentials: secret:<path> to the service-account key fleetspec reads this VM with');
    expect(why.nosecret).toBe('secret:meta/gcloud/other_key is not readable (store it with `fleetspec secrets set meta/gcloud/other_key`, and set FLEETSPEC_SECRET_KEY)');
    expect(why.missing).toContain("instances.get vm-host/us-central1-a/missing failed (HTTP 404): `NOT_FOUND: The resource 'projects/vm-host/zones/us-central1-a/instances/missing' was not found`");
    expect(why.hostile).toMatch(/^instances\.get vm-host\/us-central1-a\/hostile failed \(HTTP 403\): `PERMISSION_DENIED: \\u003cimg src=x onerror=alert\(1\)\\u003e Required/);
    const hostile = plan.unknown.find((u) => u.name === 'hostile')!;
    expect(hostile.remote!.length).toBeLessThanOrEqual(200);
    expect(why.hostile).toContain(hostile.remote!);
    const text = JSON.stringify(plan);
    for (const token of g.tokens) expect(text).not.toContain(token);
    expect(text).not.toContain('PRIVATE KEY');
    expect(plan.changes.filter((c) => !c.name.includes('.') && c.name !== 'stack')).toEqual([]);
  });

  it('applies running: false and true by instances.stop and start, waiting for each, and rolls back', async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'power', status: 'RUNNING', cpu: [0.1, 0.1] });
    const { specs, stacks } = await fleet({ power: vmYaml('power', ['running: false']) });
    const d = driver();
    const progress: string[] = [];
    const ctx = context(specs, stacks, { [KEY]: g.keyJson }, progress);
    const desired = specs.index.all('vms');
    const plan = d.diff(desired, await d.readLive(desired, ctx), ctx);
    const change = plan.changes.find((c) => c.name === 'power')!;
    expect(change).toMatchObject({ kind: 'vms', action: 'update', before: { status: 'RUNNING' }, after: { status: 'TERMINATED' } });
    expect(change.reason).toBe(`${POWER_REASON} live RUNNING, the spec says running: false (Compute Engine instances.stop)`);
    expect(d.actions(change)).toEqual(['instances.stop power through the Compute Engine API, and wait for its operation']);
    // The stack plans no status change: desired_status is not the stack's.
    expect(plan.changes.filter((c) => c.name.startsWith('google_compute_instance.'))).toEqual([]);
    const rollback = await d.apply(change, ctx);
    expect(g.instance('vm-host', 'us-central1-a', 'power')!.status).toBe('TERMINATED');
    expect(progress).toContain('vms/power: instances.stop');
    expect(rollback!.description).toBe('vms/power: instances.start puts it back running');
    // Applied again (level-based), a VM already stopped is left alone.
    expect(await d.apply(change, ctx)).toBeUndefined();
    // Read again: nothing to do; a stopped VM has no CPU to read.
    const again = d.diff(desired, await d.readLive(desired, ctx), ctx);
    expect(again.changes.filter((c) => c.name === 'power')).toEqual([]);
    expect((again.facts!.get('power') as VmFacts).cpuNotRead).toBe('the VM is TERMINATED');
    await rollback!.run();
    expect(g.instance('vm-host', 'us-central1-a', 'power')!.status).toBe('RUNNING');
    // running: true on a stopped VM starts it.
    g.instance('vm-host', 'us-central1-a', 'power')!.status = 'TERMINATED';
    const up = await fleet({ power: vmYaml('power', ['running: true']) });
    const upCtx = context(up.specs, up.stacks, { [KEY]: g.keyJson });
    const upPlan = d.diff(up.specs.index.all('vms'), await d.readLive(up.specs.index.all('vms'), upCtx), upCtx);
    const start = upPlan.changes.find((c) => c.name === 'power')!;
    expect(start.after).toEqual({ status: 'RUNNING' });
    await d.apply(start, upCtx);
    expect(g.instance('vm-host', 'us-central1-a', 'power')!.status).toBe('RUNNING');
  });

  it("planning a branch, reads only VMs whose key the trusted specs already give the vms stack", async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'branchvm' });
    const { specs, stacks } = await fleet({ branchvm: vmYaml('branchvm').replace(KEY, 'secret:meta/gcloud/openhorizon_key') });
    const d = driver();
    const ctx = context(specs, stacks, { [KEY]: g.keyJson, 'secret:meta/gcloud/openhorizon_key': g.keyJson });
    ctx.stacks.trustedSecrets = { vms: [KEY] };
    const before = g.calls.length;
    const desired = specs.index.all('vms');
    const plan = d.diff(desired, await d.readLive(desired, ctx), ctx);
    expect(plan.unknown).toEqual([{ kind: 'vms', name: 'branchvm', reason: 'not read: this change gives vms secret:meta/gcloud/openhorizon_key, which the trusted specs do not; it is read once such a change is approved and merged' }]);
    expect(g.calls.length).toBe(before);
    ctx.stacks.trustedSecrets = { vms: [KEY, 'secret:meta/gcloud/openhorizon_key'] };
    expect(d.diff(desired, await d.readLive(desired, ctx), ctx).unknown).toEqual([]);
  });

  it('offline, reads nothing through Google and plans the stack as before', async () => {
    const { specs, stacks } = await fleet({ off: vmYaml('off', ['running: true']) });
    const before = g.calls.length;
    const d = driver();
    const ctx = { ...context(specs, stacks, { [KEY]: g.keyJson }), mode: 'offline' as const };
    const desired = specs.index.all('vms');
    const plan = d.diff(desired, await d.readLive(desired, ctx), ctx);
    expect(g.calls.length).toBe(before);
    // running: is judged against the live status only: offline, the plan says it could not be.
    expect(plan.unknown).toEqual([{ kind: 'vms', name: 'off', reason: "running: true is judged against the VM's live status: offline (plan with --live to read it)" }]);
    expect(plan.changes.map((c) => `${c.name} ${c.action}`)).toEqual(['stack no-op']);
  });
});
