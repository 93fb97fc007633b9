// The tickets kind against GitHub's issues: the engine plans and applies specs/tickets through
// the real GitHub client, talking to the local GitHub test server (checked against GitHub's
// OpenAPI description). Issues are found by fleetspec's marker, never by title; an issue
// without it is never touched; a hand edit is drift; labels are created before first use.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GitHub } from '../../reconciler/github/client.js';
import { ticketsDriver } from '../../reconciler/kinds/tickets/driver.js';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { openDb, type Db } from '../../reconciler/state/db.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';

let dir: string;
let db: Db;
let server: GitHubTestServer;
let log: string[];

const client = () => new GitHub({ owner: 'acme', repo: 'fleet', token: server.token, baseUrl: server.url, writeIntervalMs: 0, retryAfterBaseMs: 10, log: (m) => void log.push(m) });
const options = (extra: Partial<EngineOptions> = {}): EngineOptions => ({
  specs: join(dir, 'specs'),
  mode: 'live',
  db,
  noSsh: 'no ssh in this test',
  secret: async () => undefined,
  progress: (m) => void log.push(m),
  drivers: [ticketsDriver],
  issues: client(),
  ...extra,
});

interface TicketSpec {
  id: string;
  title: string;
  status?: 'open' | 'in_progress' | 'closed';
  priority?: 'low' | 'normal' | 'high' | 'critical';
  assignee?: string;
  labels?: string[];
  description?: string;
}
async function writeTickets(...tickets: TicketSpec[]): Promise<void> {
  await rm(join(dir, 'specs', 'tickets'), { recursive: true, force: true });
  await mkdir(join(dir, 'specs', 'tickets'), { recursive: true });
  for (const t of tickets) await writeFile(join(dir, 'specs', 'tickets', `${t.id}.yaml`), stringify({ kind: 'Ticket', status: 'open', ...t }));
}
async function plan(extra: Partial<EngineOptions> = {}): Promise<Plan> {
  const planned = await planFleet(options(extra));
  expect(planned.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return planned.plan!;
}
async function planAndApply(): Promise<Plan> {
  const p = await plan();
  const report = await applyPlan(p, options());
  expect(report.failed?.error).toBeUndefined();
  expect(report.status).toBe('applied');
  return p;
}
const actions = (p: Plan) => p.changes.map((c) => `${c.name} ${c.action}`);
const issueOf = (id: string) => server.issues().filter((i) => markerOf(i.body ?? '')?.id === id);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-tickets-'));
  db = await openDb({ stateDir: join(dir, 'state') });
  await mkdir(join(dir, 'specs', 'roles'), { recursive: true });
  await writeFile(join(dir, 'specs', 'roles', 'developer.yaml'), stringify({ kind: 'Role', name: 'developer', type: 'role', ssh: { user: 'developer', port: 2200 }, capabilities: ['tickets.work'] }));
});
afterAll(async () => {
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  server = await startGitHubServer({ owner: 'acme', repo: 'fleet', perPageMax: 100 });
  log = [];
});
afterEach(async () => {
  expect(server.violations).toEqual([]);
  await server.close();
});

