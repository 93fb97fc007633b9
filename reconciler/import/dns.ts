// Import source `dns`: each DnsZone spec's records and its tunnel's ingress routes, read through
// the Cloudflare API v4 (cloudflare.ts) with the zone's apiToken secret (for zones/<name> only:
// the store checks the secret's scope) or FLEETSPEC_CLOUDFLARE_TOKEN. A CNAME, A or AAAA record
// whose name the dns kind accepts becomes specs/dns/<name>.yaml, with `route:` when the tunnel
// routes the name to a port a spec allocates; anything else is flagged. After the write, the dns
// stack is synthesised (as `fleetspec stacks synth dns`) and stacks/dns/imports.tf.json gets an
// import block per adopted record (and the tunnel's configuration), so terraform adopts them.
import type { Resource } from '../kinds/kind.js';
import type { DnsRecord } from '../kinds/dns/index.js';
import type { PortRange } from '../kinds/ports/index.js';
import { FQDN_PATTERN, insideZone, type DnsZone } from '../kinds/zones/index.js';
import { besideSpecs } from '../specs/folders.js';
import { tfId } from '../stacks/model.js';
import type { ImportBlock } from '../stacks/imports.js';
import { CloudflareClient, type CfIngress } from './cloudflare.js';
import type { ImportContext, ImportSource, SourceResult } from './source.js';

const FQDN = new RegExp(FQDN_PATTERN);
const TYPES = new Set(['CNAME', 'A', 'AAAA']);
const SHOWN = 80;

/** A remote value for a message: JSON-quoted and cut short (the renderer escapes it for the terminal). */
const quoted = (s: string) => JSON.stringify(s.length > SHOWN ? `${s.slice(0, SHOWN)}…` : s);

/** project/service of the allocation at `port`, from the specs' port ranges. */
function routeFor(port: number, ranges: readonly Resource<PortRange>[]): string | undefined {
  for (const r of ranges) {
    const a = (r.value.allocations ?? []).find((x) => x.port === port);
    if (a) return `${r.name}/${a.service}`;
  }
  return undefined;
}

/** http://origin:port (or https) of an ingress service, when it is that form. */
function servicePort(service: string): { origin: string; port: number } | undefined {
  const m = /^https?:\/\/([a-z0-9.-]+):([0-9]{1,5})\/?$/.exec(service);
  return m ? { origin: m[1]!, port: Number(m[2]) } : undefined;
}

async function tokenFor(zone: Resource<DnsZone>, ctx: ImportContext): Promise<{ token?: string; problem?: string }> {
  let stored: string | undefined;
  try {
    stored = await ctx.secret(zone.value.apiToken, zone.label);
  } catch (error) {
    // A scope refusal names the secret's path and the user, never its value.
    return { problem: error instanceof Error ? error.message : String(error) };
  }
  if (stored) return { token: stored };
  if (ctx.cloudflare.envToken) return { token: ctx.cloudflare.envToken };
  return { problem: `no Cloudflare token: ${zone.value.apiToken} is not readable (store it with fleetspec secrets set ${zone.value.apiToken.replace(/^secret:/, '')} and set FLEETSPEC_SECRET_KEY), and FLEETSPEC_CLOUDFLARE_TOKEN is not set` };
}

