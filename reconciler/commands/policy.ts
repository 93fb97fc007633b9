// `fleetspec policy check [plan.json]` and `fleetspec policy rules`, and the one place the
// other commands (validate, plan, apply) load policies/ and the overrides given to them.
import { formatDiagnostic, type Diagnostic } from '../diagnostics.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { besideSpecs } from '../specs/folders.js';
import { compareFindings, findingProblem, verdictLine, verdictOf, type Plan, type PlanFinding } from '../plan/plan.js';
import { evaluatePolicies, loadPolicies, RULES, type PolicyContext } from '../policies/index.js';
import { loadSpecs } from '../specs/load.js';
import type { Output } from './output.js';
import { paint } from '../color.js';
import { formatFinding } from '../plan/render.js';
import { logLine } from '../escape.js';

export interface PolicyOptions {
  /** The policies folder; default policies/ beside the specs folder. */
  policies?: string;
  /** Overrides given on the command line (the words of policies' override:). */
  override?: string[];
}

/**
 * The policies for a specs folder, or the diagnostics that make them unusable. A missing
 * default folder is no policies; a missing folder named with --policies is an error.
 */
export async function policyContext(specs: string, opts: PolicyOptions): Promise<{ policy?: PolicyContext; diagnostics: Diagnostic[] }> {
  const dir = opts.policies ?? besideSpecs(specs, 'policies');
  const { set, diagnostics } = await loadPolicies(dir);
  if (opts.policies && !set.dir) {
    return { diagnostics: [{ severity: 'error', code: 'policy.no-folder', file: dir, line: 1, col: 1, message: 'no such folder', hint: 'pass the folder that holds the policy files, or leave --policies out' }] };
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const overrides = new Map((opts.override ?? []).map((word) => [word, `--override ${word}`]));
  return { policy: { set, overrides }, diagnostics };
}

/** A policy finding pinned to a spec as a diagnostic, for fleetspec validate (findingProblem: the one layout). */
export function findingDiagnostic(f: PlanFinding): Diagnostic {
  const p = findingProblem(f);
  return { ...p, file: p.file ?? '(plan)', line: p.line ?? 1, col: p.col ?? 1 };
}

export interface PolicyCheckOptions extends PolicyOptions {
  specs: string;
  format: 'text' | 'json';
}

/**
 * The policies against the specs and, when given, a plan file's changes. Live facts are
 * not in a plan file: host thresholds use what the host specs say was observed. The plan's
 * own findings from its drivers count toward the verdict.
 */
export async function policyCheckCommand(planPath: string | undefined, opts: PolicyCheckOptions, out: Output): Promise<ExitCode> {
  let plan: Plan | undefined;
  if (planPath) {
    // commands/plan.js brings the state store, SSH and the loop: imported only when a plan file is given,
    // so that validate, which shares this module, loads none of it.
    const { readPlanFile } = await import('./plan.js');
    const read = await readPlanFile(planPath);
    if (!read.plan) {
      out.stderr(`fleetspec policy check: ${logLine(read.problem ?? '')}`);
      out.stderr('  hint: make a plan with: fleetspec plan --out plan.json');
      return EXIT.INVALID;
    }
    plan = read.plan;
  }
  const [loaded, policies] = await Promise.all([loadSpecs(opts.specs), policyContext(opts.specs, opts)]);
  const problems = [...loaded.diagnostics.filter((d) => d.severity === 'error'), ...policies.diagnostics];
  for (const d of problems) out.stderr(formatDiagnostic(d, out.color));
  if (!policies.policy || loaded.diagnostics.some((d) => d.severity === 'error')) {
    out.stderr(`fleetspec policy check: ${policies.policy ? 'the specs are invalid' : 'the policies are invalid'}; nothing was checked`);
    return EXIT.INVALID;
  }
  const judged = evaluatePolicies(policies.policy, { index: loaded.index, ...(plan ? { plan } : {}), facts: new Map() });
  const findings = [...(plan?.findings ?? []).filter((f) => !f.policy), ...judged.findings].sort(compareFindings);
  const verdict = verdictOf(findings, judged.evaluated);
  if (opts.format === 'json') {
    out.stdout(JSON.stringify({ verdict, findings, skipped: judged.skipped, policies: policies.policy.set.dir ?? null, plan: plan?.hash ?? null }, null, 2));
  } else {
    for (const f of findings) out.stdout(formatFinding(f, out.color));
    if (!policies.policy.set.dir) out.stderr(`no policies folder at ${logLine(besideSpecs(opts.specs, 'policies'))}; pass --policies <dir>`);
    if (judged.skipped.length) out.stderr(`skipped polic${judged.skipped.length === 1 ? 'y' : 'ies'} ${logLine(judged.skipped.join(', '))}: they judge a plan: pass a plan file (fleetspec plan --out plan.json)`);
    out.stdout(paint('bold', `Verdict: ${verdictLine(verdict)}`, out.color));
  }
  return verdict.status === 'fail' ? EXIT.INVALID : EXIT.OK;
}

export function policyRulesCommand(opts: { format: 'text' | 'json' }, out: Output): ExitCode {
  if (opts.format === 'json') {
    out.stdout(JSON.stringify(RULES.map((r) => ({ name: r.name, description: r.description, needsPlan: r.needs === 'plan', params: r.params })), null, 2));
    return EXIT.OK;
  }
  const width = Math.max(...RULES.map((r) => r.name.length));
  for (const r of RULES) out.stdout(`${r.name.padEnd(width)}  ${r.description}${r.needs === 'plan' ? ' (needs a plan)' : ''}`);
  return EXIT.OK;
}
