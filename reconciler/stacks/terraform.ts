// Driving `terraform` or `tofu` from PATH: init, plan -out, show -json, and apply of that saved
// plan file only. Each stack runs in its own working folder under the state dir, never in
// stacks/ (no .terraform or plan files next to committed output). Secrets reach Terraform
// only as TF_VAR_* environment variables, and are scrubbed from anything it prints.
import { spawn } from 'node:child_process';
import { access, chmod, constants, mkdir, readdir, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { writeAtomic } from '../files.js';
import { redactUrl } from '../redact.js';
import { parseShowJson, type ShowPlan } from './show.js';

export interface TerraformBinary {
  path: string;
}

/** Names looked for on PATH, in order. */
export const BINARY_NAMES = ['terraform', 'tofu'] as const;

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * The binary to run: `explicit` (a --terraform option or FLEETSPEC_TERRAFORM) as a path or a
 * name looked up on PATH, else the first of terraform, tofu on PATH.
 */
export async function findTerraform(explicit?: string, env: NodeJS.ProcessEnv = process.env): Promise<TerraformBinary | undefined> {
  const wanted = explicit ?? env.FLEETSPEC_TERRAFORM;
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const candidates = wanted ? [wanted] : [...BINARY_NAMES];
  for (const name of candidates) {
    if (name.includes('/')) {
      if (await executable(name)) return { path: name };
      continue;
    }
    for (const dir of dirs) if (await executable(join(dir, name))) return { path: join(dir, name) };
  }
  return undefined;
}

/** What to say when no binary was found, naming what was looked for. */
export function missingBinaryReason(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const wanted = explicit ?? env.FLEETSPEC_TERRAFORM;
  return wanted ? `${wanted} is not an executable (from ${explicit ? '--terraform' : 'FLEETSPEC_TERRAFORM'})` : `neither ${BINARY_NAMES.join(' nor ')} is on PATH`;
}

export class TerraformError extends Error {
  constructor(
    /** e.g. `terraform plan` */
    readonly command: string,
    readonly exitCode: number | null,
    /** Terraform's own diagnostics ("Error: ..." blocks), secrets scrubbed. */
    readonly detail: string,
    /** Why fleetspec stopped it (its timeout, a cancelled run), when it did. */
    readonly stopped?: string,
  ) {
    // Terraform's errors about its pg backend can quote PG_CONN_STR in any of its forms.
    super(`${command} failed${exitCode === null ? ` (killed: ${stopped ?? 'timeout'})` : ` (exit ${exitCode})`}${detail ? `: ${redactUrl(detail)}` : ''}`);
  }
}

export interface TerraformRun {
  binary: TerraformBinary;
  /** The stack's working folder; cdk.tf.json is written there. */
  workDir: string;
  /** Extra environment: PG_CONN_STR, TF_VAR_* secrets, provider credentials. */
  env: Record<string, string>;
  /** Values never to print (secrets): replaced by *** in anything Terraform says. */
  redact: string[];
  progress(line: string): void;
  /** Per command; apply of a VM can take minutes. Past it, terraform's process group gets SIGTERM, then SIGKILL after killGraceMs. */
  timeoutMs?: number;
  /** Default KILL_GRACE_MS. */
  killGraceMs?: number;
  /** Stops the command the same way (a plan whose tick was stopped or ran out of time; never set for an apply). */
  signal?: AbortSignal;
}

export const PLAN_FILE = 'fleetspec.tfplan';

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** Terraform's "Error: ..." blocks (with -no-color), or its last lines when there are none. */
export function terraformErrors(stderr: string, stdout = ''): string {
  const text = `${stderr}\n${stdout}`.replace(/\r/g, '');
  const blocks = text
    .split(/\n(?=(?:│ )?Error: )/)
    .filter((b) => /^(?:│ )?Error: /.test(b.trimStart()))
    .map((b) => b.replace(/^│ ?/gm, '').replace(/^╷\n?|\n?╵$/gm, '').trim().split(/\n\s*\n/).slice(0, 2).map((p) => p.trim()).join(': ').replace(/\s*\n\s*/g, ' '));
  if (blocks.length) return [...new Set(blocks)].join('; ');
  return text.trim().split('\n').slice(-3).join(' ').trim();
}

/** Variables of the parent environment terraform may see, besides its own TF_* settings. */
const PASSED = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LC_ALL',
  'TZ',
  'TMPDIR',
  // Reaching the providers' APIs through a proxy, with the machine's CA certificates.
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'NO_PROXY',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  // A path (not a secret) to Google's application default credentials, for VMs without `credentials:`.
  'GOOGLE_APPLICATION_CREDENTIALS',
]);