export const dnsSource: ImportSource = {
  name: 'dns',
  async read(ctx: ImportContext): Promise<SourceResult> {
    const result: SourceResult = { added: [], flagged: [], notRead: [] };
    const zones = (ctx.index.all('zones') as Resource<DnsZone>[]).filter((z) => z.value.provider === 'cloudflare');
    const ranges = ctx.index.all('ports') as Resource<PortRange>[];
    const blocks: ImportBlock[] = [];
    const taken = new Set((ctx.index.all('dns') as Resource<DnsRecord>[]).map((r) => r.name));
    for (const zone of zones) {
      const { token, problem } = await tokenFor(zone, ctx);
      if (!token) {
        result.notRead.push({ target: zone.label, reason: problem! });
        continue;
      }
      const cf = new CloudflareClient({ api: ctx.cloudflare.api, token, timeoutMs: ctx.cloudflare.timeoutMs });
      try {
        let zoneId = zone.value.zoneId;
        let accountId = zone.value.accountId;
        if (!zoneId || (!accountId && zone.value.tunnel)) {
          const found = await cf.zoneByName(zone.value.name);
          if (!found) throw new Error(`Cloudflare has no zone named ${zone.value.name} for this token`);
          zoneId ??= found.id;
          accountId ??= found.account.id;
        }
        const records = await cf.records(zoneId);
        let ingress: CfIngress[] = [];
        const tunnel = zone.value.tunnel;
        if (tunnel && accountId) {
          const tunnelId = tunnel.id ?? (await cf.tunnelByName(accountId, tunnel.name))?.id;
          if (!tunnelId) result.flagged.push({ label: `${zone.label}/tunnel`, message: `Cloudflare has no tunnel named ${quoted(tunnel.name)}; its routes are not read` });
          else {
            ingress = await cf.ingress(accountId, tunnelId);
            // The stack manages the tunnel's whole ingress: adopt the configuration itself too.
            blocks.push({ to: `cloudflare_zero_trust_tunnel_cloudflared_config.${tfId(tunnel.name)}`, id: `${accountId}/${tunnelId}` });
          }
        }
        const routes = new Map<string, CfIngress>();
        for (const rule of ingress) if (rule.hostname) routes.set(rule.hostname, rule);
        const origin = tunnel?.origin ?? 'localhost';
        for (const rec of [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          const label = `dns/${rec.name}`;
          if (!TYPES.has(rec.type)) {
            result.flagged.push({ label: `dns/${quoted(rec.name)}`, message: `${quoted(rec.type)} record: the dns kind holds CNAME, A and AAAA records only; not written` });
            continue;
          }
          if (rec.name.length > 253 || !FQDN.test(rec.name) || !insideZone(rec.name, zone.value.name)) {
            result.flagged.push({ label: `dns/${quoted(rec.name)}`, message: `${rec.type} record named ${quoted(rec.name)}: not a name the dns kind accepts in zone ${zone.value.name}; not written` });
            continue;
          }
          if (taken.has(rec.name)) {
            if (result.added.some((a) => a.label === label)) result.flagged.push({ label, message: `another ${rec.type} record of the same name: the dns kind holds one record per name; only the first is written` });
            continue;
          }
          if (rec.content.length === 0) {
            result.flagged.push({ label, message: 'empty content; not written' });
            continue;
          }
          const rule = routes.get(rec.name);
          let route: string | undefined;
          if (rule && tunnel && rec.type === 'CNAME' && rec.content === tunnel.hostname) {
            const target = servicePort(rule.service);
            const found = target && target.origin === origin ? routeFor(target.port, ranges) : undefined;
            if (found) route = found;
            else result.flagged.push({ label, message: `the tunnel routes it to ${quoted(rule.service)}, which is no port allocation at ${origin}: written without route (allocate the port in specs/ports, then add route: project/service)` });
          }
          routes.delete(rec.name);
          const routed = route !== undefined;
          const spec: Record<string, unknown> = {
            kind: 'DnsRecord',
            name: rec.name,
            zone: zone.value.name,
            type: rec.type,
            target: rec.content,
            ...((rec.proxied ?? false) !== routed ? { proxied: rec.proxied ?? false } : {}),
            ...(rec.ttl !== undefined && rec.ttl !== 1 && rec.ttl <= 86400 ? { ttl: rec.ttl } : {}),
            ...(route ? { route } : {}),
          };
          taken.add(rec.name);
          result.added.push({ type: 'document', folder: 'dns', file: `${rec.name}.yaml`, label, value: spec, from: `Cloudflare zone ${zone.value.name}` });
          blocks.push({ to: `cloudflare_dns_record.${tfId(rec.name)}`, id: `${zoneId}/${rec.id}` });
        }
        for (const [host, rule] of routes) {
          if (!taken.has(host)) result.flagged.push({ label: `dns/${quoted(host)}`, message: `the tunnel routes it to ${quoted(rule.service)}, but the zone has no record of that name; not written` });
        }
      } catch (error) {
        result.notRead.push({ target: zone.label, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    const adopted = blocks.filter((b) => b.to.startsWith('cloudflare_dns_record.'));
    if (adopted.length) {
      const stacks = besideSpecs(ctx.specs, 'stacks');
      result.afterWrite = {
        describe: [`synthesise stacks/dns/cdk.tf.json (as fleetspec stacks synth dns)`, `write ${blocks.length} import block${blocks.length === 1 ? '' : 's'} to stacks/dns/imports.tf.json: terraform adopts the records instead of creating them`],
        async run(written) {
          const [{ synthesiseAll }, { writeImports }] = await Promise.all([import('../stacks/files.js'), import('../stacks/imports.js')]);
          const [synth] = await synthesiseAll(written.index, stacks, { only: ['dns'] });
          const file = await writeImports(stacks, 'dns', blocks);
          return [`stacks/dns/cdk.tf.json ${synth?.status ?? 'not synthesised'}`, `${file}: ${blocks.length} import block${blocks.length === 1 ? '' : 's'} (terraform adopts them on the next apply)`];
        },
      };
    }
    return result;
  },
};
