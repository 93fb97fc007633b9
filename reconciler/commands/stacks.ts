// `fleetspec stacks synth|plan|apply [NAME]`: the Terraform stacks on their own. synth writes
// stacks/<name>/cdk.tf.json from specs; plan runs terraform (or shows the configuration diff
// without it) and keeps the saved plan file; apply applies that saved file and nothing else.
import { access, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { writeAtomic } from '../files.js';
import { DRIVERS } from '../kinds/drivers.js';
import { blockingFindings, besideSpecs, planFleet } from '../plan/engine.js';
import { hasChanges } from '../plan/plan.js';
import { loadSpecs } from '../specs/load.js';
import { terraformEnv } from '../stacks/driver.js';
import { synthesiseAll, stackFile } from '../stacks/files.js';
import { isStackName, STACK_NAMES, stackModels, type StackName } from '../stacks/model.js';
import { applySaved, PLAN_FILE, TerraformError } from '../stacks/terraform.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';
import { policyContext } from './policy.js';
import { evaluatePolicies } from '../policies/index.js';
import { formatFinding } from '../plan/render.js';
import { engineOptions, renderPlan, type PlanCommandOptions } from './plan.js';
import { printTable, withStore } from './store.js';

function chosen(name: string | undefined, out: Output, command: string): StackName[] | undefined {
  if (name === undefined) return [...STACK_NAMES];
  if (isStackName(name)) return [name];
  out.stderr(`fleetspec stacks ${command}: unknown stack "${logLine(name)}"; stacks: ${STACK_NAMES.join(', ')}`);
  return undefined;
}

export interface SynthOptions {
  specs: string;
  stacks?: string;
  check?: boolean;
  force?: boolean;
  format: 'text' | 'json';
}

export async function stacksSynth(name: string | undefined, opts: SynthOptions, out: Output): Promise<ExitCode> {
  const only = chosen(name, out, 'synth');
  if (!only) return EXIT.INVALID;
  const loaded = await loadSpecs(opts.specs);
  for (const d of loaded.diagnostics) out.stderr(formatDiagnostic(d, out.color));
  if (countBySeverity(loaded.diagnostics).errors > 0) {
    out.stderr('fleetspec stacks synth: the specs are invalid; nothing was synthesised');
    return EXIT.INVALID;
  }
  const dir = opts.stacks ?? besideSpecs(opts.specs, 'stacks');
  // --check compares real bytes: a hand-edited file with an unchanged input hash is still caught.
  const results = await synthesiseAll(loaded.index, dir, { only, force: opts.force || opts.check, write: !opts.check });
  const stale = results.filter((r) => r.status === 'written');
  if (opts.format === 'json') {
    out.stdout(JSON.stringify(results.map((r) => ({ stack: r.model.name, file: stackFile(dir, r.model.name), status: opts.check && r.status === 'written' ? 'stale' : r.status, inputHash: r.model.inputHash, bytes: Buffer.byteLength(r.text) })), null, 2));
  } else {
    const status = (s: string) => (opts.check && s === 'written' ? 'STALE (run fleetspec stacks synth)' : s === 'skipped' ? 'unchanged (input hash)' : s);
    printTable(out, ['STACK', 'FILE', 'STATUS', 'BYTES'], results.map((r) => [r.model.name, relative(process.cwd(), stackFile(dir, r.model.name)), status(r.status), String(Buffer.byteLength(r.text))]));
  }
  if (opts.check && stale.length) {
    out.stderr(`fleetspec stacks synth --check: ${stale.map((r) => r.model.name).join(', ')} out of date with the specs`);
    return EXIT.INVALID;
  }
  return EXIT.OK;
}

export interface StacksPlanOptions extends Pick<PlanCommandOptions, 'terraform' | 'stacksDir' | 'format' | 'showUnchanged' | 'policies' | 'override'> {
  specs: string;
}

export function stacksPlan(name: string | undefined, opts: StacksPlanOptions, out: Output): Promise<ExitCode> {
  const only = chosen(name, out, 'plan');
  if (!only) return Promise.resolve(EXIT.INVALID);
  return withStore(out, 'stacks plan', async (db) => {
    const { options, close } = await engineOptions(db, opts.specs, 'live', { ...opts, noSsh: true }, out);
    try {
      const drivers = DRIVERS.filter((d) => (only as string[]).includes(d.folder));
      const policies = await policyContext(opts.specs, opts);
      for (const d of policies.diagnostics) out.stderr(formatDiagnostic(d, out.color));
      if (!policies.policy) return EXIT.INVALID;
      const { plan, diagnostics } = await planFleet({ ...options, drivers, policy: policies.policy });
      for (const d of diagnostics) out.stderr(formatDiagnostic(d, out.color));
      if (!plan) return EXIT.INVALID;
      renderPlan(plan, opts.format, out, opts.showUnchanged);
      if (options.stacks?.terraform && plan.changes.some((c) => c.reason.startsWith('terraform plan'))) {
        out.stderr(`saved plan files kept in ${options.stacks.workDir}/<stack>/${PLAN_FILE}; apply them with: fleetspec stacks apply${name ? ` ${name}` : ''}`);
      }
      if (blockingFindings(plan).length) return EXIT.INVALID;
      return hasChanges(plan) ? EXIT.CHANGES : EXIT.OK;
    } finally {
      await close();
    }
  });
}

export function stacksApply(name: string | undefined, opts: Omit<StacksPlanOptions, 'format' | 'showUnchanged'>, out: Output): Promise<ExitCode> {
  const only = chosen(name, out, 'apply');
  if (!only) return Promise.resolve(EXIT.INVALID);
  return withStore(out, 'stacks apply', async (db) => {
    const { options } = await engineOptions(db, opts.specs, 'live', { ...opts, noSsh: true }, out);
    const ctx = options.stacks!;
    if (!ctx.terraform) {
      out.stderr(`fleetspec stacks apply: ${logLine(ctx.noTerraform ?? '')}`);
      out.stderr('  hint: install terraform or tofu, or pass --terraform <path>');
      return EXIT.INVALID;
    }
    if (!ctx.pgConnStr) {
      out.stderr('fleetspec stacks apply: the pg backend needs PostgreSQL; set DATABASE_URL');
      return EXIT.INVALID;
    }
    const loaded = await loadSpecs(opts.specs);
    if (countBySeverity(loaded.diagnostics).errors > 0) {
      for (const d of loaded.diagnostics) out.stderr(formatDiagnostic(d, out.color));
      return EXIT.INVALID;
    }
    // A saved terraform plan bypasses the engine, so the policies that need only the specs judge it here (the budget brake above all).
    const policies = await policyContext(opts.specs, opts);
    for (const d of policies.diagnostics) out.stderr(formatDiagnostic(d, out.color));
    if (!policies.policy) return EXIT.INVALID;
    const blocking = evaluatePolicies(policies.policy, { index: loaded.index, facts: new Map() }).findings.filter((f) => f.severity === 'error');
    if (blocking.length) {
      out.stderr('fleetspec stacks apply: the policies refuse the specs; nothing was applied');
      for (const f of blocking) out.stderr(`  ${formatFinding(f, out.color)}`);
      return EXIT.INVALID;
    }
    let applied = 0;
    for (const model of stackModels(loaded.index, only)) {
      const workDir = join(ctx.workDir, model.name);
      const planned = await access(join(workDir, PLAN_FILE)).then(
        () => true,
        () => false,
      );
      if (!planned) {
        if (name) {
          out.stderr(`fleetspec stacks apply: no saved plan for stacks/${model.name} in ${workDir}`);
          out.stderr(`  hint: fleetspec stacks plan ${model.name}, review it, then apply`);
          return EXIT.INVALID;
        }
        continue;
      }
      const found = await terraformEnv(model, ctx.pgConnStr, options.secret);
      if ('missing' in found) {
        out.stderr(`fleetspec stacks apply: ${logLine(found.missing)}`);
        return EXIT.INVALID;
      }
      try {
        await applySaved({ binary: ctx.terraform, workDir, ...found, progress: (l) => out.stderr(`stacks/${model.name}: ${logLine(l)}`) });
      } catch (err) {
        out.stderr(`fleetspec stacks apply: stacks/${model.name}: ${logLine(err instanceof TerraformError ? err.message : String(err))}`);
        return EXIT.ERROR;
      }
      // The configuration that was applied becomes the committed output; a saved plan applies once.
      await writeAtomic(stackFile(ctx.dir, model.name), await readFile(join(workDir, 'cdk.tf.json'), 'utf8'));
      await rm(join(workDir, PLAN_FILE), { force: true });
      out.stdout(`✓ stacks/${model.name} applied`);
      applied++;
    }
    if (!applied) {
      out.stderr('fleetspec stacks apply: no saved plans to apply; run fleetspec stacks plan first');
      return EXIT.INVALID;
    }
    return EXIT.OK;
  });
}
