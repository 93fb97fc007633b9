// Seed 003's scale rule: a VM that declares autoscale: is due a resize to its scaleUpTo type when,
// over its window (two hours), its CPU averaged above cpuAvgAbove (70%) and peaked above
// cpuMaxAbove (85%), from the CPU the live plan read through Cloud Monitoring (the vms driver's
// facts). The rule only says so: fleetspec proposes the resize as a PR (reconciler/loop/scale.ts),
// judged by the budget brake, and never resizes without approval. A VM not read, or read with too
// few samples, is undecided: nothing holds and nothing clears.
import type { Resource } from '../../kinds/kind.js';
import type { VirtualMachine } from '../../kinds/vms/index.js';
import type { VmFacts } from '../../kinds/vms/facts.js';
import type { BuiltinRule, Violation } from '../policy.js';

export interface VmScaleParams {
  /** Used where a VM's autoscale.when leaves a number out (seed 003: 120 minutes, 70, 85). */
  defaults?: { windowMinutes?: number; cpuAvgAbove?: number; cpuMaxAbove?: number };
  /** The share of the window the samples must cover to decide (default 0.9). */
  minCoverage?: number;
}

export type ScaleDecision =
  | { holds: true; to: string; avg: number; max: number; window: number; message: string }
  | { holds: false; why: string }
  | { unknown: string };

export function scaleDecision(vm: VirtualMachine, facts: VmFacts | undefined, params: VmScaleParams = {}): ScaleDecision {
  const auto = vm.autoscale;
  if (!auto) return { holds: false, why: 'no autoscale: in the spec' };
  if (vm.machineType === auto.scaleUpTo) return { holds: false, why: `already ${auto.scaleUpTo}` };
  if (!facts) return { unknown: 'the VM was not read' };
  if (facts.status !== 'RUNNING') return { holds: false, why: `the VM is ${facts.status}` };
  const window = auto.when.windowMinutes ?? params.defaults?.windowMinutes ?? 120;
  const avgAbove = auto.when.cpuAvgAbove ?? params.defaults?.cpuAvgAbove;
  const maxAbove = auto.when.cpuMaxAbove ?? params.defaults?.cpuMaxAbove;
  if (avgAbove === undefined && maxAbove === undefined) return { holds: false, why: 'no CPU threshold (cpuAvgAbove, cpuMaxAbove)' };
  const cpu = facts.cpu;
  if (!cpu) return { unknown: facts.cpuNotRead ?? 'no CPU samples' };
  const coverage = params.minCoverage ?? 0.9;
  if (cpu.windowMinutes < window || cpu.coveredMinutes < window * coverage) {
    return { unknown: `CPU samples cover ${cpu.coveredMinutes} of the ${window} minutes the rule looks at` };
  }
  const { avgPercent: avg, maxPercent: max } = cpu;
  const avgOk = avgAbove === undefined || avg > avgAbove;
  const maxOk = maxAbove === undefined || max > maxAbove;
  const over = [avgAbove !== undefined ? `average ${avg}% > ${avgAbove}%` : '', maxAbove !== undefined ? `max ${max}% > ${maxAbove}%` : ''].filter(Boolean).join(' and ');
  if (!(avgOk && maxOk)) return { holds: false, why: `CPU over the last ${window} minutes: average ${avg}%, max ${max}%` };
  return { holds: true, to: auto.scaleUpTo, avg, max, window, message: `CPU over the last ${window} minutes: ${over}; scale ${vm.name} up from ${vm.machineType} to ${auto.scaleUpTo}` };
}

export const vmScale: BuiltinRule<VmScaleParams> = {
  name: 'vm-scale',
  description: "a VM with autoscale: is due its scaleUpTo type when its CPU, read live over the window, averages and peaks above the thresholds (fleetspec proposes the resize as a PR)",
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      defaults: {
        type: 'object',
        additionalProperties: false,
        properties: {
          windowMinutes: { type: 'integer', minimum: 1 },
          cpuAvgAbove: { type: 'number', minimum: 0, maximum: 100 },
          cpuMaxAbove: { type: 'number', minimum: 0, maximum: 100 },
        },
      },
      minCoverage: { type: 'number', minimum: 0, maximum: 1 },
    },
  },
  check(params, { index, facts }) {
    const out: Violation[] = [];
    for (const resource of index.all('vms') as Resource<VirtualMachine>[]) {
      const d = scaleDecision(resource.value, facts.get('vms')?.get(resource.name) as VmFacts | undefined, params);
      if ('holds' in d && d.holds) {
        out.push({ resource, path: ['machineType'], subject: 'scale', message: d.message, hint: `fleetspec proposes machineType: ${d.to} in a pull request (label fleetspec:scale); merging it resizes the VM through the vms stack, which restarts it` });
      }
    }
    return out;
  },
};
