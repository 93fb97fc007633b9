// Seed 003's Cloudflare integration: a name is only published for a service that has a port.
// Every record routes to an allocated port, and no record points at a name in our own zones
// that nothing defines (a dangling CNAME, MX or NS, which anyone who later claims the name can take over).
// A name written as a records: list is not routed: it needs listing under unrouted.
import type { DnsRecord } from '../../kinds/dns/index.js';
import type { Resource } from '../../kinds/kind.js';
import { findAllocation } from '../../kinds/ports/index.js';
import { insideZone, type DnsZone } from '../../kinds/zones/index.js';
import type { BuiltinRule, Violation } from '../policy.js';

/** Where a spec's records point at other names: the single form's CNAME target, a list's CNAME, MX and NS contents. */
function pointers(value: DnsRecord): { target: string; path: (string | number)[] }[] {
  if (value.records === undefined) return value.type === 'CNAME' && value.target !== undefined ? [{ target: value.target, path: ['target'] }] : [];
  return value.records.flatMap((e, i) => ((e.type === 'CNAME' || e.type === 'MX' || e.type === 'NS') && e.content !== undefined ? [{ target: e.content, path: ['records', i, 'content'] }] : []));
}

export interface DnsRoutesParams {
  /** Names that may be published without a port allocation (an apex, a verification record). */
  unrouted?: string[];
}

export const dnsRoutes: BuiltinRule<DnsRoutesParams> = {
  name: 'dns-routes',
  description: 'every DNS name routes to an allocated port, and no record dangles',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: { unrouted: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true, description: 'names exempt from needing a route' } },
  },
  check(params, { index }) {
    const out: Violation[] = [];
    const exempt = new Set(params.unrouted ?? []);
    const records = index.all('dns') as Resource<DnsRecord>[];
    const zones = index.all('zones') as Resource<DnsZone>[];
    const defined = new Set([...records.map((r) => r.value.name), ...zones.flatMap((z) => (z.value.tunnel?.hostname ? [z.value.tunnel.hostname] : []))]);
    for (const resource of records) {
      const { value } = resource;
      if (!exempt.has(value.name)) {
        if (value.route === undefined) {
          const list = value.records !== undefined;
          out.push({
            resource,
            path: ['name'],
            message: list ? 'no port allocation behind this name (a records: list is not routed through the tunnel)' : 'no port allocation behind this name',
            hint: list ? 'list the name under unrouted: in this policy (a mail, verification or host name), or publish it as one CNAME to the tunnel with route:' : 'add route: <project>/<service> naming an allocation in specs/ports, or list the name under unrouted: in this policy',
          });
        } else if (!findAllocation(index, value.route)) {
          const [project, service] = value.route.split('/');
          out.push({
            resource,
            path: ['route'],
            message: index.get('ports', project!) ? `project "${project}" has no allocation for service "${service}"` : `unknown project "${project}"`,
            hint: 'allocate the port first in specs/ports/<project>.yaml, then route to it',
          });
        }
      }
      // The names a record points at: the single form's CNAME target, a list's CNAME, MX and NS contents.
      for (const { target: pointed, path } of pointers(value)) {
        const target = pointed.toLowerCase().replace(/\.$/, '');
        const ours = zones.find((z) => insideZone(target, z.value.name));
        if (ours && !defined.has(target)) {
          out.push({
            resource,
            path,
            message: `points at ${target}, a name in zone ${ours.value.name} that no spec defines (a dangling record)`,
            hint: `define ${target} in specs/dns, point at an existing name, or remove this record`,
          });
        }
      }
    }
    return out;
  },
};
