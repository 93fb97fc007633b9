// Bursts (issue 20, item 8): commits pushed straight to the default branch, without a pull request,
// are examined oldest first, all of them (up to MAX_MAIN_COMMITS), and refused as one: one failing
// fleetspec/apply status on the newest and one commit comment listing them, whatever their number;
// each refusal is recorded with those two reports rewritten to cover it, so a tick stopped half-way
// has still said what it refused (the next tick delivers it), and `waiting` counts what it left.
// The real loop against git http-backend, the OpenAPI-checked GitHub stand-in and the store
// (PostgreSQL when TEST_DATABASE_URL is set, else PGlite), set up once for the file
// (test/security/harness.ts); the bursts are written into the bare repository by one `git fast-import`.
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mdInline } from '../../reconciler/escape.js';
import { MAX_STATUS_DESCRIPTION_CHARS } from '../../reconciler/github/client.js';
import { MAX_MAIN_COMMITS } from '../../reconciler/loop/phases/default-branch.js';
import { APPLY_CONTEXT, DIRECT_PUSHES_LISTED, refusedMarker } from '../../reconciler/loop/pr-text.js';
import { TickAbandoned, type TickContext, type TickReport } from '../../reconciler/loop/tick.js';
import { TickWatch } from '../../reconciler/loop/watchdog.js';
import { getRun } from '../../reconciler/state/ledger.js';
import { mainCommits, trustedTip } from '../../reconciler/state/loop.js';
import { allReports } from '../../reconciler/state/outbox.js';
import type { RecordedRequest } from '../github/server.js';
import { REPO, REPO_KEY, useSecurityHarness } from '../security/harness.js';

const PULLS_FOR_COMMIT = 'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls';
const STATUSES = 'POST /repos/{owner}/{repo}/statuses/{sha}';
const COMMIT_COMMENTS = 'POST /repos/{owner}/{repo}/commits/{commit_sha}/comments';
/** The spec file each burst commit changes: a change the loop must judge, not an inert one. */
const SPEC = 'specs/tickets/T-0001.yaml';

const h = useSecurityHarness();

afterEach(async () => {
  // main back to the trusted commit. A revert on top would not do after the 1,000-commit burst: it
  // would be the 1,001st commit since the trusted one, which the loop rightly refuses to examine.
  const trusted = (await trustedTip(h.db, REPO_KEY))!.sha;
  const before = h.main();
  if (before !== trusted) {
    h.git('update-ref', 'refs/heads/main', trusted);
    h.recordPush({ branch: 'main', before, after: trusted, actor: 'admin', type: 'force_push' });
    h.gh.setBranch('main', trusted);
  }
  await h.reset();
  expect(h.gh.takeViolations()).toEqual([]);
});

/** git for the bare repository, as the test git server runs it: no system or user config. */
function bareGit(args: string[], input?: string): string {
  return execFileSync('git', ['--git-dir', join(h.gitServer.root, `${REPO}.git`), ...args], {
    input,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C' },
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  }).replace(/\n$/, '');
}

/**
 * bob pushes `messages.length` commits straight to main in one push, on top of main's tip: each
 * rewrites the spec file SPEC (a comment line numbering it) and carries its message as given
 * (written by byte count, so any character goes). Returns the new commits, oldest first.
 */
function burst(messages: readonly string[]): string[] {
  const before = h.main();
  const base = bareGit(['show', `${before}:${SPEC}`]);
  const who = 'bob <bob@users.noreply.github.com>';
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}`;
  const start = Math.floor(Date.now() / 1000) - messages.length;
  const stream = messages
    .map((message, i) =>
      [
        'commit refs/heads/main',
        `author ${who} ${start + i} +0000`,
        `committer ${who} ${start + i} +0000`,
        data(message),
        ...(i === 0 ? [`from ${before}`] : []),
        `M 100644 inline ${SPEC}`,
        data(`${base}\n# burst commit ${i + 1}\n`),
      ].join('\n'),
    )
    .join('\n');
  bareGit(['fast-import', '--quiet'], `${stream}\n`);
  const after = h.main();
  h.recordPush({ branch: 'main', before, after, actor: 'bob', type: 'push' });
  h.gh.setBranch('main', after);
  const commits = bareGit(['rev-list', '--first-parent', '--reverse', `${before}..${after}`]).split('\n');
  expect(commits).toHaveLength(messages.length);
  return commits;
}

