// Findings open tickets through pull requests: what observeFindings makes of a live plan and the
// ledger, and reconcileFindings against a bare repository behind real `git http-backend` and the
// GitHub test server (checked against GitHub's OpenAPI description), through a finding's whole
// life: proposed, withdrawn when it clears before the merge, merged, closed by a second PR, a PR a
// person closed left closed, and a finding this tick could not look at left alone.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHub } from '../../reconciler/github/client.js';
import { SpecRepo } from '../../reconciler/git/repo.js';
import { checkKey, closedText, diskKey, findingTicket, mountPart, observeFindings, reconcileFindings, FINDING_SOURCES, type ObserveInput } from '../../reconciler/loop/findings.js';
import type { Planned } from '../../reconciler/plan/engine.js';
import type { PlanFinding, ResourceChange } from '../../reconciler/plan/plan.js';
import type { DriverPlan } from '../../reconciler/kinds/driver.js';
import type { Ticket } from '../../reconciler/kinds/tickets/index.js';
import type { Resource } from '../../reconciler/kinds/kind.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { evaluatePolicies } from '../../reconciler/policies/evaluate.js';
import { loadPolicies } from '../../reconciler/policies/load.js';
import type { MainCommit } from '../../reconciler/state/loop.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';

const ALL = new Set(FINDING_SOURCES);
const MAIN_SHA = 'c0ffee0000000000000000000000000000000000';
const diskFinding = (host: string, mount: string, percent = 97): PlanFinding => ({
  kind: 'hosts',
  name: host,
  code: 'policy.host-thresholds',
  severity: 'warning',
  message: `disk ${mount} at ${percent}% (alert >90%; live)`,
  hint: `free space on ${mount} to get back to <80%`,
  policy: 'host-thresholds',
  subject: `disk.usage ${mount}`,
  where: 'specs/hosts/web.yaml:3:1',
});
/** A host check's finding as kinds/hosts/checks.ts makes it. */
const checkFinding = (host: string, subject: string, code = 'hosts.health-failed', message = `${subject.split(' ')[1]} on ${host}: GET http://127.0.0.1:11434/api/tags answered 500, expected 200`): PlanFinding => ({
  kind: 'hosts',
  name: host,
  code,
  severity: 'warning',
  subject,
  message,
  hint: `look at ${subject.split(' ')[1]} on ${host} (its logs, systemctl status or docker ps)`,
  where: 'specs/hosts/web.yaml:7:9',
});
const live = (p: { findings?: PlanFinding[]; unknown?: string[]; drift?: Record<string, ResourceChange[]> }): Planned =>
  ({
    diagnostics: [],
    resources: 1,
    plan: { findings: p.findings ?? [], unknown: (p.unknown ?? []).map((name) => ({ kind: 'hosts', name, reason: 'unreachable' })), changes: [] },
    byDriver: new Map(Object.entries(p.drift ?? {}).map(([kind, changes]) => [kind, { changes, unknown: [], findings: [] } satisfies DriverPlan])),
  }) as unknown as Planned;
const commit = (sha: string, outcome: MainCommit['outcome'], detail: string, pr: number | null = null): MainCommit => ({ sha: sha.padEnd(40, '0'), outcome, pr, runId: 7, detail });
const observe = (input: Partial<ObserveInput>) => observeFindings({ sources: ALL, main: 'main', mainSha: MAIN_SHA, ...input });

