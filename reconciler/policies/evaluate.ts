// Policies against specs, plan and live facts: every violation becomes a plan finding
// `policy.<name>` with the policy's severity, the resource, the spec's file:line:col and
// what to change. An override named on the PR turns that policy's errors into warnings.
import { relative } from 'node:path';
import type { Diagnostic } from '../diagnostics.js';
import { KINDS } from '../kinds/index.js';
import type { Resource, SpecIndex } from '../kinds/kind.js';
import { verdictOf, type Plan, type PlanFinding } from '../plan/plan.js';
import { positionOf } from '../specs/source.js';
import { evaluationMessage, toCel } from './cel.js';
import type { Policy, PolicySet, RuleInput, Violation } from './policy.js';
import type { Suspension } from './suspend.js';

export interface PolicyContext {
  set: PolicySet;
  /** Overrides in force, by word, with who or what gave each ("label fleetspec/allow-deletions"). */
  overrides?: ReadonlyMap<string, string>;
  /** Paths in `where` are made relative to this (the repository checkout). */
  root?: string;
  /** Why the policies could not be loaded: each blocks the plan, since it cannot be judged. */
  problems?: readonly Diagnostic[];
  /**
   * What is suspended (policies/suspend.ts), resolved by whoever holds the trusted specs: the loop
   * passes the trusted commit's, so a branch's own `suspend:` suspends nothing in its plan. Absent:
   * the set's Suspend documents and the planned specs' `suspend:` fields (the CLI's checkout).
   */
  suspended?: readonly Suspension[];
}

export interface Evaluation {
  findings: PlanFinding[];
  /** Policies that ran. */
  evaluated: string[];
  /** Policies that need a plan and had none. */
  skipped: string[];
  /** Policies not judged because they read a kind with invalid specs (`incomplete`): their findings would be about what is missing. */
  skippedInvalid: { policy: string; kinds: string[] }[];
}

/**
 * A SpecIndex that notes which kinds a rule reads, so a rule that read a kind with invalid
 * resources is known (whatever the rule is) without each rule declaring its inputs.
 */
function readingIndex(index: SpecIndex, read: Set<string>): SpecIndex {
  return {
    get: (folder, name) => (read.add(folder), index.get(folder, name)),
    all: (folder) => (read.add(folder), index.all(folder)),
    declared: (folder, name) => (read.add(folder), index.declared(folder, name)),
  };
}

/**
 * Every policy against the specs (and the plan and facts when there are some). `incomplete`:
 * kind folders some of whose specs are invalid ('*': a file of unknown kind is); a policy that
 * reads one is not judged (validate runs the rest and says which it skipped and why).
 */
export function evaluatePolicies(ctx: PolicyContext, input: RuleInput, incomplete?: ReadonlySet<string>): Evaluation {
  const out: Evaluation = { findings: [], evaluated: [], skipped: [], skippedInvalid: [] };
  let celView: CelInput | undefined; // the specs and plan as CEL values, made once for all custom policies
  for (const d of ctx.problems ?? []) {
    const file = ctx.root ? relative(ctx.root, d.file) : d.file;
    out.findings.push({ kind: 'policies', name: file, code: 'policy.invalid', severity: 'error', message: `the policy file is invalid: ${d.message}`, hint: d.hint ?? 'fix the policy file', where: `${file}:${d.line}:${d.col}` });
  }
  for (const policy of ctx.set.policies) {
    if ((policy.builtin?.rule.needs === 'plan' || policy.custom?.scope === 'plan') && !input.plan) {
      out.skipped.push(policy.name);
      continue;
    }
    if (incomplete?.size) {
      // CEL policies see every spec (specs.<kind>): they read every kind.
      const read = new Set<string>(policy.custom || incomplete.has('*') ? [...incomplete] : []);
      if (policy.builtin) policy.builtin.rule.check(policy.builtin.params, { ...input, index: readingIndex(input.index, read) });
      const kinds = [...read].filter((k) => incomplete.has(k)).sort();
      if (kinds.length) {
        out.skippedInvalid.push({ policy: policy.name, kinds });
        continue;
      }
    }
    out.evaluated.push(policy.name);
    const violations = policy.builtin ? policy.builtin.rule.check(policy.builtin.params, input) : customViolations(policy, input, (celView ??= celInput(input)));
    for (const v of violations) out.findings.push(toFinding(policy, v, ctx.root));
  }
  out.findings = applyOverrides(out.findings, ctx.overrides);
  return out;
}

