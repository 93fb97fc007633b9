// The engine: every driver reads live and diffs, the results become one plan; apply carries
// out exactly that plan after planning again and checking the hash, in plan order, stopping
// at the first failure and rolling back what it did from the versions it saved.
import { join } from 'node:path';
import type { Diagnostic } from '../diagnostics.js';
import { scopeFindings } from './secret-scope.js';
import { countBySeverity } from '../diagnostics.js';
import { DRIVERS } from '../kinds/drivers.js';
import { KINDS } from '../kinds/index.js';
import type { Driver, DriverPlan, LiveContext, Rollback } from '../kinds/driver.js';
import type { SpecIndex } from '../kinds/kind.js';
import { loadSpecs, type LoadedSpecs } from '../specs/load.js';
import type { SshPool } from '../ssh/pool.js';
import type { StacksContext } from '../stacks/driver.js';
import { evaluatePolicies, type PolicyContext } from '../policies/evaluate.js';
import { buildPlan, canonicalJson, type NotRead, type Plan, type PlanFinding, type PlanMode, type ResourceChange } from './plan.js';
import { failpoint } from '../failpoints.js';
import { besideSpecs } from '../specs/folders.js';
import { STACK_OF_KIND } from '../stacks/model.js';
import { parseTarget, targetScope, TargetError, unmatchedTargets, type TargetScope } from './targets.js';
import { leaveOutSuspended, suspensionsOf, type Suspension } from '../policies/suspend.js';

export { besideSpecs };

export interface EngineOptions extends Omit<LiveContext, 'index' | 'mode' | 'stacks'> {
  /** The specs folder. */
  specs: string;
  mode: PlanMode;
  drivers?: readonly Driver[];
  /** Stacks: default stacks/ beside the specs folder, terraform not run. */
  stacks?: StacksContext;
  /** The specs already being loaded (a caller may start reading them while the store opens). */
  loaded?: Promise<LoadedSpecs>;
  /** Policies to judge the plan by; absent: none (the verdict says "no policies"). */
  policy?: PolicyContext;
  /** The stored scope of each secret by path (from the state store), to check every `secret:` reference against. */
  secretScopes?: () => Promise<ReadonlyMap<string, readonly string[]>>;
  /** `plan --target`: KIND/NAME of each resource to plan, alone (Terraform's -target); absent or empty, the whole fleet. */
  targets?: readonly string[];
  /** Apply only: called once the new plan matched the approved one, before the first change. Throwing stops the apply. */
  beforeApply?: (current: Plan) => Promise<void>;
}

export interface Planned {
  /** Absent when the specs are invalid; the diagnostics say why. */
  plan?: Plan;
  diagnostics: Diagnostic[];
  /** How many valid resources the specs hold. */
  resources: number;
  /** The context the plan was made with, reused by apply so it reads and writes the same way. */
  context?: LiveContext;
  /** Each driver's part of the plan, by kind folder: what a plan scoped to that kind holds. */
  byDriver?: Map<string, DriverPlan>;
  /** A target names no kind or nothing of its kind: no plan. */
  targetError?: TargetError;
  /** What the plan took as suspended (policies/suspend.ts): finding tickets leave those resources alone too. */
  suspensions?: readonly Suspension[];
}

const STACK_FOLDERS = new Set<string>(Object.values(STACK_OF_KIND));
const KIND_FOLDERS = new Set<string>(KINDS.map((k) => k.folder));

/**
 * Whether a targeted plan keeps a finding: one about a targeted resource or a targeted stack as a
 * whole, and every finding about no spec resource at all (plan-wide ones judged on this very plan,
 * such as too many deletions, and invalid policy files): those are this plan's whatever it targets.
 */
export function targetedFinding(scope: TargetScope, f: PlanFinding): boolean {
  if (!KIND_FOLDERS.has(f.kind) && !STACK_FOLDERS.has(f.kind)) return true;
  if (scope.matches(f)) return true;
  const addresses = (scope.stacks as Record<string, string[] | undefined>)[f.kind];
  return Boolean(addresses?.length && (f.name === 'stack' || addresses.includes(f.name)));
}

