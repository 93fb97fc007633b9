// daemon.poke, the trigger the webhook endpoint uses, on the real scheduler with a schedule that is
// never due in the test: pokes before a tick starts are answered by it, pokes while it runs by
// exactly one more tick, and a stopped daemon takes none.
import { describe, expect, it } from 'vitest';
import { POKE_DELAY_MS, startDaemon, type TickLog } from '../../reconciler/loop/daemon.js';
import type { TickReport } from '../../reconciler/loop/tick.js';

const ONCE_A_YEAR = '0 3 1 1 *';
const report = (run: number): TickReport => ({ run, state: 'DONE', reason: 'ok', recovered: { runs: [], applies: [] }, branches: [], commands: [], main: [], drift: [], pulled: [], findings: [], waiting: 0, errors: [], durationMs: 1 });

/** Waits until `check` holds; after `ms` fails saying what it waited for. */
const waitUntil = async (what: string, check: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !check(); ) {
    if (Date.now() > end) throw new Error(`waited ${ms / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('daemon.poke', () => {
  it('coalesces: a burst before the tick makes one tick, pokes while it runs one more, then none', async () => {
    const logs: TickLog[] = [];
    const triggers: (string | undefined)[] = [];
    let release!: () => void;
    let n = 0;
    const daemon = startDaemon({
      schedule: ONCE_A_YEAR,
      tick: async (_signal, _watch, poke) => {
        n++;
        triggers.push(poke?.trigger);
        if (n === 1) await new Promise<void>((r) => (release = r));
        return report(n);
      },
      log: (e) => void logs.push(e),
    });
    try {
      expect(daemon.poke({ reason: 'webhook push a', trigger: 'push' })).toBe('queued');
      for (let i = 0; i < 9; i++) expect(daemon.poke({ reason: `webhook push b${i}`, trigger: 'push' })).toBe('coalesced');
      await waitUntil('the first tick to start', () => n === 1, POKE_DELAY_MS + 5_000);
      // While it runs: the first poke queues a tick after it, the rest join that one.
      expect(daemon.poke({ reason: 'webhook issues c', trigger: 'manual' })).toBe('queued');
      for (let i = 0; i < 20; i++) expect(daemon.poke({ reason: `webhook issues d${i}` })).toBe('coalesced');
      await new Promise((r) => setTimeout(r, POKE_DELAY_MS * 2));
      expect(n, 'no second tick while the first runs').toBe(1);
      release();
      await waitUntil('the tick after it', () => logs.length === 2);
      await new Promise((r) => setTimeout(r, POKE_DELAY_MS * 3));
      expect(logs.map((l) => l.poked)).toEqual(['webhook push a and 9 more', 'webhook issues c and 20 more']);
      expect(triggers).toEqual(['push', 'manual']);
      expect(daemon.ticks()).toBe(2);
    } finally {
      await daemon.stop();
    }
    expect(daemon.poke({ reason: 'late' })).toBe('stopped');
    await new Promise((r) => setTimeout(r, POKE_DELAY_MS * 2));
    expect(daemon.ticks()).toBe(2);
  }, 30_000);
});
