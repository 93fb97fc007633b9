// `fleetspec plan` and `fleetspec apply`: the engine behind a command line. Plans go to
// stdout (text, Markdown or JSON) and to --out as JSON; progress goes to stderr.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeAtomic } from '../files.js';
import { formatDiagnostic, type Diagnostic } from '../diagnostics.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { applyPlan, blockingFindings, besideSpecs, planDifferences, planFleet, prefetchLive, type ApplyReport, type EngineOptions } from '../plan/engine.js';
import { buildPlan, hasChanges, type Plan, type PlanMode } from '../plan/plan.js';
import { loadSpecs, type LoadedSpecs } from '../specs/load.js';
import { formatFinding, renderJson, renderMarkdown, renderText } from '../plan/render.js';
import type { SshPool } from '../ssh/pool.js';
import type { StacksContext } from '../stacks/driver.js';
import { findTerraform, missingBinaryReason } from '../stacks/terraform.js';
import type { Db } from '../state/db.js';
import { transition, startRun } from '../state/ledger.js';
import { applyRecord, recordApply } from '../state/reports.js';
import { acquireLeader } from '../state/lock.js';
import { secretFor, secretScopes, parseKey } from '../state/secrets.js';
import type { IssueTracker } from '../kinds/tickets/issue.js';
import { ConfigError, githubConfig } from '../loop/config.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';
import { policyContext, type PolicyOptions } from './policy.js';
import { actor, withStore } from './store.js';

export interface ConnectOptions {
  sshKey?: string;
  trustOnFirstUse?: boolean;
  concurrency?: number;
  connectTimeout?: number;
  commandTimeout?: number;
  /** terraform or tofu binary (path or name on PATH). */
  terraform?: string;
  /** The committed stacks folder. */
  stacksDir?: string;
  /** Commands that never use SSH (stacks plan): no key is read, no pool is made. */
  noSsh?: boolean;
}

export interface PlanCommandOptions extends ConnectOptions, PolicyOptions {
  live?: boolean;
  out?: string;
  format: 'text' | 'markdown' | 'json';
  showUnchanged?: boolean;
  /** --target KIND/NAME (repeatable): plan only these resources. */
  target?: string[];
}

/** The client key for --live: --ssh-key, FLEETSPEC_SSH_KEY, else ~/.ssh/id_ed25519. */
async function readSshKey(opts: ConnectOptions): Promise<{ key?: Buffer; problem?: string }> {
  const path = opts.sshKey ?? process.env.FLEETSPEC_SSH_KEY ?? join(homedir(), '.ssh', 'id_ed25519');
  try {
    return { key: await readFile(path) };
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message;
    return { problem: `no SSH key (${path}: ${why}; pass --ssh-key or set FLEETSPEC_SSH_KEY)` };
  }
}

/** The SSH side of a live command: the pool, or why there is none. */
export interface LiveSsh {
  ssh?: SshPool;
  sshPublicKey?: string;
  noSsh: string;
}

/** The SSH pool for a command in `mode`: made in live mode when there is a key, else the reason there is none. */
export async function liveSsh(mode: PlanMode, opts: ConnectOptions): Promise<LiveSsh> {
  if (opts.noSsh) return { noSsh: 'not read by this command' };
  if (mode !== 'live') return { noSsh: 'offline (plan with --live to read it)' };
  const { key, problem } = await readSshKey(opts);
  if (!key) return { noSsh: problem! };
  // Loaded only for --live: node-ssh and ssh2 are a tenth of a second of start-up.
  const { publicKeyOf, SshPool } = await import('../ssh/pool.js');
  const ssh = new SshPool({
    privateKey: key,
    trustOnFirstUse: opts.trustOnFirstUse ?? false,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.connectTimeout ? { connectTimeoutMs: opts.connectTimeout * 1000 } : {}),
    ...(opts.commandTimeout ? { commandTimeoutMs: opts.commandTimeout * 1000 } : {}),
  });
  return { ssh, sshPublicKey: publicKeyOf(key), noSsh: '' };
}

/**
 * Engine options for one command: the store, the SSH pool in live mode, secrets, progress.
 * `prepared`: the SSH side made already (liveSsh), as `plan --live` does to connect early.
 */
