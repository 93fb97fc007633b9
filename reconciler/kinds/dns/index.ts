import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { missingReference } from '../references.js';
import { FQDN_PATTERN, insideZone, type DnsZone } from '../zones/index.js';

export interface DnsRecord {
  kind: 'DnsRecord';
  name: string;
  zone: string;
  type: 'CNAME' | 'A' | 'AAAA';
  target: string;
  proxied?: boolean;
  ttl?: number;
  route?: string;
}

const fqdn = { type: 'string', pattern: FQDN_PATTERN, description: 'a lowercase DNS name such as api.consilio.153.se' };

const schema = kindSchema(
  'dns',
  'DnsRecord',
  'A Cloudflare DNS record. Records that route through the tunnel name the port allocation behind them; the tunnel\'s ingress rules are generated from those.',
  {
    required: ['kind', 'name', 'zone', 'type', 'target'],
    properties: {
      kind: { const: 'DnsRecord' },
      name: fqdn,
      zone: { ...fqdn, description: 'the zone the record belongs to, such as 153.se (defined in specs/zones)' },
      type: { enum: ['CNAME', 'A', 'AAAA'] },
      target: ref('text', 'what the record points at: the tunnel host name for a CNAME, an address for A/AAAA'),
      proxied: { type: 'boolean', description: 'through Cloudflare\'s proxy; default true for records routed through the tunnel, false otherwise' },
      ttl: { type: 'integer', minimum: 1, maximum: 86400, description: 'seconds; 1 means automatic (the default)' },
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
    const unknownZone = missingReference(index, 'zones', value.zone, ['zone']);
    if (unknownZone) findings.push(unknownZone);
    const tunnel = (index.get('zones', value.zone)?.value as DnsZone | undefined)?.tunnel;
    if (value.route !== undefined && !unknownZone && !tunnel) {
      findings.push({
        code: 'ref.no-tunnel',
        path: ['route'],
        message: `routed to ${value.route}, but zone "${value.zone}" has no tunnel to carry it`,
        hint: `add tunnel: {name, hostname} to specs/zones/${value.zone}.yaml`,
      });
    } else if (value.route !== undefined && tunnel && value.target !== tunnel.hostname) {
      findings.push({
        code: 'ref.not-through-tunnel',
        path: ['target'],
        message: `routed to ${value.route} but points at "${value.target}", not the tunnel's hostname "${tunnel.hostname}"`,
        hint: `set target: ${tunnel.hostname}, or drop route: if the name is not served through the tunnel`,
      });
    }
    if (!insideZone(value.name, value.zone)) {
      findings.push({
        code: 'ref.outside-zone',
        path: ['name'],
        message: `"${value.name}" is not inside zone "${value.zone}"`,
        hint: `use a name ending in .${value.zone}, or the zone it belongs to`,
      });
    }
    return findings;
  },
});
