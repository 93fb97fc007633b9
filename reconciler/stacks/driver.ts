// A Terraform stack as a plan-engine driver (the contract in kinds/driver.ts), shared by the
// dns and vms kinds. readLive synthesises the stack and, in live mode with a terraform or tofu
// binary and PostgreSQL for the pg backend, runs init + plan -out + show -json; otherwise the
// plan is the configuration diff against the committed stacks/<name>/cdk.tf.json.
// Applying a stack applies its saved plan file once, for all of its changes.
import { access, readFile, rm } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { writeAtomic } from '../files.js';
import { remoteExcerpt } from '../remote-text.js';
import { credentialsIn } from '../redact.js';
import { defineDriver, type Driver, type LiveContext, type Rollback } from '../kinds/driver.js';
import type { PlanFinding, ResourceChange } from '../plan/plan.js';
import { configDiff } from './config-diff.js';
import { readCommitted, stackFile, synthesiseModel } from './files.js';
import { stackModels, type StackModel, type StackName } from './model.js';
import { stringify } from 'safe-stable-stringify';
import { IMPORTS_FILE, stackImports } from './imports.js';
import { toResourceChanges, type ShowPlan } from './show.js';
import { applySaved, init, plan, PLAN_FILE, TerraformError, type TerraformBinary, type TerraformRun } from './terraform.js';

/** How the engine reaches stacks: where output lives and how Terraform runs. */
export interface StacksContext {
  /** The committed output folder (stacks/). */
  dir: string;
  /** Working folders for terraform, one per stack (under the state dir). */
  workDir: string;
  terraform?: TerraformBinary;
  /** Why terraform is not run when `terraform` is absent. */
  noTerraform: string;
  /** PostgreSQL for the pg backend (DATABASE_URL); the embedded store has no server to offer. */
  pgConnStr?: string;
  /** Per terraform command. */
  timeoutMs?: number;
  /** Stops a running terraform (its whole process group): the loop's stop or tick budget, for plans only, never an apply. */
  signal?: AbortSignal;
  /**
   * Planning a branch: the secrets each stack gets from the default branch's trusted specs.
   * Terraform is not run for a stack that would get any other secret (it would hand a secret to a
   * provider before anyone approved that); the plan falls back to the configuration diff.
   */
  trustedSecrets?: Partial<Record<StackName, readonly string[]>>;
  /**
   * `plan --target`: the Terraform addresses to plan in each stack (terraform plan -target=, or
   * the configuration diff narrowed to them). Present means targeted: a stack without an entry
   * is not planned at all.
   */
  targets?: Partial<Record<StackName, readonly string[]>>;
}

// Which stack a kind becomes and its Terraform addresses live in model.ts (no terraform loaded to ask).
export { STACK_OF_KIND, stackAddresses } from './model.js';

/**
 * A targeted configuration-diff apply writes the committed file with only the targeted resources
 * taken from the new synthesis; the input hash is dropped, so the next plan diffs the rest again.
 */
function targetedText(previous: Record<string, any> | undefined, next: Record<string, any>, addresses: readonly string[]): string {
  const { resource: _, ...settings } = next;
  const out: Record<string, any> = structuredClone(previous ?? settings);
  if (out['//'] && typeof out['//'] === 'object') {
    const { inputHash: __, ...meta } = out['//'] as Record<string, unknown>;
    out['//'] = meta;
  }
  for (const address of addresses) {
    const dot = address.indexOf('.');
    const [type, id] = [address.slice(0, dot), address.slice(dot + 1)];
    const block = next.resource?.[type]?.[id];
    out.resource ??= {};
    if (block !== undefined) (out.resource[type] ??= {})[id] = block;
    else if (out.resource[type]) {
      delete out.resource[type][id];
      if (!Object.keys(out.resource[type]).length) delete out.resource[type];
    }
  }
  return stringify(out, null, 2) + '\n';
}

interface StackLive {
  model: StackModel;
  text: string;
  /** The synthesised JSON; absent when the input hash matched the committed file (no diff to make). */
  next?: Record<string, any>;
  previous?: Record<string, any>;
  /** Where the committed file is, as messages print it. */
  where: string;
  /** Terraform's plan, when it ran. */
  show?: ShowPlan;
  run?: TerraformRun;
  /** Why terraform was not run (configuration diff instead). */
  notRun?: string;
  /** Terraform failed: its own message. */
  failed?: string;
  /** `plan --target`: the addresses planned (terraform -target=, or the configuration diff narrowed). */
  only?: readonly string[];
  /** What of stacks/<name>/imports.tf.json terraform was not given, and why (stackImports). */
  refusedImports?: string[];
}

const TERRAFORM_REASON = 'terraform plan';
const CONFIG_REASON = 'configuration diff';

