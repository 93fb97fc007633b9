// `fleetspec tickets list|push|pull` through the built binary, against the GitHub test server
// (and, for pull, a bare repository behind git http-backend): the seeds' manager workflow.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

let dir: string;
let gh: GitHubTestServer;
let git: GitTestServer;

const fleetspec = (args: string[], extra: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const { DATABASE_URL: _, GITHUB_TOKEN: __, FLEETSPEC_GITHUB_TOKEN: ___, FLEETSPEC_GITHUB_REPO: ____, FLEETSPEC_SECRET_KEY: _____, ...rest } = process.env;
    const env = { ...rest, NO_COLOR: '1', FLEETSPEC_STATE_DIR: join(dir, 'state'), FLEETSPEC_TERRAFORM: join(dir, 'no-terraform'), ...extra };
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }));
    child.stdin!.end();
  });
const github = () => ({ FLEETSPEC_GITHUB_REPO: 'acme/fleet', FLEETSPEC_GITHUB_TOKEN: gh.token, FLEETSPEC_GITHUB_API: gh.url });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-tickets-cli-'));
  gh = await startGitHubServer({ owner: 'acme', repo: 'fleet' });
});
afterAll(async () => {
  await gh?.close();
  await git?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('fleetspec tickets list and push on specs/', () => {
  it('list shows the specs\' tickets; --live needs GitHub configured', async () => {
    const r = await fleetspec(['tickets', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^T-0001 +open +critical +- +Clean disk space on East server \(CRITICAL\)$/m);
    expect(r.stdout.trim().split('\n')).toHaveLength(8);
    const unconfigured = await fleetspec(['tickets', 'list', '--live']);
    expect(unconfigured.code).toBe(1);
    expect(unconfigured.stderr).toContain('fleetspec tickets list --live: no GitHub repository configured (set FLEETSPEC_GITHUB_REPO and FLEETSPEC_GITHUB_TOKEN)');
  });

  it('push shows the plan and changes nothing without --yes (exit 2); with --yes it opens one issue per ticket and records the run', async () => {
    const dry = await fleetspec(['tickets', 'push'], github());
    expect(dry.code).toBe(2);
    expect(dry.stdout).toContain('+ tickets/T-0001 (create: no issue on GitHub carries T-0001\'s marker)');
    expect(dry.stdout).toContain('Plan: 7 to add, 0 to change, 0 to destroy.');
    expect(dry.stderr).toContain('run again with --yes');
    expect(gh.issues()).toEqual([]);

    const push = await fleetspec(['tickets', 'push', '--yes'], github());
    expect(push.stderr).toMatch(/Apply complete: 7 changes applied \(run \d+\)\./);
    expect(push.code).toBe(0);
    const issues = gh.issues();
    expect(issues.map((i) => markerOf(i.body ?? '')?.id)).toEqual(['T-0001', 'T-0002', 'T-0003', 'T-0004', 'T-0005', 'T-0006', 'T-0007']);
    expect(issues[0]).toMatchObject({ title: 'T-0001: Clean disk space on East server (CRITICAL)', labels: expect.arrayContaining(['priority:critical', 'phase-1', 'ticket', 'status:open']) });
    expect(gh.implicitLabels).toEqual([]);
    // T-0001 is the loop's ticket for the east server's disk finding, and says so.
    expect(issues[0]!.body).toContain('Finding: `disk.linux-home.root`; fleetspec proposes closing this ticket when it clears.');
    // No secret reached GitHub: the token is not in any issue.
    expect(JSON.stringify(issues)).not.toContain(gh.token);

    const again = await fleetspec(['tickets', 'push'], github());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes');

    const listed = await fleetspec(['tickets', 'list', '--live', '--format', 'json'], github());
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as { id: string; sync: string; issue: { number: number; state: string } }[];
    expect(rows.map((r) => [r.id, r.sync, r.issue.number])).toEqual(issues.map((i) => [markerOf(i.body!)!.id, 'in sync', i.number]));

    gh.editIssue(issues[2]!.number, { title: 'Mount the HDDs (edited on GitHub)' });
    const text = await fleetspec(['tickets', 'list', '--live'], github());
    expect(text.stdout).toMatch(new RegExp(`^T-0003 .* #${issues[2]!.number} +edited on GitHub$`, 'm'));
    const drift = await fleetspec(['tickets', 'push', '--yes'], github());
    expect(drift.stdout).toContain(`! tickets/T-0003 (drift: issue #${issues[2]!.number} was edited on GitHub; its title differ from the spec, and fleetspec does not overwrite it)`);
    expect(gh.issues()[2]!.title).toBe('Mount the HDDs (edited on GitHub)');
    expect(gh.violations).toEqual([]);
    // GitHub asks for a second between writes and three for notifying ones: the seven issues take about 21 s.
  }, 90_000);
});

describe('fleetspec tickets pull', () => {
  it('turns an issue labelled ticket into a PR with the next free id, once', async () => {
    git = await startGitServer({ token: gh.token });
    const specs = join(ROOT, 'specs');
    const files: Record<string, string> = {};
    for (const name of await readdir(specs, { recursive: true })) {
      if (name.endsWith('.yaml')) files[`specs/${name}`] = await readFile(join(specs, name), 'utf8');
    }
    await git.createBare('fleet', files);
    const opened = gh.openIssue({ title: 'Back up the Redis data', body: 'Nightly, to the HDD.', author: 'carol', labels: ['ticket', 'priority:high', 'role:monitor'] });
    const settings = { ...github(), FLEETSPEC_GIT_URL: git.url('fleet'), FLEETSPEC_REPO_DIR: join(dir, 'clone'), FLEETSPEC_BRANCH: 'main' };
    const pull = await fleetspec(['tickets', 'pull', '--quiet', '--format', 'json'], settings);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    const branch = `fleetspec/ticket/T-0008-issue-${opened.number}`;
    expect(JSON.parse(pull.stdout)).toEqual([{ issue: opened.number, id: 'T-0008', branch, pr: expect.any(Number), action: 'opened' }]);
    const spec = git.git('fleet', 'show', `${branch}:specs/tickets/T-0008.yaml`);
    expect(spec).toContain('title: Back up the Redis data\ndescription: Nightly, to the HDD.\npriority: high\nassignee: monitor\nstatus: open\n');
    const again = await fleetspec(['tickets', 'pull'], settings);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No issue to pull');
    expect(gh.violations).toEqual([]);
  }, 60_000);
});
