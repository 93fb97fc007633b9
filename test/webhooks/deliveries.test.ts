// The stand-ins deliver webhooks as GitHub does: the GitHub stand-in POSTs each event after the state
// change, signed with the webhook's secret (X-Hub-Signature-256, checked here with
// @octokit/webhooks-methods verify), with GitHub's headers and the payload fields GitHub documents;
// the git stand-in reports the pushes it takes, and the GitHub stand-in turns them into push and
// pull_request synchronize events. Last, the built daemon, with the same secret, ticks on a delivered
// pull_request event (the harness of webhooks.test.ts, its schedule once a day).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from '@octokit/rest';
import { verify } from '@octokit/webhooks-methods';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateKey } from '../../reconciler/state/secrets.js';
import { deliverPushes } from '../git/activity.js';
import { runGitAsync, startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer, type WebhookDelivery } from '../github/server.js';
import { BIN, startDaemon, startStand, waitFor, type DaemonProcess, type Stand } from '../metrics/harness.js';

const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZERO = '0'.repeat(40);

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  payload: Record<string, any>;
}

/** A receiver on loopback that records every delivery and answers `status`. */
async function startReceiver(status = 202): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, body, payload: JSON.parse(body) });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

describe('the GitHub stand-in delivers webhooks as GitHub does', () => {
  let gh: GitHubTestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let octokit: Octokit;
  const where = { owner: 'acme', repo: 'fleet' };

  beforeEach(async () => {
    receiver = await startReceiver();
    gh = await startGitHubServer({ webhook: { url: receiver.url, secret: SECRET } });
    const quiet = () => {};
    octokit = new Octokit({ auth: gh.token, baseUrl: gh.url, log: { debug: quiet, info: quiet, warn: quiet, error: quiet } });
  });

  afterEach(async () => {
    try {
      expect(gh.violations).toEqual([]);
    } finally {
      await gh.close();
      receiver.server.close();
    }
  });

  /** Every delivery answered; each as received, in the order of the state changes. */
  const settled = async () => {
    await gh.deliveriesSettled();
    expect(receiver.received).toHaveLength(gh.deliveries.length);
    return gh.deliveries.map((d) => ({ delivery: d, got: receiver.received.find((r) => r.headers['x-github-delivery'] === d.id)! }));
  };

  it('signs each delivery (verify passes with the secret, fails with another) and sends GitHub headers', async () => {
    const pr = gh.openPull({ head: 'feature', author: 'bob', title: 'A feature', headSha: 'a'.repeat(40) });
    const all = await settled();
    expect(all).toHaveLength(1);
    const [{ delivery, got }] = all as [{ delivery: WebhookDelivery; got: Received }];
    expect(delivery).toMatchObject({ event: 'pull_request', action: 'opened', status: 202, id: expect.stringMatching(UUID) });
    expect(got.headers).toMatchObject({
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': delivery.id,
      'x-github-hook-installation-target-type': 'repository',
      'x-github-hook-installation-target-id': String(gh.repo().id),
      'x-hub-signature-256': expect.stringMatching(/^sha256=[0-9a-f]{64}$/),
      'x-hub-signature': expect.stringMatching(/^sha1=[0-9a-f]{40}$/),
    });
    expect(got.headers['user-agent']).toMatch(/^GitHub-Hookshot\/[0-9a-f]+$/);
    expect(await verify(SECRET, got.body, got.headers['x-hub-signature-256'] as string)).toBe(true);
    expect(await verify('another-secret', got.body, got.headers['x-hub-signature-256'] as string)).toBe(false);
    expect(got.payload).toMatchObject({
      action: 'opened',
      number: pr.number,
      pull_request: { number: pr.number, state: 'open', head: { ref: 'feature', sha: 'a'.repeat(40) }, base: { ref: 'main' }, user: { login: 'bob' }, merged: false },
      repository: { full_name: 'acme/fleet', default_branch: 'main', owner: { login: 'acme' } },
      sender: { login: 'bob', id: gh.userId('bob') },
    });
  });

  it('pull_request opened, synchronize, closed (merged and not); pull_request_review submitted; issue_comment created on a PR and an issue; issues opened, edited, closed', async () => {
    // Through the REST API, as fleetspec does it.
    const opened = await octokit.rest.pulls.create({ ...where, head: 'plan', base: 'main', title: 'Plan it' });
    await octokit.rest.issues.createComment({ ...where, issue_number: opened.data.number, body: 'the plan' });
    const issue = await octokit.rest.issues.create({ ...where, title: 'Ticket', body: 'first' });
    await octokit.rest.issues.update({ ...where, issue_number: issue.data.number, body: 'second' });
    await octokit.rest.issues.update({ ...where, issue_number: issue.data.number, state: 'closed', state_reason: 'not_planned' });
    await octokit.rest.pulls.update({ ...where, pull_number: opened.data.number, state: 'closed' });
    // As people do it on GitHub.
    const pr = gh.openPull({ head: 'change', author: 'bob', title: 'Change', headSha: 'b'.repeat(40) });
    gh.setHeadSha(pr.number, 'c'.repeat(40));
    gh.review(pr.number, { user: 'alice', state: 'APPROVED', body: 'fine' });
    gh.addComment(issue.data.number, { user: 'alice', body: 'on the issue' });
    gh.merge(pr.number, { mergeCommitSha: 'd'.repeat(40), mergedBy: 'alice' });
    const people = gh.openIssue({ title: 'By hand', author: 'carol' });
    gh.editIssue(people.number, { title: 'By hand, renamed' });

    const all = await settled();
    expect(all.map(({ delivery }) => `${delivery.event} ${delivery.action}`)).toEqual([
      'pull_request opened',
      'issue_comment created',
      'issues opened',
      'issues edited',
      'issues closed',
      'pull_request closed',
      'pull_request opened',
      'pull_request synchronize',
      'pull_request_review submitted',
      'issue_comment created',
      'pull_request closed',
      'issues opened',
      'issues edited',
    ]);
    for (const { delivery, got } of all) {
      expect(delivery.status).toBe(202);
      expect(got.headers['x-github-event']).toBe(delivery.event);
      expect(await verify(SECRET, got.body, got.headers['x-hub-signature-256'] as string)).toBe(true);
      expect(got.payload).toMatchObject({ action: delivery.action, repository: { full_name: 'acme/fleet' }, sender: { login: expect.any(String) } });
    }
    const p = (i: number) => all[i]!.got.payload;
    expect(p(0)).toMatchObject({ number: opened.data.number, pull_request: { head: { ref: 'plan' } }, sender: { login: gh.login } });
    expect(p(1)).toMatchObject({ comment: { body: 'the plan', user: { login: gh.login } }, issue: { number: opened.data.number, pull_request: { url: expect.any(String) } } });
    expect(p(2)).toMatchObject({ issue: { number: issue.data.number, title: 'Ticket', state: 'open' } });
    expect(p(3)).toMatchObject({ changes: { body: { from: 'first' } }, issue: { body: 'second' } });
    expect(p(4)).toMatchObject({ issue: { state: 'closed', state_reason: 'not_planned' } });
    expect(p(5)).toMatchObject({ number: opened.data.number, pull_request: { state: 'closed', merged: false } });
    expect(p(7)).toMatchObject({ number: pr.number, before: 'b'.repeat(40), after: 'c'.repeat(40), pull_request: { head: { sha: 'c'.repeat(40) } } });
    expect(p(8)).toMatchObject({ review: { state: 'APPROVED', body: 'fine', user: { login: 'alice' }, commit_id: 'c'.repeat(40) }, pull_request: { number: pr.number }, sender: { login: 'alice' } });
    expect(p(8)).not.toHaveProperty('number');
    expect(p(9)).toMatchObject({ comment: { body: 'on the issue' }, issue: { number: issue.data.number } });
    expect(p(9).issue).not.toHaveProperty('pull_request');
    expect(p(10)).toMatchObject({ number: pr.number, pull_request: { state: 'closed', merged: true, merge_commit_sha: 'd'.repeat(40), merged_by: { login: 'alice' } }, sender: { login: 'alice' } });
    expect(p(12)).toMatchObject({ changes: { title: { from: 'By hand' } }, issue: { title: 'By hand, renamed' }, sender: { login: 'carol' } });
  });

  it('a delivery that fails is recorded and never fails the REST call; setWebhook moves or stops deliveries', async () => {
    receiver.server.close();
    await new Promise((r) => receiver.server.once('close', r));
    const created = await octokit.rest.issues.create({ ...where, title: 'Nobody listens' });
    expect(created.status).toBe(201);
    await gh.deliveriesSettled();
    expect(gh.deliveries).toEqual([expect.objectContaining({ event: 'issues', action: 'opened', status: -1, error: expect.any(String) })]);

    const other = await startReceiver(500);
    gh.setWebhook({ url: other.url, secret: 'other' });
    gh.addComment(created.data.number, { user: 'alice', body: 'hello' });
    await gh.deliveriesSettled();
    expect(gh.deliveries.at(-1)).toMatchObject({ event: 'issue_comment', status: 500, url: other.url });
    expect(await verify('other', other.received[0]!.body, other.received[0]!.headers['x-hub-signature-256'] as string)).toBe(true);

    gh.setWebhook(undefined);
    gh.addComment(created.data.number, { user: 'alice', body: 'unheard' });
    await gh.deliveriesSettled();
    expect(gh.deliveries).toHaveLength(2);
    other.server.close();
  });
});

