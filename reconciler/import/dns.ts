// Import source `dns`: each DnsZone spec's records and its tunnel's ingress routes, read through
// the Cloudflare API v4 (cloudflare.ts) with the zone's apiToken secret (for zones/<name> only:
// the store checks the secret's scope) or FLEETSPEC_CLOUDFLARE_TOKEN. A name with one CNAME, A or
// AAAA record becomes specs/dns/<name>.yaml in the single form, with `route:` when the tunnel
// routes the name to a port a spec allocates; a name with several records (or TXT, MX, CAA, NS)
// becomes a records: list, MX priorities and CAA data included. Records the kind refuses, and
// other types, are flagged. After the write, the dns
// stack is synthesised (as `fleetspec stacks synth dns`) and stacks/dns/imports.tf.json gets an
// import block per adopted record (and the tunnel's configuration), so terraform adopts them.
import type { Resource } from '../kinds/kind.js';
import { dns, recordFindings, type DnsRecord, type DnsRecordEntry } from '../kinds/dns/index.js';
import { CAA_TAGS, describeRecords, RECORD_NAME_PATTERN, RECORD_TYPES, recordsOf, recordTfId, SINGLE_TYPES } from '../kinds/dns/records.js';
import { checkSchema } from '../specs/schema.js';
import type { PortRange } from '../kinds/ports/index.js';
import { insideZone, type DnsZone } from '../kinds/zones/index.js';
import { besideSpecs } from '../specs/folders.js';
import { tfId } from '../stacks/model.js';
import type { ImportBlock } from '../stacks/imports.js';
import { CloudflareClient, type CfIngress, type CfRecord } from './cloudflare.js';
import type { ImportContext, ImportSource, SourceResult } from './source.js';

const FQDN = new RegExp(RECORD_NAME_PATTERN);
const TYPES: ReadonlySet<string> = new Set(RECORD_TYPES);
const SINGLE: ReadonlySet<string> = new Set(SINGLE_TYPES);

/** A record's ttl for a spec: absent when automatic (1) or out of the kind's range. */
const ttlOf = (rec: CfRecord) => (rec.ttl !== undefined && rec.ttl !== 1 && rec.ttl <= 86400 ? rec.ttl : undefined);

/**
 * TXT content as Cloudflare returns it: RFC 1035 character strings, each quoted (`"v=spf1 -all"`,
 * longer text split into several), or bare text. The strings joined, unescaped; undefined when
 * it is neither form.
 */
export function txtText(content: string): string | undefined {
  const trimmed = content.trim();
  if (!trimmed.startsWith('"')) return content;
  const strings = /^(?:"((?:[^"\\]|\\.)*)"\s*)+$/.test(trimmed) ? [...trimmed.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!) : undefined;
  return strings?.map((x) => x.replace(/\\(.)/g, '$1')).join('');
}

