// The plan is data (Terraform's lesson): resource changes in a stable order with a content
// hash, computed once, rendered for people, applied exactly. Renderers live beside it.
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import { KINDS } from '../kinds/index.js';

export type Action = 'create' | 'update' | 'delete' | 'no-op' | 'drift';

export interface ResourceChange {
  /** Kind folder, e.g. `ports`. */
  kind: string;
  name: string;
  action: Action;
  before: unknown;
  after: unknown;
  reason: string;
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  drift: number;
  unchanged: number;
}

export interface Plan {
  format: 'fleetspec-plan/v1';
  changes: ResourceChange[];
  summary: PlanSummary;
  /** sha256 of the canonical JSON of `changes`: the identity an approval refers to. */
  hash: string;
}

const KIND_ORDER = new Map(KINDS.map((k, i) => [k.folder, i]));
const ACTION_ORDER: Record<Action, number> = { delete: 0, create: 1, update: 2, drift: 3, 'no-op': 4 };

function compareChanges(a: ResourceChange, b: ResourceChange): number {
  return (
    (KIND_ORDER.get(a.kind) ?? KINDS.length) - (KIND_ORDER.get(b.kind) ?? KINDS.length) ||
    a.kind.localeCompare(b.kind) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    ACTION_ORDER[a.action] - ACTION_ORDER[b.action]
  );
}

/** Canonical JSON: sorted keys at every level, so equal plans hash equal whatever built them. */
export function canonicalJson(value: unknown): string {
  return stringify(value) ?? 'null';
}

export function buildPlan(changes: readonly ResourceChange[]): Plan {
  const sorted = [...changes].sort(compareChanges);
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, drift: 0, unchanged: 0 };
  for (const c of sorted) {
    if (c.action === 'create') summary.add++;
    else if (c.action === 'update') summary.change++;
    else if (c.action === 'delete') summary.destroy++;
    else if (c.action === 'drift') summary.drift++;
    else summary.unchanged++;
  }
  const hash = createHash('sha256').update(canonicalJson(sorted)).digest('hex');
  return { format: 'fleetspec-plan/v1', changes: sorted, summary, hash };
}

export function hasChanges(plan: Plan): boolean {
  const { add, change, destroy, drift } = plan.summary;
  return add + change + destroy + drift > 0;
}

/** "3 to add, 1 to change, 0 to destroy" (and drift, when there is any). */
export function summaryLine(plan: Plan): string {
  const { add, change, destroy, drift } = plan.summary;
  if (!hasChanges(plan)) return 'No changes. Live matches the specs.';
  return `Plan: ${add} to add, ${change} to change, ${destroy} to destroy${drift ? `, ${drift} drifted` : ''}.`;
}