export async function engineOptions(db: Db, specs: string, mode: PlanMode, opts: ConnectOptions, out: Output, prepared?: LiveSsh) {
  const { ssh, sshPublicKey, noSsh } = prepared ?? (await liveSsh(mode, opts));
  // A malformed key is an error now; a missing one only means secrets cannot be compared.
  const secretKey = process.env.FLEETSPEC_SECRET_KEY ? parseKey(process.env.FLEETSPEC_SECRET_KEY) : undefined;
  const options: EngineOptions = {
    specs,
    stacks: await stacksContext(specs, opts),
    mode,
    db,
    ssh,
    noSsh,
    sshPublicKey,
    ...(mode === 'live' ? await issueTracker(db, out) : {}),
    async secret(ref, user) {
      if (!secretKey) return undefined;
      return (await secretFor(db, secretKey, ref.replace(/^secret:/, ''), user, actor()))?.toString('utf8');
    },
    secretScopes: () => secretScopes(db),
    progress: (message) => out.stderr(logLine(message)),
  };
  return { options, close: async () => ssh?.close() };
}

/** GitHub issues for the tickets kind, when a repository and token are configured; else why not. */
async function issueTracker(db: Db, out: Output): Promise<{ issues: IssueTracker } | { noIssues: string }> {
  if (!process.env.FLEETSPEC_GITHUB_REPO) return { noIssues: 'no GitHub repository configured (set FLEETSPEC_GITHUB_REPO and FLEETSPEC_GITHUB_TOKEN)' };
  try {
    const c = await githubConfig(db, {});
    // Loaded only when configured: octokit is a noticeable part of a command's start-up.
    const { GitHub } = await import('../github/client.js');
    return { issues: new GitHub({ owner: c.owner, repo: c.repo, token: c.token, baseUrl: c.githubApi, log: (m) => out.stderr(m) }) };
  } catch (error) {
    if (error instanceof ConfigError) return { noIssues: `${error.message} (${error.hint})` };
    throw error;
  }
}

/** Where stacks live and how terraform runs, from options and the environment. */
export async function stacksContext(specs: string, opts: Pick<ConnectOptions, 'terraform' | 'stacksDir'>): Promise<StacksContext> {
  const terraform = await findTerraform(opts.terraform);
  const pgConnStr = process.env.PG_CONN_STR ?? process.env.DATABASE_URL;
  return {
    dir: opts.stacksDir ?? besideSpecs(specs, 'stacks'),
    workDir: process.env.FLEETSPEC_WORK_DIR ?? join('.fleetspec', 'terraform'),
    ...(terraform ? { terraform } : {}),
    noTerraform: missingBinaryReason(opts.terraform),
    ...(pgConnStr ? { pgConnStr } : {}),
  };
}

function printDiagnostics(diagnostics: readonly Diagnostic[], out: Output): void {
  for (const d of diagnostics) out.stderr(formatDiagnostic(d, out.color));
}

export function renderPlan(plan: Plan, format: PlanCommandOptions['format'], out: Output, showUnchanged = false): void {
  if (format === 'json') out.stdout(renderJson(plan));
  else if (format === 'markdown') out.stdout(renderMarkdown(plan));
  else out.stdout(renderText(plan, { color: out.color, showUnchanged }));
}

export async function planCommand(specs: string, opts: PlanCommandOptions, out: Output): Promise<ExitCode> {
  // Reading the specs overlaps opening the store (PGlite compiles its WebAssembly meanwhile).
  const loaded = loadSpecs(specs);
  loaded.catch(() => {}); // awaited below; a store failure must not leave it unhandled
  // So does reading the hosts, once the specs say which: SSH is most of a live plan's time.
  const live = opts.live ? await liveSsh('live', opts) : undefined;
  if (live?.ssh) {
    const ssh = live.ssh;
    loaded.then((l) => prefetchLive(l, ssh), () => {});
  }
  try {
    return await withStore(out, 'plan', (db) => planWithStore(db, specs, opts, out, loaded, live));
  } finally {
    // Ended before planning (invalid policies, no store): prefetches still connecting stop now,
    // instead of the exit waiting for a silent host's connect timeout.
    await live?.ssh?.cancel('the plan ended');
  }
}

