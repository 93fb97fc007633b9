// The daemon's scheduling on real node-cron: one tick at a time, a failing tick logged and the
// next one run, and a stop that waits for the tick in progress and tells it to stop early.
import { describe, expect, it } from 'vitest';
import { formatTickLog, scheduleProblem, startDaemon, type TickLog } from '../../reconciler/loop/daemon.js';
import type { TickReport } from '../../reconciler/loop/tick.js';

const EVERY_SECOND = '* * * * * *';
const report = (run: number, state: TickReport['state'] = 'DONE'): TickReport => ({
  run,
  state,
  reason: '0 branches planned',
  recovered: { runs: [], applies: [] },
  branches: [],
  commands: [],
  main: [],
  drift: [],
  pulled: [],
  findings: [],
  waiting: 0,
  errors: [],
  durationMs: 5,
});
const until = async (check: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
};

describe('fleetspec daemon scheduling', () => {
  it('logs a failing tick as an error and runs the next one', async () => {
    const logs: TickLog[] = [];
    let n = 0;
    const daemon = startDaemon({
      schedule: EVERY_SECOND,
      immediately: true,
      tick: async () => {
        n++;
        if (n === 1) throw Object.assign(new Error('GitHub answered 502'), { report: report(1, 'FAILED') });
        return report(n);
      },
      log: (e) => void logs.push(e),
    });
    await until(() => logs.length >= 2);
    await daemon.stop();
    expect(logs[0]).toMatchObject({ level: 'error', run: 1, state: 'FAILED', message: 'tick failed: GitHub answered 502' });
    expect(logs[1]).toMatchObject({ level: 'info', run: 2, state: 'DONE', message: '0 branches planned' });
    expect(formatTickLog(logs[1]!)).toMatch(/^\S+ run 2 DONE in 0\.0 s: 0 branches planned$/);
  });

  it('never runs two ticks at once, and a stop waits for the tick in progress after telling it to stop', async () => {
    const logs: TickLog[] = [];
    let running = 0;
    let overlapped = false;
    let sawAbort = false;
    let release!: () => void;
    const daemon = startDaemon({
      schedule: EVERY_SECOND,
      immediately: true,
      tick: async (signal) => {
        running++;
        overlapped ||= running > 1;
        // Longer than the schedule: the due times in between are skipped, not stacked.
        await new Promise<void>((r) => {
          release = r;
          signal.addEventListener('abort', () => ((sawAbort = true), setTimeout(r, 200)));
        });
        running--;
        return report(1);
      },
      log: (e) => void logs.push(e),
    });
    await new Promise((r) => setTimeout(r, 2200));
    const ticksBefore = daemon.ticks();
    let stopped = false;
    const stopping = daemon.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false); // the tick is still finishing
    await stopping;
    expect(sawAbort).toBe(true);
    expect(overlapped).toBe(false);
    expect(ticksBefore).toBe(1);
    // One line for the tick; the due times that passed while it ran are counted on it, not logged each.
    expect(logs).toHaveLength(1);
    expect(logs[0]!.skipped).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 1200));
    expect(daemon.ticks()).toBe(1);
    release();
  });

  it('checks the schedule expression', () => {
    expect(scheduleProblem('*/5 * * * *')).toBeUndefined();
    expect(scheduleProblem('every five minutes')).toMatch(/.+/);
    expect(scheduleProblem('61 * * * *')).toMatch(/minute|61/i);
  });
});
