// Reconciling specs/ports into the state store: the difference is a list of changes an
// operator sees before anything is written; apply writes exactly those, in one transaction.
import type { Queryable } from '../../state/db.js';
import { assign, deleteRange, release, setRange, type Allocation, type PortRangeRow } from '../../state/ports.js';
import type { PortRange } from './index.js';

export interface PortChange {
  kind: 'ports';
  /** `consilio` for a range, `consilio/api` for an allocation. */
  name: string;
  action: 'create' | 'update' | 'delete';
  before: unknown;
  after: unknown;
  reason: string;
}

export interface LivePorts {
  ranges: PortRangeRow[];
  allocations: Allocation[];
}

/**
 * Changes that bring the store to the specs. Allocations made at run time with
 * `fleetspec ports allocate` are not in specs and are left alone; only ports pinned in
 * specs are created or moved.
 */
export function diffPorts(desired: readonly PortRange[], live: LivePorts): PortChange[] {
  const changes: PortChange[] = [];
  const liveRanges = new Map(live.ranges.map((r) => [r.project, r]));
  const liveAllocations = new Map(live.allocations.map((a) => [`${a.project}/${a.service}`, a]));
  const wanted = new Set<string>();
  for (const spec of desired) {
    wanted.add(spec.name);
    const after = { start: spec.range.start, end: spec.range.end };
    const current = liveRanges.get(spec.name);
    if (!current) changes.push({ kind: 'ports', name: spec.name, action: 'create', before: null, after, reason: 'range in specs, not in the store' });
    else if (current.start !== after.start || current.end !== after.end) {
      changes.push({ kind: 'ports', name: spec.name, action: 'update', before: { start: current.start, end: current.end }, after, reason: 'range differs from specs' });
    }
    for (const a of spec.allocations ?? []) {
      const name = `${spec.name}/${a.service}`;
      const have = liveAllocations.get(name);
      if (!have) changes.push({ kind: 'ports', name, action: 'create', before: null, after: { port: a.port }, reason: 'port pinned in specs, not allocated' });
      else if (have.port !== a.port) changes.push({ kind: 'ports', name, action: 'update', before: { port: have.port }, after: { port: a.port }, reason: 'allocated port differs from specs' });
    }
  }
  for (const r of live.ranges) {
    if (!wanted.has(r.project)) {
      changes.push({ kind: 'ports', name: r.project, action: 'delete', before: { start: r.start, end: r.end }, after: null, reason: 'range in the store, not in specs' });
    }
  }
  return changes.sort((a, b) => a.name.localeCompare(b.name) || a.action.localeCompare(b.action));
}

/** Writes the changes; run inside one transaction so a refusal leaves the store as it was. */
export async function applyPorts(db: Queryable, changes: readonly PortChange[]): Promise<void> {
  const ranges = changes.filter((c) => !c.name.includes('/'));
  const allocations = changes.filter((c) => c.name.includes('/'));
  for (const c of ranges.filter((c) => c.action !== 'delete')) {
    const { start, end } = c.after as { start: number; end: number };
    await setRange(db, { project: c.name, start, end });
  }
  for (const c of allocations) {
    const [project, service] = c.name.split('/') as [string, string];
    if (c.action !== 'create') await release(db, project, service);
    if (c.action !== 'delete') await assign(db, { project, service, port: (c.after as { port: number }).port });
  }
  for (const c of ranges.filter((c) => c.action === 'delete')) await deleteRange(db, c.name);
}
