import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { findAllocation } from '../ports/index.js';

export interface DnsRecord {
  kind: 'DnsRecord';
  name: string;
  zone: string;
  type: 'CNAME' | 'A' | 'AAAA';
  target: string;
  proxied?: boolean;
  route?: string;
}

const fqdn = {
  type: 'string',
  pattern: '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$',
  description: 'a lowercase DNS name such as api.consilio.153.se',
};

const schema = kindSchema(
  'dns',
  'DnsRecord',
  'A Cloudflare DNS record. Records that route through the tunnel name the port allocation behind them; the tunnel\'s ingress rules are generated from those.',
  {
    required: ['kind', 'name', 'zone', 'type', 'target'],
    properties: {
      kind: { const: 'DnsRecord' },
      name: fqdn,
      zone: { ...fqdn, description: 'the Cloudflare zone the record belongs to, such as 153.se' },
      type: { enum: ['CNAME', 'A', 'AAAA'] },
      target: ref('text', 'what the record points at: the tunnel host name for a CNAME, an address for A/AAAA'),
      proxied: { type: 'boolean' },
      route: {
        type: 'string',
        pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?/[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
        description: 'the port allocation behind the name, as project/service (see specs/ports)',
      },
    },
  },
);

export const dns = defineKind<DnsRecord>({
  kind: 'DnsRecord',
  folder: 'dns',
  description: 'Cloudflare records and tunnel ingress, applied through the dns Terraform stack',
  schema,
  nameOf: (r) => r.name,
  namePath: ['name'],
  references({ value }, index) {
    const findings: Finding[] = [];
    if (value.name !== value.zone && !value.name.endsWith(`.${value.zone}`)) {
      findings.push({
        code: 'ref.outside-zone',
        path: ['name'],
        message: `"${value.name}" is not inside zone "${value.zone}"`,
        hint: `use a name ending in .${value.zone}, or the zone it belongs to`,
      });
    }
    if (value.route === undefined) {
      findings.push({
        code: 'ref.no-allocation',
        path: ['name'],
        message: 'no port allocation behind this name',
        hint: 'add route: <project>/<service> naming an allocation in specs/ports',
      });
    } else if (!findAllocation(index, value.route)) {
      const [project] = value.route.split('/');
      findings.push({
        code: 'ref.no-allocation',
        path: ['route'],
        message: index.get('ports', project!)
          ? `project "${project}" has no allocation for service "${value.route.split('/')[1]}"`
          : `unknown project "${project}"`,
        hint: 'allocate the port first in specs/ports/<project>.yaml, then route to it',
      });
    }
    return findings;
  },
});
