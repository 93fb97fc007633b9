// Seed 003's conflict story: a service started on a default port inside another project's
// range collides when that project's service comes back. A port inside a project's range that
// a host serves (its spec's services, or live listening ports when read) must be allocated to
// that project, for that host or for any host.
import type { Resource } from '../../kinds/kind.js';
import type { Host } from '../../kinds/hosts/index.js';
import type { HostFacts } from '../../kinds/hosts/facts.js';
import type { PortRange } from '../../kinds/ports/index.js';
import type { BuiltinRule, Violation } from '../policy.js';

export interface PortListenersParams {
  /** Ports never reported (e.g. an ephemeral port range that overlaps a project's). */
  ignore?: number[];
}

export const portListeners: BuiltinRule<PortListenersParams> = {
  name: 'port-listeners',
  description: "nothing listens inside a project's port range unless that project allocated the port",
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { ignore: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, uniqueItems: true } },
  },
  check(params, { index, facts }) {
    const out: Violation[] = [];
    const ranges = (index.all('ports') as Resource<PortRange>[]).sort((a, b) => a.value.range.start - b.value.range.start);
    const ignored = new Set(params.ignore ?? []);
    const owner = (port: number) => ranges.find((r) => r.value.range.start <= port && port <= r.value.range.end);
    const allocated = (range: Resource<PortRange>, port: number, host: string) =>
      (range.value.allocations ?? []).some((a) => a.port === port && (a.host === undefined || a.host === host));
    for (const resource of index.all('hosts') as Resource<Host>[]) {
      const declared = new Set<number>();
      (resource.value.services ?? []).forEach((s, i) => {
        declared.add(s.port);
        const range = owner(s.port);
        if (!range || ignored.has(s.port) || allocated(range, s.port, resource.name)) return;
        out.push({
          resource,
          path: ['services', i, 'port'],
          message: `service "${s.name}" listens on ${s.port}, inside ${range.label}'s range ${range.value.range.start}-${range.value.range.end}, which does not allocate it`,
          hint: `move ${s.name} out of the range, or allocate ${s.port} to it in ${range.doc.source.file}`,
        });
      });
      const live = facts.get('hosts')?.get(resource.name) as HostFacts | undefined;
      for (const port of live?.listening ?? []) {
        const range = owner(port);
        if (declared.has(port) || !range || ignored.has(port) || allocated(range, port, resource.name)) continue;
        out.push({
          resource,
          path: ['name'],
          message: `something listens on ${port} (live), inside ${range.label}'s range ${range.value.range.start}-${range.value.range.end}, which does not allocate it`,
          hint: `find it with \`ss -ltnp 'sport = :${port}'\` on ${resource.name}; move it or allocate the port in ${range.doc.source.file}`,
        });
      }
    }
    return out;
  },
};