function toFinding(policy: Policy, v: Violation, root: string | undefined): PlanFinding {
  const r = v.resource;
  let where: string | undefined;
  if (r) {
    const { line, col } = positionOf(r.doc, v.path ?? r.kind.namePath);
    where = `${root ? relative(root, r.doc.source.file) : r.doc.source.file}:${line}:${col}`;
  }
  return {
    kind: r?.kind.folder ?? v.kind ?? 'plan',
    name: r?.name ?? v.name ?? policy.name,
    code: `policy.${policy.name}`,
    severity: policy.severity,
    message: v.message,
    hint: v.hint,
    policy: policy.name,
    ...(v.subject ? { subject: v.subject } : {}),
    ...(where ? { where } : {}),
    ...(policy.override && policy.severity === 'error' ? { override: policy.override, hint: `${v.hint}; or override: label the PR fleetspec/${policy.override}, or an approver writes "/fleetspec ${policy.override}" in their review` } : {}),
  };
}

/** Errors whose override is in force become warnings that say who lifted them. Works on stored plans too. */
export function applyOverrides(findings: readonly PlanFinding[], overrides: ReadonlyMap<string, string> | undefined): PlanFinding[] {
  return findings.map((f) => {
    const by = f.override && f.severity === 'error' ? overrides?.get(f.override) : undefined;
    return by ? { ...f, severity: 'warning' as const, message: `${f.message} (overridden by ${by})` } : f;
  });
}

/** A plan with overrides applied to its findings (and its verdict recomputed). */
export function withOverrides(plan: Plan, overrides: ReadonlyMap<string, string> | undefined): Plan {
  if (!overrides?.size) return plan;
  const findings = applyOverrides(plan.findings, overrides);
  return { ...plan, findings, verdict: verdictOf(findings, plan.verdict?.policies ?? []) };
}

// CEL: each resource of the matched kinds (or the plan once) against every validation.
interface CelInput {
  specs: Record<string, unknown[]>;
  plan: unknown;
}

function celInput(input: RuleInput): CelInput {
  const specs: Record<string, unknown[]> = {};
  for (const { folder } of KINDS) specs[folder] = input.index.all(folder).map((r) => toCel(r.value));
  const plan = input.plan ? toCel({ mode: input.plan.mode, changes: input.plan.changes.map(({ kind, name, action, before, after }) => ({ kind, name, action, before: before ?? null, after: after ?? null })), summary: input.plan.summary }) : { changes: [], summary: {} };
  return { specs, plan };
}

function customViolations(policy: Policy, input: RuleInput, view: CelInput): Violation[] {
  const rule = policy.custom!;
  const out: Violation[] = [];
  const base = { ...view, params: toCel(rule.params) };
  const judge = (vars: Record<string, unknown>, at: Pick<Violation, 'resource' | 'kind' | 'name'>) => {
    try {
      if (rule.condition && rule.condition(vars) !== true) return;
      const variables: Record<string, unknown> = {};
      for (const v of rule.variables) variables[v.name] = v.value({ ...vars, variables });
      vars = { ...vars, variables };
    } catch (err) {
      out.push({ ...at, message: `could not be evaluated: ${evaluationMessage(err)}`, hint: 'guard optional fields with has(resource.field)' });
      return;
    }
    for (const validation of rule.validations) {
      let result: unknown;
      try {
        result = validation.test(vars);
      } catch (err) {
        out.push({ ...at, ...(validation.path ? { path: validation.path } : {}), message: `could not be evaluated (${validation.expression}): ${evaluationMessage(err)}`, hint: 'guard optional fields with has(resource.field)' });
        continue;
      }
      if (result === true) continue;
      const message = typeof result === 'boolean' ? validation.message(vars) : `the expression gave ${String(result)}, not true or false: ${validation.expression}`;
      out.push({ ...at, ...(validation.path ? { path: validation.path } : {}), message, hint: validation.hint ?? `make it satisfy ${validation.expression}` });
    }
  };
  if (rule.scope === 'plan') {
    judge({ ...base, resource: null, name: policy.name, kind: 'plan', variables: {} }, { kind: 'plan', name: policy.name });
    return out;
  }
  for (const folder of rule.kinds) {
    (input.index.all(folder) as Resource[]).forEach((resource, i) => {
      judge({ ...base, resource: view.specs[folder]![i], name: resource.name, kind: folder, variables: {} }, { resource });
    });
  }
  return out;
}
