// Deadlines of the loop. Each tick has a budget: past it, the tick is abandoned at the next safe
// point (before a step starts, or while it waits on GitHub, git's network or the LLM), recorded
// FAILED with the phase and the call it was waiting for, and the next tick starts on time. An apply
// is never interrupted by the tick's budget: from the moment it begins (after the last safe point)
// to the end of its report it has a budget of its own, longer. A tick still running past its
// budget and a grace (a call that ignores cancellation) is a wedge: the daemon says so and exits
// non-zero, so that systemd starts a fresh process (daemon.ts).
import cron from 'node-cron';
import { TickAbandoned } from './phases/types.js';

/** Default tick budget: this share of the shortest gap between two due times of the schedule. */
export const TICK_BUDGET_SHARE = 0.8;
/** Bounds of the default tick budget: a schedule of seconds still gets time to tick, an hourly one does not get hours. */
export const MIN_TICK_BUDGET_MS = 30_000;
export const MAX_TICK_BUDGET_MS = 30 * 60_000;
/** An apply, from its last safe point to the end of its report. Terraform's own per-command timeout is as long. */
export const DEFAULT_APPLY_BUDGET_MS = 30 * 60_000;
/** Bounds of the default grace after a budget before a tick counts as wedged. */
export const MIN_GRACE_MS = 10_000;
export const MAX_GRACE_MS = 5 * 60_000;
/** A stop (SIGTERM) when no apply runs: the tick gets this long to unwind before the daemon exits anyway. */
export const STOP_DEADLINE_MS = 8_000;
/** While a tick runs, how often the daemon says what it is doing and waiting for (FLEETSPEC_STILL_RUNNING_EVERY). */
export const STILL_RUNNING_EVERY_MS = 60_000;
/** Default share of the tick budget that narratives may use in all (at most DEFAULT_LLM_BUDGET_MS). */
export const DEFAULT_LLM_BUDGET_MS = 120_000;

export interface Budgets {
  /** A tick, start to end, when it does not apply. */
  tickMs: number;
  /** An apply, from its start (the last safe point) to the end of the tick. */
  applyMs: number;
  /** After either budget, how long the daemon waits for the tick to unwind before calling it wedged. */
  graceMs: number;
}

