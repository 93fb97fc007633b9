// Import source `ports`: each host with ssh settings is read with the hosts driver's facts
// script (read-only); a listening TCP port inside a project's range that nothing allocates
// becomes an allocation in that PortRange spec, named after the host's service on that port (else
// <host>-<port>), or after the store's allocation when `fleetspec ports allocate` made one. Ports
// outside every range are flagged, not written. After the write, the adopted allocations are
// recorded in the state store (the ports kind's live side), so the next plan has nothing to add.
import type { LiveContext } from '../kinds/driver.js';
import { readHostFacts } from '../kinds/hosts/driver.js';
import type { Host } from '../kinds/hosts/index.js';
import type { Resource } from '../kinds/kind.js';
import type { PortRange } from '../kinds/ports/index.js';
import { applyPorts, type PortChange } from '../kinds/ports/store.js';
import { listAllocations, listRanges, type Allocation } from '../state/ports.js';
import type { ImportContext, ImportSource, NewItem, SourceResult } from './source.js';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A service name for the ports kind (lowercase letters, digits, dashes, at most 63), or undefined. */
export function serviceName(text: string): string | undefined {
  const name = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return NAME.test(name) ? name : undefined;
}

interface Seen {
  host: Resource<Host>;
  port: number;
}

export const portsSource: ImportSource = {
  name: 'ports',
  async read(ctx: ImportContext): Promise<SourceResult> {
    const result: SourceResult = { added: [], flagged: [], notRead: [] };
    const hosts = (ctx.index.all('hosts') as Resource<Host>[]).filter((h) => h.value.ssh);
    const ranges = (ctx.index.all('ports') as Resource<PortRange>[]).slice().sort((a, b) => a.value.range.start - b.value.range.start);
    const live = { mode: 'live', ssh: ctx.ssh, noSsh: ctx.noSsh } as LiveContext;
    const reads = await Promise.all(hosts.map(async (h) => [h, await readHostFacts(h, live)] as const));
    const seen: Seen[] = [];
    for (const [host, read] of reads) {
      if ('unknown' in read) result.notRead.push({ target: host.label, reason: read.unknown });
      else for (const port of read.facts.listening) seen.push({ host, port });
    }
    const stored = await listAllocations(ctx.db);
    const storedRanges = new Set((await listRanges(ctx.db)).map((r) => r.project));
    const toRecord: PortChange[] = [];
    // Per range: ports and services taken, in specs and by this import so far.
    const ports = new Map<string, Map<number, string>>();
    const services = new Map<string, Set<string>>();
    for (const r of ranges) {
      ports.set(r.name, new Map((r.value.allocations ?? []).map((a) => [a.port, a.service])));
      services.set(r.name, new Set((r.value.allocations ?? []).map((a) => a.service)));
    }
    // The store's service names too: a new name must not collide with a runtime allocation.
    for (const a of stored) services.get(a.project)?.add(a.service);
    for (const { host, port } of seen.sort((a, b) => a.port - b.port || a.host.name.localeCompare(b.host.name))) {
      const label = `ports/${host.name}:${port}`;
      const range = ranges.find((r) => r.value.range.start <= port && port <= r.value.range.end);
      if (!range) {
        const service = host.value.services?.find((s) => s.port === port)?.name;
        const ssh = (host.value.ssh?.port ?? 22) === port ? ' (its ssh port)' : '';
        result.flagged.push({ label, message: `listening on ${host.name}${ssh}${service ? ` for service ${service}` : ''}, outside every project's port range: not written` });
        continue;
      }
      const taken = ports.get(range.name)!;
      const owner = taken.get(port);
      if (owner !== undefined) {
        // Allocated in specs already, or adopted from another host in this run: never twice.
        const importedHere = result.added.some((a) => a.type === 'item' && a.into === range.name && a.value.port === port);
        if (importedHere) result.flagged.push({ label, message: `also listening on ${host.name}; port ${port} of ${range.name} is adopted once, for the first host` });
        continue;
      }
      const inStore = stored.find((a) => a.project === range.name && a.port === port);
      const name = pickName(host, port, inStore, services.get(range.name)!);
      taken.set(port, name);
      services.get(range.name)!.add(name);
      const item: NewItem = {
        type: 'item',
        folder: 'ports',
        into: range.name,
        key: 'allocations',
        label: `ports/${range.name}/${name}`,
        value: { service: name, port, host: host.name },
        from: `port ${port} listening on ${host.name}${inStore ? `, allocated in the state store as ${inStore.service}` : ''}`,
      };
      result.added.push(item);
      if (!inStore) toRecord.push({ kind: 'ports', name: `${range.name}/${name}`, action: 'create', before: null, after: { port }, reason: 'adopted by fleetspec import' });
    }
    if (toRecord.length) {
      const missing = [...new Set(toRecord.map((c) => c.name.split('/')[0]!))].filter((p) => !storedRanges.has(p));
      const recordable = toRecord.filter((c) => !missing.includes(c.name.split('/')[0]!));
      const describe = recordable.map((c) => `record allocation ${c.name}: port ${(c.after as { port: number }).port} in the state store`);
      for (const p of missing) describe.push(`not recorded in the state store: range ${p} is not there yet (fleetspec ports apply records the range and its allocations)`);
      result.afterWrite = {
        describe,
        async run() {
          if (recordable.length) await applyPorts(ctx.db, recordable);
          return describe;
        },
      };
    }
    return result;
  },
};

/** The store's name for the port, else the host's service on it, else <host>-<port>; unique in the range. */
function pickName(host: Resource<Host>, port: number, inStore: Allocation | undefined, used: Set<string>): string {
  if (inStore) return inStore.service;
  const hostName = serviceName(host.name) ?? 'host';
  const service = host.value.services?.find((s) => s.port === port)?.name;
  const candidates = [service && serviceName(service), service && serviceName(`${hostName}-${service}`), serviceName(`${hostName}-${port}`), `port-${port}`];
  for (const c of candidates) if (c && !used.has(c)) return c;
  let i = 2;
  while (used.has(`port-${port}-${i}`)) i++;
  return `port-${port}-${i}`;
}
