// The contract every check group of `fleetspec doctor` keeps: a group looks at one part of a setup
// (Node, the store, the key, GitHub, terraform, SSH, disk) and says, per check, ok, warn or fail,
// what it found and what to fix. A group never changes the setup and never connects to an address
// from specs/. Each check runs under a deadline (withDeadline), so one that hangs fails alone.
import type { Db } from '../state/db.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Short and stable, for --format json: "node", "store.migrations", "github.protection". */
  name: string;
  status: CheckStatus;
  /** What was found; never a secret. */
  detail: string;
  /** What to do; absent when there is nothing to do. */
  fix?: string;
}

export interface DoctorSettings {
  specs: string;
  githubRepo?: string;
  githubApi?: string;
  sshKey?: string;
  terraform?: string;
  /** The deadline of one check, and of one GitHub request (FLEETSPEC_DOCTOR_TIMEOUT). */
  timeoutMs: number;
}

/** What the groups share: the settings and environment, and what an earlier group found (the store). */
export interface DoctorContext {
  settings: DoctorSettings;
  env: NodeJS.ProcessEnv;
  /** The store, when the store group could open it (closed by the runner at the end). */
  db?: Db;
  /** The state folder of the embedded store (undefined with DATABASE_URL). */
  stateDir?: string;
}

export interface CheckGroup {
  /** The group's name, for the line saying a group itself broke. */
  name: string;
  run(ctx: DoctorContext): Promise<CheckResult[]>;
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail });
export const warn = (name: string, detail: string, fix?: string): CheckResult => ({ name, status: 'warn', detail, ...(fix ? { fix } : {}) });
export const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });

/** The error's message and, when it carries one (StateError, GitHubError), its hint. */
export function explain(err: unknown): { message: string; hint?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const hint = (err as { hint?: unknown }).hint;
  return { message: err.message, ...(typeof hint === 'string' && hint ? { hint } : {}) };
}

/**
 * `work` given `ms` to finish; after that, `late()` is the answer and `work` is left to end unheard
 * (its signal aborted, so a fetch or a child process under it stops).
 */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>, late: () => T): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const running = work(controller.signal);
  running.catch(() => {});
  try {
    return await Promise.race([
      running,
      new Promise<T>((resolve) => {
        timer = setTimeout(() => {
          controller.abort(new Error(`no answer within ${Math.round(ms / 1000)} s`));
          resolve(late());
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
