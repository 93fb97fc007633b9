// Contract tests for reconciler/github/client.ts: the real client (octokit with its retry and throttling
// plugins) against a local GitHub that holds both sides to GitHub's own OpenAPI description, so a test
// passes only when the client asks what GitHub documents and copes with what GitHub documents answering.
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitHub, GitHubError, MAX_BODY_CHARS, type GitHubOptions } from '../../reconciler/github/client.js';
import { fakeSha, githubContract, startGitHubServer, type GitHubTestServer } from './server.js';
import { startFaultProxy } from '../faults/proxy.js';

const MARKER = '<!-- fleetspec:plan -->';

let server: GitHubTestServer;
let logLines: string[];

beforeEach(async () => {
  server = await startGitHubServer();
  logLines = [];
});

afterEach(async () => {
  try {
    expect(server.violations).toEqual([]);
    for (const line of logLines) expect(line).not.toContain(server.token);
  } finally {
    await server.close();
  }
});

/** A client for the test server at test pace: no write spacing, a retry-after second lasting 5 ms. */
function client(overrides: Partial<GitHubOptions> = {}): GitHub {
  return new GitHub({
    owner: 'acme',
    repo: 'fleet',
    token: server.token,
    baseUrl: server.url,
    writeIntervalMs: 0,
    retryAfterBaseMs: 5,
    log: (line) => logLines.push(line),
    ...overrides,
  });
}

function requestsTo(method: string, operation: string) {
  return server.requests.filter((r) => r.method === method && r.operation === `${method} ${operation}`);
}

async function failure(promise: Promise<unknown>): Promise<GitHubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitHubError);
  const githubError = error as GitHubError;
  expect(githubError.message).not.toContain(server.token);
  return githubError;
}

