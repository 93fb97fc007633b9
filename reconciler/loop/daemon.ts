// `fleetspec daemon`: ticks on a node-cron schedule, never two at once, one log line per tick.
// A failing tick is logged and the next one runs as usual. Each tick has a budget (loop/watchdog.ts):
// past it the tick is abandoned at its next safe point and recorded FAILED with what it waited for,
// so the next due time finds the daemon free. An apply is never cut short; it has a longer budget.
// A tick still running past its budget and a grace is wedged (a call that heeds no cancellation, a
// database that stopped answering): the daemon logs it and calls onWedge, which for the command is
// exit 3 so that systemd (Restart=on-failure) starts a fresh process. Continuing to schedule in the
// same process is no option: the wedged tick still holds the checkout folder, its connections and
// perhaps the leader lock, and a second tick beside it would race it. A stop (SIGTERM) ends the
// schedule and abandons a tick that is not applying at once (the daemon gives it STOP_DEADLINE_MS
// to unwind, then stops waiting); a tick that is applying finishes, within its apply budget.
// A poke (a GitHub webhook delivery) asks for a tick soon; pokes coalesce: those made before a tick
// starts are answered by it, those made while it runs by one more tick after it.
import { redactUrl } from '../redact.js';
import cron from 'node-cron';
import { logLine } from '../escape.js';
import { LockHeld } from '../state/lock.js';
import type { RunTrigger } from '../state/ledger.js';
import type { TickReport } from './tick.js';
import { budgetsFor, formatDuration, STILL_RUNNING_EVERY_MS, STOP_DEADLINE_MS, TickWatch, type Budgets } from './watchdog.js';

export { DEFAULT_SCHEDULE } from './schedule.js';

export interface TickLog {
  time: string;
  level: 'info' | 'error';
  run?: number;
  state?: string;
  durationMs: number;
  /** Due times of the schedule that passed while this tick ran (they start no tick of their own). */
  skipped?: number;
  message: string;
  /** Why this tick ran before its due time: the poke(s) that asked for it. */
  poked?: string;
  report?: Omit<TickReport, 'durationMs'>;
}

/** What asked for a tick out of schedule; `trigger` is what the ledger records for its run. */
export interface Poke {
  reason: string;
  trigger?: RunTrigger;
}

/** How long a poke waits before its tick starts, so that a burst of deliveries makes one tick. */
export const POKE_DELAY_MS = 250;

export interface DaemonOptions {
  schedule: string;
  /** One tick; rejects when the tick failed (the error may carry a `report`). `signal` is `watch.signal`; `poke` when one asked for it. */
  tick(signal: AbortSignal, watch: TickWatch, poke?: Poke): Promise<TickReport>;
  log(entry: TickLog): void;
  /** Run a tick at start instead of waiting for the first scheduled time. */
  immediately?: boolean;
  /** Overrides of the budgets the schedule implies (watchdog.ts budgetsFor). */
  budgets?: Partial<Budgets>;
  /** How long a stop waits for a tick that is not applying; default STOP_DEADLINE_MS. */
  stopDeadlineMs?: number;
  /** A tick is wedged (logged already): the command exits so that systemd restarts it. Nothing else is scheduled meanwhile. */
  onWedge?(message: string): void;
  /**
   * Told every `stillRunningEveryMs` while a tick runs, what it does and waits for ("still running
   * after 2 min (applying for 1.5 min): in phase main, after: terraform apply dns"). Not a tick line:
   * the log keeps one line per tick.
   */
  note?(message: string): void;
  /** How often `note` hears of a running tick; default STILL_RUNNING_EVERY_MS (a minute). */
  stillRunningEveryMs?: number;
}

/** How a stop ended: the tick (if any) finished; the daemon stopped waiting for it; or it wedged. */
export type StopOutcome = 'stopped' | 'gave-up' | 'wedged';

export interface Daemon {
  /** Stops scheduling; resolves once a tick in progress has finished or abandoned its work, or could not be waited for. */
  stop(): Promise<StopOutcome>;
  /** Resolves when the daemon has stopped. */
  readonly stopped: Promise<void>;
  ticks(): number;
  readonly budgets: Budgets;
  /** The running tick's watch, if a tick runs. */
  current(): TickWatch | undefined;
  /**
   * Asks for a tick within POKE_DELAY_MS, or right after the running one. `queued`: this poke's
   * tick is due; `coalesced`: a tick already due answers it too; `stopped`: no tick will run.
   */
  poke(poke: Poke): 'queued' | 'coalesced' | 'stopped';
}

