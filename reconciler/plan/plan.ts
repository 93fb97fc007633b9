// The plan is data (Terraform's lesson): resource changes in a stable order with a content
// hash, computed once, rendered for people, applied exactly. Renderers live beside it.
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import { KINDS } from '../kinds/index.js';

/** `replace`: destroyed and created again (Terraform's -/+), e.g. a VM whose image changed. */
export type Action = 'create' | 'update' | 'replace' | 'delete' | 'no-op' | 'drift';

export interface ResourceChange {
  /** Kind folder, e.g. `ports`. */
  kind: string;
  name: string;
  action: Action;
  before: unknown;
  after: unknown;
  reason: string;
  /** The concrete steps apply takes for it, from its kind's driver ("write ~/.env"). */
  actions?: string[];
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  /** Counted apart from add and destroy: a replacement loses what the old resource held. */
  replace: number;
  drift: number;
  unchanged: number;
  /** Resources whose live state could not be read (offline, no connection settings, unreachable). */
  unknown: number;
}

/** A resource the plan says nothing about because its live state was not read. */
export interface NotRead {
  kind: string;
  name: string;
  reason: string;
  /**
   * Present when `reason` quotes remote text (an Ollama reply, SSH command output, a GitHub or
   * terraform error): that excerpt, exactly as it appears in `reason`, made by remoteExcerpt
   * (reconciler/remote-text.ts): at most 200 characters, escaped, already one Markdown code span.
   * The rest of `reason` is fleetspec's own words.
   */
  remote?: string;
}

/** Something worth a person's attention that is not a change: a threshold breach, a budget overrun. */
export interface PlanFinding {
  kind: string;
  name: string;
  code: string;
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
  /** The policy that found it (its code is policy.<name>). */
  policy?: string;
  /** What inside the resource it is about, the same from plan to plan ("disk.usage /"), where the rule says. */
  subject?: string;
  /** The spec's file:line:col that must change, relative to the repository. */
  where?: string;
  /** The word that lifts it when it is an error: label fleetspec/<word>, or "/fleetspec <word>" in an approver's review. */
  override?: string;
  /** Present when `message` quotes remote text: that excerpt, as in NotRead.remote. */
  remote?: string;
}

/** The plan's policy verdict: fail when any finding is an error (apply refuses), warn when only warnings. */
export interface Verdict {
  status: 'pass' | 'warn' | 'fail';
  errors: number;
  warnings: number;
  /** The policies evaluated, by name. */
  policies: string[];
}

export type PlanMode = 'offline' | 'live';

export interface Plan {
  format: 'fleetspec-plan/v1';
  /** offline: only the state store is read; live: hosts with connection settings were contacted. */
  mode: PlanMode;
  changes: ResourceChange[];
  unknown: NotRead[];
  findings: PlanFinding[];
  summary: PlanSummary;
  verdict: Verdict;
  /**
   * sha256 of the canonical JSON of mode, changes and the names of unknown resources: the
   * identity an approval refers to. Findings, reasons for unknowns and for no-ops (volatile: disk
   * usage, error texts, how a stack was read) are left out so they cannot make an approved plan stale.
   */
  hash: string;
}

const KIND_ORDER = new Map(KINDS.map((k, i) => [k.folder, i]));
const ACTION_ORDER: Record<Action, number> = { delete: 0, replace: 1, create: 2, update: 3, drift: 4, 'no-op': 5 };

const byKindAndName = (a: { kind: string; name: string }, b: { kind: string; name: string }) =>
  (KIND_ORDER.get(a.kind) ?? KINDS.length) - (KIND_ORDER.get(b.kind) ?? KINDS.length) || a.kind.localeCompare(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const compareChanges = (a: ResourceChange, b: ResourceChange) => byKindAndName(a, b) || ACTION_ORDER[a.action] - ACTION_ORDER[b.action];

/** Canonical JSON: sorted keys at every level, so equal plans hash equal whatever built them. */
export function canonicalJson(value: unknown): string {
  return stringify(value) ?? 'null';
}

export function buildPlan(
  changes: readonly ResourceChange[],
  extra: { mode?: PlanMode; unknown?: readonly NotRead[]; findings?: readonly PlanFinding[]; policies?: readonly string[] } = {},
): Plan {
  const mode = extra.mode ?? 'offline';
  const sorted = [...changes].sort(compareChanges);
  const unknown = [...(extra.unknown ?? [])].sort(byKindAndName);
  const findings = [...(extra.findings ?? [])].sort((a, b) => byKindAndName(a, b) || a.code.localeCompare(b.code) || a.message.localeCompare(b.message));
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, replace: 0, drift: 0, unchanged: 0, unknown: unknown.length };
  for (const c of sorted) {
    if (c.action === 'create') summary.add++;
    else if (c.action === 'update') summary.change++;
    else if (c.action === 'delete') summary.destroy++;
    else if (c.action === 'replace') summary.replace++;
    else if (c.action === 'drift') summary.drift++;
    else summary.unchanged++;
  }
  // A no-op's reason says how it was read (terraform run or not, which folder), not what changes:
  // it must not make an approval stale when the applying process found terraform and the planning one did not.
  const identity = { mode, changes: sorted.map((c) => (c.action === 'no-op' ? { ...c, reason: '' } : c)), unknown: unknown.map((u) => `${u.kind}/${u.name}`) };
  const hash = createHash('sha256').update(canonicalJson(identity)).digest('hex');
  return { format: 'fleetspec-plan/v1', mode, changes: sorted, unknown, findings, summary, verdict: verdictOf(findings, extra.policies ?? []), hash };
}

export function verdictOf(findings: readonly PlanFinding[], policies: readonly string[]): Verdict {
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  return { status: errors ? 'fail' : warnings ? 'warn' : 'pass', errors, warnings, policies: [...policies].sort() };
}

/** "fail: 2 errors, 1 warning (8 policies)". */
export function verdictLine(v: Verdict): string {
  const counts = [v.errors && `${v.errors} error${v.errors === 1 ? '' : 's'}`, v.warnings && `${v.warnings} warning${v.warnings === 1 ? '' : 's'}`].filter(Boolean).join(', ');
  const policies = v.policies.length ? `${v.policies.length} polic${v.policies.length === 1 ? 'y' : 'ies'}` : 'no policies';
  return `${v.status}${counts ? `: ${counts}` : ''} (${policies})`;
}

export function hasChanges(plan: Plan): boolean {
  const { add, change, destroy, replace, drift } = plan.summary;
  return add + change + destroy + replace + drift > 0;
}

/** "3 to add, 1 to change, 0 to destroy" (and drift, when there is any). */
export function summaryLine(plan: Plan): string {
  const { add, change, destroy, replace, drift } = plan.summary;
  const unread = plan.summary.unknown ? ` ${plan.summary.unknown} not read.` : '';
  if (!hasChanges(plan)) return plan.summary.unknown ? `No changes in what was read.${unread}` : 'No changes. Live matches the specs.';
  return `Plan: ${add} to add, ${change} to change, ${destroy} to destroy${replace ? `, ${replace} to replace` : ''}${drift ? `, ${drift} drifted` : ''}.${unread}`;
}
