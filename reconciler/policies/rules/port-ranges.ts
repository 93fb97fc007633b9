// Seed 003's port allocation system: each project owns a range, ranges never overlap, and
// every allocation lies in its own project's range, so no two services can collide.
import type { Resource } from '../../kinds/kind.js';
import type { PortRange } from '../../kinds/ports/index.js';
import type { BuiltinRule, Violation } from '../policy.js';

export interface PortRangesParams {
  /** Ports below this are never handed to a project (system ports). */
  lowest?: number;
}

export const portRanges: BuiltinRule<PortRangesParams> = {
  name: 'port-ranges',
  description: 'project port ranges never overlap and every allocation lies in its own project\'s range',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { lowest: { type: 'integer', minimum: 1, maximum: 65535, description: 'no range may start below this port' } },
  },
  check(params, { index }) {
    const out: Violation[] = [];
    const all = index.all('ports') as Resource<PortRange>[];
    const order = new Map(all.map((r, i) => [r, i]));
    // Sorted by start, each range is compared with the ones starting before its end: O(P log P) for P projects.
    const byStart = [...all].sort((a, b) => a.value.range.start - b.value.range.start);
    const owners = new Map<number, { resource: Resource<PortRange>; service: string }[]>();
    for (const resource of all) for (const a of resource.value.allocations ?? []) owners.set(a.port, [...(owners.get(a.port) ?? []), { resource, service: a.service }]);

    for (const resource of all) {
      const { start, end } = resource.value.range;
      const mine = order.get(resource)!;
      if (params.lowest !== undefined && start < params.lowest) {
        out.push({ resource, path: ['range', 'start'], message: `range starts at ${start}, below ${params.lowest}`, hint: `start the range at ${params.lowest} or above` });
      }
      (resource.value.allocations ?? []).forEach((a, i) => {
        if (a.port < start || a.port > end) {
          out.push({ resource, path: ['allocations', i, 'port'], message: `port ${a.port} is outside the project's range ${start}-${end}`, hint: `pick a free port between ${start} and ${end}` });
        }
        // A port two projects allocate is reported once, on the later of the two.
        for (const owner of owners.get(a.port) ?? []) {
          if (order.get(owner.resource)! >= mine) break;
          out.push({
            resource,
            path: ['allocations', i, 'port'],
            message: `port ${a.port} is already allocated to ${owner.resource.label} service "${owner.service}"`,
            hint: "allocate from this project's own range",
          });
        }
      });
      for (const other of byStart) {
        const theirs = other.value.range;
        if (theirs.start > end) break;
        if (theirs.end >= start && order.get(other)! < mine) {
          out.push({
            resource,
            path: ['range'],
            message: `range ${start}-${end} overlaps ${other.label} (${theirs.start}-${theirs.end})`,
            hint: 'give each project a range of its own; ranges must not share a port',
          });
        }
      }
    }
    return out;
  },
};