/** A cron expression node-cron accepts, or the reason it does not. */
export function scheduleProblem(expression: string): string | undefined {
  const checked = cron.validateDetailed(expression);
  return checked.valid ? undefined : checked.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'not a cron expression';
}

export function startDaemon(opts: DaemonOptions): Daemon {
  const budgets = budgetsFor(opts.schedule, opts.budgets);
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  let watch: TickWatch | undefined;
  let count = 0;
  /** Due times skipped while the running tick ran: told on that tick's own line, not one line each. */
  let skipped = 0;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let wedged = false;
  let onWedged: (() => void) | undefined;
  const wedge = new Promise<void>((r) => (onWedged = r));
  /** A poke no tick has started for yet (later ones counted in `more`), and the timer that starts it. */
  let poked: (Poke & { more: number }) | undefined;
  let pokeTimer: NodeJS.Timeout | undefined;

  const once = async (poke?: Poke & { more: number }): Promise<void> => {
    if (abort.signal.aborted || wedged) return;
    const started = Date.now();
    count++;
    skipped = 0;
    const current = new TickWatch({ budgetMs: budgets.tickMs, stop: abort.signal });
    watch = current;
    const note = opts.note;
    if (note) current.report(opts.stillRunningEveryMs ?? STILL_RUNNING_EVERY_MS, note);
    const check = setInterval(() => checkWedge(current), Math.max(20, Math.min(1000, budgets.graceMs / 4)));
    check.unref();
    const pokedField = poke ? { poked: `${poke.reason}${poke.more ? ` and ${poke.more} more` : ''}` } : {};
    try {
      const report = await opts.tick(current.signal, current, poke && { reason: poke.reason, ...(poke.trigger ? { trigger: poke.trigger } : {}) });
      const { durationMs, ...rest } = report;
      opts.log({ time: new Date().toISOString(), level: report.state === 'FAILED' ? 'error' : 'info', run: report.run, state: report.state, durationMs, ...skippedField(), message: report.reason, ...pokedField, report: rest });
    } catch (err) {
      if (err instanceof LockHeld) {
        // Another reconciler has the repository: this one is the standby, as meant, not failing.
        opts.log({ time: new Date().toISOString(), level: 'info', durationMs: Date.now() - started, ...skippedField(), message: `standby: ${redactUrl(err.message)}`, ...pokedField });
        return;
      }
      const report = (err as { report?: TickReport }).report;
      opts.log({
        time: new Date().toISOString(),
        level: 'error',
        ...(report ? { run: report.run, state: report.state } : {}),
        durationMs: Date.now() - started,
        ...skippedField(),
        message: `tick failed: ${redactUrl(err instanceof Error ? err.message : String(err))}`,
        ...pokedField,
      });
    } finally {
      clearInterval(check);
      current.dispose();
      if (watch === current) watch = undefined;
    }
  };
  /** Past its budget (the apply's while one runs) and the grace: logged once, and the owner told. */
  const checkWedge = (current: TickWatch) => {
    if (wedged) return;
    const now = Date.now();
    const applying = current.applying;
    const budget = applying === undefined ? budgets.tickMs : budgets.applyMs;
    const since = applying ?? current.started;
    if (now < since + budget + budgets.graceMs) return;
    wedged = true;
    const what = applying === undefined ? 'tick' : 'apply';
    const message = `tick wedged: its ${what} has run ${formatDuration(now - since)}, past its budget of ${formatDuration(budget)} and a grace of ${formatDuration(budgets.graceMs)}, ${current.doing(now)}; no further tick can start in this process`;
    opts.log({ time: new Date().toISOString(), level: 'error', durationMs: now - current.started, message });
    void task.stop();
    onWedged?.();
    opts.onWedge?.(message);
  };
  const skippedField = () => (skipped > 0 ? { skipped } : {});
  const guarded = () => {
    // noOverlap in node-cron skips a due time while a tick runs; this guard covers the start-up tick too.
    if (running) {
      skipped++;
      return;
    }
    return start();
  };
  /** Starts a tick; it answers the poke made before it, if any. */
  const start = () => {
    clearTimeout(pokeTimer);
    pokeTimer = undefined;
    const poke = poked;
    poked = undefined;
    running = once(poke).finally(() => {
      running = undefined;
      // Pokes made while it ran: one more tick.
      if (poked && !abort.signal.aborted && !wedged) pokeTimer = setTimeout(startPoked, POKE_DELAY_MS);
    });
    return running;
  };
  const startPoked = () => {
    pokeTimer = undefined;
    // A scheduled tick that started meanwhile answered the poke, or runs and will start its tick after it.
    if (poked && !running && !abort.signal.aborted && !wedged) void start();
  };
  // node-cron's own logger writes coloured lines to the console. A due time skipped while a tick
  // runs is expected (ticks never overlap): it is counted on that tick's line, not logged each time.
  // Its other warnings (a missed execution: the process was busy) become plain log lines.
  const plain = (message: string) =>
    /missed execution/i.test(message) ? `a due time was missed: the process was busy (${message.replace(/^missed execution at (.*?)!.*$/s, '$1')})` : message;
  const say = (level: TickLog['level']) => (message: string, err?: unknown) => {
    if (/still running/i.test(String(message))) {
      skipped++;
      return;
    }
    opts.log({ time: new Date().toISOString(), level, durationMs: 0, message: `scheduler: ${plain(String(message))}${err instanceof Error ? `: ${redactUrl(err.message)}` : ''}` });
  };
  const logger = { info: () => {}, debug: () => {}, warn: say('info'), error: say('error') };
  const task = cron.schedule(opts.schedule, guarded, { noOverlap: true, name: 'fleetspec-tick', logger });
  if (opts.immediately) void guarded();

  return {
    stopped,
    budgets,
    ticks: () => count,
    current: () => watch,
    poke(poke) {
      if (abort.signal.aborted || wedged) return 'stopped';
      if (poked) {
        poked.more++;
        return 'coalesced';
      }
      poked = { ...poke, more: 0 };
      if (!running && !pokeTimer) pokeTimer = setTimeout(startPoked, POKE_DELAY_MS);
      return 'queued';
    },
    async stop() {
      abort.abort();
      clearTimeout(pokeTimer);
      await task.stop();
      await task.destroy();
      const outcome = await untilTickEnds();
      resolveStopped();
      return outcome;
    },
  };

  /** The running tick's end; when it is not applying, STOP_DEADLINE_MS at most. */
  async function untilTickEnds(): Promise<StopOutcome> {
    const tick = running;
    if (!tick) return wedged ? 'wedged' : 'stopped';
    const deadlineMs = opts.stopDeadlineMs ?? STOP_DEADLINE_MS;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave-up'>((resolve) => {
      const look = () => {
        // A tick that applies gets its apply budget (the wedge check bounds it), never the stop deadline.
        if (watch?.applying === undefined) resolve('gave-up');
        else timer = setTimeout(look, 250);
      };
      timer = setTimeout(look, deadlineMs);
    });
    try {
      const outcome = await Promise.race([tick.then(() => 'stopped' as const), gaveUp, wedge.then(() => 'wedged' as const)]);
      if (outcome === 'gave-up') {
        const current = watch;
        opts.log({ time: new Date().toISOString(), level: 'error', durationMs: current ? Date.now() - current.started : 0, message: `stop: the tick did not end within ${formatDuration(deadlineMs)} of the stop${current ? `, ${current.doing()}` : ''}; not waiting for it any longer (the next start records its run FAILED)` });
      }
      return outcome;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * One line per tick for people. A file log needs a timestamp; on systemd's journal (`timestamp`
 * false) the line has none, since journald stamps each line itself.
 */
export function formatTickLog(e: TickLog, opts: { timestamp?: boolean } = {}): string {
  const head = `${opts.timestamp === false ? '' : `${e.time} `}${e.level === 'error' ? 'ERROR ' : ''}${e.run !== undefined ? `run ${e.run} ${e.state}` : 'tick'} in ${(e.durationMs / 1000).toFixed(1)} s`;
  return `${head}: ${logLine(e.message)}${e.poked ? ` (asked for by ${logLine(e.poked)})` : ''}`;
}