/** The live data of each stack for the context it was read in, so apply reuses the same plan file. */
const readings = new WeakMap<LiveContext, Map<StackName, StackLive>>();
const appliedIn = new WeakMap<LiveContext, Set<StackName>>();

async function terraformRun(name: StackName, model: StackModel, ctx: LiveContext): Promise<{ run?: TerraformRun; notRun?: string }> {
  const s = ctx.stacks;
  if (ctx.mode === 'offline') return { notRun: 'offline: plan with --live to run terraform' };
  if (!s.terraform) return { notRun: `terraform not run: ${s.noTerraform}` };
  if (!s.pgConnStr) return { notRun: 'terraform not run: its pg backend needs PostgreSQL (set DATABASE_URL; the embedded store has no server)' };
  if (s.trustedSecrets) {
    const trusted = new Set(s.trustedSecrets[name] ?? []);
    const added = model.secrets.map((x) => x.ref).filter((ref) => !trusted.has(ref));
    if (added.length) return { notRun: `terraform not run: this change gives stacks/${name} ${added.join(', ')}, which the trusted specs do not; secrets reach terraform only once such a change is approved and merged` };
  }
  const found = await terraformEnv(model, s.pgConnStr, ctx.secret);
  if ('missing' in found) return { notRun: `terraform not run: ${found.missing}` };
  return { run: { binary: s.terraform, workDir: join(s.workDir, name), ...found, progress: (l) => ctx.progress(`stacks/${name}: ${l}`), ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}), ...(s.signal ? { signal: s.signal } : {}) } };
}

/**
 * The environment terraform runs a stack with: PG_CONN_STR for the pg backend and TF_VAR_* for
 * each of the stack's secrets, with the values to scrub from its output; or which secret is missing.
 */
export async function terraformEnv(
  model: StackModel,
  pgConnStr: string,
  secret: LiveContext['secret'],
): Promise<Pick<TerraformRun, 'env' | 'redact'> | { missing: string }> {
  const env: Record<string, string> = { PG_CONN_STR: backendConnString(pgConnStr) };
  const redact: string[] = [];
  // The password wherever the connection string holds it (user:password@, ?password=, password=),
  // as written and decoded: terraform's output may quote it alone (its errors also go through redactUrl).
  redact.push(...credentialsIn(pgConnStr));
  for (const s of model.secrets) {
    let value: string | undefined;
    try {
      // The same value for every user; the store checks each one against the secret's scope.
      for (const user of model.secretUsers[s.ref] ?? [`stacks/${model.name}`]) value = await secret(s.ref, user);
    } catch (error) {
      return { missing: error instanceof Error ? error.message : String(error) };
    }
    if (value === undefined) {
      return { missing: `${s.ref} is not readable (store it with \`fleetspec secrets set ${s.ref.replace(/^secret:/, '')}\`, and set FLEETSPEC_SECRET_KEY)` };
    }
    env[`TF_VAR_${s.variable}`] = value;
    redact.push(value);
  }
  return { env, redact };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '']);

/**
 * PG_CONN_STR for terraform's pg backend. Its driver (lib/pq) insists on TLS unless `sslmode` says
 * otherwise, where node-postgres (fleetspec's own store) uses none unless asked: for a server on
 * loopback without an sslmode, both connect the same way, without TLS. Elsewhere the string is
 * passed as it is, so a remote server is reached over TLS unless the operator said not to.
 */
export function backendConnString(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url; // a key=value connection string: terraform reads it as given
  }
  if (!/^postgres(ql)?:$/.test(u.protocol) || u.searchParams.has('sslmode') || !LOOPBACK.has(u.hostname)) return url;
  u.searchParams.set('sslmode', 'disable');
  return u.toString();
}


const isEmpty = (model: StackModel) => Object.values(model.input).every((list) => (list as unknown[]).length === 0);

