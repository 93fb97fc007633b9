// Ports live in the state store, so they are read in every mode, offline included.
import type { ResourceChange } from '../../plan/plan.js';
import { listAllocations, listRanges } from '../../state/ports.js';
import { defineDriver } from '../driver.js';
import type { PortRange } from './index.js';
import { applyPorts, diffPorts, type LivePorts, type PortChange } from './store.js';

/** The change that undoes `change`: create ↔ delete, update back to `before`. */
function inverse(change: PortChange): PortChange {
  const action = change.action === 'create' ? 'delete' : change.action === 'delete' ? 'create' : 'update';
  return { ...change, action, before: change.after, after: change.before, reason: `rollback of ${change.action}` };
}

const describe = (value: unknown): string => {
  const v = value as { start?: number; end?: number; port?: number };
  return v.port !== undefined ? `port ${v.port}` : `range ${v.start}-${v.end}`;
};

export const portsDriver = defineDriver<LivePorts>({
  folder: 'ports',
  async readLive(_desired, ctx) {
    const [ranges, allocations] = await Promise.all([listRanges(ctx.db), listAllocations(ctx.db)]);
    return { ranges, allocations };
  },
  diff(desired, live) {
    const specs = desired.map((r) => r.value as PortRange);
    const changes: ResourceChange[] = diffPorts(specs, live);
    const changed = new Set(changes.map((c) => c.name));
    for (const spec of specs) {
      const names = [spec.name, ...(spec.allocations ?? []).map((a) => `${spec.name}/${a.service}`)];
      for (const name of names.filter((n) => !changed.has(n))) {
        const value = name === spec.name ? { start: spec.range.start, end: spec.range.end } : { port: spec.allocations!.find((a) => `${spec.name}/${a.service}` === name)!.port };
        changes.push({ kind: 'ports', name, action: 'no-op', before: value, after: value, reason: 'store matches specs' });
      }
    }
    return { changes, unknown: [], findings: [] };
  },
  actions(change) {
    const what = change.name.includes('/') ? 'allocation' : 'range';
    if (change.action === 'create') return [`record ${what} ${change.name}: ${describe(change.after)} in the state store`];
    if (change.action === 'delete') return [`remove ${what} ${change.name} from the state store`];
    if (change.action === 'update') return [`move ${what} ${change.name} from ${describe(change.before)} to ${describe(change.after)} in the state store`];
    return [];
  },
  async apply(change, ctx) {
    if (change.action === 'no-op' || change.action === 'drift') return undefined;
    const portChange = change as PortChange;
    await applyPorts(ctx.db, [portChange]);
    return {
      description: `reverted ports/${change.name} (${change.action}) in the state store`,
      run: () => applyPorts(ctx.db, [inverse(portChange)]),
    };
  },
});