async function planWithStore(db: Db, specs: string, opts: PlanCommandOptions, out: Output, loaded: Promise<LoadedSpecs>, live: LiveSsh | undefined): Promise<ExitCode> {
  const policies = await policyContext(specs, opts);
  printDiagnostics(policies.diagnostics, out);
  if (!policies.policy) {
    out.stderr('fleetspec plan: the policies are invalid; nothing was planned');
    out.stderr('  hint: fix the policy files above (fleetspec policy check lists the same)');
    return EXIT.INVALID;
  }
  const { options, close } = await engineOptions(db, specs, opts.live ? 'live' : 'offline', opts, out, live);
  try {
    const { plan, diagnostics, targetError } = await planFleet({ ...options, loaded, policy: policies.policy, targets: opts.target ?? [] });
    printDiagnostics(diagnostics, out);
    if (targetError) {
      out.stderr(`fleetspec plan: ${logLine(targetError.message)}; nothing was planned`);
      out.stderr(`  hint: ${logLine(targetError.hint)}`);
      return EXIT.INVALID;
    }
    if (!plan) {
      out.stderr('fleetspec plan: the specs are invalid; nothing was planned');
      out.stderr('  hint: fix the problems above (fleetspec validate lists them all)');
      return EXIT.INVALID;
    }
    renderPlan(plan, opts.format, out, opts.showUnchanged);
    if (opts.out) {
      await writeAtomic(opts.out, renderJson(plan) + '\n');
      out.stderr(logLine(`plan written to ${opts.out}; apply it with: fleetspec apply ${opts.out}${specs === 'specs' ? '' : ` ${specs}`}`));
    }
    const blocking = blockingFindings(plan);
    if (blocking.length) {
      out.stderr(`fleetspec plan: ${blocking.length} finding${blocking.length === 1 ? '' : 's'} of severity error; apply will refuse this plan`);
      return EXIT.INVALID;
    }
    return hasChanges(plan) ? EXIT.CHANGES : EXIT.OK;
  } finally {
    await close();
  }
}

/** Reads a plan file and checks it is whole: right format, and its hash matches its content. */
export async function readPlanFile(path: string): Promise<{ plan?: Plan; problem?: string }> {
  let plan: Plan;
  try {
    plan = JSON.parse(await readFile(path, 'utf8')) as Plan;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { problem: e.code === 'ENOENT' ? `${path}: no such file` : `${path}: not a JSON plan (${e.message})` };
  }
  if (plan?.format !== 'fleetspec-plan/v1' || !Array.isArray(plan.changes) || (plan.mode !== 'offline' && plan.mode !== 'live')) {
    return { problem: `${path}: not a fleetspec plan (expected format fleetspec-plan/v1)` };
  }
  if (plan.targets !== undefined && (!Array.isArray(plan.targets) || !plan.targets.every((t) => typeof t === 'string'))) return { problem: `${path}: not a fleetspec plan (targets must be a list of KIND/NAME)` };
  const recomputed = buildPlan(plan.changes, { mode: plan.mode, unknown: plan.unknown ?? [], targets: plan.targets ?? [] });
  if (recomputed.hash !== plan.hash) return { problem: `${path}: the plan was edited after it was made (its hash does not match its content)` };
  return { plan };
}

export interface ApplyCommandOptions extends ConnectOptions, PolicyOptions {
  format: 'text' | 'json';
}

function printReport(report: ApplyReport, out: Output): void {
  for (const c of report.done) out.stdout(`✓ ${logLine(`${c.kind}/${c.name}`)} ${c.action}`);
  if (report.failed) out.stdout(`✗ ${logLine(`${report.failed.change.kind}/${report.failed.change.name}`)} ${report.failed.change.action}: ${logLine(report.failed.error)}`);
  for (const c of report.notDone) out.stdout(`- ${logLine(`${c.kind}/${c.name}`)} ${c.action}: not done`);
  for (const r of report.rolledBack) out.stdout(`↺ ${logLine(r)}`);
  for (const r of report.rollbackFailed) out.stdout(`✗ rollback failed: ${logLine(r.description)}: ${logLine(r.error)}`);
}

export function applyCommand(planPath: string, specs: string, opts: ApplyCommandOptions, out: Output): Promise<ExitCode> {
  return withStore(out, 'apply', async (db) => {
    const { plan: approved, problem } = await readPlanFile(planPath);
    if (!approved) {
      out.stderr(`fleetspec apply: ${logLine(problem ?? '')}`);
      out.stderr('  hint: make a plan with: fleetspec plan --out plan.json');
      return EXIT.INVALID;
    }
    return applyApproved(db, approved, specs, opts, out, {
      command: 'apply',
      reason: `fleetspec apply ${planPath}`,
      approval: `plan file ${planPath}`,
      replan: `fleetspec plan${approved.mode === 'live' ? ' --live' : ''}${(approved.targets ?? []).map((t) => ` --target ${t}`).join('')} --out ${planPath}, review it, then apply it`,
    });
  });
}

/** How a caller of applyApproved names itself in the ledger and in its messages. */
export interface ApplySource {
  /** fleetspec <command>: in error lines. */
  command: string;
  /** The run's reason in the ledger. */
  reason: string;
  /** What approved the plan: "plan file plan.json". */
  approval: string;
  /** What to run when live moved on. */
  replan: string;
}

/**
 * Applies an approved plan as one run in the ledger: plan again, refuse if anything changed or
 * a finding blocks, then apply in order and roll back on failure. `opts.drivers` narrows the
 * kinds (tickets push applies tickets only).
 */