describe('observeFindings', () => {
  it('keys a disk finding by host and mount, from the host-thresholds subject only', () => {
    expect(mountPart('/')).toBe('root');
    expect(mountPart('/var/lib/docker')).toBe('var-lib-docker');
    expect(diskKey(diskFinding('DESKTOP-LIBOQV5', '/mnt/Data'))).toBe('disk.desktop-liboqv5.mnt-data');
    expect(diskKey({ ...diskFinding('web', '/'), subject: 'memory.usage' })).toBeUndefined();
    expect(diskKey({ ...diskFinding('web', '/'), kind: 'models' })).toBeUndefined();
    const o = observe({ live: live({ findings: [diskFinding('web', '/'), { ...diskFinding('web', '/'), subject: 'cpu.usage', message: 'CPU load 95%' }] }) });
    expect([...o.holding.keys()]).toEqual(['disk.web.root']);
    expect(o.holding.get('disk.web.root')).toMatchObject({ title: 'Disk / on web is over its alert threshold', priority: 'high', hosts: ['web'] });
    expect(o.holding.get('disk.web.root')!.details).toContain('disk / at 97% (alert >90%; live).\nWhat to do: free space on / to get back to <80%.');
    expect(o.at).toBe('main at c0ffee0');
    // An error-severity threshold (the operator made it block applies) is critical.
    expect(observe({ live: live({ findings: [{ ...diskFinding('web', '/'), severity: 'error' }] }) }).holding.get('disk.web.root')!.priority).toBe('critical');
  });

  it('decides a disk finding cleared only when its host was read, or cannot be read at all', () => {
    const readable = new Set(['web', 'db']);
    const o = observe({ live: live({ unknown: ['web', 'nossh'] }), readableHosts: readable });
    expect(o.holding.size).toBe(0);
    expect(o.decided('disk.web.root')).toBe(false); // unreachable this tick: not "cleared"
    expect(o.decided('disk.db.root')).toBe(true); // read, under its threshold
    expect(o.decided('disk.nossh.root')).toBe(true); // never contacted: its spec's observed: is all there is
    // No live plan this tick (an apply ran): no disk or drift decision at all.
    const none = observe({});
    expect(none.decided('disk.db.root')).toBe(false);
    expect(none.decided('drift.dns')).toBe(false);
    expect(none.decided('apply.failed')).toBe(true);
    expect(none.decided('someones.own-key')).toBe(false);
  });

  it('keys health and backup findings by host and check; a check not read, or its host not read, is undecided', () => {
    expect(checkKey(checkFinding('AI', 'health voice-assistant'))).toEqual({ source: 'health', key: 'health.ai.voice-assistant', name: 'voice-assistant' });
    expect(checkKey(checkFinding('ai', 'backup postgres', 'hosts.backup-stale'))).toEqual({ source: 'backup', key: 'backup.ai.postgres', name: 'postgres' });
    expect(checkKey({ ...checkFinding('ai', 'health x'), kind: 'models' })).toBeUndefined();
    expect(checkKey(diskFinding('ai', '/'))).toBeUndefined();
    const o = observe({
      live: live({
        findings: [
          checkFinding('ai', 'health ollama'),
          checkFinding('ai', 'backup postgres', 'hosts.backup-stale', 'backup postgres on ai (/data/backups/[0-9]*/postgres.sql): the newest is 3d old (at most 1d 2h)'),
          checkFinding('ai', 'backup chromadb', 'hosts.backup-count', 'backup chromadb on ai: only 2 kept (keep 7)'),
          checkFinding('ai', 'health voice-assistant', 'hosts.check-not-read', 'health probe of voice-assistant not read: no curl, nor a GNU wget (which can refuse redirects), on the host'),
        ],
        unknown: ['linux-home'],
      }),
      readableHosts: new Set(['ai']),
    });
    expect([...o.holding.keys()].sort()).toEqual(['backup.ai.chromadb', 'backup.ai.postgres', 'health.ai.ollama']);
    expect(o.holding.get('health.ai.ollama')).toMatchObject({ title: 'ollama on ai fails its health probe', priority: 'high', hosts: ['ai'] });
    expect(o.holding.get('health.ai.ollama')!.details).toBe(
      'ollama on ai: GET http://127.0.0.1:11434/api/tags answered 500, expected 200.\nWhat to do: look at ollama on ai (its logs, systemctl status or docker ps).\nThe probe is declared in `specs/hosts/web.yaml:7:9`.',
    );
    expect(o.holding.get('backup.ai.postgres')).toMatchObject({ title: 'Backup postgres on ai needs a look', priority: 'high' });
    expect(o.holding.get('backup.ai.chromadb')!.priority).toBe('normal');
    expect(o.decided('health.ai.voice-assistant')).toBe(false); // no curl this tick: neither held nor cleared
    expect(o.decided('health.ai.stt')).toBe(true); // read and passing (or no longer declared)
    // A host not read, even one without SSH settings (its checks only ever run live), decides nothing.
    expect(o.decided('health.linux-home.netdata')).toBe(false);
    expect(o.decided('disk.linux-home.root')).toBe(true);
    // Switched off: neither held nor decided; no live plan: not decided.
    const off = observe({ sources: new Set(['disk']), live: live({ findings: [checkFinding('ai', 'health ollama')] }) });
    expect(off.holding.size).toBe(0);
    expect(off.decided('health.ai.ollama')).toBe(false);
    expect(observe({}).decided('backup.ai.postgres')).toBe(false);
  });

  it('holds drift per kind with applicable changes only, naming the drift PR', () => {
    const change = (name: string, action: ResourceChange['action']): ResourceChange => ({ kind: 'dns', name, action, before: null, after: null, reason: '' });
    const o = observe({ live: live({ drift: { dns: [change('api', 'update'), change('www', 'no-op')], hosts: [{ ...change('web', 'drift'), kind: 'hosts' }] } }), driftPrs: new Map([['dns', 12]]) });
    expect([...o.holding.keys()]).toEqual(['drift.dns']);
    expect(o.holding.get('drift.dns')!.details).toContain('- `dns/api` update');
    expect(o.holding.get('drift.dns')!.details).not.toContain('dns/www');
    expect(o.holding.get('drift.dns')!.details).toContain('The drift PR #12 holds the plan');
    expect(o.decided('drift.hosts')).toBe(true);
  });

  it('holds apply.failed while the last apply failed or was interrupted, and main.unapproved while refused commits stand', () => {
    expect(observe({ lastApply: commit('aaa', 'failed', 'ssh: connection refused', 4) }).holding.get('apply.failed')).toMatchObject({ title: 'The last apply on main failed', priority: 'high' });
    expect(observe({ lastApply: commit('aaa', 'failed', 'x', 4) }).holding.get('apply.failed')!.details).toContain('aaa0000 (#4) failed to apply in run 7: x.');
    expect(observe({ lastApply: commit('aaa', 'abandoned', 'interrupted') }).holding.get('apply.failed')!.title).toBe('The last apply on main was interrupted');
    expect(observe({ lastApply: commit('aaa', 'applied', '2 changes applied') }).holding.has('apply.failed')).toBe(false);
    const refused = [commit('bbb', 'not-approved', 'pushed to main without a pull request'), commit('ccc', 'not-approved', '@bob approved, but no role lists them', 9)];
    const held = observe({ unapproved: refused }).holding.get('main.unapproved')!;
    expect(held.details).toContain('- bbb0000: pushed to main without a pull request\n- ccc0000 (#9): @bob approved');
    expect(observe({ unapproved: [] }).holding.has('main.unapproved')).toBe(false);
    // A source switched off is neither held nor decided.
    const off = observe({ sources: new Set(['disk']), unapproved: refused, lastApply: commit('aaa', 'failed', 'x') });
    expect(off.holding.size).toBe(0);
    expect(off.decided('apply.failed')).toBe(false);
  });

  it('keeps what looks like a secret out of the ticket', () => {
    const leaked = observe({ lastApply: commit('aaa', 'failed', 'auth failed for ghp_abcdefghijklmnopqrstuvwxyz0123456789') }).holding.get('apply.failed')!;
    const ticket = findingTicket(leaked, 'T-0009', 'main at c0ffee0');
    expect(JSON.stringify(ticket)).not.toContain('ghp_');
    expect(ticket.description).toContain('left out');
    expect(ticket).toMatchObject({ id: 'T-0009', status: 'open', labels: ['finding'], finding: 'apply.failed' });
  });
});

