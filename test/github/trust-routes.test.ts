// The facts behind "who really authored and approved a change", through the real client against the
// test GitHub: account ids that survive renames, a branch's activity paged by cursor, a PR's commit
// identities (and GitHub's 250-commit cap), label events with their actors, and collaborators' roles.
// Every exchange must fit GitHub's OpenAPI description (violations stays empty).
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitHub, type GitHubOptions } from '../../reconciler/github/client.js';
import { fakeSha, startGitHubServer, type GitHubTestServer } from './server.js';

let server: GitHubTestServer;

beforeEach(async () => {
  server = await startGitHubServer();
});

afterEach(async () => {
  try {
    expect(server.violations).toEqual([]);
  } finally {
    await server.close();
  }
});

function client(overrides: Partial<GitHubOptions> = {}): GitHub {
  return new GitHub({ owner: 'acme', repo: 'fleet', token: server.token, baseUrl: server.url, writeIntervalMs: 0, retryAfterBaseMs: 5, ...overrides });
}

function octokit(): Octokit {
  const quiet = () => {};
  return new Octokit({ auth: server.token, baseUrl: server.url, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
}

function requestsTo(method: string, operation: string) {
  return server.requests.filter((r) => r.operation === `${method} ${operation}`);
}

const where = { owner: 'acme', repo: 'fleet' };
const ZERO = '0'.repeat(40);

describe('accounts', () => {
  it('gives each login one id on first sight, the token’s first, case-insensitively', async () => {
    expect(server.userId(server.login)).toBe(1);
    const alice = server.users.id('alice');
    expect(server.users.id('ALICE')).toBe(alice);
    expect(server.users.id('bob')).toBe(alice + 1);
    expect(await client().user('Alice')).toEqual({ login: 'alice', id: alice });
    expect(await client().user(server.login)).toEqual({ login: server.login, id: 1 });
  });

  it('answers 404, read as undefined, for a login nobody has', async () => {
    expect(await client().user('nobody-here')).toBeUndefined();
    expect(requestsTo('GET', '/users/{username}').map((r) => r.status)).toEqual([404]);
  });

  it('shows PR authors, reviewers and mergers with their ids', async () => {
    const pull = server.openPull({ head: 'feature/a', author: 'bob', title: 'A', headSha: fakeSha('a') });
    server.review(pull.number, { user: 'alice', state: 'APPROVED' });
    server.review(pull.number, { user: 'carol', state: 'COMMENTED', body: 'fine' });
    const github = client();

    const open = await github.getPull(pull.number);
    expect(open).toMatchObject({ author: 'bob', authorId: server.userId('bob'), mergedAt: null, commits: 1, headRepo: 'acme/fleet' });
    expect((await github.reviews(pull.number)).map((r) => [r.user, r.userId, r.state])).toEqual([
      ['alice', server.userId('alice'), 'APPROVED'],
      ['carol', server.userId('carol'), 'COMMENTED'],
    ]);

    server.merge(pull.number, { mergeCommitSha: fakeSha('merge'), mergedBy: 'alice', at: '2024-05-01T10:00:00Z' });
    expect(await github.getPull(pull.number)).toMatchObject({ merged: true, mergedAt: '2024-05-01T10:00:00Z', mergeCommitSha: fakeSha('merge') });
    const raw = await octokit().rest.pulls.get({ ...where, pull_number: pull.number });
    expect(raw.data.merged_by).toMatchObject({ login: 'alice', id: server.userId('alice') });
    // The list routes carry merged_at too, but no commits count.
    expect(await github.pullsForCommit(fakeSha('merge'))).toMatchObject([{ number: pull.number, mergedAt: '2024-05-01T10:00:00Z', commits: null, authorId: server.userId('bob') }]);
  });

  it('keeps an account’s id across a rename, shows its old work under the new login, and frees the old login', async () => {
    const pull = server.openPull({ head: 'feature/a', author: 'bob', title: 'A', headSha: fakeSha('a') });
    server.review(pull.number, { user: 'alice', state: 'APPROVED' });
    server.setLabels(pull.number, ['ok'], { actor: 'alice' });
    server.recordActivity({ ref: 'feature/a', before: ZERO, after: fakeSha('a'), type: 'branch_creation', actor: 'alice' });
    server.setCollaborators([{ login: 'alice', permission: 'write' }]);
    const aliceId = server.userId('alice');
    const github = client();

    server.users.rename('alice', 'alice-renamed');
    expect(server.userId('alice-renamed')).toBe(aliceId);
    expect(server.users.get('alice')).toBeUndefined();
    expect(await github.user('alice')).toBeUndefined();
    expect(await github.user('alice-renamed')).toEqual({ login: 'alice-renamed', id: aliceId });
    // Everything the account did says its login now, as GitHub shows it.
    expect((await github.reviews(pull.number)).map((r) => [r.user, r.userId])).toEqual([['alice-renamed', aliceId]]);
    expect((await github.labelEvents(pull.number)).map((e) => e.actor)).toEqual([{ login: 'alice-renamed', id: aliceId }]);
    expect((await github.branchActivity('feature/a')).map((a) => a.actor)).toEqual([{ login: 'alice-renamed', id: aliceId }]);
    expect(await github.collaborators()).toEqual([{ login: 'alice-renamed', id: aliceId, permission: 'write' }]);

    // Someone else registers the freed login: a new account, with a new id.
    server.review(pull.number, { user: 'alice', state: 'APPROVED' });
    const impostorId = server.userId('alice');
    expect(impostorId).not.toBe(aliceId);
    expect(await github.user('alice')).toEqual({ login: 'alice', id: impostorId });
    expect((await github.reviews(pull.number)).map((r) => [r.user, r.userId])).toEqual([
      ['alice-renamed', aliceId],
      ['alice', impostorId],
    ]);

    expect(() => server.renameUser('bob', 'alice')).toThrow(/has that login/);
  });

  it('renames the token’s own account: what it creates after carries the new login', async () => {
    const github = client();
    const id = server.userId(server.login);
    server.renameUser(server.login, 'fleetspec-bot-2');
    expect(server.login).toBe('fleetspec-bot-2');
    const created = await github.createPull({ branch: 'fleetspec/plan', base: 'main', title: 'Plan', body: 'one' });
    expect(created).toMatchObject({ author: 'fleetspec-bot-2', authorId: id });
  });
});

describe('pull request commits', () => {
  it('lists every commit across pages with its author and committer accounts, null where the email maps to none', async () => {
    server.perPageMax = 2;
    const pull = server.openPull({ head: 'feature/a', author: 'bob', title: 'A', headSha: fakeSha('c5') });
    server.setPullCommits(pull.number, [
      { sha: fakeSha('c1'), author: 'bob' },
      { sha: fakeSha('c2'), author: 'bob', committer: 'web-flow' },
      { sha: fakeSha('c3'), author: null },
      { sha: fakeSha('c4'), author: 'carol', committer: null },
      { sha: fakeSha('c5'), author: 'bob', committer: 'alice' },
    ]);
    const bob = { login: 'bob', id: server.userId('bob') };

    const listed = await client().pullCommits(pull.number);
    expect(listed).toEqual({
      commits: [
        { sha: fakeSha('c1'), author: bob, committer: bob },
        { sha: fakeSha('c2'), author: bob, committer: { login: 'web-flow', id: server.userId('web-flow') } },
        { sha: fakeSha('c3'), author: null, committer: null },
        { sha: fakeSha('c4'), author: { login: 'carol', id: server.userId('carol') }, committer: null },
        { sha: fakeSha('c5'), author: bob, committer: { login: 'alice', id: server.userId('alice') } },
      ],
      total: 5,
      complete: true,
    });
    expect(requestsTo('GET', '/repos/{owner}/{repo}/pulls/{pull_number}/commits')).toHaveLength(3);
    // The existing caller still sees the author logins.
    expect(await client().pullCommitAuthors(pull.number)).toEqual(['bob', 'carol']);
  });

  it('says the list is incomplete when GitHub’s cap of 250 leaves commits out', async () => {
    const pull = server.openPull({ head: 'feature/big', author: 'bob', title: 'Big', headSha: fakeSha('big') });
    const commits = Array.from({ length: 260 }, (_, i) => ({ sha: fakeSha(`big-${i}`), author: 'bob' }));
    server.setPullCommits(pull.number, commits);
    const github = client();
    expect((await github.getPull(pull.number)).commits).toBe(260);
    const listed = await github.pullCommits(pull.number);
    expect(listed.commits).toHaveLength(250);
    expect(listed.commits.at(-1)!.sha).toBe(fakeSha('big-249'));
    expect(listed).toMatchObject({ total: 260, complete: false });

    // A PR claiming more commits than the test lists.
    server.setPullCommits(pull.number, commits.slice(0, 3), { total: 900 });
    expect(await github.pullCommits(pull.number)).toMatchObject({ total: 900, complete: false });
    expect((await github.pullCommits(pull.number)).commits).toHaveLength(3);
  });

  it('defaults to the head commit by the PR’s author', async () => {
    const pull = server.openPull({ head: 'feature/a', author: 'bob', title: 'A', headSha: fakeSha('a') });
    const bob = { login: 'bob', id: server.userId('bob') };
    expect(await client().pullCommits(pull.number)).toEqual({ commits: [{ sha: fakeSha('a'), author: bob, committer: bob }], total: 1, complete: true });
  });
});

describe('branch activity', () => {
  function seed(): string[] {
    const shas = Array.from({ length: 6 }, (_, i) => fakeSha(`push-${i}`));
    server.recordActivity({ ref: 'refs/heads/feature/a', before: ZERO, after: shas[0]!, type: 'branch_creation', actor: 'alice', at: '2024-05-01T10:00:00Z' });
    server.recordActivity({ ref: 'feature/a', before: shas[0]!, after: shas[1]!, actor: 'bob', at: '2024-05-01T10:01:00Z' });
    server.recordActivity({ ref: 'main', before: fakeSha('m0'), after: fakeSha('m1'), type: 'pr_merge', actor: 'carol', at: '2024-05-01T10:01:30Z' });
    server.recordActivity({ ref: 'feature/a', before: shas[1]!, after: shas[2]!, type: 'force_push', actor: null, at: '2024-05-01T10:02:00Z' });
    server.recordActivity({ ref: 'feature/a', before: shas[2]!, after: shas[3]!, actor: 'alice', at: '2024-05-01T10:03:00Z' });
    server.recordActivity({ ref: 'feature/a', before: shas[3]!, after: shas[4]!, actor: 'bob', at: '2024-05-01T10:04:00Z' });
    server.recordActivity({ ref: 'feature/a', before: shas[4]!, after: shas[5]!, actor: 'bob', at: '2024-05-01T10:05:00Z' });
    return shas;
  }

  it('reads a branch’s whole history oldest first, following the cursor Link across pages', async () => {
    server.perPageMax = 2;
    const shas = seed();
    const activity = await client().branchActivity('feature/a');
    expect(activity.map((a) => [a.type, a.actor?.login ?? null, a.after])).toEqual([
      ['branch_creation', 'alice', shas[0]],
      ['push', 'bob', shas[1]],
      ['force_push', null, shas[2]],
      ['push', 'alice', shas[3]],
      ['push', 'bob', shas[4]],
      ['push', 'bob', shas[5]],
    ]);
    expect(activity[0]).toEqual({ ref: 'refs/heads/feature/a', before: ZERO, after: shas[0], type: 'branch_creation', actor: { login: 'alice', id: server.userId('alice') }, timestamp: '2024-05-01T10:00:00Z' });
    const calls = requestsTo('GET', '/repos/{owner}/{repo}/activity');
    expect(calls).toHaveLength(3);
    expect(calls[0]!.query).toEqual({ ref: 'refs/heads/feature/a', direction: 'asc', per_page: '100' });
    // Cursor paging: no page parameter, an after cursor from the Link header.
    expect(calls.slice(1).every((c) => c.query['after'] !== undefined && c.query['page'] === undefined)).toBe(true);
  });

  it('pages newest first by default, with next/prev cursors, and filters by type, actor and ref', async () => {
    seed();
    const gh = octokit();
    const first = await gh.request('GET /repos/{owner}/{repo}/activity', { ...where, per_page: 2 });
    expect(first.data.map((a) => a.timestamp)).toEqual(['2024-05-01T10:05:00Z', '2024-05-01T10:04:00Z']);
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.link ?? '')?.[1];
    expect(next).toBeDefined();
    expect(first.headers.link).not.toMatch(/rel="(prev|first|last)"/);
    expect(new URL(next!).searchParams.get('after')).toEqual(expect.any(String));
    expect(new URL(next!).searchParams.has('page')).toBe(false);

    const second = await gh.request({ method: 'GET', url: next! });
    expect((second.data as { timestamp: string }[]).map((a) => a.timestamp)).toEqual(['2024-05-01T10:03:00Z', '2024-05-01T10:02:00Z']);
    const prev = /<([^>]+)>; rel="prev"/.exec(second.headers.link ?? '')?.[1];
    expect(new URL(prev!).searchParams.get('before')).toEqual(expect.any(String));
    const back = await gh.request({ method: 'GET', url: prev! });
    expect(back.data).toEqual(first.data);

    const merges = await gh.request('GET /repos/{owner}/{repo}/activity', { ...where, activity_type: 'pr_merge' });
    expect(merges.data.map((a) => [a.ref, a.actor?.login])).toEqual([['refs/heads/main', 'carol']]);
    const byBob = await gh.request('GET /repos/{owner}/{repo}/activity', { ...where, actor: 'BOB', ref: 'feature/a', direction: 'asc' });
    expect(byBob.data.map((a) => a.timestamp)).toEqual(['2024-05-01T10:01:00Z', '2024-05-01T10:04:00Z', '2024-05-01T10:05:00Z']);
    const bad = await gh.request('GET /repos/{owner}/{repo}/activity', { ...where, after: 'not-a-cursor' }).then(
      () => undefined,
      (e: { status?: number }) => e.status,
    );
    expect(bad).toBe(422);
  });

  it('is empty for a branch nobody pushed', async () => {
    seed();
    expect(await client().branchActivity('feature/none')).toEqual([]);
  });
});

describe('label events', () => {
  it('lists who put on and took off each label, oldest first, across pages', async () => {
    server.perPageMax = 2;
    const pull = server.openPull({ head: 'feature/a', author: 'bob', title: 'A', headSha: fakeSha('a'), labels: ['plan'] });
    server.setLabels(pull.number, ['plan', 'fleetspec:override'], { actor: 'alice' });
    server.setLabels(pull.number, ['plan'], { actor: 'bob' });
    server.setLabels(pull.number, ['plan', 'fleetspec:override'], { actor: 'carol' });
    // Labels through the API are the token's.
    await client().updateIssue(pull.number, { labels: ['fleetspec:override'] });

    const events = await client().labelEvents(pull.number);
    const account = (login: string) => ({ login, id: server.userId(login) });
    // Events within one second keep the order they happened in.
    const at = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(events).toEqual([
      { label: 'plan', action: 'labeled', actor: account('bob'), at },
      { label: 'fleetspec:override', action: 'labeled', actor: account('alice'), at },
      { label: 'fleetspec:override', action: 'unlabeled', actor: account('bob'), at },
      { label: 'fleetspec:override', action: 'labeled', actor: account('carol'), at },
      { label: 'plan', action: 'unlabeled', actor: account(server.login), at },
    ]);
    expect(requestsTo('GET', '/repos/{owner}/{repo}/issues/{issue_number}/events')).toHaveLength(3);
    expect(server.issueEvents(pull.number)).toHaveLength(5);
  });

  it('lists events by when they happened, whatever order a test recorded them in', async () => {
    const pull = server.openPull({ head: 'feature/a', author: 'bob', title: 'A', headSha: fakeSha('a') });
    server.setLabels(pull.number, ['late'], { actor: 'alice', at: '2024-03-01T00:00:00Z' });
    server.setLabels(pull.number, ['late', 'early'], { actor: 'carol', at: '2024-01-01T00:00:00Z' });
    expect((await client().labelEvents(pull.number)).map((e) => [e.label, e.actor?.login, e.at])).toEqual([
      ['early', 'carol', '2024-01-01T00:00:00Z'],
      ['late', 'alice', '2024-03-01T00:00:00Z'],
    ]);
  });

  it('records labels of issues opened, edited and created through the API', async () => {
    const opened = server.openIssue({ title: 'Q', author: 'carol', labels: ['question'] });
    server.editIssue(opened.number, { labels: ['question', 'bug'], actor: 'alice' });
    server.setLabels(opened.number, ['bug']);
    const created = await client().createIssue({ title: 'T', body: 'b', labels: ['ticket'] });
    const github = client();
    expect((await github.labelEvents(opened.number)).map((e) => [e.action, e.label, e.actor?.login])).toEqual([
      ['labeled', 'question', 'carol'],
      ['labeled', 'bug', 'alice'],
      ['unlabeled', 'question', server.login],
    ]);
    expect((await github.labelEvents(created.number)).map((e) => [e.action, e.label, e.actor?.login])).toEqual([['labeled', 'ticket', server.login]]);
    const none = server.openPull({ head: 'feature/b', author: 'bob', title: 'B', headSha: fakeSha('b') });
    expect(await github.labelEvents(none.number)).toEqual([]);
  });

  it('answers 404 for a number that is neither issue nor PR', async () => {
    const status = await client()
      .labelEvents(42)
      .then(
        () => undefined,
        (e: { status?: number }) => e.status,
      );
    expect(status).toBe(404);
  });
});

describe('collaborators', () => {
  it('lists the token’s login as admin until set', async () => {
    expect(await client().collaborators()).toEqual([{ login: server.login, id: server.userId(server.login), permission: 'admin' }]);
    expect(requestsTo('GET', '/repos/{owner}/{repo}/collaborators')[0]!.query).toMatchObject({ affiliation: 'all' });
  });

  it('reads each one’s highest role across pages, custom roles by their permissions', async () => {
    server.perPageMax = 2;
    server.setCollaborators([
      { login: 'alice', permission: 'admin' },
      { login: 'bob', permission: 'maintain' },
      { login: 'carol', permission: 'write' },
      { login: 'dave', permission: 'triage', roleName: 'security-triager' },
      { login: 'erin', permission: 'read' },
    ]);
    const listed = await client().collaborators();
    expect(listed.map((c) => [c.login, c.permission])).toEqual([
      ['alice', 'admin'],
      ['bob', 'maintain'],
      ['carol', 'write'],
      ['dave', 'triage'],
      ['erin', 'read'],
    ]);
    expect(listed.every((c) => c.id === server.userId(c.login))).toBe(true);
    expect(requestsTo('GET', '/repos/{owner}/{repo}/collaborators')).toHaveLength(3);

    const raw = await octokit().paginate(octokit().rest.repos.listCollaborators, { ...where, permission: 'push' });
    expect(raw.map((c) => [c.login, c.role_name, c.permissions])).toEqual([
      ['alice', 'admin', { pull: true, triage: true, push: true, maintain: true, admin: true }],
      ['bob', 'maintain', { pull: true, triage: true, push: true, maintain: true, admin: false }],
      ['carol', 'write', { pull: true, triage: true, push: true, maintain: false, admin: false }],
    ]);
  });
});