export async function planFleet(opts: EngineOptions): Promise<Planned> {
  const loaded = await (opts.loaded ?? loadSpecs(opts.specs));
  if (countBySeverity(loaded.diagnostics).errors > 0) return { diagnostics: loaded.diagnostics, resources: loaded.resources.length };
  let scope: TargetScope | undefined;
  try {
    if (opts.targets?.length) scope = targetScope(opts.targets.map(parseTarget), loaded.index);
  } catch (error) {
    if (error instanceof TargetError) return { diagnostics: loaded.diagnostics, resources: loaded.resources.length, targetError: error };
    throw error;
  }
  const context = liveContext(opts, loaded.index, scope);
  const changes: ResourceChange[] = [];
  const unknown: NotRead[] = [];
  const findings: PlanFinding[] = [];
  // Targeted: only the drivers of targeted kinds read anything.
  const drivers = (opts.drivers ?? DRIVERS).filter((d) => !scope || scope.folders.has(d.folder));
  const results = await Promise.all(
    drivers.map(async (driver) => {
      const desired = loaded.index.all(driver.folder);
      const live = await driver.readLive(desired, context);
      let found = driver.diff(desired, live, context);
      // A stack narrowed itself (terraform -target= keeps what a target depends on): its plan is taken whole.
      if (scope && !STACK_FOLDERS.has(driver.folder)) found = { ...found, changes: found.changes.filter(scope.matches), unknown: found.unknown.filter(scope.matches) };
      for (const change of found.changes) {
        const actions = isApplicable(change) ? driver.actions(change) : [];
        if (actions.length) change.actions = actions;
      }
      return found;
    }),
  );
  if (opts.secretScopes) findings.push(...scopeFindings(loaded.resources, await opts.secretScopes(), opts.policy?.root));
  for (const r of results) {
    changes.push(...r.changes);
    unknown.push(...r.unknown);
    findings.push(...r.findings);
  }
  const byDriver = new Map(drivers.map((d, i) => [d.folder, results[i]!]));
  // Suspended resources: their changes leave the plan (and each driver's part, so no drift PR proposes
  // them) and are listed apart. The loop gives the trusted commit's suspensions; else the specs' own.
  const suspensions = opts.policy?.suspended ?? suspensionsOf(opts.policy?.set, loaded.index, opts.policy?.root);
  const suspended = leaveOutSuspended(byDriver, suspensions, loaded.index);
  if (suspended.length) {
    const out = new Set(suspended.map((s) => `${s.kind}\0${s.name}\0${s.action}`));
    changes.splice(0, changes.length, ...changes.filter((c) => !out.has(`${c.kind}\0${c.name}\0${c.action}`)));
  }
  const targetError = scope && unmatchedTargets(scope, loaded.index, changes, unknown);
  if (targetError) return { diagnostics: loaded.diagnostics, resources: loaded.resources.length, targetError };
  const targets = scope?.targets.map((t) => `${t.kind}/${t.name}`);
  let plan = judge(buildPlan(changes, { mode: opts.mode, unknown, findings, targets, suspended }), loaded.index, byDriver, opts.policy);
  // Findings about resources outside the targets are not this plan's: they would block an apply that does not touch them.
  if (scope) plan = buildPlan(plan.changes, { mode: plan.mode, unknown: plan.unknown, findings: plan.findings.filter((f) => targetedFinding(scope, f)), policies: plan.verdict.policies, targets, suspended });
  return { plan, diagnostics: loaded.diagnostics, resources: loaded.resources.length, context, byDriver, ...(suspensions.length ? { suspensions } : {}) };
}

/** The plan with the policies' findings added and its verdict: the same changes, so the same hash. */
function judge(plan: Plan, index: SpecIndex, byDriver: ReadonlyMap<string, DriverPlan>, policy: PolicyContext | undefined): Plan {
  if (!policy) return plan;
  const facts = new Map([...byDriver].filter(([, p]) => p.facts).map(([folder, p]) => [folder, p.facts!]));
  const judged = evaluatePolicies(policy, { index, plan, facts });
  return buildPlan(plan.changes, { mode: plan.mode, unknown: plan.unknown, findings: [...plan.findings, ...judged.findings], policies: judged.evaluated, targets: plan.targets, suspended: plan.suspended });
}

/**
 * The plan of one kind alone, judged by the policies as applying it would be: what a drift
 * PR for that kind shows and what its approval covers.
 */
export function scopedPlan(planned: Planned, folder: string, policy: PolicyContext | undefined): Plan {
  const part = planned.byDriver!.get(folder)!;
  const suspended = planned.plan!.suspended?.filter((s) => s.kind === folder);
  const plan = buildPlan(part.changes, { mode: planned.plan!.mode, unknown: part.unknown, findings: part.findings, suspended });
  return judge(plan, planned.context!.index, new Map([[folder, part]]), policy);
}

function liveContext(opts: EngineOptions, index: SpecIndex, scope?: TargetScope): LiveContext {
  const given = opts.stacks ?? { dir: besideSpecs(opts.specs, 'stacks'), workDir: join('.fleetspec', 'terraform'), noTerraform: 'no terraform configured' };
  const stacks = scope ? { ...given, targets: scope.stacks } : given;
  return {
    mode: opts.mode,
    db: opts.db,
    index,
    ssh: opts.ssh,
    noSsh: opts.noSsh,
    sshPublicKey: opts.sshPublicKey,
    secret: opts.secret,
    progress: opts.progress,
    stacks,
    ...(opts.issues ? { issues: opts.issues } : {}),
    ...(opts.noIssues ? { noIssues: opts.noIssues } : {}),
    ...(opts.trusted ? { trusted: opts.trusted } : {}),
  };
}

/**
 * Starts the drivers' read-only SSH commands for the valid specs in `loaded` (Driver.prefetch):
 * a live plan calls it before its store is open, so hosts answer meanwhile.
 */