describe('pushes to the git stand-in become GitHub push and synchronize events', () => {
  const TOKEN = 'ghp_deliveriesTest000000000000000000000';
  let git: GitTestServer;
  let gh: GitHubTestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    git = await startGitServer({ token: TOKEN });
    await git.createBare('fleet', { 'README.md': 'fleet\n' });
    gh = await startGitHubServer({ token: TOKEN, webhook: { url: receiver.url, secret: SECRET }, resolveBranch: (b) => git.git('fleet', 'rev-parse', b) });
    deliverPushes(git, gh, { actorOf: (user) => (user === 'x-access-token' ? gh.login : (user ?? null)) });
  });

  afterAll(async () => {
    await Promise.all([git?.close(), gh?.close()]);
    receiver?.server.close();
  });

  it('a git push over HTTP of a new branch: branch_creation activity and a push event; a second push moves the open PR with synchronize', async () => {
    const clone = git.clone('fleet');
    const remote = git.url('fleet').replace('http://', `http://bob:${TOKEN}@`);
    clone.git('checkout', '-q', '-b', 'topic');
    clone.git('commit', '-q', '--allow-empty', '-m', 'one');
    const first = clone.git('rev-parse', 'HEAD');
    await runGitAsync(clone.dir, ['push', '-q', remote, 'topic']);
    // Reported before the push's answer ended: GitHub knows it by the time `git push` returns.
    expect(gh.repo().branches.get('topic')).toBe(first);
    expect(gh.repo().activity.at(-1)).toMatchObject({ ref: 'refs/heads/topic', before: ZERO, after: first, type: 'branch_creation', actor: 'bob' });

    const pr = gh.openPull({ head: 'topic', author: 'bob', title: 'Topic', headSha: first });
    clone.git('commit', '-q', '--allow-empty', '-m', 'two');
    const second = clone.git('rev-parse', 'HEAD');
    await runGitAsync(clone.dir, ['push', '-q', remote, 'topic']);
    expect(gh.repo().pulls.get(pr.number)!.head.sha).toBe(second);
    // commit() pushes (by no named user) are reported too.
    const onMain = git.commit('fleet', 'main', { 'a.txt': 'a\n' });

    await gh.deliveriesSettled();
    const events = gh.deliveries.map((d) => `${d.event}${d.action ? ` ${d.action}` : ''}`);
    expect(events).toEqual(['push', 'pull_request opened', 'push', 'pull_request synchronize', 'push']);
    const payloads = gh.deliveries.map((d) => JSON.parse(d.body));
    expect(payloads[0]).toMatchObject({ ref: 'refs/heads/topic', before: ZERO, after: first, created: true, deleted: false, forced: false, pusher: { name: 'bob' }, sender: { login: 'bob' }, repository: { full_name: 'acme/fleet' } });
    expect(payloads[2]).toMatchObject({ ref: 'refs/heads/topic', before: first, after: second, created: false });
    expect(payloads[3]).toMatchObject({ number: pr.number, before: first, after: second, sender: { login: 'bob' } });
    expect(payloads[4]).toMatchObject({ ref: 'refs/heads/main', after: onMain });
    for (const d of gh.deliveries) {
      expect(d.status).toBe(202);
      const got = receiver.received.find((r) => r.headers['x-github-delivery'] === d.id)!;
      expect(await verify(SECRET, got.body, got.headers['x-hub-signature-256'] as string)).toBe(true);
    }
    expect(gh.violations).toEqual([]);
  });
});