describe('tickets as GitHub issues', () => {
  it('creates the issue with its labels (made first, in fleetspec\'s colours), then updates and closes it', async () => {
    await writeTickets({ id: 'T-0001', title: 'Clean the disk', priority: 'critical', assignee: 'developer', labels: ['phase-1'], description: 'Root is at 97%.' });
    const first = await planAndApply();
    expect(actions(first)).toEqual(['T-0001 create']);
    expect(first.changes[0]!.actions).toEqual(['create labels the repository lacks (phase-1, priority:critical, role:developer, status:open, ticket)', 'open an issue "T-0001: Clean the disk"']);
    const [issue] = issueOf('T-0001');
    expect(issue).toMatchObject({ title: 'T-0001: Clean the disk', state: 'open', author: server.login });
    expect(issue!.body).toContain('Root is at 97%.');
    expect(issue!.body).toContain('Managed by fleetspec from `specs/tickets/T-0001.yaml`');
    expect([...issue!.labels].sort()).toEqual(['phase-1', 'priority:critical', 'role:developer', 'status:open', 'ticket']);
    // fleetspec made every label itself; none was left for GitHub to make grey.
    expect(server.implicitLabels).toEqual([]);
    expect(server.label('priority:critical')).toMatchObject({ color: 'b60205' });

    expect(actions(await plan())).toEqual(['T-0001 no-op']);

    await writeTickets({ id: 'T-0001', title: 'Clean the disk on linux-home', priority: 'critical', assignee: 'developer', labels: ['phase-1'], status: 'in_progress', description: 'Root is at 97%.' });
    const update = await planAndApply();
    expect(update.changes[0]).toMatchObject({ action: 'update', reason: 'issue #1: title, labels changed in the spec' });
    expect(issueOf('T-0001')[0]).toMatchObject({ title: 'T-0001: Clean the disk on linux-home', state: 'open' });
    expect(issueOf('T-0001')[0]!.labels).toContain('status:in_progress');

    await writeTickets({ id: 'T-0001', title: 'Clean the disk on linux-home', priority: 'critical', assignee: 'developer', labels: ['phase-1'], status: 'closed', description: 'Root is at 97%.' });
    const close = await planAndApply();
    expect(close.changes[0]).toMatchObject({ action: 'update', reason: 'closed in the spec: close issue #1' });
    expect(issueOf('T-0001')[0]).toMatchObject({ state: 'closed', stateReason: 'completed' });
    expect(actions(await plan())).toEqual(['T-0001 no-op']);
    expect(server.issues()).toHaveLength(1);
  });

  it('finds its issues by marker among 250 others, across pages; an issue with the same title but no marker is never touched', async () => {
    for (let i = 0; i < 250; i++) server.openIssue({ title: `Someone's issue ${i}`, author: 'carol', state: i % 3 ? 'open' : 'closed' });
    const lookalike = server.openIssue({ title: 'T-0002: Rotate the keys', author: 'carol', labels: ['ticket'] });
    await writeTickets({ id: 'T-0002', title: 'Rotate the keys' });
    const first = await planAndApply();
    expect(first.changes[0]).toMatchObject({ action: 'create', reason: "no issue on GitHub carries T-0002's marker" });
    const listed = server.requests.filter((r) => r.operation === 'GET /repos/{owner}/{repo}/issues');
    expect(listed.length).toBeGreaterThanOrEqual(3);
    const ours = issueOf('T-0002');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.number).toBeGreaterThan(lookalike.number);
    expect(server.issues().find((i) => i.number === lookalike.number)).toMatchObject({ title: 'T-0002: Rotate the keys', body: null, labels: ['ticket'], state: 'open' });
    // The 252nd issue is found again on the next plan: nothing to do.
    expect(actions(await plan())).toEqual(['T-0002 no-op']);
  });

  it('reports an issue edited on GitHub as drift and does not overwrite it; matching the spec again records the edit', async () => {
    await writeTickets({ id: 'T-0003', title: 'Renew the certificate', priority: 'high' });
    await planAndApply();
    const [issue] = issueOf('T-0003');
    server.editIssue(issue!.number, { title: 'T-0003: Renew the certificate (urgent!)', labels: [...issue!.labels, 'urgent'] });
    await writeTickets({ id: 'T-0003', title: 'Renew the certificate', priority: 'low' });
    const drifted = await plan();
    expect(drifted.changes[0]).toMatchObject({ action: 'drift', reason: `issue #${issue!.number} was edited on GitHub; its title, labels differ from the spec, and fleetspec does not overwrite it` });
    expect(drifted.findings).toContainEqual(expect.objectContaining({ code: 'tickets.edited-on-github', severity: 'warning', name: 'T-0003' }));
    const before = server.requests.length;
    const report = await applyPlan(drifted, options());
    expect(report.status).toBe('applied');
    expect(server.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(issueOf('T-0003')[0]!.title).toBe('T-0003: Renew the certificate (urgent!)');

    // The operator takes GitHub's version into the spec: one update that only rewrites the marker.
    await writeTickets({ id: 'T-0003', title: 'Renew the certificate (urgent!)', priority: 'high', labels: ['urgent'] });
    const adopt = await plan();
    expect(adopt.changes[0]).toMatchObject({ action: 'update', reason: `issue #${issue!.number} was edited on GitHub and now matches the spec: record that in its marker` });
    expect(adopt.changes[0]!.actions).toEqual([`rewrite the marker of issue #${issue!.number} (its fields stay as they are)`]);
    await applyPlan(adopt, options());
    expect(actions(await plan())).toEqual(['T-0003 no-op']);
    // From now on spec changes go through again.
    await writeTickets({ id: 'T-0003', title: 'Renew the certificate (urgent!)', priority: 'critical', labels: ['urgent'] });
    expect((await plan()).changes[0]).toMatchObject({ action: 'update' });
  });

  it('closes the issue of a ticket removed from the specs, as not planned, with a comment', async () => {
    await writeTickets({ id: 'T-0004', title: 'Try the new model' }, { id: 'T-0005', title: 'Keep me' });
    await planAndApply();
    await writeTickets({ id: 'T-0005', title: 'Keep me' });
    const removal = await planAndApply();
    expect(actions(removal)).toEqual(['T-0004 delete', 'T-0005 no-op']);
    const [issue] = issueOf('T-0004');
    expect(issue).toMatchObject({ state: 'closed', stateReason: 'not_planned' });
    expect(server.repo().issueComments.filter((c) => c.issue === issue!.number).map((c) => c.body)).toEqual([expect.stringMatching(/^T-0004 was removed from the specs; fleetspec closes this issue as not planned\.\n\n<!-- fleetspec:comment [0-9a-f]{12} -->$/)]);
    expect(actions(await plan())).toEqual(['T-0005 no-op']);
  });

  it('waits out GitHub\'s 403 rate limit (x-ratelimit-reset) while reading, then plans', async () => {
    await writeTickets({ id: 'T-0006', title: 'Patch the kernel' });
    server.rateLimitNext({ kind: 'primary', resetInS: 2 });
    const p = await plan();
    expect(actions(p)).toEqual(['T-0006 create']);
    expect(server.requests.map((r) => r.status).slice(0, 2)).toEqual([403, 200]);
    expect(log).toEqual([expect.stringMatching(/^GitHub rate limit: waiting [234]s \(primary, GET http:\/\/127\.0\.0\.1:\d+\/repos\/acme\/fleet\/issues\?state=all&sort=created&direction=asc&per_page=100, wait 1 of 2/)]);
  });

  it('lists tickets as not read when GitHub cannot be read, never as issues to create', async () => {
    await writeTickets({ id: 'T-0007', title: 'Anything' });
    server.rateLimitNext({ kind: 'primary', resetInS: 3600 });
    const p = await plan();
    expect(p.changes).toEqual([]);
    expect(p.unknown).toEqual([{ kind: 'tickets', name: 'T-0007', reason: expect.stringMatching(/^GitHub issues of acme\/fleet not read: `.*primary rate limit, reset in 360\ds.*`$/), remote: expect.stringMatching(/^`GitHub GET .*`$/) }]);
    // GitHub's words (here fleetspec's own about them) are quoted as the excerpt the entry names.
    expect(p.unknown[0]!.reason.endsWith(p.unknown[0]!.remote!)).toBe(true);
    const offline = await plan({ mode: 'offline' });
    expect(offline.unknown).toEqual([{ kind: 'tickets', name: 'T-0007', reason: 'offline (plan with --live to read GitHub issues)' }]);
    const unconfigured = await plan({ issues: undefined, noIssues: 'no GitHub repository configured (set FLEETSPEC_GITHUB_REPO and FLEETSPEC_GITHUB_TOKEN)' });
    expect(unconfigured.unknown[0]!.reason).toBe('no GitHub repository configured (set FLEETSPEC_GITHUB_REPO and FLEETSPEC_GITHUB_TOKEN)');
  });

  it('rolls back an issue it opened when a later change of the same apply fails', async () => {
    await writeTickets({ id: 'T-0008', title: 'First' }, { id: 'T-0009', title: 'Second' });
    const p = await plan();
    // GitHub refuses the second create (a 422 is not retried): the first issue is closed again.
    let creates = 0;
    const original = server.routes.get('POST /repos/{owner}/{repo}/issues')!;
    server.route('POST /repos/{owner}/{repo}/issues', (ctx) => (++creates === 2 ? { status: 422, body: { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest', errors: [{ resource: 'Issue', code: 'custom', field: 'title', message: 'refused by the test' }] } } : original(ctx)));
    const report = await applyPlan(p, options());
    expect(report.status).toBe('failed');
    expect(report.failed!.change.name).toBe('T-0009');
    expect(report.rolledBack).toEqual([`closed issue #${issueOf('T-0008')[0]!.number} opened for T-0008`]);
    expect(issueOf('T-0008')[0]).toMatchObject({ state: 'closed', stateReason: 'not_planned' });
  });
});