describe('pull requests', () => {
  it('reads the repository and its default branch', async () => {
    const github = client();
    expect(github.fullName).toBe('acme/fleet');
    expect(await github.defaultBranch()).toBe('main');
  });

  it('creates a PR, finds it by branch, updates it and closes it', async () => {
    const github = client();
    const headSha = fakeSha('plan-1');
    server.setBranch('fleetspec/plan', headSha);
    server.openPull({ head: 'feature/readme', author: 'alice', title: 'Docs', headSha: fakeSha('readme') });

    const created = await github.createPull({ branch: 'fleetspec/plan', base: 'main', title: 'Plan: 2 changes', body: `${MARKER}\nTwo changes` });
    expect(created).toEqual({
      number: 2,
      state: 'open',
      merged: false,
      mergeCommitSha: null,
      headRef: 'fleetspec/plan',
      headSha,
      baseRef: 'main',
      author: server.login,
      authorId: server.userId(server.login),
      mergedAt: null,
      commits: 1,
      headRepo: 'acme/fleet',
      title: 'Plan: 2 changes',
      body: `${MARKER}\nTwo changes`,
      url: 'https://github.com/acme/fleet/pull/2',
      labels: [],
    });

    // The list routes carry no commits count.
    expect(await github.openPullFor('fleetspec/plan')).toEqual({ ...created, commits: null });
    // The head filter must carry the owner, or GitHub ignores it and lists every PR.
    expect(requestsTo('GET', '/repos/{owner}/{repo}/pulls').at(-1)?.query).toMatchObject({ state: 'open', head: 'acme:fleetspec/plan' });
    expect(await github.openPullFor('no-such-branch')).toBeUndefined();

    const updated = await github.updatePull(2, { title: 'Plan: 3 changes', body: `${MARKER}\nThree changes` });
    expect(updated).toMatchObject({ number: 2, title: 'Plan: 3 changes', body: `${MARKER}\nThree changes`, state: 'open' });
    expect(await github.getPull(2)).toEqual(updated);

    const closed = await github.updatePull(2, { state: 'closed' });
    expect(closed).toMatchObject({ state: 'closed', merged: false });
    expect(await github.openPullFor('fleetspec/plan')).toBeUndefined();
    expect(requestsTo('PATCH', '/repos/{owner}/{repo}/pulls/{pull_number}').at(-1)?.body).toEqual({ state: 'closed' });
  });

  it('reports merged PRs with their merge commit and labels', async () => {
    const github = client();
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    server.setLabels(pull.number, ['fleetspec', 'plan']);
    server.merge(pull.number, { mergeCommitSha: fakeSha('merge') });
    expect(await github.getPull(pull.number)).toMatchObject({ state: 'closed', merged: true, mergeCommitSha: fakeSha('merge'), labels: ['fleetspec', 'plan'] });
  });

  it('lists every open PR across pages', async () => {
    server.perPageMax = 2;
    for (let i = 1; i <= 5; i++) server.openPull({ head: `feature/${i}`, author: 'alice', title: `PR ${i}`, headSha: fakeSha(`f${i}`) });
    await client().updatePull(3, { state: 'closed' });

    const open = await client().listOpenPulls();
    expect(open.map((p) => p.number).sort()).toEqual([1, 2, 4, 5]);
    expect(requestsTo('GET', '/repos/{owner}/{repo}/pulls').map((r) => r.query['page'] ?? '1')).toEqual(['1', '2']);
  });

  it('keeps the PR a lost answer created: it looks for the branch\'s PR before sending again', async () => {
    server.loseNextResponse(1, 502);
    const pull = await client().createPull({ branch: 'fleetspec/plan', base: 'main', title: 'Plan', body: 'one' });
    expect(pull).toMatchObject({ number: 1, headRef: 'fleetspec/plan', title: 'Plan' });
    expect(requestsTo('POST', '/repos/{owner}/{repo}/pulls').map((r) => r.status)).toEqual([502]);
    expect([...server.repo().pulls.keys()]).toEqual([1]);
    expect(logLines).toEqual([
      'GitHub 502 on POST /repos/{owner}/{repo}/pulls: looking for the PR of fleetspec/plan in 5ms before sending it again (1 of 3)',
      'GitHub had made the PR of fleetspec/plan before the answer was lost; not sent again',
    ]);
  });

  it('refuses a second PR for the same branch with a GitHubError that says what to do', async () => {
    const github = client();
    await github.createPull({ branch: 'fleetspec/plan', base: 'main', title: 'Plan', body: 'one' });
    const error = await failure(github.createPull({ branch: 'fleetspec/plan', base: 'main', title: 'Plan', body: 'two' }));
    expect(error.status).toBe(422);
    expect(error.message).toContain('POST /repos/{owner}/{repo}/pulls');
    expect(error.message).toContain('A pull request already exists for acme:fleetspec/plan.');
    expect(error.hint).toMatch(/already be open/);
  });

  it('cuts a body over GitHub’s 65536-character limit, saying so and keeping the marker', async () => {
    const github = client();
    const huge = `${'x'.repeat(70_000)}\n${MARKER}`;
    const pull = await github.createPull({ branch: 'fleetspec/plan', base: 'main', title: 'Plan', body: huge });
    expect(pull.body.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    expect(pull.body).toContain(MARKER);
    expect(pull.body).toMatch(/truncated: \d+ of 70024 characters/);

    const comment = await github.upsertComment(pull.number, MARKER, huge);
    expect(comment.action).toBe('created');
    // The stored body is the cut one; asking again with the same long body changes nothing.
    expect((await github.upsertComment(pull.number, MARKER, huge)).action).toBe('unchanged');
    const stored = server.repo().issueComments[0]!.body;
    expect(stored.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    expect(stored).toContain(MARKER);
  });
});

describe('comments', () => {
  it('upserts the marked comment: created, then unchanged, then updated, paging past other comments', async () => {
    server.perPageMax = 2;
    const github = client();
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    for (let i = 1; i <= 5; i++) server.addComment(pull.number, { user: 'alice', body: `looks fine ${i}` });

    const created = await github.upsertComment(pull.number, MARKER, `${MARKER}\nPlan v1`);
    expect(created.action).toBe('created');
    expect(created.url).toBe(`https://github.com/acme/fleet/pull/${pull.number}#issuecomment-${created.id}`);
    // Five comments at two per page: three pages read before deciding to create.
    expect(requestsTo('GET', '/repos/{owner}/{repo}/issues/{issue_number}/comments')).toHaveLength(3);

    server.addComment(pull.number, { user: 'bob', body: 'one more' });
    const writesBefore = server.requests.filter((r) => r.method !== 'GET').length;
    expect(await github.upsertComment(pull.number, MARKER, `${MARKER}\nPlan v1`)).toEqual({ ...created, action: 'unchanged' });
    expect(server.requests.filter((r) => r.method !== 'GET').length).toBe(writesBefore);

    const updated = await github.upsertComment(pull.number, MARKER, `${MARKER}\nPlan v2`);
    expect(updated).toEqual({ ...created, action: 'updated' });
    const ours = server.repo().issueComments.filter((c) => c.user === server.login);
    expect(ours.map((c) => c.body)).toEqual([`${MARKER}\nPlan v2`]);
    expect(requestsTo('PATCH', '/repos/{owner}/{repo}/issues/comments/{comment_id}')).toHaveLength(1);
  });

  it('puts the marker into a body that lacks it, so the comment is found next time', async () => {
    const github = client();
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    await github.upsertComment(pull.number, MARKER, 'Plan without marker');
    expect(server.repo().issueComments[0]!.body).toBe(`${MARKER}\nPlan without marker`);
    expect((await github.upsertComment(pull.number, MARKER, 'Plan without marker')).action).toBe('unchanged');
  });

  it('adds a plain comment and a commit comment', async () => {
    const github = client();
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    const comment = await github.comment(pull.number, 'Applied.');
    expect(comment.url).toBe(`https://github.com/acme/fleet/pull/${pull.number}#issuecomment-${comment.id}`);

    const sha = fakeSha('merge');
    const commitComment = await github.commitComment(sha, 'Applied 3 changes.');
    expect(commitComment.url).toBe(`https://github.com/acme/fleet/commit/${sha}#commitcomment-${commitComment.id}`);
    // Each carries a marker to be found by after a lost answer: one made from its digest when it names none.
    expect(server.repo().commitComments).toMatchObject([{ sha, body: expect.stringMatching(/^Applied 3 changes\.\n\n<!-- fleetspec:comment [0-9a-f]{12} -->$/), user: server.login }]);
    expect(server.repo().issueComments.map((c) => c.body)).toEqual([expect.stringMatching(/^Applied\.\n\n<!-- fleetspec:comment [0-9a-f]{12} -->$/)]);
    await github.comment(pull.number, 'Applied, said again.', '<!-- fleetspec:result x -->');
    expect(server.repo().issueComments.at(-1)!.body).toBe('Applied, said again.\n\n<!-- fleetspec:result x -->');
  });
});

describe('reviews, statuses and commits', () => {
  it('lists every review in GitHub’s order across pages', async () => {
    server.perPageMax = 2;
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('v1') });
    server.review(pull.number, { user: 'alice', state: 'CHANGES_REQUESTED' });
    server.review(pull.number, { user: 'bob', state: 'COMMENTED' });
    server.setHeadSha(pull.number, fakeSha('v2'));
    server.review(pull.number, { user: 'alice', state: 'APPROVED' });
    server.review(pull.number, { user: 'carol', state: 'DISMISSED' });
    server.review(pull.number, { user: 'dave', state: 'PENDING' });

    const reviews = await client().reviews(pull.number);
    expect(reviews.map((r) => [r.user, r.state, r.commitId])).toEqual([
      ['alice', 'CHANGES_REQUESTED', fakeSha('v1')],
      ['bob', 'COMMENTED', fakeSha('v1')],
      ['alice', 'APPROVED', fakeSha('v2')],
      ['carol', 'DISMISSED', fakeSha('v2')],
      ['dave', 'PENDING', fakeSha('v2')],
    ]);
    expect(reviews[0]!.submittedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(reviews[4]!.submittedAt).toBeNull();
    expect(requestsTo('GET', '/repos/{owner}/{repo}/pulls/{pull_number}/reviews')).toHaveLength(3);
  });

  it('sets a commit status, cutting the description to GitHub’s 140 characters', async () => {
    const github = client();
    const sha = fakeSha('head');
    await github.setStatus(sha, { state: 'pending', description: 'Planning…' });
    await github.setStatus(sha, { state: 'failure', description: `3 changes need review: ${'host '.repeat(60)}`, context: 'fleetspec/apply', targetUrl: 'https://ci.example.com/run/7' });

    const [first, second] = server.repo().statuses;
    expect(first).toMatchObject({ sha, state: 'pending', description: 'Planning…', context: 'fleetspec/plan', targetUrl: null });
    expect(second).toMatchObject({ sha, state: 'failure', context: 'fleetspec/apply', targetUrl: 'https://ci.example.com/run/7' });
    expect(Array.from(second!.description!)).toHaveLength(140);
    expect(second!.description!.endsWith('…')).toBe(true);
    expect(second!.description!.startsWith('3 changes need review: host host')).toBe(true);
  });

  it('finds the PRs of a head commit and of a merge commit', async () => {
    const github = client();
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    const other = server.openPull({ head: 'feature/x', author: 'alice', title: 'X', headSha: fakeSha('x') });
    expect((await github.pullsForCommit(fakeSha('head'))).map((p) => p.number)).toEqual([pull.number]);

    server.merge(pull.number, { mergeCommitSha: fakeSha('merge') });
    const merged = await github.pullsForCommit(fakeSha('merge'));
    expect(merged).toMatchObject([{ number: pull.number, merged: true, mergeCommitSha: fakeSha('merge'), state: 'closed' }]);

    server.associate(fakeSha('shared'), pull.number);
    server.associate(fakeSha('shared'), other.number);
    expect((await github.pullsForCommit(fakeSha('shared'))).map((p) => p.number)).toEqual([pull.number, other.number]);
    expect(await github.pullsForCommit(fakeSha('unrelated'))).toEqual([]);
  });
});

describe('failures', () => {
  it('after an attempt that got no answer, the next goes over a new connection, never another kept one that may be silent too', async () => {
    // A NAT or firewall on the way lost its state: every kept connection swallows what it is sent, new ones work.
    const proxy = await startFaultProxy({ port: Number(new URL(server.url).port) });
    try {
      const github = client({ baseUrl: `http://${proxy.host}:${proxy.port}`, retries: 3, requestTimeoutMs: 1_000 });
      // Two calls at once: one or two connections (the first may be done before the second starts), kept for the next calls.
      expect(await Promise.all([github.defaultBranch(), github.defaultBranch()])).toEqual(['main', 'main']);
      expect(proxy.silence()).toBeGreaterThanOrEqual(1);
      // The first attempt goes out on a kept one and times out; the retry, on a new connection, is answered.
      expect(await github.defaultBranch()).toBe('main');
      expect(logLines).toEqual([expect.stringMatching(/^No answer from GitHub \(.*\) on GET \/repos\/\{owner\}\/\{repo\}: retry 1 of 3 in 5ms$/)]);
    } finally {
      await proxy.close();
    }
  });

  it('a call cancelled while it waits is given up at once: no retry is waited for or announced', async () => {
    const proxy = await startFaultProxy({ port: Number(new URL(server.url).port) });
    try {
      const github = client({ baseUrl: `http://${proxy.host}:${proxy.port}`, retries: 3, retryAfterBaseMs: 1_000 });
      proxy.set('blackhole');
      const stop = new AbortController();
      github.signal = stop.signal;
      const cancelled = failure(github.defaultBranch());
      for (let i = 0; i < 250 && proxy.bytes.swallowed === 0; i++) await new Promise((r) => setTimeout(r, 20));
      stop.abort(new Error('the tick passed its budget'));
      const started = Date.now();
      expect((await cancelled).message).toMatch(/no answer \(the tick passed its budget\)/);
      // plugin-retry would first wait its back-off of 1 s.
      expect(Date.now() - started).toBeLessThan(900);
      expect(logLines).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a call cancelled while it waits to retry ends at once, and makes no further attempt', async () => {
    const proxy = await startFaultProxy({ port: Number(new URL(server.url).port) }, 'refuse');
    try {
      const github = client({ baseUrl: `http://${proxy.host}:${proxy.port}`, retries: 3, retryAfterBaseMs: 1_000 });
      const stop = new AbortController();
      github.signal = stop.signal;
      const cancelled = failure(github.defaultBranch());
      // The first attempt is refused; plugin-retry now waits 1 s before the second.
      for (let i = 0; i < 250 && logLines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(logLines).toEqual([expect.stringMatching(/^No answer from GitHub \(.*\) on GET \/repos\/\{owner\}\/\{repo\}: retry 1 of 3 in 1s$/)]);
      const attempts = proxy.connections;
      stop.abort(new Error('SIGTERM'));
      const started = Date.now();
      expect((await cancelled).message).toMatch(/no answer \(SIGTERM\)/);
      expect(Date.now() - started).toBeLessThan(500);
      // Past the back-off: the retry it was waiting for is not made.
      await new Promise((r) => setTimeout(r, 1_300));
      expect(proxy.connections).toBe(attempts);
      expect(logLines).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('retries a 5xx and says so in the log', async () => {
    server.failNext(2, 502);
    expect(await client({ retries: 3 }).defaultBranch()).toBe('main');
    expect(server.requests.map((r) => r.status)).toEqual([502, 502, 200]);
    expect(logLines).toEqual([
      'GitHub 502 on GET /repos/{owner}/{repo}: retry 1 of 3 in 5ms',
      'GitHub 502 on GET /repos/{owner}/{repo}: retry 2 of 3 in 20ms',
    ]);
  });

  it('gives up after `retries` retries of a 5xx with a GitHubError', async () => {
    server.failNext(3, 503);
    const error = await failure(client({ retries: 2 }).getPull(1));
    expect(error.status).toBe(503);
    expect(error.message).toContain('GET /repos/{owner}/{repo}/pulls/{pull_number}');
    expect(error.hint).toMatch(/githubstatus/);
    expect(server.requests).toHaveLength(3);
  });

  it('waits for a primary rate limit to reset, reading x-ratelimit-reset', async () => {
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    server.rateLimitNext({ kind: 'primary', resetInS: 3 });
    const started = Date.now();
    await client({ retryAfterBaseMs: 20 }).comment(pull.number, 'hello');
    const elapsed = Date.now() - started;

    expect(server.requests.map((r) => r.status)).toEqual([403, 201]);
    expect(logLines).toHaveLength(1);
    const waited = Number(/^GitHub rate limit: waiting (\d+)s \(primary, POST \/repos\/\{owner\}\/\{repo\}\/issues\/\{issue_number\}\/comments, wait 1 of 2/.exec(logLines[0]!)?.[1]);
    // Reset is 3 s away in whole epoch seconds; the plugin adds one second to land after it.
    expect(waited).toBeGreaterThanOrEqual(3);
    expect(waited).toBeLessThanOrEqual(4);
    expect(elapsed).toBeGreaterThanOrEqual(waited * 20 - 5);
  });

  it('waits out a secondary rate limit for its retry-after', async () => {
    server.rateLimitNext({ kind: 'secondary', resetInS: 7, status: 429 });
    expect(await client().defaultBranch()).toBe('main');
    expect(server.requests.map((r) => r.status)).toEqual([429, 200]);
    expect(logLines).toEqual(['GitHub rate limit: waiting 7s (secondary, GET /repos/{owner}/{repo}, wait 1 of 2, 35ms at this pace)']);
  });

  it('fails fast with a clear error when a rate limit resets later than maxRateLimitWaitS', async () => {
    server.rateLimitNext({ kind: 'primary', resetInS: 3600 });
    const started = Date.now();
    const error = await failure(client({ maxRateLimitWaitS: 60, retryAfterBaseMs: 1000 }).defaultBranch());
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/GitHub GET \/repos\/\{owner\}\/\{repo\} for acme\/fleet: primary rate limit, reset in 360[01]s, longer than maxRateLimitWaitS 60s/);
    expect(error.hint).toMatch(/wait until .* raise maxRateLimitWaitS/);
    expect(server.requests).toHaveLength(1);
    expect(logLines[0]).toMatch(/^GitHub rate limit: not waiting 360[01]s/);
  });

  it('gives up after rateLimitRetries waits', async () => {
    server.rateLimitNext({ kind: 'secondary', resetInS: 1, count: 3 });
    const error = await failure(client({ rateLimitRetries: 2 }).listOpenPulls());
    expect(error.message).toContain('secondary rate limit still hit after 2 waits');
    expect(server.requests.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(logLines.filter((l) => l.startsWith('GitHub rate limit: waiting'))).toHaveLength(2);
  });

  it('turns a bad token into a 401 GitHubError with a hint, without retrying or quoting the token', async () => {
    const wrong = 'ghp_wrongwrongwrongwrongwrongwrongwrong';
    const error = await failure(client({ token: wrong, retries: 3 }).defaultBranch());
    expect(error.status).toBe(401);
    expect(error.message).toContain('GET /repos/{owner}/{repo}');
    expect(error.message).toContain('Bad credentials');
    expect(error.message).not.toContain(wrong);
    expect(error.hint).toMatch(/check the token/);
    expect(server.requests).toHaveLength(1);
    expect(logLines).toEqual([]);
  });

  it('turns an unknown repository into a 404 GitHubError naming owner/repo', async () => {
    const error = await failure(client({ repo: 'flet' }).defaultBranch());
    expect(error.status).toBe(404);
    expect(error.hint).toContain('acme/flet');
    expect(error.hint).toMatch(/token can see the repository/);
  });

  it('says so when GitHub cannot be reached at all', async () => {
    const port = await freePort();
    const error = await failure(client({ baseUrl: `http://127.0.0.1:${port}`, retries: 1 }).defaultBranch());
    expect(error.message).toMatch(/no answer/);
    expect(error.hint).toMatch(/baseUrl/);
    expect(logLines).toEqual([expect.stringMatching(/^No answer from GitHub \(.*ECONNREFUSED.*\) on GET \/repos\/\{owner\}\/\{repo\}: retry 1 of 1 in 5ms$/)]);
  });

  it('gives up on a stalled attempt after requestTimeoutMs and retries it', async () => {
    server.stallNext(1, 2000);
    const started = Date.now();
    expect(await client({ requestTimeoutMs: 100, retries: 1 }).defaultBranch()).toBe('main');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(server.requests).toHaveLength(2);
    expect(logLines).toEqual([expect.stringMatching(/^No answer from GitHub \(.*\) on GET \/repos\/\{owner\}\/\{repo\}: retry 1 of 1 in 5ms$/)]);
  });

  it('spaces writes by writeIntervalMs per client, not across clients', async () => {
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    const interval = 300;
    const slow = client({ writeIntervalMs: interval });
    const fast = client({ writeIntervalMs: 0 });
    // The server compiles each operation's schemas on first use: warm it, so only spacing is compared.
    await fast.setStatus(fakeSha('head'), { state: 'pending', description: 'warm' });
    await fast.comment(pull.number, 'warm');

    let started = Date.now();
    await fast.setStatus(fakeSha('head'), { state: 'pending', description: 'one' });
    await fast.setStatus(fakeSha('head'), { state: 'pending', description: 'two' });
    const fastElapsed = Date.now() - started;

    started = Date.now();
    await slow.setStatus(fakeSha('head'), { state: 'pending', description: 'one' });
    await slow.setStatus(fakeSha('head'), { state: 'pending', description: 'two' });
    await slow.comment(pull.number, 'one');
    await slow.comment(pull.number, 'two');
    const slowElapsed = Date.now() - started;

    // The fast client does not wait for the slow one's spacing (limiters are per client).
    expect(fastElapsed).toBeLessThan(interval);
    // Two status writes one interval apart, then comments (notifying writes) three intervals apart.
    expect(slowElapsed).toBeGreaterThanOrEqual(interval + 3 * interval - 10);
  });
});

describe('writes that create something are sent once', () => {
  const COMMENTS = 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments';
  /** Each POST fleetspec makes, what it leaves on the stand-in, and its operation. */
  const writes: { name: string; operation: string; write: (github: GitHub) => Promise<unknown>; made: () => unknown[] }[] = [
    {
      name: 'a comment',
      operation: COMMENTS,
      write: (github) => github.comment(pr(), 'Applied.', '<!-- fleetspec:result abc -->'),
      made: () => server.repo().issueComments,
    },
    {
      name: 'a plan comment (upsert)',
      operation: COMMENTS,
      write: (github) => github.upsertComment(pr(), MARKER, `${MARKER}\nPlan`),
      made: () => server.repo().issueComments,
    },
    {
      name: 'a commit comment',
      operation: 'POST /repos/{owner}/{repo}/commits/{commit_sha}/comments',
      write: (github) => github.commitComment(fakeSha('merge'), 'Not applied.', '<!-- fleetspec:refused abc -->'),
      made: () => server.repo().commitComments,
    },
    {
      name: 'a commit status',
      operation: 'POST /repos/{owner}/{repo}/statuses/{sha}',
      write: (github) => github.setStatus(fakeSha('merge'), { context: 'fleetspec/apply', state: 'success', description: 'applied' }),
      made: () => server.repo().statuses,
    },
    {
      name: 'an issue',
      operation: 'POST /repos/{owner}/{repo}/issues',
      write: (github) => github.createIssue({ title: 'T-0001: x', body: 'x\n\n<!-- fleetspec:ticket T-0001 digest=0123456789ab -->', labels: [] }),
      made: () => server.issues(),
    },
    {
      name: 'a pull request',
      operation: 'POST /repos/{owner}/{repo}/pulls',
      write: (github) => github.createPull({ branch: 'fleetspec/ticket/T-0001', base: 'main', title: 'T-0001', body: 'b' }),
      made: () => [...server.repo().pulls.values()].filter((p) => p.head.ref === 'fleetspec/ticket/T-0001'),
    },
  ];
  let number = 0;
  const pr = () => number;
  beforeEach(() => {
    number = server.openPull({ head: 'feature/x', author: 'alice', title: 'X', headSha: fakeSha('x') }).number;
  });

  it.each(writes.flatMap((w) => (['lose', 'drop'] as const).map((mode) => ({ ...w, mode }))))(
    '$name: GitHub does it and the answer is lost ($mode): found by its marker, not sent again',
    async ({ operation, write, made, mode }) => {
      const before = made().length;
      server.faultOn(operation, { kind: mode });
      await write(client());
      expect(made()).toHaveLength(before + 1);
      expect(requestsTo('POST', operation.slice('POST '.length))).toHaveLength(1);
      expect(logLines.at(-1)).toMatch(/before the answer was lost; not sent again$/);
    },
  );

  it.each(writes)('$name: GitHub fails without doing it: looked for, then sent again, once', async ({ operation, write, made }) => {
    const before = made().length;
    server.faultOn(operation, { kind: 'fail', count: 2 });
    await write(client());
    expect(made()).toHaveLength(before + 1);
    expect(requestsTo('POST', operation.slice('POST '.length)).map((r) => r.status)).toEqual([502, 502, 201]);
  });

  it('plugin-retry does not retry a POST: `retries` re-sends in all, each after a look, then a GitHubError', async () => {
    server.faultOn(COMMENTS, { kind: 'fail', count: 10 });
    const error = await failure(client({ retries: 2 }).comment(pr(), 'hello', '<!-- fleetspec:x -->'));
    expect(error.status).toBe(502);
    expect(requestsTo('POST', COMMENTS.slice('POST '.length))).toHaveLength(3);
    expect(requestsTo('GET', '/repos/{owner}/{repo}/issues/{issue_number}/comments')).toHaveLength(2);
    expect(server.repo().issueComments).toEqual([]);
  });

  it('a POST that timed out after GitHub did it is found, not sent again', async () => {
    server.faultOn(COMMENTS, { kind: 'hang' });
    await client({ requestTimeoutMs: 300 }).comment(pr(), 'slow', '<!-- fleetspec:slow -->');
    expect(server.repo().issueComments.map((c) => c.body)).toEqual(['slow\n\n<!-- fleetspec:slow -->']);
    expect(requestsTo('POST', COMMENTS.slice('POST '.length))).toHaveLength(1);
  });

  it('a status is sent again when the newest of its context is another one', async () => {
    const sha = fakeSha('merge');
    const github = client();
    await github.setStatus(sha, { context: 'fleetspec/apply', state: 'failure', description: 'not applied' });
    server.faultOn('POST /repos/{owner}/{repo}/statuses/{sha}', { kind: 'fail' });
    await github.setStatus(sha, { context: 'fleetspec/apply', state: 'success', description: 'applied' });
    expect(server.repo().statuses.map((s) => s.state)).toEqual(['failure', 'success']);
    expect(await github.findStatus(sha, { context: 'fleetspec/apply', state: 'success', description: 'applied' })).toBe(true);
    expect(await github.findStatus(sha, { context: 'fleetspec/apply', state: 'failure', description: 'not applied' })).toBe(false);
  });
});

describe('the contract check itself', () => {
  it('catches a response that breaks GitHub’s schema and answers 500', async () => {
    const pull = server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    server.tamperNext((body) => {
      delete body['number'];
    });
    const error = await failure(client({ retries: 0 }).getPull(pull.number));
    expect(error.status).toBe(500);
    const violations = server.takeViolations();
    expect(violations).toEqual([`GET /repos/{owner}/{repo}/pulls/{pull_number} → 200: response body / must have required property 'number'`]);
  });

  it('catches a wrongly typed field deep inside a response', async () => {
    server.openPull({ head: 'fleetspec/plan', author: server.login, title: 'Plan', headSha: fakeSha('head') });
    server.tamperNext((pull) => {
      (pull['head'] as Record<string, unknown>)['sha'] = 42;
    });
    await failure(client({ retries: 0 }).listOpenPulls());
    expect(server.takeViolations()).toEqual([`GET /repos/{owner}/{repo}/pulls → 200: response body /0/head/sha must be string`]);
  });

  it('catches requests GitHub’s description does not allow', async () => {
    const auth = { authorization: `token ${server.token}`, 'content-type': 'application/json' };
    const undocumented = await fetch(`${server.url}/repos/acme/fleet/pullz`, { headers: auth });
    const unknownQuery = await fetch(`${server.url}/repos/acme/fleet/pulls?colour=red`, { headers: auth });
    const badBody = await fetch(`${server.url}/repos/acme/fleet/pulls`, { method: 'POST', headers: auth, body: JSON.stringify({ title: 7, head: 'x', base: 'main' }) });
    const badEnum = await fetch(`${server.url}/repos/acme/fleet/pulls?state=merged`, { headers: auth });
    expect([undocumented.status, unknownQuery.status, badBody.status, badEnum.status]).toEqual([404, 422, 422, 422]);
    expect(server.takeViolations()).toEqual([
      "GET /repos/acme/fleet/pullz: no such path in GitHub's REST description",
      'GET /repos/{owner}/{repo}/pulls: query parameter colour is not a parameter of pulls/list',
      'POST /repos/{owner}/{repo}/pulls: request body /title must be string',
      'GET /repos/{owner}/{repo}/pulls: query parameter state "merged": / must be equal to one of the allowed values (["open","closed","all"])',
    ]);
  });

  it('is not vacuous: GitHub’s own pull-request example breaks its schema, which the server repairs', () => {
    const contract = githubContract();
    expect(contract.checkSchema('pull-request', contract.example('pull-request'))).toEqual(["/requested_teams/0 must have required property 'type'"]);
    expect(contract.checkSchema('simple-user', contract.example('simple-user'))).toEqual([]);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