export function stackDriver(name: StackName): Driver<StackLive | undefined> {
  return defineDriver<StackLive | undefined>({
    folder: name,
    async readLive(_desired, ctx) {
      const targets = ctx.stacks.targets;
      // Targeted elsewhere, or at nothing this stack holds: nothing to plan (no -target at all would plan everything).
      if (targets && !targets[name]?.length) return undefined;
      const [model] = stackModels(ctx.index, [name]);
      const file = stackFile(ctx.stacks.dir, name);
      // Nothing declared and nothing synthesised before: no stack to plan.
      if (isEmpty(model!) && !(await access(file).then(() => true, () => false))) return undefined;
      const { text, fresh } = await synthesiseModel(ctx.stacks.dir, model!);
      // Named from the stacks folder, not the working directory: the reason is part of the plan's
      // hash, and a plan made in one directory must stay valid when applied from another.
      const where = `${basename(ctx.stacks.dir)}/${name}/cdk.tf.json`;
      const live: StackLive = { model: model!, text, where, ...(targets ? { only: targets[name]! } : {}) };
      // An unchanged input hash means the committed file is this very synthesis: nothing to parse.
      if (fresh) {
        const previous = await readCommitted(ctx.stacks.dir, name);
        live.next = previous && previous.text === text ? previous.json : (JSON.parse(text) as Record<string, any>);
        if (previous) live.previous = previous.json;
      }
      const { run, notRun } = await terraformRun(name, model!, ctx);
      if (notRun) live.notRun = notRun;
      if (run) {
        live.run = run;
        try {
          const imports = await stackImports(ctx.stacks.dir, name, text);
          live.refusedImports = imports.refused;
          await init(run, text, imports.text ? { [IMPORTS_FILE]: imports.text } : {});
          live.show = (await plan(run, targets?.[name])).show;
        } catch (err) {
          live.failed = err instanceof TerraformError || err instanceof Error ? err.message : String(err);
        }
      }
      const byStack = readings.get(ctx) ?? new Map<StackName, StackLive>();
      byStack.set(name, live);
      readings.set(ctx, byStack);
      return live;
    },
    diff(_desired, live) {
      if (!live) return { changes: [], unknown: [], findings: [] };
      const findings: PlanFinding[] = [];
      if (live.failed) {
        // Terraform's words quote provider API replies: they reach the plan as a short escaped excerpt.
        const remote = remoteExcerpt(live.failed, 600);
        findings.push({ kind: name, name: 'stack', code: 'stacks.terraform-failed', severity: 'error', message: `terraform failed: ${remote}`, remote, hint: `fix the cause, then plan again (working folder: ${live.run?.workDir}; terraform's whole message is in its output there)` });
        return { changes: [], unknown: [{ kind: name, name: 'stack', reason: 'terraform plan failed' }], findings };
      }
      for (const why of live.refusedImports ?? []) {
        findings.push({ kind: name, name: 'stack', code: 'stacks.import-refused', severity: 'error', message: `terraform was not given this: ${why}`, hint: `write import blocks with fleetspec import (only {to, id} pairs for resources of stacks/${name} are used)` });
      }
      if (live.show) return { changes: toResourceChanges(name, live.show, `stacks/${name}`).map((c) => ({ ...c, reason: c.reason.replace(/^terraform plan of [^;]*/, TERRAFORM_REASON) })), unknown: [], findings };
      if (!live.notRun!.startsWith('offline')) {
        findings.push({ kind: name, name: 'stack', code: 'stacks.terraform-not-run', severity: 'warning', message: `${live.notRun}; the plan shows the configuration diff against ${live.where}, not live state` });
      }
      const reason = `${CONFIG_REASON} against ${live.where} (${live.notRun})`;
      if (!live.next) {
        const unchanged = `${reason}: unchanged, its input hash matches the specs`;
        return { changes: [{ kind: name, name: 'stack', action: 'no-op', before: null, after: null, reason: unchanged }], unknown: [], findings };
      }
      const diff = configDiff(name, live.previous, live.next, reason);
      const only = live.only;
      return { changes: only ? diff.filter((c) => only.includes(c.name)) : diff, unknown: [], findings };
    },
    actions(change: ResourceChange) {
      if (change.reason.startsWith(TERRAFORM_REASON)) return [`terraform apply of the saved plan for stacks/${name} (every change of the stack at once)`, `write stacks/${name}/cdk.tf.json`];
      return [`write stacks/${name}/cdk.tf.json (Terraform applies it when run with terraform)`];
    },
    async apply(change, ctx): Promise<Rollback | undefined> {
      const done = appliedIn.get(ctx) ?? new Set<StackName>();
      appliedIn.set(ctx, done);
      if (done.has(name)) return undefined; // the stack's first change applied all of them
      const live = readings.get(ctx)?.get(name);
      if (!live) throw new Error(`stacks/${name} was not planned in this run`);
      done.add(name);
      const file = stackFile(ctx.stacks.dir, name);
      const before = await readFile(file, 'utf8').catch(() => undefined);
      const restore = async () => (before === undefined ? rm(file, { force: true }) : writeAtomic(file, before));
      if (change.reason.startsWith(TERRAFORM_REASON)) {
        if (!live.run) throw new Error(`stacks/${name}: terraform is not available to apply this plan`);
        await applySaved(live.run);
        await rm(join(live.run.workDir, PLAN_FILE), { force: true }); // a saved plan applies once
        await writeAtomic(file, live.text);
        return {
          description: `stacks/${name}: Terraform has no rollback; what it applied stays (revert the specs and plan again to undo it)`,
          run: async () => {
            await restore();
            throw new Error('terraform changes are not rolled back automatically; stacks/' + name + '/cdk.tf.json was restored');
          },
        };
      }
      const only = live.only;
      await writeAtomic(file, only && live.next ? targetedText(live.previous, live.next, only) : live.text);
      return { description: `restored ${relative(process.cwd(), file) || file}`, run: restore };
    },
  });
}
