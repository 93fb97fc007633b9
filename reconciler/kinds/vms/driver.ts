// VMs: the vms Terraform stack (reconciler/stacks/driver.ts) plans and applies what a VM is made
// of (machine type, disk, network); this driver wraps it and, in live plans, also reads each VM
// through Google's APIs with the VM's credentials secret: its status and machine type (Compute
// Engine instances.get) and its CPU over the last window (Cloud Monitoring timeSeries.list).
// `running:` is applied here, by instances.start and instances.stop; the stack does not manage
// the instance's status (stacks/synth.ts ignores desired_status), so the two never fight.
// A machine type that differs live while the stack has nothing pending is reported as drift.
import { createHash } from 'node:crypto';
import { stackDriver } from '../../stacks/driver.js';
import { tfId } from '../../stacks/model.js';
import { GcpClient, GcpError, type GcpOptions, type InstanceRef } from '../../gcp/client.js';
import { defineDriver, type Driver, type LiveContext, type Rollback } from '../driver.js';
import type { Resource } from '../kind.js';
import type { NotRead, PlanFinding, ResourceChange } from '../../plan/plan.js';
import type { VirtualMachine } from './index.js';
import { cpuFacts, DOWN, UP, type VmFacts } from './facts.js';

/** The CPU window read for a VM without autoscale: seed 003's two hours. */
export const DEFAULT_CPU_WINDOW_MINUTES = 120;
/** The reason of every change this driver makes itself (not the stack's). */
export const POWER_REASON = 'power:';

type Read = { facts: VmFacts } | { notRead: string; remote?: string };

interface VmsLive {
  stack: Awaited<ReturnType<ReturnType<typeof stackDriver>['readLive']>>;
  /** By VM name; absent offline. */
  vms?: Map<string, Read>;
  /** Why no VM was read (offline). */
  none?: string;
}

const errorText = (err: unknown) => (err instanceof GcpError ? err.message : 'the Google API call failed');

/**
 * Clients by key, so their access tokens are reused from plan to plan (and across VMs of one key)
 * until they expire, instead of a token fetch per VM per plan. Keyed by the key's hash: a rotated
 * key is a new client. A few keys at most; the oldest goes first.
 */
type ClientCache = Map<string, GcpClient>;
const CACHED_CLIENTS = 16;

