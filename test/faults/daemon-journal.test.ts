// The real `fleetspec daemon` (built CLI, a child process) writing to what systemd would make its
// journal stream: stdout and stderr one pipe, JOURNAL_STREAM naming that pipe's device and inode
// (children.ts, journal option). Its lines then carry syslog priority prefixes (<6> info, <3>
// errors, as sd-daemon(3)), which journald turns into PRIORITY, and no timestamp of their own;
// without the journal they are as before. A tick held by a stalled peer (the GitHub stand-in)
// says what it waits for at every interval (FLEETSPEC_STILL_RUNNING_EVERY, a minute by default).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fleetRepoFiles } from '../../bench/fleet.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { startLlmServer, type LlmTestServer } from '../llm/server.js';
import { fleetspec as run, killLeftovers, terminate, type Fleetspec, type JournalLine, standInEnv } from './children.js';
import { until, within } from './wait.js';

const TOKEN = 'ghp_faultsJournal00000000000000000000000';
const MODEL = 'fleetspec-test';
/** Every 5 seconds (node-cron's seconds field). */
const FAST = '*/5 * * * * *';
/** Never due within a test: the daemon ticks once, at start (--immediately). */
const YEARLY = '0 0 1 1 *';
const INFO = 6;
const ERR = 3;
/** An ISO timestamp at the start of a line: what the daemon writes for a file log, never for the journal. */
const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;
const STILL_RUNNING = /^fleetspec daemon: still running after [\d.]+ m?s: in phase [\w ]+, waiting [\d.]+ m?s for GitHub \w+/;