export async function applyApproved(db: Db, approved: Plan, specs: string, opts: ApplyCommandOptions & { drivers?: EngineOptions['drivers'] }, out: Output, source: ApplySource): Promise<ExitCode> {
  const name = `fleetspec ${source.command}`;
  const policies = await policyContext(specs, opts);
  printDiagnostics(policies.diagnostics, out);
  if (!policies.policy) {
    out.stderr(`${name}: the policies are invalid; nothing was applied`);
    return EXIT.INVALID;
  }
  const repo = process.env.FLEETSPEC_REPO ?? resolve(specs);
  const lock = await acquireLeader(db, repo);
  const engine = await engineOptions(db, specs, approved.mode, opts, out);
  const options = { ...engine.options, policy: policies.policy, ...(opts.drivers ? { drivers: opts.drivers } : {}) };
  const close = engine.close;
  let run = await startRun(db, { repo, trigger: 'manual', reason: source.reason });
  try {
    run = await transition(db, run.id, 'PENDING', 'PLANNING');
    const report = await applyPlan(approved, options);
    if (opts.format === 'json') out.stdout(JSON.stringify({ run: run.id, ...report, current: undefined, currentHash: report.current?.hash }, null, 2));
    printDiagnostics(report.diagnostics, out);
    if (report.targetError) {
      await transition(db, run.id, 'PLANNING', 'FAILED', { reason: report.targetError.message });
      out.stderr(`${name}: ${logLine(report.targetError.message)}; nothing was applied`);
      out.stderr(`  hint: ${logLine(report.targetError.hint)}`);
      return EXIT.INVALID;
    }
    if (report.status === 'invalid') {
      await transition(db, run.id, 'PLANNING', 'FAILED', { reason: 'specs are invalid' });
      out.stderr(`${name}: the specs are invalid; nothing was applied`);
      return EXIT.INVALID;
    }
    if (report.status === 'stale') {
      await transition(db, run.id, 'PLANNING', 'FAILED', { reason: 'live changed since this plan', planHash: report.current!.hash });
      out.stderr(`${name}: live changed since this plan; plan again. Nothing was applied.`);
      for (const d of planDifferences(approved, report.current!)) out.stderr(`  ${logLine(d)}`);
      out.stderr(`  hint: ${source.replan}`);
      return EXIT.INVALID;
    }
    if (report.status === 'blocked') {
      const blocking = blockingFindings(report.current!);
      await transition(db, run.id, 'PLANNING', 'BLOCKED', { reason: blocking.map((f) => `${f.kind}/${f.name}: ${f.message}`).join('; '), planHash: approved.hash });
      out.stderr(`${name}: the plan has findings of severity error; nothing was applied.`);
      for (const f of blocking) out.stderr(`  ${formatFinding(f)}`);
      return EXIT.INVALID;
    }
    await transition(db, run.id, 'PLANNING', 'WAIT_FOR_APPROVE', { planHash: approved.hash });
    await transition(db, run.id, 'WAIT_FOR_APPROVE', 'APPLYING', { reason: `approved by ${actor()} (${source.approval})` });
    if (opts.format === 'text') printReport(report, out);
    await recordApply(db, run.id, applyRecord(report, { approvedBy: `${actor()} (${source.approval})`, summary: approved.summary }));
    if (report.status === 'failed') {
      await transition(db, run.id, 'APPLYING', 'ROLLBACK', { reason: report.failed!.error });
      const clean = report.rollbackFailed.length === 0;
      await transition(db, run.id, 'ROLLBACK', 'FAILED', { reason: clean ? 'apply failed; rolled back' : 'apply failed; rollback incomplete' });
      out.stderr(`${name}: failed at ${logLine(`${report.failed!.change.kind}/${report.failed!.change.name}`)}; ${report.done.length} done and ${clean ? 'rolled back' : 'NOT fully rolled back'}, ${report.notDone.length} not done (run ${run.id})`);
      return EXIT.ERROR;
    }
    await transition(db, run.id, 'APPLYING', 'DONE', { reason: `${report.done.length} change${report.done.length === 1 ? '' : 's'} applied` });
    out.stderr(report.done.length ? `Apply complete: ${report.done.length} change${report.done.length === 1 ? '' : 's'} applied (run ${run.id}).` : `Nothing to apply (run ${run.id}).`);
    return EXIT.OK;
  } catch (err) {
    const current = (await db.query<{ state: string }>('select state from runs where id = $1', [run.id]))[0]?.state;
    if (current && !['DONE', 'FAILED', 'BLOCKED'].includes(current)) {
      await transition(db, run.id, current as 'APPLYING', 'FAILED', { reason: err instanceof Error ? err.message : String(err) }).catch(() => {});
    }
    throw err;
  } finally {
    await close();
    await lock.release();
  }
}
