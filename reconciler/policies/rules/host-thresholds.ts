// Seed 004's monitoring table: disk, memory and CPU against their alert thresholds, from live
// facts when the plan read them, else from what the host spec says was observed (the east
// server's root disk at 97%). A host spec's monitoring: entries win over this policy's defaults.
import { breaches, formatSize, parseThreshold, type HostFacts } from '../../kinds/hosts/facts.js';
import type { Host } from '../../kinds/hosts/index.js';
import { isWindowsFacts } from '../../kinds/hosts/windows.js';
import { defs } from '../../kinds/common.js';
import type { Resource } from '../../kinds/kind.js';
import type { PathSegment } from '../../specs/source.js';
import type { BuiltinRule, Violation } from '../policy.js';

type Monitor = NonNullable<Host['monitoring']>[number];

export interface HostThresholdsParams {
  /** Thresholds for every host whose spec has no monitoring: entry for the metric (and mount). */
  defaults?: Monitor[];
}

const METRICS = ['disk.usage', 'memory.usage', 'cpu.usage'];

export const hostThresholds: BuiltinRule<HostThresholdsParams> = {
  name: 'host-thresholds',
  description: 'disk, memory and CPU use stay under their alert thresholds',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      defaults: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['metric', 'alert'],
          properties: {
            metric: { enum: METRICS },
            alert: defs.threshold,
            target: defs.threshold,
            mount: { type: 'string', pattern: '^/' },
            aggregate: { enum: ['avg', 'max', 'sustained'] },
          },
        },
      },
    },
  },
  check(params, { index, facts }) {
    const out: Violation[] = [];
    for (const resource of index.all('hosts') as Resource<Host>[]) {
      const own = (resource.value.monitoring ?? []).map((m, i) => ({ m, path: ['monitoring', i] as PathSegment[] }));
      const key = (m: Monitor) => `${m.metric} ${m.metric === 'disk.usage' ? (m.mount ?? '/') : ''}`;
      const set = new Set(own.map(({ m }) => key(m)));
      const monitors = [...own, ...(params.defaults ?? []).filter((m) => !set.has(key(m))).map((m) => ({ m, path: ['name'] as PathSegment[] }))];
      const live = facts.get('hosts')?.get(resource.name) as HostFacts | undefined;
      for (const { m, path } of monitors) {
        const breach = measure(resource.value, m, live);
        if (breach) out.push({ resource, path: breach.observed ? ['observed'] : path, message: breach.message, hint: breach.hint, subject: m.metric === 'disk.usage' ? `disk.usage ${m.mount ?? '/'}` : m.metric });
      }
    }
    return out;
  },
};

function measure(host: Host, m: Monitor, facts: HostFacts | undefined): { message: string; hint: string; observed?: boolean } | undefined {
  const alert = parseThreshold(m.alert);
  if (m.metric === 'disk.usage') {
    // On Windows (drive letters) "/" is the system drive, C: as a rule.
    const mount = m.mount === undefined || m.mount === '/' ? (isWindowsFacts(facts) ? facts.systemDrive : '/') : m.mount;
    const live = facts?.disks.find((d) => d.mount === mount)?.usedPercent;
    const observed = host.observed?.disks?.find((d) => d.mount === mount)?.usedPercent;
    const value = live ?? observed;
    if (value === undefined || !breaches(alert, value)) return undefined;
    const source = live !== undefined ? 'live' : `observed: ${host.observed!.source}`;
    return { message: `disk ${mount} at ${value}% (alert ${m.alert}; ${source})`, hint: `free space on ${mount}${m.target ? ` to get back to ${m.target}` : ''}`, observed: live === undefined };
  }
  if (!facts) return undefined;
  if (m.metric === 'memory.usage') {
    const used = facts.memory.totalBytes - facts.memory.availableBytes;
    const value = alert.unit === '%' ? Math.round((used / facts.memory.totalBytes) * 100) : used;
    if (!breaches(alert, value)) return undefined;
    return { message: `memory in use ${alert.unit === '%' ? `${value}%` : formatSize(value)} (alert ${m.alert}; live)`, hint: "find what grew, or raise the host's memory budget" };
  }
  if (m.metric === 'cpu.usage') {
    // Load average per CPU stands in for usage; "sustained" looks at the 15-minute figure.
    const load = m.aggregate === 'sustained' ? facts.load[2] : m.aggregate === 'avg' ? facts.load[1] : facts.load[0];
    const value = Math.round((load / facts.cpus) * 100);
    if (!breaches(alert, value)) return undefined;
    return { message: `CPU load ${value}% of ${facts.cpus} CPUs (alert ${m.alert}${m.aggregate ? `, ${m.aggregate}` : ''}; live)`, hint: 'find the busy process, or move work to another host' };
  }
  return undefined;
}