/**
 * The whole environment a terraform process gets: the few variables above, terraform's own TF_*
 * settings (TF_CLI_CONFIG_FILE, TF_PLUGIN_CACHE_DIR, TF_LOG…) but never a TF_VAR_* of the parent,
 * and the stack's own `extra` (PG_CONN_STR and its TF_VAR_* secrets). fleetspec's secret key, its
 * GitHub token, DATABASE_URL and anything else in the daemon's environment stay out of reach of
 * the configuration, its providers and `file("/proc/self/environ")`.
 */
export function terraformEnvironment(parent: NodeJS.ProcessEnv, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) {
    if (v === undefined) continue;
    if (PASSED.has(k) || (k.startsWith('TF_') && !k.startsWith('TF_VAR_'))) env[k] = v;
  }
  return { ...env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', ...extra };
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it was stopped: its timeout, or the caller's signal. */
  stopped?: string;
}

/** After SIGTERM to its process group, terraform gets this long to stop cleanly (release its state lock) before SIGKILL. */
export const KILL_GRACE_MS = 15_000;

/**
 * The process groups of the terraform commands running now. Each command leads a group of its own
 * (spawned detached), so that stopping it reaches its providers and anything they started: killing
 * only terraform would leave those behind, holding its output pipes (and the wait for them) open.
 */
const running = new Set<number>();

/** Sends `signal` to every running terraform's process group (the process is exiting: see below). */
export function signalRunningTerraform(signal: NodeJS.Signals = 'SIGTERM'): number {
  for (const pid of running) killGroup(pid, signal);
  return running.size;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

// Being in groups of their own, terraform and its providers no longer get the terminal's Ctrl-C or
// what the process is sent. When fleetspec handles no such signal itself (a command line), it is
// passed on to them before fleetspec goes as it would have; the daemon has its own handlers and
// decides (an apply finishes), and on its way out (process.exit) they are told to stop.
let forwarding = false;
function forwardSignals(): void {
  if (forwarding) return;
  forwarding = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      if (process.listenerCount(signal) > 1) return;
      signalRunningTerraform(signal);
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
  process.on('exit', () => void signalRunningTerraform('SIGTERM'));
}

function execute(run: TerraformRun, args: string[], opts: { streamProgress?: boolean } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    if (run.signal?.aborted) {
      resolve({ code: null, stdout: '', stderr: '', stopped: 'stopped before it started' });
      return;
    }
    forwardSignals();
    const child = spawn(run.binary.path, args, {
      cwd: run.workDir,
      env: terraformEnvironment(process.env, run.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    let stdout = '';
    let stderr = '';
    let partial = '';
    let stopped: string | undefined;
    let exited = false;
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!opts.streamProgress) return;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      // Resource progress lines ("x: Creating...", "x: Creation complete after 2s").
      for (const l of lines) if (/: (Creating|Modifying|Destroying|Creation complete|Modifications complete|Destruction complete|Still )/.test(l)) run.progress(redactUrl(scrub(l.trim(), run.redact)));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const stop = (why: string) => {
      if (stopped || exited || pid === undefined) return;
      stopped = why;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), run.killGraceMs ?? KILL_GRACE_MS);
    };
    const timeoutMs = run.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => stop(`timeout after ${Number((timeoutMs / 1000).toFixed(1))} s`), timeoutMs);
    const onAbort = () => stop('stopped: the run was cancelled');
    run.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      run.signal?.removeEventListener('abort', onAbort);
      if (pid !== undefined) running.delete(pid);
      // Whatever of the group is still there (a provider that ignored SIGTERM) goes now.
      if (stopped && pid !== undefined) {
        clearTimeout(killTimer);
        killGroup(pid, 'SIGKILL');
      }
      // stdout stays parseable (show -json): redactUrl runs on what is printed, stderr and errors.
      resolve({ code: signal || stopped ? null : code, stdout: scrub(stdout, run.redact), stderr: redactUrl(scrub(stderr, run.redact)), ...(stopped ? { stopped } : {}) });
    };
    child.on('error', (err) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      run.signal?.removeEventListener('abort', onAbort);
      if (pid !== undefined) running.delete(pid);
      settled = true;
      reject(new TerraformError(`${run.binary.path} ${args[0]}`, -1, err.message));
    });
    child.on('exit', (code, signal) => {
      exited = true;
      // Its output pipes close when the last process holding them ends; one that escaped the group must not hold the run.
      drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(code, signal);
      }, 2_000);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** Per command, when the caller sets none. */
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;