/** The client for one VM, from its credentials secret; or why there is none. Never the key in a message. */
async function clientFor(vm: VirtualMachine, ctx: Pick<LiveContext, 'secret'>, opts: GcpOptions, cache: ClientCache): Promise<GcpClient | string> {
  if (!vm.credentials) return 'no credentials: set credentials: secret:<path> to the service-account key fleetspec reads this VM with';
  let key: string | undefined;
  try {
    key = await ctx.secret(vm.credentials, `vms/${vm.name}`);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (key === undefined) return `${vm.credentials} is not readable (store it with \`fleetspec secrets set ${vm.credentials.replace(/^secret:/, '')}\`, and set FLEETSPEC_SECRET_KEY)`;
  const id = `${vm.credentials}\0${createHash('sha256').update(key).digest('hex')}`;
  const cached = cache.get(id);
  if (cached) return cached;
  try {
    const client = new GcpClient(key, vm.credentials, opts);
    cache.set(id, client);
    if (cache.size > CACHED_CLIENTS) cache.delete(cache.keys().next().value!);
    return client;
  } catch (err) {
    return errorText(err);
  }
}

const refOf = (vm: VirtualMachine): InstanceRef => ({ project: vm.project, zone: vm.zone, name: vm.name });

async function readVm(vm: VirtualMachine, ctx: LiveContext, opts: GcpOptions, cache: ClientCache): Promise<Read> {
  // Planning a branch: a key reaches Google only for the VMs the trusted specs already give it to,
  // as with terraform (stacks/driver.ts): a PR cannot hand the user's key to a call it chose.
  const trusted = ctx.stacks.trustedSecrets;
  if (trusted && vm.credentials && !(trusted.vms ?? []).includes(vm.credentials)) {
    return { notRead: `not read: this change gives vms ${vm.credentials}, which the trusted specs do not; it is read once such a change is approved and merged` };
  }
  const client = await clientFor(vm, ctx, opts, cache);
  if (typeof client === 'string') return { notRead: client };
  try {
    const instance = await client.getInstance(refOf(vm));
    const facts: VmFacts = { id: instance.id, status: instance.status, machineType: instance.machineType };
    if (instance.status === 'RUNNING') {
      const window = vm.autoscale?.when.windowMinutes ?? DEFAULT_CPU_WINDOW_MINUTES;
      try {
        const cpu = cpuFacts((await client.cpuUtilization(vm.project, instance.id, window)).points, window);
        if (cpu) facts.cpu = cpu;
        else facts.cpuNotRead = `Cloud Monitoring holds no CPU samples of the last ${window} minutes`;
      } catch (err) {
        facts.cpuNotRead = errorText(err);
      }
    } else facts.cpuNotRead = `the VM is ${instance.status}`;
    return { facts };
  } catch (err) {
    return { notRead: errorText(err), ...(err instanceof GcpError && err.remote ? { remote: err.remote } : {}) };
  }
}

/** What `running:` asks of a VM in this status: start, stop, nothing, or wait (in between). */
export function powerNeed(running: boolean | undefined, status: string): 'start' | 'stop' | 'wait' | undefined {
  if (running === undefined) return undefined;
  if (running) return UP.has(status) ? undefined : status === 'STOPPING' || status === 'SUSPENDING' || status === 'REPAIRING' ? 'wait' : 'start';
  return DOWN.has(status) ? undefined : status === 'SUSPENDING' || status === 'REPAIRING' ? 'wait' : 'stop';
}

/** The vms driver, with the Google API base URLs and timeouts given (tests point them at loopback). */
export function vmsDriverWith(opts: GcpOptions = {}): Driver<VmsLive> {
  const stack = stackDriver('vms');
  const clients: ClientCache = new Map();
  return defineDriver<VmsLive>({
    folder: 'vms',
    async readLive(desired, ctx) {
      const [stackLive, vms] = await Promise.all([
        stack.readLive(desired, ctx),
        ctx.mode === 'live' ? Promise.all(desired.map(async (r) => [r.name, await readVm(r.value as VirtualMachine, ctx, opts, clients)] as const)) : undefined,
      ]);
      if (!vms) return { stack: stackLive, none: 'offline (plan with --live to read it)' };
      return { stack: stackLive, vms: new Map(vms) };
    },
    diff(desired, live, ctx) {
      const plan = stack.diff(desired, live.stack, ctx);
      const changes: ResourceChange[] = [...plan.changes];
      const unknown: NotRead[] = [...plan.unknown];
      const findings: PlanFinding[] = [...plan.findings];
      const facts = new Map<string, VmFacts>();
      for (const r of desired as Resource<VirtualMachine>[]) {
        const vm = r.value;
        const read = live.vms?.get(r.name);
        if (!read || 'notRead' in read) {
          // Offline, nothing is said per VM (the stack's configuration diff is the plan), except that
          // a VM's running: is judged only against its live status.
          if (!live.vms && vm.running !== undefined) unknown.push({ kind: 'vms', name: r.name, reason: `running: ${vm.running} is judged against the VM's live status: ${live.none ?? 'offline'}` });
          if (live.vms) unknown.push({ kind: 'vms', name: r.name, reason: read && 'notRead' in read ? read.notRead : 'not read', ...(read && 'remote' in read && read.remote ? { remote: read.remote } : {}) });
          continue;
        }
        const f = read.facts;
        facts.set(r.name, f);
        const address = `google_compute_instance.${tfId(r.name)}`;
        const pending = plan.changes.some((c) => c.name === address && c.action !== 'no-op');
        if (f.machineType !== vm.machineType && !pending) {
          changes.push({
            kind: 'vms',
            name: r.name,
            action: 'drift',
            before: { machineType: f.machineType },
            after: { machineType: vm.machineType },
            reason: `machine type: live ${f.machineType}, the spec says ${vm.machineType} and the stack has no change pending (resized outside fleetspec?); change the spec, or plan the stack with terraform to put it back`,
          });
        }
        if (vm.autoscale && f.status === 'RUNNING' && !f.cpu) {
          findings.push({ kind: 'vms', name: r.name, code: 'vms.cpu-not-read', severity: 'warning', message: `CPU not read, so the scale rule cannot be judged: ${f.cpuNotRead ?? 'no samples'}`, hint: 'grant the service account roles/monitoring.viewer on the project' });
        }
        const need = powerNeed(vm.running, f.status);
        if (need === 'wait') {
          findings.push({ kind: 'vms', name: r.name, code: 'vms.power-in-transition', severity: 'warning', message: `the VM is ${f.status}; running: ${vm.running} is applied once it settles`, hint: 'plan again in a few minutes' });
        } else if (need) {
          changes.push({
            kind: 'vms',
            name: r.name,
            action: 'update',
            before: { status: f.status },
            after: { status: need === 'start' ? 'RUNNING' : 'TERMINATED' },
            reason: `${POWER_REASON} live ${f.status}, the spec says running: ${vm.running} (Compute Engine instances.${need})`,
          });
        }
      }
      return { changes, unknown, findings, facts };
    },
    actions(change) {
      if (change.reason.startsWith(POWER_REASON)) {
        const verb = (change.after as { status?: string } | null)?.status === 'RUNNING' ? 'start' : 'stop';
        return [`instances.${verb} ${change.name} through the Compute Engine API, and wait for its operation`];
      }
      if (change.action === 'drift' && !change.name.includes('.')) return [];
      return stack.actions(change);
    },
    async apply(change, ctx): Promise<Rollback | undefined> {
      if (change.action === 'drift' && !change.name.includes('.')) return undefined; // reported, not applied
      if (!change.reason.startsWith(POWER_REASON)) return stack.apply(change, ctx);
      const resource = ctx.index.get('vms', change.name) as Resource<VirtualMachine> | undefined;
      if (!resource) throw new Error(`vms/${change.name} is not in the specs`);
      const vm = resource.value;
      const client = await clientFor(vm, ctx, opts, clients);
      if (typeof client === 'string') throw new Error(`vms/${vm.name}: ${client}`);
      const verb = (change.after as { status?: string }).status === 'RUNNING' ? 'start' : 'stop';
      // Level-based: the status is read again; a VM already where the spec wants it is left alone.
      const before = await client.getInstance(refOf(vm));
      if (!powerNeed(vm.running, before.status)) return undefined;
      ctx.progress(`vms/${vm.name}: instances.${verb}`);
      await client.power(refOf(vm), verb);
      const back = verb === 'start' ? 'stop' : 'start';
      return {
        description: `vms/${vm.name}: instances.${back} puts it back ${before.status === 'RUNNING' ? 'running' : 'stopped'}`,
        run: async () => {
          await client.power(refOf(vm), back);
        },
      };
    },
  });
}

export const vmsDriver = vmsDriverWith();
