import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';

export interface DnsZone {
  kind: 'DnsZone';
  /** The zone's domain, such as 153.se. */
  name: string;
  provider: 'cloudflare';
  /** Cloudflare's zone id; looked up by name at plan time when absent. */
  zoneId?: string;
  /** Cloudflare's account id; the zone's own account when absent. */
  accountId?: string;
  /** The API token Terraform uses, as a secret reference; resolved only at plan/apply time. */
  apiToken: string;
  tunnel?: {
    /** The cloudflared tunnel's name in Cloudflare; its id is looked up by name when `id` is absent. */
    name: string;
    id?: string;
    /** The name routed records point at (seed 003: tunnel.153.se). */
    hostname: string;
    /** Where cloudflared reaches the services: http://<origin>:<port>. */
    origin?: string;
  };
}

/** True when `name` is the zone itself or a name below it. */
export const insideZone = (name: string, zone: string) => name === zone || name.endsWith(`.${zone}`);

export const FQDN_PATTERN = '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$';
const fqdn = (description: string) => ({ type: 'string', pattern: FQDN_PATTERN, description });
const cloudflareId = (what: string) => ({
  type: 'string',
  pattern: '^[0-9a-f]{32}$',
  description: `Cloudflare's ${what} id (32 hex digits, from the dashboard's Overview page); looked up at plan time when left out`,
});

const schema = kindSchema(
  'zones',
  'DnsZone',
  'A Cloudflare zone, its API token and the tunnel its routed records go through. The dns Terraform stack is synthesised from the zones, their records (specs/dns) and the port allocations behind them (specs/ports).',
  {
    required: ['kind', 'name', 'provider', 'apiToken'],
    properties: {
      kind: { const: 'DnsZone' },
      name: fqdn('the zone, such as 153.se'),
      provider: { const: 'cloudflare' },
      zoneId: cloudflareId('zone'),
      accountId: cloudflareId('account'),
      apiToken: ref('secretRef', 'the Cloudflare API token (Zone DNS edit, Account Cloudflare Tunnel edit), as a secret reference'),
      tunnel: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'hostname'],
        description: 'the cloudflared tunnel whose ingress rules are generated from the port allocations of routed records',
        properties: {
          name: ref('name', 'the tunnel\'s name in Cloudflare'),
          id: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: 'the tunnel\'s UUID; looked up by name when left out' },
          hostname: fqdn('the name routed records point at, such as tunnel.153.se'),
          origin: {
            type: 'string',
            pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$',
            description: 'the host cloudflared reaches services on (default localhost)',
          },
        },
      },
    },
  },
);

export const zones = defineKind<DnsZone>({
  kind: 'DnsZone',
  folder: 'zones',
  description: 'Cloudflare zones and their tunnels, applied through the dns Terraform stack',
  schema,
  nameOf: (z) => z.name,
  namePath: ['name'],
  references({ value }) {
    const findings: Finding[] = [];
    const host = value.tunnel?.hostname;
    if (host !== undefined && !insideZone(host, value.name)) {
      findings.push({
        code: 'ref.outside-zone',
        path: ['tunnel', 'hostname'],
        message: `tunnel hostname "${host}" is not inside zone "${value.name}"`,
        hint: `use a name ending in .${value.name}`,
      });
    }
    return findings;
  },
});