const label = (run: TerraformRun, sub: string) => `${run.binary.path.split('/').pop()} ${sub}`;

async function must(run: TerraformRun, sub: string, args: string[], ok: readonly number[] = [0], stream = false): Promise<Result> {
  const result = await execute(run, [sub, ...args], { streamProgress: stream });
  if (result.code === null || !ok.includes(result.code)) throw new TerraformError(label(run, sub), result.code, terraformErrors(result.stderr, result.stdout), result.stopped);
  return result;
}

/**
 * Writes the stack's JSON into its working folder and runs `init` (idempotent, fast once providers
 * are cached). `extra`: the stack folder's other *.tf.json files by name (imports.tf.json from
 * fleetspec import); any other *.tf.json left in the working folder from before is removed.
 */
export async function init(run: TerraformRun, stackJson: string, extra: Readonly<Record<string, string>> = {}): Promise<void> {
  // Saved plan files hold variable values (secrets included): only this user may read them.
  await mkdir(run.workDir, { recursive: true, mode: 0o700 });
  await chmod(run.workDir, 0o700);
  await writeAtomic(join(run.workDir, 'cdk.tf.json'), stackJson);
  for (const [name, text] of Object.entries(extra)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.tf\.json$/.test(name) || name === 'cdk.tf.json') throw new Error(`not a stack file: ${name}`);
    await writeAtomic(join(run.workDir, name), text);
  }
  for (const name of await readdir(run.workDir)) {
    if (name.endsWith('.tf.json') && name !== 'cdk.tf.json' && !(name in extra)) await rm(join(run.workDir, name), { force: true });
  }
  run.progress(`${label(run, 'init')} in ${run.workDir}`);
  await must(run, 'init', ['-input=false', '-no-color']);
}

/** `plan -out`, then `show -json` of that file. `targets`: addresses for -target= (plan --target); absent, the whole stack. */
export async function plan(run: TerraformRun, targets: readonly string[] = []): Promise<{ show: ShowPlan; planFile: string; changes: boolean }> {
  run.progress(label(run, 'plan'));
  // -detailed-exitcode: 0 no changes, 2 changes, 1 error.
  const result = await must(run, 'plan', ['-input=false', '-no-color', '-lock-timeout=60s', '-detailed-exitcode', ...targets.map((t) => `-target=${t}`), `-out=${PLAN_FILE}`], [0, 2]);
  const shown = await must(run, 'show', ['-json', '-no-color', PLAN_FILE]);
  const show = parseShowJson(shown.stdout);
  if (show.errored) throw new TerraformError(label(run, 'plan'), 1, terraformErrors(result.stderr, result.stdout) || 'the plan is marked errored');
  return { show, planFile: join(run.workDir, PLAN_FILE), changes: result.code === 2 };
}

/** Applies the saved plan file and nothing else; Terraform refuses it when state moved on since. */
export async function applySaved(run: TerraformRun): Promise<string> {
  run.progress(`${label(run, 'apply')} ${PLAN_FILE}`);
  const result = await must(run, 'apply', ['-input=false', '-no-color', '-lock-timeout=60s', PLAN_FILE], [0], true);
  return result.stdout;
}