/** One real tick of the loop, as the harness ticks, with `extra` (a watch, a progress callback). */
const runTick = (extra: Partial<TickContext> = {}): Promise<TickReport> => h.tick(extra);

/** The requests GitHub received since `from`: the pulls of each commit looked up (their shas, in order), the writes, all of them by operation. */
function sentSince(from: number) {
  const sent: RecordedRequest[] = h.gh.requests.slice(from);
  const byOperation: Record<string, number> = {};
  for (const r of sent) byOperation[r.operation ?? `${r.method} ${r.path}`] = (byOperation[r.operation ?? `${r.method} ${r.path}`] ?? 0) + 1;
  return {
    total: sent.length,
    pullsOf: sent.filter((r) => r.operation === PULLS_FOR_COMMIT).map((r) => r.path.split('/').at(-2)!),
    writes: sent.filter((r) => r.method !== 'GET').map((r) => [r.operation, r.path.split('/').at(r.operation === STATUSES ? -1 : -2), r.status]),
    byOperation,
  };
}

const applyStatuses = (commits: readonly string[]) => h.gh.repo().statuses.filter((s) => commits.includes(s.sha) && s.context === APPLY_CONTEXT);
const commitComments = (commits: readonly string[]) => h.gh.repo().commitComments.filter((c) => commits.includes(c.sha));
const heading = (body: string) => body.split('\n')[0];
/** The commits a comment lists by name: its list lines' short shas. */
const listed = (body: string) => [...body.matchAll(/^- `([0-9a-f]{7})` /gm)].map((m) => m[1]);

async function outcomes(commits: readonly string[]): Promise<(string | undefined)[]> {
  const ledger = await mainCommits(h.db, REPO_KEY);
  return commits.map((c) => ledger.get(c)?.outcome);
}