export function prefetchLive(loaded: LoadedSpecs, ssh: SshPool, drivers: readonly Driver[] = DRIVERS): void {
  if (countBySeverity(loaded.diagnostics).errors > 0) return;
  for (const driver of drivers) driver.prefetch?.(loaded.index.all(driver.folder), ssh);
}

/** Findings of severity error: the plan may be shown, never applied. */
export const blockingFindings = (plan: Plan) => plan.findings.filter((f) => f.severity === 'error');

export const isApplicable = (c: ResourceChange) => c.action === 'create' || c.action === 'update' || c.action === 'replace' || c.action === 'delete';

export interface ApplyReport {
  status: 'applied' | 'stale' | 'invalid' | 'blocked' | 'failed';
  /** The plan made just now, to compare with the approved one. */
  current?: Plan;
  diagnostics: Diagnostic[];
  done: ResourceChange[];
  failed?: { change: ResourceChange; error: string };
  notDone: ResourceChange[];
  rolledBack: string[];
  rollbackFailed: { description: string; error: string }[];
  /** The approved plan's targets name nothing now (status invalid). */
  targetError?: TargetError;
}

/** Changes whose content differs between two plans: what made an approved plan stale. */
export function planDifferences(approved: Plan, current: Plan): string[] {
  const key = (c: ResourceChange) => `${c.kind}/${c.name} ${c.action}`;
  // Canonical: a plan read back from the store (jsonb) has its keys in another order.
  const body = (c: ResourceChange) => canonicalJson([c.before, c.after]);
  const before = new Map(approved.changes.map((c) => [key(c), body(c)]));
  const after = new Map(current.changes.map((c) => [key(c), body(c)]));
  const out: string[] = [];
  for (const [k, v] of before) if (!after.has(k)) out.push(`- ${k} (no longer planned)`);
  else if (after.get(k) !== v) out.push(`~ ${k} (different before/after)`);
  for (const k of after.keys()) if (!before.has(k)) out.push(`+ ${k} (newly planned)`);
  const unread = (p: Plan) => new Set(p.unknown.map((u) => `${u.kind}/${u.name}`));
  const [was, now] = [unread(approved), unread(current)];
  for (const u of now) if (!was.has(u)) out.push(`? ${u} (could not be read now)`);
  for (const u of was) if (!now.has(u)) out.push(`? ${u} (readable now, was not when planned)`);
  if (approved.mode !== current.mode) out.push(`mode ${approved.mode} → ${current.mode}`);
  return out;
}

/**
 * Plans again in the approved plan's mode and applies only when the hash matches. Each
 * applicable change goes to its kind's driver in plan order; the first failure stops the
 * run and every change already done is rolled back, newest first.
 */
export async function applyPlan(approved: Plan, opts: Omit<EngineOptions, 'mode'>): Promise<ApplyReport> {
  const report: ApplyReport = { status: 'applied', diagnostics: [], done: [], notDone: [], rolledBack: [], rollbackFailed: [] };
  const { loaded: _, beforeApply: __, ...rest } = opts;
  // A targeted plan is planned again with its own targets; a whole one whole.
  const planned = await planFleet({ ...rest, mode: approved.mode, targets: approved.targets ?? [] });
  report.diagnostics = planned.diagnostics;
  if (planned.targetError) return { ...report, status: 'invalid', targetError: planned.targetError };
  if (!planned.plan || !planned.context) return { ...report, status: 'invalid' };
  report.current = planned.plan;
  if (planned.plan.hash !== approved.hash) return { ...report, status: 'stale' };
  if (blockingFindings(planned.plan).length) return { ...report, status: 'blocked' };
  await opts.beforeApply?.(planned.plan);
  // Fault tests (test/faults/apply-points.test.ts) kill the process here: the apply is recorded as begun, nothing is applied.
  failpoint('apply:begun');

  const drivers = new Map((opts.drivers ?? DRIVERS).map((d) => [d.folder, d]));
  const todo = planned.plan.changes.filter(isApplicable);
  const rollbacks: Rollback[] = [];
  for (const [i, change] of todo.entries()) {
    const driver = drivers.get(change.kind);
    try {
      if (!driver) throw new Error(`no driver applies ${change.kind}`);
      opts.progress(`applying ${change.kind}/${change.name} (${change.action})`);
      const rollback = await driver.apply(change, planned.context);
      if (rollback) rollbacks.push(rollback);
      report.done.push(change);
      // Half-way: the first change is live, the rest are not.
      if (i === 0 && todo.length > 1) failpoint('apply:between');
    } catch (err) {
      report.status = 'failed';
      report.failed = { change, error: err instanceof Error ? err.message : String(err) };
      report.notDone = todo.slice(i + 1);
      break;
    }
  }
  if (report.status === 'failed') {
    for (const rollback of rollbacks.reverse()) {
      try {
        await rollback.run();
        report.rolledBack.push(rollback.description);
      } catch (err) {
        report.rollbackFailed.push({ description: rollback.description, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  // Everything is done live, and nothing of it is recorded yet: the caller records the outcome.
  failpoint('apply:done');
  return report;
}
