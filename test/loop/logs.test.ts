// The daemon's log lines on their own: telling that a stream is systemd's journal (JOURNAL_STREAM
// against fstat), the priority prefixes journald reads, tick lines without a timestamp there, and
// the lines a running tick gives every interval saying what it does and waits for. The built
// daemon on a journal stream: test/faults/daemon-journal.test.ts.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isJournalStream, journalText, parseJournalLine } from '../../reconciler/journal.js';
import { formatTickLog, startDaemon, type TickLog } from '../../reconciler/loop/daemon.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import { TickWatch } from '../../reconciler/loop/watchdog.js';
import { until } from '../faults/wait.js';

describe('the journal stream', () => {
  let dir: string;
  let fd: number;
  let other: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-journal-'));
    fd = openSync(join(dir, 'stream'), 'w');
    other = openSync(join(dir, 'other'), 'w');
  });
  afterAll(async () => {
    closeSync(fd);
    closeSync(other);
    await rm(dir, { recursive: true, force: true });
  });

  it('is the descriptor whose device and inode JOURNAL_STREAM names, and no other', () => {
    const st = fstatSync(fd, { bigint: true });
    const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
    expect(isJournalStream(fd, env)).toBe(true);
    expect(isJournalStream(other, env)).toBe(false);
    expect(isJournalStream(fd, {})).toBe(false);
    expect(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` })).toBe(false);
    expect(isJournalStream(fd, { JOURNAL_STREAM: 'journal' })).toBe(false);
    // A closed descriptor is no journal, and no error.
    expect(isJournalStream(987_654, env)).toBe(false);
  });

  it('lines carry sd-daemon(3) priorities, each line of a text its own', () => {
    expect(journalText('tick failed', 'err')).toBe('<3>tick failed');
    expect(journalText('GitHub rate limit: waiting 60s', 'warning')).toBe('<4>GitHub rate limit: waiting 60s');
    expect(journalText('standby', 'notice')).toBe('<5>standby');
    expect(journalText('run 3 DONE')).toBe('<6>run 3 DONE');
    expect(journalText('{\n  "run": 3\n}', 'err')).toBe('<3>{\n<3>  "run": 3\n<3>}');
    expect(parseJournalLine('<3>ERROR run 4 FAILED')).toEqual({ priority: 3, text: 'ERROR run 4 FAILED' });
    expect(parseJournalLine('run 4')).toBeUndefined();
  });

  it('a tick line for the journal has no timestamp; for a file it has one', () => {
    const line: TickLog = { time: '2026-12-03T07:02:21.947Z', level: 'error', run: 4, state: 'FAILED', durationMs: 6000, message: 'tick failed: the tick passed its budget' };
    expect(formatTickLog(line)).toBe('2026-12-03T07:02:21.947Z ERROR run 4 FAILED in 6.0 s: tick failed: the tick passed its budget');
    expect(formatTickLog(line, { timestamp: false })).toBe('ERROR run 4 FAILED in 6.0 s: tick failed: the tick passed its budget');
  });
});

describe('a running tick says what it does', () => {
  it('its waits, what it noted since the longest began, and an apply in progress', async () => {
    const watch = new TickWatch();
    watch.phase = 'fetch';
    let release!: () => void;
    const held = watch.wait('GitHub defaultBranch', () => new Promise<void>((r) => (release = r)));
    const now = Date.now();
    expect(watch.stillRunning(now + 120_000)).toMatch(/^still running after 2 min: in phase fetch, waiting 2 min for GitHub defaultBranch$/);
    // A note after the wait began (the GitHub client's rate-limit line) is said too.
    watch.step('GitHub rate limit: waiting 600s (GET /repos/acme/fleet)');
    expect(watch.stillRunning(now + 120_000)).toMatch(/, waiting 2 min for GitHub defaultBranch; last: GitHub rate limit: waiting 600s \(GET \/repos\/acme\/fleet\)$/);
    release();
    await held;
    watch.phase = 'main';
    watch.startApply();
    watch.step('dns/zones: Still creating... [10m0s elapsed]');
    expect(watch.stillRunning(Date.now() + 60_000)).toMatch(/^still running after 1 min \(applying for 1 min\): in phase main, after: dns\/zones: Still creating\.\.\. \[10m0s elapsed\]$/);
    watch.endApply();
    watch.dispose();
  });

  it('the daemon tells its note every interval while a tick runs, and stops when it ends', async () => {
    const notes: string[] = [];
    const logs: TickLog[] = [];
    let release!: () => void;
    const done: TickReport = { run: 1, state: 'DONE', reason: 'ok', recovered: { runs: [], applies: [] }, branches: [], commands: [], main: [], drift: [], pulled: [], findings: [], waiting: 0, errors: [], durationMs: 1 };
    const daemon = startDaemon({
      schedule: '0 0 1 1 *',
      immediately: true,
      stillRunningEveryMs: 100,
      note: (m) => notes.push(m),
      log: (e) => logs.push(e),
      tick: async (_signal, watch) => {
        watch.phase = 'branches';
        await watch.wait('the LLM (m) for a narrative', () => new Promise<void>((r) => (release = r)));
        return done;
      },
    });
    await until('three still-running notes', () => notes.length >= 3, 10_000);
    for (const n of notes) expect(n).toMatch(/^still running after [\d.]+ m?s: in phase branches, waiting [\d.]+ m?s for the LLM \(m\) for a narrative$/);
    // The log itself keeps one line per tick: notes are not tick lines.
    expect(logs).toEqual([]);
    release();
    await until('the tick line', () => logs.length === 1, 10_000);
    const after = notes.length;
    await new Promise((r) => setTimeout(r, 350));
    expect(notes.length).toBe(after);
    await daemon.stop();
  });
});
