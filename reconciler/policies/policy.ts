// The contract of policies as code. A policy is a YAML document in policies/ that either
// configures a built-in rule (rule: + params:) or states custom rules as CEL expressions
// (match: + validations:). Evaluated against the specs, the plan and the live facts the
// plan read, every policy yields violations; each becomes a plan finding `policy.<name>`
// whose severity is the policy's. Findings of severity error block apply.
import type { JsonSchema, Resource, SpecIndex } from '../kinds/kind.js';
import type { Plan } from '../plan/plan.js';
import type { PathSegment, SpecDocument } from '../specs/source.js';
import type { SuspendRule, SyncWindow } from './windows.js';

/** What a rule sees. `plan` is absent for spec-only checks (fleetspec validate, policy check without a plan). */
export interface RuleInput {
  index: SpecIndex;
  plan?: Plan;
  /** Facts read live by the plan's drivers, by kind folder and resource name (hosts → HostFacts). Empty offline. */
  facts: ReadonlyMap<string, ReadonlyMap<string, unknown>>;
}

/** One breach of a rule, pinned to the resource (and the place inside it) that must change. */
export interface Violation {
  /** The spec resource at fault; absent for plan-wide breaches (too many deletions). */
  resource?: Resource;
  /** For plan-wide breaches: what the finding is filed under. */
  kind?: string;
  name?: string;
  /** Where inside the resource to point; the resource's name when absent. */
  path?: PathSegment[];
  message: string;
  /** What to change. */
  hint: string;
  /** What inside the resource it is about, the same from plan to plan ("disk.usage /"): a finding ticket's identity. */
  subject?: string;
}

/** A built-in rule: one file under rules/, parameterised by a policy file. */
export interface BuiltinRule<P = unknown> {
  name: string;
  /** One line for `fleetspec policy rules`. */
  description: string;
  /** JSON Schema of params:, checked when the policy file loads. */
  params: JsonSchema;
  /** `plan`: judges the plan itself and is skipped when there is none. */
  needs?: 'plan';
  check(params: P, input: RuleInput): Violation[];
}

export type Severity = 'error' | 'warning';

/** One CEL validation of a custom policy, compiled at load. */
export interface CompiledValidation {
  /** Returns true when the resource (or plan) complies. */
  test(vars: Record<string, unknown>): unknown;
  /** The message, fixed or from messageExpression. */
  message(vars: Record<string, unknown>): string;
  hint?: string;
  path?: PathSegment[];
  expression: string;
}

export interface CustomRule {
  /** Kind folders whose resources are checked one by one; empty with scope plan. */
  kinds: string[];
  scope: 'resources' | 'plan';
  condition?: (vars: Record<string, unknown>) => unknown;
  variables: { name: string; value: (vars: Record<string, unknown>) => unknown }[];
  validations: CompiledValidation[];
  /** The policy's params:, seen by its expressions as params. */
  params: Record<string, unknown>;
}

/** A loaded, checked policy document. */
export interface Policy {
  name: string;
  description?: string;
  severity: Severity;
  /** Label fleetspec/<override> on the PR, or a line "/fleetspec <override>" in an approver's review, turns its errors into warnings. */
  override?: string;
  builtin?: { rule: BuiltinRule; params: unknown };
  custom?: CustomRule;
  /** Where the policy is written, for messages. */
  doc: SpecDocument;
}

export interface PolicySet {
  /** The policies folder as given; absent when there was none. */
  dir?: string;
  policies: Policy[];
  /** `kind: SyncWindow` documents (policies/windows.ts). */
  windows?: SyncWindow[];
  /** `kind: Suspend` documents (policies/suspend.ts). */
  suspends?: SuspendRule[];
}
