// Policies as code: load policies/, evaluate them into plan findings, apply overrides.
export { loadPolicies, type LoadedPolicies } from './load.js';
export { applyOverrides, evaluatePolicies, withOverrides, type Evaluation, type PolicyContext } from './evaluate.js';
export { RULES } from './rules/index.js';
export type { BuiltinRule, Policy, PolicySet, RuleInput, Violation } from './policy.js';
