// Deployment topology (seed 002, 6.3, for this fleet): each host with its services and the
// models it serves, the port allocations, the Cloudflare zone with its DNS names and the tunnel
// that routes them to an allocation, the cloud VMs, and the external model APIs.
import type { SpecIndex } from '../kinds/kind.js';
import type { DnsRecord } from '../kinds/dns/index.js';
import { describeRecords } from '../kinds/dns/records.js';
import type { Host } from '../kinds/hosts/index.js';
import type { Model } from '../kinds/models/index.js';
import type { PortRange } from '../kinds/ports/index.js';
import type { VirtualMachine } from '../kinds/vms/index.js';
import type { DnsZone } from '../kinds/zones/index.js';
import { byName, Ids, indent, label, sortedValues, text, type Diagram } from './diagram.js';

/** A service and a runtime are the same thing when their letters and digits match (llama-cpp, llama.cpp). */
const sameName = (a: string, b: string) => a.toLowerCase().replace(/[^a-z0-9]/g, '') === b.toLowerCase().replace(/[^a-z0-9]/g, '');

/** A DNS record: a rounded box (a stadium shape costs ~12 KB of SVG path per node). */
const dnsNode = (id: string, record: DnsRecord) => `${id}(${label(record.name, describeRecords(record))})`;

function render(index: SpecIndex): string[] {
  const ids = new Ids();
  const hosts = sortedValues<Host>(index, 'hosts');
  const models = sortedValues<Model>(index, 'models');
  const ranges = sortedValues<PortRange>(index, 'ports');
  const zones = sortedValues<DnsZone>(index, 'zones');
  const records = sortedValues<DnsRecord>(index, 'dns');
  const vms = sortedValues<VirtualMachine>(index, 'vms');
  const out: string[] = ['flowchart LR'];
  const edges: string[] = [];

  // Port allocations, by the host they run on (or none named).
  const allocations = ranges.flatMap((r) => (r.allocations ?? []).map((a) => ({ project: r.name, ...a })));
  const allocationId = (project: string, service: string) => ids.of('port', `${project}/${service}`);
  const allocationNode = (a: (typeof allocations)[number]) => `${allocationId(a.project, a.service)}[${label(`${a.project}/${a.service} :${a.port}`)}]`;

  out.push(indent(1, `subgraph hosts[${label('hosts')}]`));
  for (const host of hosts) {
    out.push(indent(2, `subgraph ${ids.of('host', host.name)}[${label(host.name, [host.address, host.os].filter(Boolean).join(' · '))}]`));
    out.push(indent(3, 'direction TB'));
    const services = (host.services ?? []).slice().sort((a, b) => a.port - b.port || byName(a.name, b.name));
    for (const s of services) out.push(indent(3, `${ids.of('svc', `${host.name}/${s.name}`)}[${label(`${s.name} :${s.port}`)}]`));
    for (const a of allocations.filter((x) => x.host === host.name)) out.push(indent(3, allocationNode(a)));
    // Models served here, one node per runtime, joined to the service that runs them.
    const here = models.filter((m) => m.host === host.name && m.runtime !== 'api');
    for (const runtime of [...new Set(here.map((m) => m.runtime))].sort(byName)) {
      const id = ids.of('models', `${host.name}/${runtime}`);
      out.push(indent(3, `${id}[(${label(`${runtime} models`, ...here.filter((m) => m.runtime === runtime).map((m) => m.name))})]`));
      const service = services.find((s) => sameName(s.name, runtime));
      if (service) edges.push(`${ids.of('svc', `${host.name}/${service.name}`)} --- ${id}`);
    }
    out.push(indent(2, 'end'));
  }
  out.push(indent(1, 'end'));

  const unplaced = allocations.filter((a) => !a.host || !hosts.some((h) => h.name === a.host));
  if (unplaced.length) {
    out.push(indent(1, `subgraph ports[${label('port allocations (no host named)')}]`));
    for (const a of unplaced) out.push(indent(2, allocationNode(a)));
    out.push(indent(1, 'end'));
  }

  for (const zone of zones) {
    out.push(indent(1, `subgraph ${ids.of('zone', zone.name)}[${label(`${zone.provider} zone ${zone.name}`)}]`));
    const tunnel = zone.tunnel;
    const tunnelId = tunnel ? ids.of('tunnel', zone.name) : undefined;
    if (tunnel) out.push(indent(2, `${tunnelId}{{${label(`tunnel ${tunnel.name}`, tunnel.hostname)}}}`));
    for (const record of records.filter((r) => r.zone === zone.name)) {
      const id = ids.of('dns', record.name);
      out.push(indent(2, dnsNode(id, record)));
      if (tunnel && record.type === 'CNAME' && record.target === tunnel.hostname) {
        edges.push(`${id} --> ${tunnelId}`);
        const [project, service] = (record.route ?? '').split('/');
        const allocation = allocations.find((a) => a.project === project && a.service === service);
        if (allocation) edges.push(`${tunnelId} -->|${text(`http://${tunnel.origin ?? 'localhost'}:${allocation.port}`)}| ${allocationId(allocation.project, allocation.service)}`);
      }
    }
    out.push(indent(1, 'end'));
  }

  // DNS records whose zone has no spec still show, outside any zone.
  for (const record of records.filter((r) => !zones.some((z) => z.name === r.zone))) {
    out.push(indent(1, dnsNode(ids.of('dns', record.name), record)));
  }

  const clouds = [...new Set(vms.map((vm) => `${vm.provider} ${vm.project}`))].sort(byName);
  for (const cloud of clouds) {
    out.push(indent(1, `subgraph ${ids.of('cloud', cloud)}[${label(cloud)}]`));
    for (const vm of vms.filter((v) => `${v.provider} ${v.project}` === cloud)) {
      const size = vm.autoscale ? `${vm.machineType}, scales to ${vm.autoscale.scaleUpTo}` : vm.machineType;
      out.push(indent(2, `${ids.of('vm', vm.name)}[${label(vm.name, `${vm.zone} · ${size}`)}]`));
    }
    out.push(indent(1, 'end'));
  }

  const external = models.filter((m) => m.runtime === 'api');
  if (external.length) {
    out.push(indent(1, `subgraph api[${label('model APIs')}]`));
    for (const provider of [...new Set(external.map((m) => m.provider ?? 'api'))].sort(byName)) {
      out.push(indent(2, `${ids.of('provider', provider)}[(${label(provider, ...external.filter((m) => (m.provider ?? 'api') === provider).map((m) => m.name))})]`));
    }
    out.push(indent(1, 'end'));
  }

  return [...out, ...edges.map((e) => indent(1, e))];
}

export const topology: Diagram = {
  name: 'topology',
  title: 'Fleet topology: hosts, services, models, ports, DNS and the tunnel',
  render,
};
