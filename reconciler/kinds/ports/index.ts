import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
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
  'A project\'s port range and the ports allocated in it. The port-ranges policy keeps ranges apart and allocations inside them.',
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
    return findings;
  },
});

/** The allocation a `project/service` route names, if any. */
export function findAllocation(index: { get(folder: string, name: string): { value: unknown } | undefined }, route: string) {
  const [project, service] = route.split('/');
  const range = project === undefined ? undefined : (index.get('ports', project)?.value as PortRange | undefined);
  return range?.allocations?.find((a) => a.service === service);
}