/** One Cloudflare record as a records: entry, or why it cannot be one. */
function entryOf(rec: CfRecord): DnsRecordEntry | string {
  const common = { ...(ttlOf(rec) ? { ttl: ttlOf(rec) } : {}), ...(rec.proxied ? { proxied: true } : {}) };
  if (rec.type === 'CAA') {
    const d = rec.data;
    if (!d || d.tag === undefined || d.value === undefined) return 'no CAA data (flags, tag, value)';
    if (!(CAA_TAGS as readonly string[]).includes(d.tag)) return `CAA tag ${quoted(d.tag)} is not one the dns kind holds (${CAA_TAGS.join(', ')})`;
    return { type: 'CAA', ...(d.flags ? { flags: d.flags } : {}), tag: d.tag as DnsRecordEntry['tag'], value: d.value, ...common };
  }
  if (rec.content === undefined || rec.content.length === 0) return 'empty content';
  const content = rec.type === 'TXT' ? txtText(rec.content) : rec.content;
  if (content === undefined) return 'TXT content that is neither text nor quoted strings';
  if (rec.type === 'MX') return { type: 'MX', content, priority: rec.priority ?? 0, ...common };
  return { type: rec.type as DnsRecordEntry['type'], content, ...common };
}
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
      /** Adds the spec's file; false when the name was taken meanwhile. */
      const written = (spec: DnsRecord, label: string): boolean => {
        if (taken.has(spec.name)) return false;
        taken.add(spec.name);
        result.added.push({ type: 'document', folder: 'dns', file: `${spec.name}.yaml`, label, value: spec as unknown as Record<string, unknown>, from: `Cloudflare zone ${zone.value.name}` });
        return true;
      };
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
        // The records a name has, grouped: one CNAME, A or AAAA record is the single form (with
        // route: when the tunnel routes it); anything else becomes a records: list.
        const byName = new Map<string, CfRecord[]>();
        for (const rec of [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          if (!TYPES.has(rec.type)) {
            result.flagged.push({ label: `dns/${quoted(rec.name)}`, message: `${quoted(rec.type)} record: the dns kind holds ${[...TYPES].join(', ')} records only; not written` });
            continue;
          }
          if (rec.name.length > 253 || !FQDN.test(rec.name) || !insideZone(rec.name, zone.value.name)) {
            result.flagged.push({ label: `dns/${quoted(rec.name)}`, message: `${rec.type} record named ${quoted(rec.name)}: not a name the dns kind accepts in zone ${zone.value.name}; not written` });
            continue;
          }
          if (rec.type === 'NS' && rec.name === zone.value.name) continue; // the apex's NS records are Cloudflare's own
          byName.set(rec.name, [...(byName.get(rec.name) ?? []), rec]);
        }
        for (const [name, group] of byName) {
          const label = `dns/${name}`;
          if (taken.has(name)) continue;
          const single = group.length === 1 && SINGLE.has(group[0]!.type);
          if (single) {
            const rec = group[0]!;
            const content = rec.content ?? '';
            if (content.length === 0) {
              result.flagged.push({ label, message: 'empty content; not written' });
              continue;
            }
            const rule = routes.get(name);
            let route: string | undefined;
            if (rule && tunnel && rec.type === 'CNAME' && content === tunnel.hostname) {
              const target = servicePort(rule.service);
              const found = target && target.origin === origin ? routeFor(target.port, ranges) : undefined;
              if (found) route = found;
              else result.flagged.push({ label, message: `the tunnel routes it to ${quoted(rule.service)}, which is no port allocation at ${origin}: written without route (allocate the port in specs/ports, then add route: project/service)` });
            }
            routes.delete(name);
            const routed = route !== undefined;
            const spec: DnsRecord = {
              kind: 'DnsRecord',
              name,
              zone: zone.value.name,
              type: rec.type as 'CNAME' | 'A' | 'AAAA',
              target: content,
              ...((rec.proxied ?? false) !== routed ? { proxied: rec.proxied ?? false } : {}),
              ...(ttlOf(rec) ? { ttl: ttlOf(rec) } : {}),
              ...(route ? { route } : {}),
            };
            if (!written(spec, label)) continue;
            blocks.push({ to: `cloudflare_dns_record.${tfId(name)}`, id: `${zoneId}/${rec.id}` });
            continue;
          }
          // A records: list. Each record is checked as the dns kind checks it; one it refuses is flagged and left out.
          const entries: { entry: DnsRecordEntry; id: string }[] = [];
          for (const rec of group) {
            const entry = entryOf(rec);
            if (typeof entry === 'string') {
              result.flagged.push({ label, message: `${rec.type} record: ${entry}; not written` });
              continue;
            }
            const problems = [...checkSchema(dns, { kind: 'DnsRecord', name, zone: zone.value.name, records: [entry] }), ...recordFindings({ kind: 'DnsRecord', name, zone: zone.value.name, records: [entry] })];
            if (problems.length) {
              result.flagged.push({ label, message: `${rec.type} record ${quoted(describeRecords({ name, records: [entry] }))}: ${problems[0]!.message}; not written` });
              continue;
            }
            entries.push({ entry, id: rec.id });
          }
          if (entries.some((e) => e.entry.type === 'CNAME') && entries.length > 1) {
            result.flagged.push({ label, message: 'a CNAME beside other records of the same name (DNS allows neither); not written' });
            continue;
          }
          const spec: DnsRecord = { kind: 'DnsRecord', name, zone: zone.value.name, records: entries.map((e) => e.entry) };
          if (entries.length === 0 || recordFindings(spec).length) {
            if (entries.length) result.flagged.push({ label, message: `its records are not a valid set (${recordFindings(spec)[0]!.message}); not written` });
            continue;
          }
          routes.delete(name);
          if (!written(spec, label)) continue;
          recordsOf(spec).forEach((r, i) => blocks.push({ to: `cloudflare_dns_record.${recordTfId(tfId(name), r, false)}`, id: `${zoneId}/${entries[i]!.id}` }));
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