describe('daemon logs on the journal', () => {
  let dir: string;
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let llm: LlmTestServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-faults-journal-'));
    const files = await fleetRepoFiles(join(dir, 'seed'), 6);
    gitServer = await startGitServer({ token: TOKEN });
    await gitServer.createBare('fleet', files);
    gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', token: TOKEN, resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', `refs/heads/${b}`) });
    llm = await startLlmServer({ mode: 'good', models: [MODEL] });
  });

  afterEach(async () => {
    await killLeftovers();
  });

  afterAll(async () => {
    await Promise.all([gitServer?.close(), gh?.close(), llm?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const fleetspec = (args: string[], extra: Record<string, string>, journal: boolean): Fleetspec =>
    run(
      [...args, '--finding-tickets', 'none'],
      { ...standInEnv(dir, { token: TOKEN, githubUrl: gh.url, gitUrl: gitServer.url('fleet'), llmBaseUrl: llm.baseUrl, model: MODEL }), ...extra },
      dir,
      { journal },
    );
  const daemon = (schedule: string, format: 'text' | 'json', extra: Record<string, string>, journal: boolean) =>
    fleetspec(['daemon', '--schedule', schedule, '--immediately', '--log-format', format], extra, journal);
  /** The journal's lines that match, once there are `n`; fails naming what it waited for, at once if the daemon exits. */
  const journalLines = async (f: Fleetspec, what: string, match: (l: JournalLine) => boolean, n: number, budgetMs: number): Promise<JournalLine[]> => {
    const exited = f.exited.then((e) => Promise.reject(new Error(`the daemon exited (${e.code ?? e.signal}) while waiting for ${what}: ${f.output().slice(-3000)}`)));
    exited.catch(() => {});
    await within(what, Promise.race([until(what, () => f.lines.filter(match).length >= n, budgetMs + 1_000), exited]), budgetMs).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; lines so far: ${f.lines.map((l) => `<${l.priority ?? '-'}>${l.text}`).join(' | ').slice(-3000)}`);
    });
    return f.lines.filter(match);
  };
  const show = (lines: JournalLine[]) => lines.map((l) => `<${l.priority ?? '-'}>${l.text}`).join('\n');

  it('JSON lines on the journal: each tick line has its priority prefix and stays one JSON object (with its time)', async () => {
    const d = daemon(YEARLY, 'json', {}, true);
    const [first] = await journalLines(d, 'the first tick line (clone, baseline)', (l) => l.text.startsWith('{"time"'), 1, 120_000);
    expect(first!.priority).toBe(INFO);
    expect(JSON.parse(first!.text)).toMatchObject({ level: 'info', state: 'DONE', time: expect.stringMatching(STAMPED) });
    const { exit } = await terminate(d);
    expect(exit.code).toBe(0);
    console.log(`journal, JSON:\n${show(d.lines)}`);
    // Every line, stderr's too, carries a priority; nothing else is on the pipe.
    expect(d.lines.length).toBeGreaterThanOrEqual(3);
    for (const l of d.lines) expect(l.priority, l.text).toBe(INFO);
    expect(d.lines.map((l) => l.text)).toEqual(expect.arrayContaining([expect.stringMatching(/^fleetspec daemon: reconciling acme\/fleet /), expect.stringMatching(/^fleetspec daemon: stopped after 1 tick$/)]));
  }, 180_000);

  it('text lines on the journal: <6> and no timestamp; a tick held by a stalled peer says so every interval; its failure is <3>', async () => {
    // Ticks every 5 s with a budget of 6 s; the tick says what it does every second.
    const d = daemon(FAST, 'text', { FLEETSPEC_TICK_BUDGET: '6s', FLEETSPEC_STILL_RUNNING_EVERY: '1s' }, true);
    const tickLine = (l: JournalLine) => /^(ERROR )?(run \d+ \w+|tick) in [\d.]+ s: /.test(l.text);
    await journalLines(d, 'a first tick line', tickLine, 1, 120_000);
    // A tick waits 3.5 s for GitHub, then goes on.
    const before = d.lines.length;
    gh.stallNext(1, 3_500);
    const waiting = await journalLines(d, 'two still-running lines of the held tick', (l) => d.lines.indexOf(l) >= before && STILL_RUNNING.test(l.text), 2, 60_000);
    for (const l of waiting) expect(l.priority).toBe(INFO);
    const done = await journalLines(d, 'the held tick done', (l) => d.lines.indexOf(l) > d.lines.indexOf(waiting[1]!) && tickLine(l), 1, 60_000);
    expect(done[0]).toMatchObject({ priority: INFO, text: expect.stringMatching(/^run \d+ DONE in [\d.]+ s: /) });
    // A tick held past its budget fails: an error line, which `journalctl -p err` shows.
    const from = d.lines.length;
    gh.stallNext(1, 60_000);
    const [failed] = await journalLines(d, 'the tick held past its budget', (l) => d.lines.indexOf(l) >= from && l.text.startsWith('ERROR run '), 1, 60_000);
    expect(failed).toMatchObject({ priority: ERR, text: expect.stringMatching(/^ERROR run \d+ FAILED in [\d.]+ s: tick failed: the tick passed its budget of 6 s in phase [\w ]+, waiting [\d.]+ m?s for GitHub \w+/) });
    const heldLines = d.lines.slice(from, d.lines.indexOf(failed!)).filter((l) => STILL_RUNNING.test(l.text));
    expect(heldLines.length).toBeGreaterThanOrEqual(4);
    const { exit } = await terminate(d);
    expect(exit.code).toBe(0);
    console.log(`journal, text:\n${show(d.lines)}`);
    for (const l of d.lines) {
      expect(l.text).not.toMatch(STAMPED);
      expect(l.priority, l.text).toBe(l.text.startsWith('ERROR ') ? ERR : INFO);
    }
  }, 240_000);

  it('not on the journal (JOURNAL_STREAM unset, or naming another stream): lines as before, timestamped, no prefix', async () => {
    for (const journalStream of [undefined, '1:2']) {
      const d = daemon(YEARLY, 'text', { FLEETSPEC_STILL_RUNNING_EVERY: '1s', ...(journalStream ? { JOURNAL_STREAM: journalStream } : {}) }, false);
      gh.stallNext(1, 2_500);
      await until('the tick line', () => /run \d+ \w+ in [\d.]+ s: /.test(d.stdout()), 120_000);
      const { exit } = await terminate(d);
      expect(exit.code).toBe(0);
      const out = d.stdout().trimEnd().split('\n');
      console.log(`not on the journal (JOURNAL_STREAM=${journalStream ?? 'unset'}):\n${d.stdout()}${d.output()}`);
      expect(out).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z run \d+ DONE in [\d.]+ s: /)]);
      // stderr's lines (output() holds them after stdout's text lines): as ever, no prefix.
      const notes = d.output().trimEnd().split('\n').filter((l) => !out.includes(l));
      expect(notes.length).toBeGreaterThanOrEqual(3);
      for (const line of notes) expect(line).toMatch(/^fleetspec daemon: /);
    }
  }, 300_000);

  it('a store that cannot open: the error and its hint are <3> on the journal', async () => {
    // Nothing listens on port 1.
    const d = daemon(YEARLY, 'text', { DATABASE_URL: 'postgres://fleetspec@127.0.0.1:1/fleetspec' }, true);
    const exit = await within('the daemon to give up', d.exited, 60_000);
    console.log(`journal, a store error (exit ${exit.code}):\n${show(d.lines)}`);
    expect(exit.code).not.toBe(0);
    expect(d.lines).toEqual([
      { priority: ERR, text: expect.stringMatching(/^fleetspec daemon: cannot connect to PostgreSQL at postgres:\/\/fleetspec@127\.0\.0\.1:1\/fleetspec: /) },
      { priority: ERR, text: expect.stringMatching(/^ {2}hint: /) },
    ]);
  }, 60_000);
});
