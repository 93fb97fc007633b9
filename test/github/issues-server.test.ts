// The test GitHub's issues and labels routes, driven by a plain @octokit/rest client: each exchange must
// fit GitHub's OpenAPI description (server.violations stays empty) and behave as GitHub's REST docs say
// (PRs listed as issues, state_reason, label names case-insensitive and created on first use).
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeSha, startGitHubServer, type GitHubTestServer } from './server.js';

let server: GitHubTestServer;
let octokit: Octokit;
const where = { owner: 'acme', repo: 'fleet' };

beforeEach(async () => {
  server = await startGitHubServer();
  const quiet = () => {};
  octokit = new Octokit({ auth: server.token, baseUrl: server.url, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
});

afterEach(async () => {
  try {
    expect(server.violations).toEqual([]);
  } finally {
    await server.close();
  }
});

async function status(promise: Promise<unknown>): Promise<{ status: number; data: unknown; headers: Record<string, string | undefined> }> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as { status?: number; response?: { data: unknown; headers: Record<string, string | undefined> } } | undefined;
  expect(error, 'the request should have failed').toBeDefined();
  return { status: error!.status ?? 0, data: error!.response?.data, headers: error!.response?.headers ?? {} };
}

describe('issues', () => {
  it('creates, reads, closes with a reason, reopens and relabels an issue', async () => {
    await octokit.rest.issues.createLabel({ ...where, name: 'bug', color: 'd73a4a', description: 'Something is broken' });

    const created = await octokit.rest.issues.create({ ...where, title: 'Drift on web-1', body: 'nginx.conf differs', labels: ['BUG'], assignees: ['alice'] });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(created.data.url);
    expect(created.data).toMatchObject({
      number: 1,
      title: 'Drift on web-1',
      body: 'nginx.conf differs',
      state: 'open',
      state_reason: null,
      closed_at: null,
      comments: 0,
      locked: false,
      milestone: null,
      user: { login: server.login },
      assignee: { login: 'alice' },
      html_url: 'https://github.com/acme/fleet/issues/1',
      url: `${server.url}/repos/acme/fleet/issues/1`,
    });
    // The existing label, as the repository spells it; nothing made up on the way.
    expect(created.data.labels).toEqual([expect.objectContaining({ name: 'bug', color: 'd73a4a', description: 'Something is broken', default: false })]);
    expect(created.data.pull_request).toBeUndefined();
    expect(server.implicitLabels).toEqual([]);

    const got = await octokit.rest.issues.get({ ...where, issue_number: 1 });
    expect(got.data).toEqual(created.data);

    const closed = await octokit.rest.issues.update({ ...where, issue_number: 1, state: 'closed', state_reason: 'not_planned' });
    expect(closed.data).toMatchObject({ state: 'closed', state_reason: 'not_planned', closed_by: { login: server.login } });
    expect(closed.data.closed_at).toEqual(expect.any(String));
    expect(server.issues()[0]).toMatchObject({ state: 'closed', stateReason: 'not_planned' });

    const reopened = await octokit.rest.issues.update({ ...where, issue_number: 1, state: 'open' });
    expect(reopened.data).toMatchObject({ state: 'open', state_reason: 'reopened', closed_at: null, closed_by: null });

    // labels replace the whole set; "Bug" is the existing "bug", "ops" is new and GitHub makes it grey.
    const relabelled = await octokit.rest.issues.update({ ...where, issue_number: 1, labels: ['ops', 'Bug'], title: 'Drift on web-1 (again)' });
    expect(relabelled.data.labels.map((l) => (typeof l === 'string' ? l : l.name))).toEqual(['ops', 'bug']);
    expect(relabelled.data.title).toBe('Drift on web-1 (again)');
    expect(server.implicitLabels).toEqual(['ops']);
    expect(server.label('OPS')).toMatchObject({ name: 'ops', color: 'ededed', description: null, default: false });

    const cleared = await octokit.rest.issues.update({ ...where, issue_number: 1, labels: [], state: 'closed' });
    expect(cleared.data).toMatchObject({ labels: [], state: 'closed', state_reason: 'completed' });
    expect(Date.parse(cleared.data.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.data.updated_at));
  });

  it('comments on a plain issue, and answers 404 for a number that is neither issue nor PR', async () => {
    const issue = server.openIssue({ title: 'Question', author: 'alice' });
    const comment = await octokit.rest.issues.createComment({ ...where, issue_number: issue.number, body: 'Answer' });
    expect(comment.data.html_url).toBe(`https://github.com/acme/fleet/issues/${issue.number}#issuecomment-${comment.data.id}`);
    server.addComment(issue.number, { user: 'alice', body: 'thanks' });
    const comments = await octokit.rest.issues.listComments({ ...where, issue_number: issue.number });
    expect(comments.data.map((c) => c.body)).toEqual(['Answer', 'thanks']);
    expect((await octokit.rest.issues.get({ ...where, issue_number: issue.number })).data.comments).toBe(2);

    expect((await status(octokit.rest.issues.get({ ...where, issue_number: 99 }))).status).toBe(404);
    expect((await status(octokit.rest.issues.update({ ...where, issue_number: 99, state: 'closed' }))).status).toBe(404);
    expect((await status(octokit.rest.issues.listComments({ ...where, issue_number: 99 }))).status).toBe(404);
    const missing = await status(octokit.rest.issues.createComment({ ...where, issue_number: 99, body: 'hello?' }));
    expect(missing.status).toBe(404);
    expect(missing.data).toMatchObject({ message: 'Not Found' });
  });

  it('answers 422 for a blank title', async () => {
    const error = await status(octokit.rest.issues.create({ ...where, title: ' ' }));
    expect(error.status).toBe(422);
    expect(error.data).toMatchObject({ message: 'Validation Failed', errors: [{ resource: 'Issue', code: 'missing_field', field: 'title' }] });
    expect(server.issues()).toEqual([]);
  });

  it('pages through 250 issues, open and closed, in the order asked, each once', async () => {
    for (let i = 1; i <= 250; i++) server.openIssue({ title: `Issue ${i}`, author: i % 2 ? 'alice' : 'bob', state: i % 3 === 0 ? 'closed' : 'open' });
    server.perPageMax = 40;

    const oldestFirst = await octokit.paginate(octokit.rest.issues.listForRepo, { ...where, state: 'all', sort: 'created', direction: 'asc', per_page: 100 });
    expect(oldestFirst).toHaveLength(250);
    expect(oldestFirst.map((i) => i.number)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(new Set(oldestFirst.map((i) => i.id)).size).toBe(250);
    const listCalls = server.requests.filter((r) => r.operation === 'GET /repos/{owner}/{repo}/issues');
    expect(listCalls).toHaveLength(Math.ceil(250 / 40));
    expect(listCalls.every((r) => r.status === 200)).toBe(true);

    // The defaults: open only, newest first.
    const open = await octokit.paginate(octokit.rest.issues.listForRepo, { ...where, per_page: 100 });
    const openNumbers = Array.from({ length: 250 }, (_, i) => 250 - i).filter((n) => n % 3 !== 0);
    expect(open.map((i) => i.number)).toEqual(openNumbers);

    const closed = await octokit.paginate(octokit.rest.issues.listForRepo, { ...where, state: 'closed', per_page: 100 });
    expect(closed).toHaveLength(83);
    expect(closed.every((i) => i.state === 'closed' && i.state_reason === 'completed' && i.closed_at !== null)).toBe(true);

    const byBob = await octokit.paginate(octokit.rest.issues.listForRepo, { ...where, state: 'all', creator: 'BOB', per_page: 100 });
    expect(byBob).toHaveLength(125);
  });

  it('sorts by updated and filters by since', async () => {
    for (let i = 1; i <= 4; i++) server.openIssue({ title: `Issue ${i}`, author: 'alice' });
    const [one, two] = server.issues();
    one!.updatedAt = '2031-01-01T00:00:00Z';
    two!.updatedAt = '2030-01-01T00:00:00Z';

    const byUpdate = await octokit.rest.issues.listForRepo({ ...where, sort: 'updated' });
    expect(byUpdate.data.map((i) => i.number)).toEqual([1, 2, 4, 3]);
    const recent = await octokit.rest.issues.listForRepo({ ...where, since: '2030-06-01T00:00:00Z' });
    expect(recent.data.map((i) => i.number)).toEqual([1]);
  });

  it('filters by labels: every one named, in any case', async () => {
    server.openIssue({ title: 'both', author: 'alice', labels: ['bug', 'fleetspec/drift'] });
    server.openIssue({ title: 'bug only', author: 'alice', labels: ['bug'] });
    server.openIssue({ title: 'drift only', author: 'alice', labels: ['Fleetspec/Drift'] });
    server.openIssue({ title: 'none', author: 'alice' });

    const both = await octokit.rest.issues.listForRepo({ ...where, labels: 'BUG,fleetspec/drift' });
    expect(both.data.map((i) => i.title)).toEqual(['both']);
    const drift = await octokit.rest.issues.listForRepo({ ...where, labels: 'fleetspec/drift', direction: 'asc' });
    expect(drift.data.map((i) => i.title)).toEqual(['both', 'drift only']);
    // The third issue's label is the one label, spelled as it was first made.
    expect(drift.data[1]!.labels).toEqual([expect.objectContaining({ name: 'fleetspec/drift' })]);
    expect(server.issues()[2]!.labels).toEqual(['fleetspec/drift']);
  });

  it('lists PRs as issues with pull_request, which GET and PATCH on /issues also reach', async () => {
    const issue = server.openIssue({ title: 'An issue', author: 'alice' });
    const pull = server.openPull({ head: 'feature/x', author: 'bob', title: 'A PR', headSha: fakeSha('x'), labels: ['plan'] });
    expect(pull.number).toBe(issue.number + 1);

    const listed = await octokit.rest.issues.listForRepo({ ...where });
    expect(listed.data.map((i) => i.number)).toEqual([pull.number, issue.number]);
    const [asIssue, plain] = listed.data;
    expect(plain!.pull_request).toBeUndefined();
    expect(asIssue!.pull_request).toEqual({
      url: `${server.url}/repos/acme/fleet/pulls/${pull.number}`,
      html_url: `https://github.com/acme/fleet/pull/${pull.number}`,
      diff_url: `https://github.com/acme/fleet/pull/${pull.number}.diff`,
      patch_url: `https://github.com/acme/fleet/pull/${pull.number}.patch`,
      merged_at: null,
    });
    expect(asIssue).toMatchObject({ title: 'A PR', user: { login: 'bob' }, html_url: `https://github.com/acme/fleet/pull/${pull.number}`, labels: [{ name: 'plan' }] });

    const patched = await octokit.rest.issues.update({ ...where, issue_number: pull.number, labels: ['plan', 'fleetspec/approved'] });
    expect(patched.data.pull_request).toBeDefined();
    expect(server.repo().pulls.get(pull.number)!.labels).toEqual(['plan', 'fleetspec/approved']);
    expect(server.implicitLabels).toEqual(['fleetspec/approved']);
    expect(server.issues()).toHaveLength(1);

    server.merge(pull.number, { mergeCommitSha: fakeSha('merged') });
    const merged = await octokit.rest.issues.get({ ...where, issue_number: pull.number });
    expect(merged.data).toMatchObject({ state: 'closed', pull_request: { merged_at: server.repo().pulls.get(pull.number)!.mergedAt } });
    expect((await octokit.rest.issues.listForRepo({ ...where })).data.map((i) => i.number)).toEqual([issue.number]);
    const reopen = await status(octokit.rest.issues.update({ ...where, issue_number: pull.number, state: 'open' }));
    expect(reopen.status).toBe(422);
  });

  it('holds issue bodies to the description: one without node_id is a violation', async () => {
    server.openIssue({ title: 'x', author: 'alice' });
    server.tamperNext((issue) => delete issue['node_id']);
    expect((await status(octokit.rest.issues.listForRepo({ ...where }))).status).toBe(500);
    expect(server.takeViolations()).toEqual([`GET /repos/{owner}/{repo}/issues → 200: response body /0 must have required property 'node_id'`]);
  });

  it('answers an injected primary rate limit on an issues route with 403 and the rate-limit headers', async () => {
    server.openIssue({ title: 'x', author: 'alice' });
    server.rateLimitNext({ kind: 'primary', resetInS: 120 });
    const before = Math.floor(Date.now() / 1000);
    const limited = await status(octokit.rest.issues.listForRepo({ ...where }));
    expect(limited.status).toBe(403);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    const reset = Number(limited.headers['x-ratelimit-reset']);
    expect(reset).toBeGreaterThanOrEqual(before + 120);
    expect(reset).toBeLessThanOrEqual(before + 122);
    expect(limited.data).toMatchObject({ message: expect.stringMatching(/^API rate limit exceeded/) });
    // Only the one request; the next is answered.
    expect((await octokit.rest.issues.listForRepo({ ...where })).data).toHaveLength(1);
    expect(server.requests.map((r) => [r.operation, r.status])).toEqual([
      ['GET /repos/{owner}/{repo}/issues', 403],
      ['GET /repos/{owner}/{repo}/issues', 200],
    ]);
  });
});

describe('labels', () => {
  it('creates a label (201), refuses one differing only in case (422 already_exists) and lists them', async () => {
    const created = await octokit.rest.issues.createLabel({ ...where, name: 'fleetspec', color: '0e8a16', description: 'Made by fleetspec' });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({ name: 'fleetspec', color: '0e8a16', description: 'Made by fleetspec', default: false, url: `${server.url}/repos/acme/fleet/labels/fleetspec` });

    const duplicate = await status(octokit.rest.issues.createLabel({ ...where, name: 'FleetSpec', color: 'ffffff' }));
    expect(duplicate.status).toBe(422);
    expect(duplicate.data).toEqual({
      message: 'Validation Failed',
      errors: [{ resource: 'Label', code: 'already_exists', field: 'name' }],
      documentation_url: expect.stringContaining('docs.github.com'),
      status: '422',
    });

    const badColor = await status(octokit.rest.issues.createLabel({ ...where, name: 'other', color: '#ffffff' }));
    expect(badColor.status).toBe(422);

    await octokit.rest.issues.createLabel({ ...where, name: 'Alpha', color: 'aaaaaa' });
    server.perPageMax = 1;
    const all = await octokit.paginate(octokit.rest.issues.listLabelsForRepo, { ...where });
    expect(all.map((l) => l.name)).toEqual(['Alpha', 'fleetspec']);
    expect(server.label('FLEETSPEC')?.color).toBe('0e8a16');
  });

  it('GET /labels/{name}: 404 before it exists, 200 after, whatever the case, slashes included', async () => {
    const missing = await status(octokit.rest.issues.getLabel({ ...where, name: 'fleetspec/plan' }));
    expect(missing.status).toBe(404);
    expect(missing.data).toMatchObject({ message: 'Not Found' });

    await octokit.rest.issues.createLabel({ ...where, name: 'fleetspec/plan', color: '5319e7' });
    const found = await octokit.rest.issues.getLabel({ ...where, name: 'FleetSpec/Plan' });
    expect(found.status).toBe(200);
    expect(found.data).toMatchObject({ name: 'fleetspec/plan', color: '5319e7', description: null });
  });

  it('records labels an API call made implicitly, not those a person made by opening or editing an issue', async () => {
    const byPerson = server.openIssue({ title: 'by a person', author: 'alice', labels: ['triage', 'Triage'] });
    expect(byPerson.labels).toEqual(['triage']);
    server.editIssue(byPerson.number, { labels: ['triage', 'needs-info'], state: 'closed' });
    expect(server.implicitLabels).toEqual([]);
    expect(server.label('needs-info')).toBeDefined();
    expect(server.issues()[0]).toMatchObject({ state: 'closed', stateReason: 'completed', labels: ['triage', 'needs-info'] });

    await octokit.rest.issues.createLabel({ ...where, name: 'fleetspec', color: '0e8a16' });
    const viaApi = await octokit.rest.issues.create({ ...where, title: 'by the client', labels: ['TRIAGE', 'fleetspec', 'new-one', { name: 'Other' }] });
    expect(viaApi.data.labels.map((l) => (typeof l === 'string' ? l : l.name))).toEqual(['triage', 'fleetspec', 'new-one', 'Other']);
    expect(server.implicitLabels).toEqual(['new-one', 'Other']);

    const labels = await octokit.rest.issues.listLabelsForRepo({ ...where });
    expect(labels.data.map((l) => l.name)).toEqual(['fleetspec', 'needs-info', 'new-one', 'Other', 'triage']);
  });
});