describe('a burst of direct pushes is examined whole and refused as one', () => {
  it(`${MAX_MAIN_COMMITS} commits pushed straight to main: one tick examines all, oldest first, and says so with one status and one comment; the next tick says nothing more`, async () => {
    const commits = burst(Array.from({ length: MAX_MAIN_COMMITS }, (_, i) => `Burst ${i + 1}: tweak the baseline ticket`));
    const tip = commits.at(-1)!;
    const from = h.gh.requests.length;
    const started = Date.now();
    const report = await runTick();
    const tookMs = Date.now() - started;
    const sent = sentSince(from);
    console.log(`burst of ${MAX_MAIN_COMMITS}: tick ${tookMs} ms (tick's own ${report.durationMs} ms); ${sent.total} GitHub requests: ${JSON.stringify(sent.byOperation)}`);

    // Every commit, oldest first, each refused; nothing left waiting.
    expect(report.main.map((m) => m.sha)).toEqual(commits);
    expect(new Set(report.main.map((m) => `${m.outcome} ${m.pr}`))).toEqual(new Set(['not-approved null']));
    expect(report.waiting).toBe(0);
    expect(report.state, report.reason.slice(0, 500)).toBe('BLOCKED');
    expect(await outcomes(commits)).toEqual(commits.map(() => 'not-approved'));
    // One look at each commit's pulls, oldest first; two writes for the lot.
    expect(sent.pullsOf).toEqual(commits);
    expect(sent.writes).toEqual([
      [STATUSES, tip, 201],
      [COMMIT_COMMENTS, tip, 201],
    ]);

    const [status, ...moreStatuses] = applyStatuses(commits);
    expect(moreStatuses).toEqual([]);
    expect(status).toMatchObject({ sha: tip, state: 'failure' });
    expect(status!.description).toBe(`not applied: ${MAX_MAIN_COMMITS} commits reached main without an approved pull request, ${commits[0]!.slice(0, 7)} to ${tip.slice(0, 7)}`);
    expect(Array.from(status!.description!).length).toBeLessThanOrEqual(MAX_STATUS_DESCRIPTION_CHARS);

    const [comment, ...moreComments] = commitComments(commits);
    expect(moreComments).toEqual([]);
    expect(comment!.sha).toBe(tip);
    const body = comment!.body;
    expect(heading(body)).toBe(`### fleetspec did not apply this commit, nor the ${MAX_MAIN_COMMITS - 1} before it`);
    expect(body).toContain(refusedMarker(tip));
    // The first DIRECT_PUSHES_LISTED by name, oldest first, with their messages; the rest counted; the whole range given.
    expect(listed(body)).toEqual(commits.slice(0, DIRECT_PUSHES_LISTED).map((c) => c.slice(0, 7)));
    expect(body).toContain(`- \`${commits[0]!.slice(0, 7)}\` Burst 1: tweak the baseline ticket\n`);
    expect(body).toContain(`- and ${MAX_MAIN_COMMITS - DIRECT_PUSHES_LISTED} more\n`);
    expect(body).toContain(`\`git log --first-parent ${commits[0]}^..${tip}\``);
    expect(body.length).toBeLessThan(8_000);
    // Kept in the store as the run's two reports, delivered once each.
    const reports = (await allReports(h.db, REPO_KEY)).filter((r) => r.runId === report.run);
    expect(reports.map((r) => [r.key, r.target, r.attempts, r.deliveredAt !== null])).toEqual([
      [`direct:${report.run}:status`, tip, 1, true],
      [`direct:${report.run}:comment`, tip, 1, true],
    ]);

    // The next tick: all of them were refused before; nothing is looked up or said again.
    const again = h.gh.requests.length;
    const next = await runTick();
    const quiet = sentSince(again);
    expect(next.main).toEqual([]);
    expect(next.waiting).toBe(0);
    expect(next.recovered).toEqual({ runs: [], applies: [] });
    expect(quiet.pullsOf).toEqual([]);
    expect(quiet.writes).toEqual([]);
    expect(applyStatuses(commits)).toHaveLength(1);
    expect(commitComments(commits)).toHaveLength(1);
    // 1,000 commits at one look each, on a loaded 2-core machine: minutes to spare.
  }, 600_000);

  it('a tick stopped half-way through a burst: what it refused is reported once, by the next tick, which examines the rest; waiting said what was left', async () => {
    const total = 60;
    const stopAfter = 25;
    const commits = burst(Array.from({ length: total }, (_, i) => `Half ${i + 1}`));
    const stop = new AbortController();
    const watch = new TickWatch({ stop: stop.signal });
    let refusals = 0;
    const from = h.gh.requests.length;
    const failed = await runTick({
      watch,
      progress: (m) => {
        h.progress.push(m);
        // As SIGTERM would, right as the loop refuses the 25th commit (its record goes ahead: it is no wait).
        if (m.startsWith('not applying ') && ++refusals === stopAfter) stop.abort();
      },
    }).then(
      (r) => r,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(TickAbandoned);
    const abandoned = (failed as TickAbandoned & { report: TickReport }).report;
    expect(abandoned.reason).toMatch(/^abandoned: stop requested in phase default branch/);
    expect(await getRun(h.db, abandoned.run)).toMatchObject({ state: 'FAILED' });
    // The 25 refused, recorded; the 35 after them not examined, and said so.
    expect(abandoned.main.map((m) => m.sha)).toEqual(commits.slice(0, stopAfter));
    expect(abandoned.waiting).toBe(total - stopAfter);
    expect(await outcomes(commits)).toEqual([...commits.slice(0, stopAfter).map(() => 'not-approved'), ...commits.slice(stopAfter).map(() => undefined)]);
    const stopped = sentSince(from);
    expect(stopped.pullsOf).toEqual(commits.slice(0, stopAfter));
    expect(stopped.writes).toEqual([]);
    // What it refused waits in the outbox: one status and one comment covering the 25, on the 25th.
    const waiting = (await allReports(h.db, REPO_KEY)).filter((r) => r.runId === abandoned.run);
    expect(waiting.map((r) => [r.key, r.target, r.attempts, r.deliveredAt])).toEqual([
      [`direct:${abandoned.run}:status`, commits[stopAfter - 1], 0, null],
      [`direct:${abandoned.run}:comment`, commits[stopAfter - 1], 0, null],
    ]);

    // The next tick delivers them, then examines the 35 left and refuses them as one more status and comment.
    const resumed = h.gh.requests.length;
    const next = await runTick();
    const sent = sentSince(resumed);
    expect(next.recovered.reports).toEqual({ delivered: 2, waiting: 0, abandoned: [] });
    expect(next.main.map((m) => m.sha)).toEqual(commits.slice(stopAfter));
    expect(next.waiting).toBe(0);
    expect(await outcomes(commits)).toEqual(commits.map(() => 'not-approved'));
    expect(sent.pullsOf).toEqual(commits.slice(stopAfter));
    expect(sent.writes).toEqual([
      [STATUSES, commits[stopAfter - 1], 201],
      [COMMIT_COMMENTS, commits[stopAfter - 1], 201],
      [STATUSES, commits[total - 1], 201],
      [COMMIT_COMMENTS, commits[total - 1], 201],
    ]);
    expect(applyStatuses(commits).map((s) => [s.sha, s.state])).toEqual([
      [commits[stopAfter - 1], 'failure'],
      [commits[total - 1], 'failure'],
    ]);
    const comments = commitComments(commits);
    expect(comments.map((c) => [c.sha, heading(c.body)])).toEqual([
      [commits[stopAfter - 1], `### fleetspec did not apply this commit, nor the ${stopAfter - 1} before it`],
      [commits[total - 1], `### fleetspec did not apply this commit, nor the ${total - stopAfter - 1} before it`],
    ]);
    expect(listed(comments[0]!.body)).toEqual(commits.slice(0, DIRECT_PUSHES_LISTED).map((c) => c.slice(0, 7)));
    expect(comments[0]!.body).toContain(`- and ${stopAfter - DIRECT_PUSHES_LISTED} more\n`);
    expect(listed(comments[1]!.body)).toEqual(commits.slice(stopAfter, stopAfter + DIRECT_PUSHES_LISTED).map((c) => c.slice(0, 7)));

    // Said once: a third tick adds nothing.
    const after = h.gh.requests.length;
    const third = await runTick();
    expect(third.recovered).toEqual({ runs: [], applies: [] });
    expect(sentSince(after).writes).toEqual([]);
    expect(applyStatuses(commits)).toHaveLength(2);
    expect(commitComments(commits)).toHaveLength(2);
  }, 300_000);

  it("a direct push's message is the pusher's: the comment shows its first line escaped, cut short, never as Markdown, HTML, a mention or a terminal control", async () => {
    // Each under the 100 characters a listed line keeps, so the whole of it is shown (escaped).
    const markup = 'Fix **now** <img src=x onerror=alert(1)> <!-- hide --> @alice @acme/admins #1';
    const links = '[click](https://evil.example) ![i](http://x.test/i.png) `code` \u001b[31mred\u202e| a |';
    const messages = ['An ordinary change', `${markup}\nsecond line <details>`, links, `${'x'.repeat(5000)}\n`, '# looks like a heading'];
    const commits = burst(messages);
    const from = h.gh.requests.length;
    const report = await runTick();
    expect(report.main.map((m) => [m.sha, m.outcome])).toEqual(commits.map((c) => [c, 'not-approved']));
    expect(sentSince(from).writes.map((w) => w[0])).toEqual([STATUSES, COMMIT_COMMENTS]);

    const [comment] = commitComments(commits);
    const body = comment!.body;
    expect(comment!.sha).toBe(commits.at(-1));
    const line = (i: number) => body.split('\n').find((l) => l.startsWith(`- \`${commits[i]!.slice(0, 7)}\` `))!;
    expect(line(0)).toBe(`- \`${commits[0]!.slice(0, 7)}\` An ordinary change`);
    expect(line(1)).toBe(`- \`${commits[1]!.slice(0, 7)}\` ${mdInline(markup)}`);
    expect(line(2)).toBe(`- \`${commits[2]!.slice(0, 7)}\` ${mdInline(links)}`);
    expect(line(4)).toBe(`- \`${commits[4]!.slice(0, 7)}\` \\# looks like a heading`);
    // Nothing of it works as markup: no HTML, no raw mention, link, image, emphasis or control character; the second line not there.
    const shown = (i: number) => line(i).slice(`- \`${commits[i]!.slice(0, 7)}\` `.length);
    expect(shown(1)).not.toMatch(/<img|<!--/);
    expect(shown(1)).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(shown(1)).not.toMatch(/@alice|@acme|#1/);
    expect(shown(1)).not.toContain('**');
    expect(shown(2)).not.toMatch(/\]\(|!\[|(?<!\\)`/);
    // The escape and the right-to-left override shown as text (\x1b, \u202e), never obeyed.
    expect(shown(2)).toMatch(/\\x1b\\*\[31mred\\*\\u202e/);
    expect(body).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    expect(body).not.toMatch(/second line|<details/);
    // A 5,000-character line is cut to 100.
    expect(line(3)).toBe(`- \`${commits[3]!.slice(0, 7)}\` ${'x'.repeat(100)}…`);
    expect(body.length).toBeLessThan(4_000);
    const [status] = applyStatuses(commits);
    expect(status!.description).toBe(`not applied: ${commits.length} commits reached main without an approved pull request, ${commits[0]!.slice(0, 7)} to ${commits.at(-1)!.slice(0, 7)}`);
  }, 120_000);
});