/** The shortest gap, in ms, between consecutive due times of a cron schedule (over its next 24). */
export function scheduleGapMs(expression: string): number {
  const task = cron.createTask(expression, () => undefined);
  try {
    const runs = task.getNextRuns(24).map((d) => d.getTime());
    let gap = Infinity;
    for (let i = 1; i < runs.length; i++) gap = Math.min(gap, runs[i]! - runs[i - 1]!);
    return Number.isFinite(gap) ? gap : MAX_TICK_BUDGET_MS;
  } finally {
    void task.destroy();
  }
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/**
 * The budgets for a schedule, with overrides (ms). Defaults: the tick 80% of the schedule's shortest
 * gap (4 minutes for every 5 minutes; between 30 s and 30 minutes); the grace the rest of the gap (so a
 * wedge is called when the next tick is due; between 10 s and 5 minutes); the apply 30 minutes.
 */
export function budgetsFor(schedule: string, overrides: Partial<Budgets> = {}): Budgets {
  const gap = scheduleGapMs(schedule);
  const tickMs = overrides.tickMs ?? clamp(Math.round(gap * TICK_BUDGET_SHARE), MIN_TICK_BUDGET_MS, MAX_TICK_BUDGET_MS);
  const graceMs = overrides.graceMs ?? clamp(gap - tickMs, MIN_GRACE_MS, MAX_GRACE_MS);
  return { tickMs, applyMs: overrides.applyMs ?? DEFAULT_APPLY_BUDGET_MS, graceMs };
}

/** The narratives' budget for one tick: half the tick's, at most 2 minutes; `explicit` (ms) wins. */
export function llmBudgetMs(tickMs: number | undefined, explicit?: number): number {
  if (explicit !== undefined) return explicit;
  return tickMs === undefined ? DEFAULT_LLM_BUDGET_MS : Math.min(DEFAULT_LLM_BUDGET_MS, Math.round(tickMs / 2));
}

/** "90", "90s", "4m", "1.5h", "250ms": a duration in ms; undefined when not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms = n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
  return ms > 0 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** A duration as people read it in a log line: 850 ms, 4.2 s, 4 min, 1.5 h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;
  if (ms < 3_600_000) return `${Number((ms / 60_000).toFixed(1))} min`;
  return `${Number((ms / 3_600_000).toFixed(1))} h`;
}

interface Wait {
  what: string;
  since: number;
}

/**
 * One tick's watch: its phase, the calls it waits on, and its cancellation. `signal` aborts when a
 * stop is asked for or the budget is spent, but never while an apply runs: then the request waits
 * until the apply and its report are done (endApply), and the tick stops at its next safe point.
 */
export class TickWatch {
  readonly started: number;
  readonly budgetMs: number | undefined;
  private readonly controller = new AbortController();
  private readonly waits = new Map<number, Wait>();
  private nextWait = 0;
  private timer: NodeJS.Timeout | undefined;
  private pending: TickAbandoned | undefined;
  private applyStarted: number | undefined;
  private stepText = '';
  private stepAt = 0;
  private reporter: NodeJS.Timeout | undefined;
  phase = 'start';

  constructor(opts: { budgetMs?: number; stop?: AbortSignal } = {}) {
    this.started = Date.now();
    this.budgetMs = opts.budgetMs;
    if (opts.budgetMs !== undefined) {
      this.timer = setTimeout(() => this.request(new TickAbandoned(`the tick passed its budget of ${formatDuration(opts.budgetMs!)} ${this.doing()}`)), opts.budgetMs);
      this.timer.unref();
    }
    const stop = opts.stop;
    if (stop) {
      const onStop = () => this.request(new TickAbandoned(`stop requested ${this.doing()}`));
      if (stop.aborted) onStop();
      else stop.addEventListener('abort', onStop, { once: true });
    }
  }

  /** Aborted (reason: a TickAbandoned) when the tick must stop at its next safe point. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Since when an apply runs (ms epoch), or undefined. */
  get applying(): number | undefined {
    return this.applyStarted;
  }

  /** The last progress line: what the tick last started. */
  step(text: string): void {
    this.stepText = text;
    this.stepAt = Date.now();
  }

  /**
   * Calls `say` every `everyMs` until the watch is disposed, with how long the tick has run and what
   * it does (stillRunning): a tick that waits on a rate limit, a model pull or terraform says so.
   */
  report(everyMs: number, say: (line: string) => void): void {
    clearInterval(this.reporter);
    this.reporter = setInterval(() => say(this.stillRunning()), everyMs);
    this.reporter.unref();
  }

  /**
   * "still running after 2 min: in phase branches, waiting 1.9 min for GitHub listPulls; last:
   * GitHub rate limit: waiting 600s (…)": doing() and, when the tick noted something since its
   * longest wait began (a rate-limit wait, a pull's progress), that too.
   */
  stillRunning(now = Date.now()): string {
    const applying = this.applyStarted === undefined ? '' : ` (applying for ${formatDuration(now - this.applyStarted)})`;
    const oldest = Math.min(...[...this.waits.values()].map((w) => w.since));
    const last = Number.isFinite(oldest) && this.stepText && this.stepAt >= oldest ? `; last: ${this.stepText}` : '';
    return `still running after ${formatDuration(now - this.started)}${applying}: ${this.doing(now)}${last}`;
  }

  /** The last safe point before an apply has passed: from now on nothing cancels the tick until endApply. */
  startApply(): void {
    this.applyStarted = Date.now();
    clearTimeout(this.timer);
  }

  /** The apply and its report are done: a stop asked for meanwhile takes effect now. */
  endApply(): void {
    if (this.applyStarted === undefined) return;
    this.applyStarted = undefined;
    if (this.pending && !this.signal.aborted) this.controller.abort(this.pending);
  }

  /**
   * Runs `call` as a named wait. Outside an apply it is a safe point: it does not start once the
   * tick must stop, and it is given up (TickAbandoned) as soon as that happens, whether or not the
   * call itself heeds the signal; the caller's own signal handling ends the call itself.
   */
  async wait<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.applyStarted === undefined && this.signal.aborted) throw this.signal.reason as TickAbandoned;
    const id = this.nextWait++;
    this.waits.set(id, { what, since: Date.now() });
    try {
      if (this.applyStarted !== undefined) return await call();
      const running = Promise.resolve(call());
      let onAbort: (() => void) | undefined;
      const abandoned = new Promise<never>((_, reject) => {
        onAbort = () => reject(this.signal.reason as TickAbandoned);
        this.signal.addEventListener('abort', onAbort, { once: true });
      });
      running.catch(() => undefined); // given up calls end on their own; their failure is no longer anyone's
      try {
        return await Promise.race([running, abandoned]);
      } finally {
        this.signal.removeEventListener('abort', onAbort!);
      }
    } finally {
      this.waits.delete(id);
    }
  }

  /** Where the tick is: its phase, the calls it has waited on longest (or its last step), for log lines and the ledger. */
  doing(now = Date.now()): string {
    const waits = [...this.waits.values()].sort((a, b) => a.since - b.since);
    const where = `in phase ${this.phase}`;
    if (waits.length) {
      const first = waits[0]!;
      const others = waits.length > 1 ? ` (and ${waits.length - 1} more call${waits.length === 2 ? '' : 's'})` : '';
      return `${where}, waiting ${formatDuration(now - first.since)} for ${first.what}${others}`;
    }
    return this.stepText ? `${where}, after: ${this.stepText}` : where;
  }

  /**
   * The tick must stop at its next safe point for `why` (the leader lock was lost): like a stop, it
   * never cuts an apply short, which ends first.
   */
  abandon(why: string): void {
    this.request(new TickAbandoned(`${why} ${this.doing()}`));
  }

  /** Ends the watch's timers (the tick is over). */
  dispose(): void {
    clearTimeout(this.timer);
    clearInterval(this.reporter);
  }

  private request(reason: TickAbandoned): void {
    if (this.pending) return;
    this.pending = reason;
    clearTimeout(this.timer);
    if (this.applyStarted === undefined) this.controller.abort(reason);
  }
}

/**
 * `target` with each of its methods named in `methods` (all when absent) run as a named wait of
 * `watch` ("GitHub upsertComment"); other properties read and written through. The methods run on
 * the target itself, so the calls they make to each other are not waits of their own.
 */
export function watched<T extends object>(target: T, watch: TickWatch, label: string, methods?: readonly string[]): T {
  const only = methods ? new Set(methods) : undefined;
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver) as unknown;
      if (typeof value !== 'function' || typeof key !== 'string' || key === 'constructor' || (only && !only.has(key))) return value;
      return (...args: unknown[]) => watch.wait(`${label} ${key}`, () => (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args));
    },
  });
}