describe("the user's fleet", () => {
  const ROOT = join(import.meta.dirname, '..', '..');

  it("the east server's root disk is T-0001's finding: host-thresholds names it, and its key is the one T-0001 carries", async () => {
    const specs = await loadSpecs(join(ROOT, 'specs'));
    const { set } = await loadPolicies(join(ROOT, 'policies'));
    const { findings } = evaluatePolicies({ set }, { index: specs.index, facts: new Map() });
    const disk = findings.filter((f) => f.policy === 'host-thresholds');
    expect(disk.map((f) => [f.name, f.subject, diskKey(f)])).toEqual([['linux-home', 'disk.usage /', 'disk.linux-home.root']]);
    const t1 = specs.index.all('tickets').find((r) => r.name === 'T-0001')!.value as Ticket;
    expect(t1.finding).toBe(diskKey(disk[0]!));
  });

  it('warns when two open tickets claim one finding', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-findings-specs-'));
    try {
      await mkdir(join(dir, 'tickets'));
      for (const id of ['T-0001', 'T-0002', 'T-0003']) {
        await writeFile(join(dir, 'tickets', `${id}.yaml`), stringify({ kind: 'Ticket', id, title: 'Disk', status: id === 'T-0003' ? 'closed' : 'open', finding: 'apply.failed' }));
      }
      const loaded = await loadSpecs(dir);
      expect(loaded.diagnostics.map((d) => [d.file.slice(dir.length + 1), d.code, d.severity, d.message])).toEqual([
        ['tickets/T-0002.yaml', 'tickets.duplicate-finding', 'warning', 'T-0001 is already the open ticket for the finding "apply.failed"'],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('finding tickets through pull requests', () => {
  let work: string;
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let repo: SpecRepo;
  let github: GitHub;
  const progress: string[] = [];

  const host = stringify({ kind: 'Host', name: 'web', address: '127.0.0.1' });
  const own = [
    '# Tracked by hand; the loop closes it when the disk is fine.',
    'kind: Ticket',
    'id: T-0001',
    'title: "Clean the disk"   # by the manager',
    'status: "open"',
    'hosts: [web]',
    'finding: disk.web.data',
    '',
  ].join('\n');

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetspec-findings-'));
    gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', defaultBranch: 'main', resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', `refs/heads/${b}`) });
    gitServer = await startGitServer({ token: gh.token });
    await gitServer.createBare('fleet', { 'specs/hosts/web.yaml': host, 'specs/tickets/T-0001.yaml': own });
    // A pulled ticket's branch reserves T-0002.
    gitServer.commit('fleet', 'fleetspec/ticket/T-0002-issue-5', { 'specs/tickets/T-0002.yaml': stringify({ kind: 'Ticket', id: 'T-0002', title: 'From an issue', status: 'open', githubIssue: 5 }) }, 'Add T-0002');
    repo = await SpecRepo.open({ dir: join(work, 'repo'), url: gitServer.url('fleet'), token: gh.token, author: { name: 'fleetspec[bot]', email: 'bot@example.com' } });
    github = new GitHub({ owner: 'acme', repo: 'fleet', token: gh.token, baseUrl: gh.url, writeIntervalMs: 0 });
  }, 30_000);

  afterAll(async () => {
    await Promise.all([gh?.close(), gitServer?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** One findings pass as a tick makes it: fetch, main's specs, then the PRs. */
  const pass = async (input: Partial<ObserveInput>) => {
    const heads = await repo.fetch();
    const mainSha = heads.get('main')!;
    await repo.checkout(mainSha);
    const specs = await loadSpecs(join(repo.dir, 'specs'));
    expect(specs.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const observed = observeFindings({ sources: ALL, main: 'main', mainSha, ...input });
    return reconcileFindings({ git: repo, github, specsPath: 'specs', progress: (m) => void progress.push(m) }, 'main', mainSha, specs, heads, observed);
  };
  const openPulls = () => [...gh.repo().pulls.values()].filter((p) => p.state === 'open');
  const branches = () => gitServer.git('fleet', 'branch', '--list', 'fleetspec/finding/*').split('\n').map((b) => b.trim()).filter(Boolean);
  const merge = (number: number) => {
    const pull = gh.repo().pulls.get(number)!;
    const clone = gitServer.clone('fleet');
    clone.git('merge', '--quiet', '--no-ff', '-m', `Merge pull request #${number}`, `origin/${pull.head.ref}`);
    clone.git('push', '--quiet', 'origin', 'main');
    gh.merge(number, { mergeCommitSha: clone.git('rev-parse', 'HEAD'), mergedBy: 'alice' });
  };
  // T-0001's own finding (disk /data on web) holds until the last test.
  const data = diskFinding('web', '/data', 95);
  const diskRoot = (percent = 97) => ({ live: live({ findings: [diskFinding('web', '/', percent), data] }), readableHosts: new Set(['web']) });
  const quiet = () => ({ live: live({ findings: [data] }), readableHosts: new Set(['web']) });

  it('proposes a ticket for a finding without one, with the next id no branch reserves, once', async () => {
    const actions = await pass(diskRoot());
    const branch = 'fleetspec/finding/T-0003-disk_web_root';
    expect(actions).toEqual([{ key: 'disk.web.root', id: 'T-0003', branch, pr: expect.any(Number), action: 'opened' }]);
    const pr = gh.repo().pulls.get(actions[0]!.pr!)!;
    expect(pr).toMatchObject({ title: 'T-0003: Disk / on web is over its alert threshold', state: 'open', head: { ref: branch }, base: { ref: 'main' } });
    expect(pr.body).toContain('fleetspec found `disk.web.root` on main at');
    expect(pr.body).toContain('Closing this PR declines the ticket');
    const text = gitServer.git('fleet', 'show', `${branch}:specs/tickets/T-0003.yaml`);
    expect(text).toMatch(/^# yaml-language-server: \$schema=\.\.\/schemas\/tickets\.schema\.json\n# Opened by fleetspec for the finding disk\.web\.root;/);
    expect(parse(text)).toEqual({
      kind: 'Ticket',
      id: 'T-0003',
      title: 'Disk / on web is over its alert threshold',
      description: expect.stringMatching(/^disk \/ at 97% \(alert >90%; live\)\.\nWhat to do: free space on \/ to get back to <80%\.\nThe threshold is set in `specs\/hosts\/web\.yaml:3:1` \(policy host-thresholds\)\.\n\nFound by fleetspec on main at [0-9a-f]{7}\.$/),
      priority: 'high',
      status: 'open',
      labels: ['finding'],
      hosts: ['web'],
      finding: 'disk.web.root',
    });
    // The branch holds one commit on main: the ticket, nothing else.
    expect(gitServer.git('fleet', 'diff', '--name-only', 'main', branch)).toBe('specs/tickets/T-0003.yaml');
    // The same finding next tick (its value moved, 97% to 98%): the proposal stands as it was.
    expect(await pass(diskRoot(98))).toEqual([]);
    expect(openPulls()).toHaveLength(1);
    expect(gh.violations).toEqual([]);
  });

  it('a finding this tick could not look at is left alone; one that cleared before the merge has its PR closed', async () => {
    const [pr] = openPulls();
    // web unreachable: its disk finding is neither held nor cleared.
    expect(await pass({ live: live({ unknown: ['web'] }), readableHosts: new Set(['web']) })).toEqual([]);
    expect(gh.repo().pulls.get(pr!.number)!.state).toBe('open');
    const actions = await pass(quiet());
    expect(actions).toEqual([{ key: 'disk.web.root', id: 'T-0003', branch: 'fleetspec/finding/T-0003-disk_web_root', pr: pr!.number, action: 'withdrawn' }]);
    expect(gh.repo().pulls.get(pr!.number)!.state).toBe('closed');
    expect(gh.repo().issueComments.at(-1)!.body).toMatch(/^The finding `disk\.web\.root` no longer needs this: it cleared \(main at [0-9a-f]{7}\)\. Closing\.\n\n<!-- fleetspec:comment [0-9a-f]{12} -->$/);
    expect(branches()).toEqual([]);
    expect(gh.violations).toEqual([]);
  });

  it('once merged, the ticket is left open while the finding holds, and a second PR closes it when it clears', async () => {
    const [opened] = await pass(diskRoot());
    expect(opened).toMatchObject({ id: 'T-0003', action: 'opened' }); // the id was freed with its branch
    merge(opened!.pr!);
    expect(await pass(diskRoot())).toEqual([]);
    expect(branches()).toEqual([]); // the merged branch is tidied away
    const [closing] = await pass(quiet());
    const branch = 'fleetspec/finding/T-0003-disk_web_root';
    expect(closing).toEqual({ key: 'disk.web.root', id: 'T-0003', branch, pr: expect.any(Number), action: 'closing' });
    const pr = gh.repo().pulls.get(closing!.pr!)!;
    expect(pr.title).toBe('T-0003: close, disk.web.root cleared');
    expect(pr.body).toContain('This sets T-0003 (Disk / on web is over its alert threshold) to `status: closed`');
    const before = gitServer.git('fleet', 'show', 'main:specs/tickets/T-0003.yaml');
    const after = gitServer.git('fleet', 'show', `${branch}:specs/tickets/T-0003.yaml`);
    expect(after).toBe(before.replace('status: open', 'status: closed'));
    expect(await pass(quiet())).toEqual([]);
    merge(pr.number);
    expect(await pass(quiet())).toEqual([]);
    expect(openPulls()).toEqual([]);
    expect(gh.violations).toEqual([]);
  });

  it("closes a person's own ticket for a finding, keeping its comments and quoting; a closing PR a person closed stays closed", async () => {
    // disk.web.data is T-0001's, written by hand: cleared (web read, no finding), so fleetspec proposes closing it.
    const [closing] = await pass({ live: live({}), readableHosts: new Set(['web']) });
    expect(closing).toMatchObject({ key: 'disk.web.data', id: 'T-0001', action: 'closing' });
    const text = gitServer.git('fleet', 'show', `${closing!.branch}:specs/tickets/T-0001.yaml`);
    expect(text + '\n').toBe(own.replace('status: "open"', 'status: closed'));
    await github.updatePull(closing!.pr!, { state: 'closed' });
    expect(await pass({ live: live({}), readableHosts: new Set(['web']) })).toEqual([{ key: 'disk.web.data', id: 'T-0001', branch: closing!.branch, action: 'declined' }]);
    expect(openPulls()).toEqual([]);
    // The finding holds again: T-0001 stays open, and the declined branch goes.
    expect(await pass(quiet())).toEqual([]);
    expect(branches()).toEqual([]);
    expect(gh.violations).toEqual([]);
  });

  it('a PR GitHub refused to open leaves no branch behind, so the next tick proposes it again rather than reading it as declined', async () => {
    const original = gh.routes.get('POST /repos/{owner}/{repo}/pulls')!;
    gh.route('POST /repos/{owner}/{repo}/pulls', () => ({ status: 422, body: { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest', errors: [{ resource: 'PullRequest', code: 'custom', message: 'refused by the test' }] } }));
    const failing = { live: live({ findings: [data, diskFinding('web', '/srv')] }), readableHosts: new Set(['web']) };
    try {
      await expect(pass(failing)).rejects.toThrow(/refused by the test|Validation Failed/);
    } finally {
      gh.route('POST /repos/{owner}/{repo}/pulls', original);
    }
    expect(branches()).toEqual([]);
    const [again] = await pass(failing);
    expect(again).toMatchObject({ key: 'disk.web.srv', action: 'opened' });
    // It clears: the proposal is withdrawn, leaving the repository as it was.
    expect(await pass(quiet())).toEqual([expect.objectContaining({ key: 'disk.web.srv', action: 'withdrawn' })]);
    expect(branches()).toEqual([]);
  });

  it('a failing health probe opens a ticket, left alone while the probe is not read, and closed by a PR once it passes again', async () => {
    const probe = checkFinding('web', 'health ollama');
    const failing = { live: live({ findings: [data, probe] }), readableHosts: new Set(['web']) };
    const [opened] = await pass(failing);
    expect(opened).toMatchObject({ key: 'health.web.ollama', action: 'opened' });
    const text = gitServer.git('fleet', 'show', `${opened!.branch}:specs/tickets/${opened!.id}.yaml`);
    expect(parse(text)).toMatchObject({ title: 'ollama on web fails its health probe', priority: 'high', status: 'open', hosts: ['web'], finding: 'health.web.ollama' });
    expect(opened!.branch).toBe(`fleetspec/finding/${opened!.id}-health_web_ollama`);
    merge(opened!.pr!);
    expect(await pass(failing)).toEqual([]);
    // No curl on the host this tick, then the host unreachable: the ticket stays as it is.
    const notRead = checkFinding('web', 'health ollama', 'hosts.check-not-read', 'health probe of ollama not read: no curl, nor a GNU wget (which can refuse redirects), on the host');
    expect(await pass({ live: live({ findings: [data, notRead] }), readableHosts: new Set(['web']) })).toEqual([]);
    expect(await pass({ live: live({ unknown: ['web'] }), readableHosts: new Set(['web']) })).toEqual([]);
    // The probe passes: a PR proposes closing the ticket; merged, nothing is left to do.
    const [closing] = await pass(quiet());
    expect(closing).toMatchObject({ key: 'health.web.ollama', id: opened!.id, action: 'closing' });
    expect(gh.repo().pulls.get(closing!.pr!)!.title).toBe(`${opened!.id}: close, health.web.ollama cleared`);
    merge(closing!.pr!);
    expect(await pass(quiet())).toEqual([]);
    expect(openPulls()).toEqual([]);
    expect(gh.violations).toEqual([]);
  });

  it('closedText changes the status scalar alone', async () => {
    const specs = await loadSpecs(join(repo.dir, 'specs'));
    const t = specs.index.all('tickets').find((r) => r.name === 'T-0001') as Resource<Ticket>;
    expect(closedText(t)).toBe(own.replace('status: "open"', 'status: closed'));
  });
});
