import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding, type Resource, type SpecIndex } from '../kind.js';
import { missingReference } from '../references.js';

export interface PortRange {
  kind: 'PortRange';
  name: string;
  description?: string;
  range: { start: number; end: number };
  allocations?: { service: string; port: number; host?: string; description?: string }[];
}

const schema = kindSchema(
  'ports',
  'PortRange',
  'A project\'s port range (seed 003) and the ports allocated in it. Ranges never overlap, so services of different projects never collide.',
  {
    required: ['kind', 'name', 'range'],
    properties: {
      kind: { const: 'PortRange' },
      name: ref('name', 'the project that owns the range'),
      description: ref('text'),
      range: {
        type: 'object',
        additionalProperties: false,
        required: ['start', 'end'],
        properties: { start: ref('port'), end: ref('port') },
      },
      allocations: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['service', 'port'],
          properties: {
            service: ref('name'),
            port: ref('port'),
            host: ref('hostName', 'the host the service runs on'),
            description: ref('text'),
          },
        },
      },
    },
  },
);

interface PortsTable {
  /** Load order of each range resource: messages go on the later one. */
  order: Map<Resource, number>;
  byStart: Resource<PortRange>[];
  /** Port → the allocations that claim it, in load order. */
  owners: Map<number, { resource: Resource<PortRange>; service: string }[]>;
}

// Built once per spec index, so checking P projects is O(P log P), not O(P²).
const tables = new WeakMap<SpecIndex, PortsTable>();

function portsTable(index: SpecIndex): PortsTable {
  let table = tables.get(index);
  if (!table) {
    const all = index.all('ports') as Resource<PortRange>[];
    const owners = new Map<number, { resource: Resource<PortRange>; service: string }[]>();
    for (const resource of all) {
      for (const a of resource.value.allocations ?? []) owners.set(a.port, [...(owners.get(a.port) ?? []), { resource, service: a.service }]);
    }
    table = { order: new Map(all.map((r, i) => [r, i])), byStart: [...all].sort((a, b) => a.value.range.start - b.value.range.start), owners };
    tables.set(index, table);
  }
  return table;
}

export const ports = defineKind<PortRange>({
  kind: 'PortRange',
  folder: 'ports',
  description: 'project port ranges and allocations, kept in the state store',
  schema,
  nameOf: (p) => p.name,
  namePath: ['name'],
  references(resource, index) {
    const { value } = resource;
    const { start, end } = value.range;
    const findings: Finding[] = [];
    if (start > end) {
      findings.push({
        code: 'ref.range-empty',
        path: ['range', 'start'],
        message: `range starts at ${start}, after its end ${end}`,
        hint: 'swap start and end',
      });
    }
    const byPort = new Map<number, number>();
    const byService = new Map<string, number>();
    (value.allocations ?? []).forEach((a, i) => {
      if (a.port < start || a.port > end) {
        findings.push({
          code: 'ref.allocation-out-of-range',
          path: ['allocations', i, 'port'],
          message: `port ${a.port} is outside the project's range ${start}-${end}`,
          hint: `pick a free port between ${start} and ${end}`,
        });
      }
      const samePort = byPort.get(a.port);
      if (samePort !== undefined) {
        findings.push({
          code: 'ref.allocation-collision',
          path: ['allocations', i, 'port'],
          message: `port ${a.port} is already allocated to service "${value.allocations![samePort]!.service}"`,
          hint: 'give each service its own port',
        });
      } else byPort.set(a.port, i);
      const sameService = byService.get(a.service);
      if (sameService !== undefined) {
        findings.push({
          code: 'ref.duplicate-allocation',
          path: ['allocations', i, 'service'],
          message: `service "${a.service}" already has port ${value.allocations![sameService]!.port}`,
          hint: 'a service gets one port per project; remove one of the two',
        });
      } else byService.set(a.service, i);
      const host = missingReference(index, 'hosts', a.host, ['allocations', i, 'host']);
      if (host) findings.push(host);
    });
    // Overlaps and cross-project collisions are reported once, on the later of the two projects.
    const table = portsTable(index);
    const mine = table.order.get(resource)!;
    for (const other of table.byStart) {
      const theirs = other.value.range;
      if (theirs.start > end) break;
      if (theirs.end >= start && table.order.get(other)! < mine) {
        findings.push({
          code: 'ref.range-overlap',
          path: ['range'],
          message: `range ${start}-${end} overlaps ${other.label} (${theirs.start}-${theirs.end})`,
          hint: 'give each project a range of its own; ranges must not share a port',
        });
      }
    }
    (value.allocations ?? []).forEach((a, i) => {
      for (const owner of table.owners.get(a.port) ?? []) {
        if (table.order.get(owner.resource)! >= mine) break;
        findings.push({
          code: 'ref.allocation-collision',
          path: ['allocations', i, 'port'],
          message: `port ${a.port} is already allocated to ${owner.resource.label} service "${owner.service}"`,
          hint: "allocate from this project's own range",
        });
      }
    });
    return findings;
  },
});

/** The allocation a `project/service` route names, if any. */
export function findAllocation(index: { get(folder: string, name: string): { value: unknown } | undefined }, route: string) {
  const [project, service] = route.split('/');
  const range = project === undefined ? undefined : (index.get('ports', project)?.value as PortRange | undefined);
  return range?.allocations?.find((a) => a.service === service);
}
