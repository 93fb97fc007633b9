// `fleetspec daemon`: ticks on a node-cron schedule, never two at once, one log line per tick.
// A failing tick is logged and the next one runs as usual. A stop (SIGTERM from systemd) ends the
// schedule, lets a tick that is applying finish, and abandons one that has not started applying.
import { redactUrl } from '../redact.js';
import cron from 'node-cron';
import { logLine } from '../escape.js';
import type { TickReport } from './tick.js';

export const DEFAULT_SCHEDULE = '*/5 * * * *';

export interface TickLog {
  time: string;
  level: 'info' | 'error';
  run?: number;
  state?: string;
  durationMs: number;
  message: string;
  report?: Omit<TickReport, 'durationMs'>;
}

export interface DaemonOptions {
  schedule: string;
  /** One tick; rejects when the tick failed (the error may carry a `report`). */
  tick(signal: AbortSignal): Promise<TickReport>;
  log(entry: TickLog): void;
  /** Run a tick at start instead of waiting for the first scheduled time. */
  immediately?: boolean;
}

export interface Daemon {
  /** Stops scheduling; resolves once a tick in progress has finished or abandoned its work. */
  stop(): Promise<void>;
  /** Resolves when the daemon has stopped. */
  readonly stopped: Promise<void>;
  ticks(): number;
}

/** A cron expression node-cron accepts, or the reason it does not. */
export function scheduleProblem(expression: string): string | undefined {
  const checked = cron.validateDetailed(expression);
  return checked.valid ? undefined : checked.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'not a cron expression';
}

export function startDaemon(opts: DaemonOptions): Daemon {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  let count = 0;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const once = async (): Promise<void> => {
    if (abort.signal.aborted) return;
    const started = Date.now();
    count++;
    try {
      const report = await opts.tick(abort.signal);
      const { durationMs, ...rest } = report;
      opts.log({ time: new Date().toISOString(), level: report.state === 'FAILED' ? 'error' : 'info', run: report.run, state: report.state, durationMs, message: report.reason, report: rest });
    } catch (err) {
      const report = (err as { report?: TickReport }).report;
      opts.log({
        time: new Date().toISOString(),
        level: 'error',
        ...(report ? { run: report.run, state: report.state } : {}),
        durationMs: Date.now() - started,
        message: `tick failed: ${redactUrl(err instanceof Error ? err.message : String(err))}`,
      });
    }
  };
  const guarded = () => {
    // noOverlap in node-cron skips a due time while a tick runs; this guard covers the start-up tick too.
    if (running) return;
    running = once().finally(() => (running = undefined));
    return running;
  };
  const task = cron.schedule(opts.schedule, guarded, { noOverlap: true, name: 'fleetspec-tick' });
  if (opts.immediately) void guarded();

  return {
    stopped,
    ticks: () => count,
    async stop() {
      abort.abort();
      await task.stop();
      await task.destroy();
      await running;
      resolveStopped();
    },
  };
}

/** One line per tick for people (journald adds its own timestamp, but a file log needs one). */
export function formatTickLog(e: TickLog): string {
  const head = `${e.time} ${e.level === 'error' ? 'ERROR ' : ''}${e.run !== undefined ? `run ${e.run} ${e.state}` : 'tick'} in ${(e.durationMs / 1000).toFixed(1)} s`;
  return `${head}: ${logLine(e.message)}`;
}
