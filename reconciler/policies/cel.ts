// Custom rules in CEL (the language of Kubernetes ValidatingAdmissionPolicy), through
// @marcbachmann/cel-js: parsed and type-checked when the policy file loads, so a broken
// expression is a load-time error at its place in the file, never a surprise at apply.
import { Environment } from '@marcbachmann/cel-js';

/**
 * The variables an expression sees:
 * - resource: the spec being checked (its YAML as data), name and kind (its folder);
 * - specs: every valid spec by kind folder, as lists (specs.ports, specs.hosts, ...);
 * - plan: {mode, changes: [{kind, name, action, before, after}], summary}; empty without a plan;
 * - params: the policy's params:; variables: the policy's variables:, evaluated in order.
 */
export const CEL_VARIABLES = ['resource', 'name', 'kind', 'specs', 'plan', 'params', 'variables'] as const;

const env = new Environment({
  unlistedVariablesAreDyn: false,
  homogeneousAggregateLiterals: false,
  // A policy is a few lines; these stop a pathological one from costing the loop.
  limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 },
});
for (const name of CEL_VARIABLES) env.registerVariable(name, name === 'name' || name === 'kind' ? 'string' : 'dyn');

/** A CEL problem with the offset in the expression where it lies. */
export class CelProblem extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export type Compiled = (vars: Record<string, unknown>) => unknown;

/** Parses and type-checks an expression that must give `want` (bool, string, or anything); throws CelProblem. */
export function compile(expression: string, want: 'bool' | 'string' | 'any'): Compiled {
  let parsed;
  try {
    parsed = env.parse(expression);
  } catch (err) {
    throw problem(err);
  }
  const checked = parsed.check();
  if (!checked.valid) throw problem(checked.error);
  if (want !== 'any' && checked.type !== want && checked.type !== 'dyn') throw new CelProblem(`the expression gives ${checked.type}, but ${want} is needed here`, 0);
  return (vars) => parsed(vars);
}

/** The first line of a cel-js error (the rest is a caret drawing) and where it points. */
function problem(err: unknown): CelProblem {
  const e = err as { summary?: string; message?: string; node?: { pos?: number } } | undefined;
  const text = e?.summary ?? e?.message?.split('\n')[0] ?? String(err);
  return new CelProblem(text, e?.node?.pos ?? 0);
}

/** The first line of an evaluation error. */
export function evaluationMessage(err: unknown): string {
  const e = err as { summary?: string; message?: string };
  return e?.summary ?? e?.message?.split('\n')[0] ?? String(err);
}

/**
 * Spec data as CEL values: whole numbers become CEL ints (bigint), so `port + 1` and
 * `size(list) == 2` type-check as written; other numbers stay doubles.
 */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toCel(v);
    return out;
  }
  return value;
}