describe('the daemon, with the same secret, ticks on a pull_request event the stand-in delivers', () => {
  let stand: Stand;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    stand = await startStand();
    const key = generateKey();
    const set = spawnSync(process.execPath, [BIN, 'secrets', 'set', 'meta/github/webhook_secret', '--own'], { cwd: stand.dir, env: stand.env({ FLEETSPEC_SECRET_KEY: key }), input: SECRET, encoding: 'utf8', timeout: 60_000 });
    expect(set.status, `${set.stdout}${set.stderr}`).toBe(0);
    daemon = startDaemon(['--schedule', '0 3 * * *', '--listen', '127.0.0.1:0'], stand.env({ FLEETSPEC_SECRET_KEY: key }), stand.dir);
    stand.gh.setWebhook({ url: `${await daemon.metricsUrl()}/webhook`, secret: SECRET });
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await stand?.close();
  }, 60_000);

  it('a PR opened on the stand-in is delivered, accepted (202) and answered by a tick within 2 s', async () => {
    const seen = () => `ticks: ${JSON.stringify(daemon.ticks.slice(-3))}; stderr: ${daemon.stderr().slice(-2000)}`;
    const before = stand.git.requests.length;
    const opened = Date.now();
    stand.gh.openPull({ head: 'add-ticket', author: 'bob', title: 'A ticket', headSha: stand.git.git('fleet', 'rev-parse', 'add-ticket') });
    await waitFor('a tick to start (a git request) after the delivery', 2_000, () => (stand.git.requests.length > before ? true : undefined), seen);
    expect(Date.now() - opened).toBeLessThan(2_000);
    await stand.gh.deliveriesSettled();
    const delivery = stand.gh.deliveries[0]!;
    expect(delivery).toMatchObject({ event: 'pull_request', action: 'opened', status: 202 });
    const line = await waitFor('the tick line of the delivery', 90_000, () => (daemon.ticks as { poked?: string }[]).find((t) => t.poked?.includes(delivery.id)), seen);
    expect(line.poked).toBe(`webhook pull_request ${delivery.id}`);
    expect(daemon.stderr()).toContain(`webhook: pull_request delivery ${delivery.id}: a tick is asked for`);
  }, 120_000);
});
