// The plan is data (Terraform's lesson): resource changes in a stable order with a content
// hash, computed once, rendered for people, applied exactly. Renderers live beside it.
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import { KINDS } from '../kinds/index.js';
import { compareProblems, type Problem } from '../diagnostics.js';

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

/**
 * A change the plan leaves out because its resource is suspended (policies/ `kind: Suspend`, or
 * `suspend:` in its spec; reconciler/policies/suspend.ts): shown, never applied.
 */
export interface SuspendedChange {
  kind: string;
  name: string;
  action: Action;
  /** Which suspension and why: "suspended by Suspend freeze-dns: migrating the zone by hand". */
  reason: string;
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
  /** The policies with at least one finding, by name (absent in plans made before it was recorded). */
  flagging?: string[];
  /** Findings no policy made: the plan's own (a terraform failure, a secret outside its scope). */
  planFindings?: number;
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
   * `plan --target`: the resources (kind/name) the plan was narrowed to, sorted; absent in a
   * whole plan. Part of the hash, so a targeted plan is never applied as a whole one, or back.
   */
  targets?: string[];
  /**
   * Changes left out because their resources are suspended; absent when none. Not part of the hash:
   * what is applied is `changes`, and lifting or adding a suspension changes them (an approved plan
   * goes stale), while a suspension of something that has no change leaves the plan as approved.
   */
  suspended?: SuspendedChange[];
  /**
   * sha256 of the canonical JSON of mode, changes, the names of unknown resources and the targets: the
   * identity an approval refers to. Findings, reasons for unknowns and for no-ops (volatile: disk
   * usage, error texts, how a stack was read) are left out so they cannot make an approved plan stale.
   */
  hash: string;
}

/** Kinds whose live side is fleetspec's own state store (port ranges and allocations): applying them changes no system outside it. */
export const STORE_KINDS: ReadonlySet<string> = new Set(['ports']);

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
  extra: { mode?: PlanMode; unknown?: readonly NotRead[]; findings?: readonly PlanFinding[]; policies?: readonly string[]; targets?: readonly string[]; suspended?: readonly SuspendedChange[] } = {},
): Plan {
  const mode = extra.mode ?? 'offline';
  const targets = [...new Set(extra.targets ?? [])].sort();
  const sorted = [...changes].sort(compareChanges);
  const unknown = [...(extra.unknown ?? [])].sort(byKindAndName);
  const findings = [...(extra.findings ?? [])].sort(compareFindings);
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
  const identity = { mode, changes: sorted.map((c) => (c.action === 'no-op' ? { ...c, reason: '' } : c)), unknown: unknown.map((u) => `${u.kind}/${u.name}`), ...(targets.length ? { targets } : {}) };
  const hash = createHash('sha256').update(canonicalJson(identity)).digest('hex');
  const suspended = [...(extra.suspended ?? [])].sort(byKindAndName);
  return {
    format: 'fleetspec-plan/v1',
    mode,
    ...(targets.length ? { targets } : {}),
    changes: sorted,
    unknown,
    findings,
    summary,
    verdict: verdictOf(findings, extra.policies ?? []),
    ...(suspended.length ? { suspended } : {}),
    hash,
  };
}

/**
 * A finding as a Problem (diagnostics.ts), so it prints as validate prints it: at the spec's
 * file:line:col when it has one, with its policy named after the message.
 */
export function findingProblem(f: PlanFinding): Problem & { code: string } {
  const m = /^(.*):(\d+):(\d+)$/.exec(f.where ?? '');
  return {
    severity: f.severity,
    code: f.code,
    ...(m ? { file: m[1]!, line: Number(m[2]), col: Number(m[3]) } : {}),
    resource: `${f.kind}/${f.name}`,
    message: f.policy ? `${f.message} (policy ${f.policy})` : f.message,
    ...(f.hint ? { hint: f.hint } : {}),
  };
}

/** Findings in the order every command shows them: by the spec's place, then resource (compareProblems). */
export function compareFindings(a: PlanFinding, b: PlanFinding): number {
  return compareProblems(findingProblem(a), findingProblem(b));
}

export function verdictOf(findings: readonly PlanFinding[], policies: readonly string[]): Verdict {
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  const flagging = [...new Set(findings.flatMap((f) => (f.policy ? [f.policy] : [])))].sort();
  return { status: errors ? 'fail' : warnings ? 'warn' : 'pass', errors, warnings, policies: [...policies].sort(), flagging, planFindings: findings.filter((f) => !f.policy).length };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The verdict in words that count what they say: "fail: 2 errors, 1 warning, from 2 of the 10
 * policies checked", "warn: 1 warning, from the plan itself; 10 policies checked, none found
 * anything", "pass: 10 policies checked, no findings".
 */
export function verdictLine(v: Verdict): string {
  const counts = [v.errors && plural(v.errors, 'error'), v.warnings && plural(v.warnings, 'warning')].filter(Boolean).join(', ');
  const checked = v.policies.length ? `${plural(v.policies.length, 'policy', 'policies')} checked` : 'no policies checked';
  if (!counts) return `${v.status}: ${checked}, no findings`;
  // Plans stored before the verdict said which policies found something.
  if (!v.flagging) return `${v.status}: ${counts} (${checked})`;
  const total = plural(v.policies.length, 'policy', 'policies');
  const itself = v.planFindings ? 'the plan itself' : '';
  if (!v.flagging.length) return `${v.status}: ${counts}, from ${itself || 'no policy'}; ${checked}, none found anything`;
  const all = v.flagging.length === v.policies.length;
  const from = !v.policies.length
    ? plural(v.flagging.length, 'policy', 'policies')
    : all
      ? `${v.policies.length === 1 ? 'the' : 'all'} ${total} checked`
      : `${v.flagging.length} of the ${total} checked`;
  return `${v.status}: ${counts}, from ${from}${itself ? ` and ${itself}` : ''}`;
}

export function hasChanges(plan: Plan): boolean {
  const { add, change, destroy, replace, drift } = plan.summary;
  return add + change + destroy + replace + drift > 0;
}

/** "3 to add, 1 to change, 0 to destroy" (and drift, when there is any). */
export function summaryLine(plan: Plan): string {
  const { add, change, destroy, replace, drift } = plan.summary;
  const unread = (plan.summary.unknown ? ` ${plan.summary.unknown} not read.` : '') + (plan.suspended?.length ? ` ${plan.suspended.length} suspended, not applied.` : '');
  if (!hasChanges(plan)) return plan.summary.unknown ? `No changes in what was read.${unread}` : 'No changes. Live matches the specs.';
  const store = plan.changes.filter((c) => c.action !== 'no-op' && STORE_KINDS.has(c.kind)).length;
  const inStore = store ? `, ${store === add + change + destroy + replace + drift ? 'all' : `${store} of them`} in fleetspec's state store` : '';
  return `Plan: ${add} to add, ${change} to change, ${destroy} to destroy${replace ? `, ${replace} to replace` : ''}${drift ? `, ${drift} drifted` : ''}${inStore}.${unread}`;
}

/** Terraform's warning, shown at the top of every rendering of a targeted plan. */
export const TARGET_WARNING =
  'targeting is for exceptional use: recovering from a mistake, or working around a limitation. Routine changes should be planned whole. Only the targeted resources are planned; fleetspec adds nothing they depend on (terraform does, within a stack).';
