// Rollback and re-plan by command, end to end: a bare repository behind `git http-backend`, sshd
// hosts for the roles, the Ollama stand-in, the store on PGlite, and the OpenAPI-checked GitHub
// stand-in. One story, tick by tick: a change that swaps the developer's model (deleting the old
// one) is approved and applied; a non-approver's `/fleetspec rollback` is answered and does
// nothing; an approver's opens a labelled revert PR planned in the same tick, which says the
// deleted model cannot be undone; the requester's own approval does not count; another approver's
// does, and live is back as it was, with the SLA reported; `/fleetspec plan` re-plans an open PR
// at once; the command line refuses what cannot be rolled back and lists what was.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHub } from '../../reconciler/github/client.js';
import { SpecRepo } from '../../reconciler/git/repo.js';
import { tick, type TickContext, type TickReport } from '../../reconciler/loop/tick.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { SshPool } from '../../reconciler/ssh/pool.js';
import { synthesiseAll } from '../../reconciler/stacks/files.js';
import { DIAGRAMS_DIR, writeDiagrams } from '../../reconciler/diagrams/index.js';
import { missingBinaryReason } from '../../reconciler/stacks/terraform.js';
import { openDb, type Db, type OpenOptions } from '../../reconciler/state/db.js';
import { listCommands } from '../../reconciler/state/commands.js';
import { parseCommand } from '../../reconciler/loop/commands.js';
import { authorsOf } from '../../reconciler/loop/authors.js';
import { parseRollbackTarget } from '../../reconciler/commands/rollback.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { pushRecorder, syncPullHeads } from '../git/activity.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { startOllamaServer, type OllamaTestServer } from '../ollama/server.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';
import { ENGINES } from '../state/engines.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
const TOKEN = 'ghp_rollbackTest0123456789abcdefABCDEF0';
const OWNER = 'acme';
const REPO = 'fleet';
const KEY = `${OWNER}/${REPO}`;
const NO_TERRAFORM = '/nonexistent/terraform';

describe('/fleetspec rollback and /fleetspec plan, end to end', () => {
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let ollama: OllamaTestServer;
  let web: TestSshd;
  let monitor: TestSshd;
  let developer: TestSshd;
  let pool: SshPool;
  let options: OpenOptions;
  let cleanup: () => Promise<void>;
  let db: Db;
  let work: string;
  let repo: SpecRepo;
  const progress: string[] = [];
  let recordPushes: ReturnType<typeof pushRecorder>;
  /** The PR whose apply is rolled back, its merge, and the revert PR. */
  let swap: number;
  let swapRun: number;
  let revert: number;
  let rollbackRun: number;

  const engineOptions = (): EngineOptions => ({
    specs: join(work, 'repo', 'specs'),
    mode: 'live',
    db,
    ssh: pool,
    noSsh: 'no ssh',
    sshPublicKey: clientKey().publicKey,
    secret: async () => undefined,
    progress: (m) => void progress.push(m),
    stacks: { dir: join(work, 'repo', 'stacks'), workDir: join(work, 'terraform'), noTerraform: missingBinaryReason(undefined, { FLEETSPEC_TERRAFORM: NO_TERRAFORM }) },
  });
  const github = () => new GitHub({ owner: OWNER, repo: REPO, token: TOKEN, baseUrl: gh.url, writeIntervalMs: 0, retryAfterBaseMs: 5 });
  const runTick = async (): Promise<TickReport> => {
    syncPullHeads(gh, recordPushes(() => 'bob'));
    const ctx: TickContext = { db, repoKey: KEY, git: repo, github: github(), specsPath: 'specs', llmProblem: 'no LLM here', engine: engineOptions(), trigger: 'manual', progress: (m) => void progress.push(m) };
    return tick(ctx);
  };

  const roleYaml = (model: string) =>
    [
      { kind: 'Role', name: 'monitor', type: 'role', host: 'web', ssh: { user: monitor.user, port: monitor.port, hostKey: monitor.hostKey }, capabilities: ['approve'], githubUsers: ['alice', 'carol', 'erin'] },
      {
        kind: 'Role',
        name: 'developer',
        type: 'role',
        host: 'web',
        ssh: { user: developer.user, port: developer.port, hostKey: developer.hostKey },
        capabilities: ['code.push'],
        githubUsers: ['bob'],
        llm: { provider: 'ollama', model, baseUrl: 'http://127.0.0.1:11434/v1' },
      },
    ]
      .map((d) => stringify(d))
      .join('---\n');
  const modelsYaml = (names: string[]) => names.map((name) => stringify({ kind: 'Model', name, host: 'web', runtime: 'ollama' })).join('---\n');
  const developerEnv = () => readFileSync(join(developer.home, '.env'), 'utf8');
  const merge = (number: number, by = 'alice'): string => {
    const pull = gh.repo().pulls.get(number)!;
    const clone = gitServer.clone(REPO);
    clone.git('checkout', '--quiet', 'main');
    clone.git('merge', '--quiet', '--no-ff', '-m', `Merge pull request #${number} from ${pull.head.ref}`, `origin/${pull.head.ref}`);
    clone.git('push', '--quiet', 'origin', 'main');
    const sha = clone.git('rev-parse', 'HEAD');
    gh.merge(number, { mergeCommitSha: sha, mergedBy: by });
    return sha;
  };
  const pullFor = (branch: string) => {
    syncPullHeads(gh, recordPushes(() => 'bob'));
    return [...gh.repo().pulls.values()].find((p) => p.head.ref === branch && p.state === 'open');
  };
  const commentsOn = (number: number) => gh.repo().issueComments.filter((c) => c.issue === number);
  /** Opens a PR from `branch` (pushed by bob), plans it, approves it by `approver`, merges it, and applies it. */
  const landed = async (branch: string, files: Record<string, string>, title: string, approver = 'alice') => {
    gitServer.commit(REPO, branch, files, title);
    await runTick();
    const pr = pullFor(branch)!;
    expect(pr, `the PR of ${branch}`).toBeDefined();
    gh.setPullCommits(pr.number, [{ sha: pr.head.sha, author: 'bob' }]);
    gh.review(pr.number, { user: approver, state: 'APPROVED', commitId: pr.head.sha });
    const sha = merge(pr.number);
    const report = await runTick();
    return { pr: pr.number, sha, report };
  };
  const env = () => {
    const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, GITHUB_TOKEN: ___, ...rest } = process.env;
    return {
      ...rest,
      NO_COLOR: '1',
      FLEETSPEC_GITHUB_REPO: KEY,
      FLEETSPEC_GITHUB_TOKEN: TOKEN,
      FLEETSPEC_GIT_URL: gitServer.url(REPO),
      FLEETSPEC_GITHUB_API: gh.url,
      FLEETSPEC_REPO_DIR: join(work, 'repo'),
      FLEETSPEC_WORK_DIR: join(work, 'terraform'),
      FLEETSPEC_SSH_KEY: join(work, 'id_ed25519'),
      FLEETSPEC_TERRAFORM: NO_TERRAFORM,
      FLEETSPEC_DASHBOARD: 'off',
      FLEETSPEC_FINDING_TICKETS: 'none',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { FLEETSPEC_STATE_DIR: options.stateDir! }),
    };
  };
  /** The built CLI, asynchronously: the git and GitHub stand-ins answer from this process. */
  const cli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { cwd: work, env: env(), encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    // The embedded store unless a server is given: the one the east server defaults to.
    const engine = ENGINES.at(-1)!;
    const fresh = await engine.fresh();
    options = fresh.options;
    cleanup = fresh.cleanup;
    db = await openDb(options);
    work = await mkdtemp(join(tmpdir(), 'fleetspec-rollback-'));
    writeFileSync(join(work, 'id_ed25519'), clientKey().privateKey, { mode: 0o600 });
    web = await startSshd();
    [monitor, developer] = await Promise.all([startSshd({ address: web.host }), startSshd({ address: web.host })]);
    ollama = await startOllamaServer({ models: [{ name: 'qwen2.5:3b' }], registry: { 'qwen2.5:3b': 1_900_000_000, 'qwen2.5:7b': 4_700_000_000 } });
    gitServer = await startGitServer({ token: TOKEN });
    gh = await startGitHubServer({ owner: OWNER, repo: REPO, token: TOKEN, defaultBranch: 'main', login: 'fleetspec-bot', resolveBranch: (branch) => gitServer.git(REPO, 'rev-parse', `refs/heads/${branch}`) });
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 3000, commandTimeoutMs: 10_000 });

    const seed = join(work, 'seed');
    const files: Record<string, string> = {
      'specs/hosts/web.yaml': stringify({ kind: 'Host', name: 'web', address: web.host, ssh: { user: web.user, port: web.port, hostKey: web.hostKey }, services: [{ name: 'ollama', port: ollama.port }], ollama: { prune: true } }),
      'specs/roles/roles.yaml': roleYaml('qwen2.5:3b'),
      'specs/models/web.yaml': modelsYaml(['qwen2.5:3b']),
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(seed, path, '..'), { recursive: true });
      writeFileSync(join(seed, path), text);
    }
    const loaded = await loadSpecs(join(seed, 'specs'));
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    await synthesiseAll(loaded.index, join(seed, 'stacks'));
    await writeDiagrams(loaded.index, join(seed, DIAGRAMS_DIR));
    for (const folder of ['stacks', DIAGRAMS_DIR]) {
      for (const name of await readdir(join(seed, folder), { recursive: true })) {
        const path = join(seed, folder, name);
        if (/\.(json|mmd)$/.test(name)) files[relative(seed, path)] = await readFile(path, 'utf8');
      }
    }
    await gitServer.createBare(REPO, files);
    recordPushes = pushRecorder(gitServer, REPO, gh);
    recordPushes();
    const seeded = { ...engineOptions(), specs: join(seed, 'specs'), stacks: { ...engineOptions().stacks!, dir: join(seed, 'stacks') } };
    expect((await applyPlan((await planFleet(seeded)).plan!, seeded)).status).toBe('applied');
    repo = await SpecRepo.open({ dir: join(work, 'repo'), url: gitServer.url(REPO), token: TOKEN, author: { name: 'fleetspec[bot]', email: 'fleetspec@users.noreply.github.com' } });
    // The baseline.
    expect((await runTick()).main).toEqual([expect.objectContaining({ outcome: 'baseline' })]);
  }, 120_000);

  afterAll(async () => {
    await pool?.close();
    await db?.close().catch(() => {});
    await Promise.all([web, monitor, developer].map((s) => s?.stop()));
    await Promise.all([ollama?.close(), gitServer?.close(), gh?.close()]);
    await cleanup?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('parses commands from the first non-blank line only, and rollback targets', () => {
    expect(parseCommand('/fleetspec rollback')).toBe('rollback');
    expect(parseCommand('\n  /fleetspec plan  \nplease')).toBe('plan');
    expect(parseCommand('please\n/fleetspec rollback')).toBeUndefined();
    expect(parseCommand('/fleetspec rollback now')).toBeUndefined();
    expect(parseCommand('> /fleetspec rollback')).toBeUndefined();
    expect(parseCommand('/fleetspec allow-deletions')).toBeUndefined();
    expect(parseRollbackTarget('12')).toEqual({ pr: 12 });
    expect(parseRollbackTarget('#12')).toEqual({ pr: 12 });
    expect(parseRollbackTarget('run:34')).toEqual({ run: 34 });
    expect(parseRollbackTarget('12; rm -rf /')).toHaveProperty('problem');
    expect(parseRollbackTarget('0')).toHaveProperty('problem');
  });

  it('an approved change that swaps the developer model (deleting the old one) is applied', async () => {
    const { pr, report } = await landed('swap-model', { 'specs/roles/roles.yaml': roleYaml('qwen2.5:7b'), 'specs/models/web.yaml': modelsYaml(['qwen2.5:7b']) }, 'Swap the developer model to qwen2.5:7b');
    expect(report.applied).toMatchObject({ pr, status: 'applied' });
    swap = pr;
    swapRun = report.run;
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:7b');
    expect(ollama.models()).toEqual(['qwen2.5:7b']);
  });

  it("a non-approver's /fleetspec rollback does nothing but say why", async () => {
    gh.addComment(swap, { user: 'bob', body: '/fleetspec rollback' });
    const report = await runTick();
    expect(report.commands).toEqual([expect.objectContaining({ command: 'rollback', pr: swap, by: '@bob', state: 'refused' })]);
    expect(report.commands[0]!.detail).toContain('not an approver');
    expect(commentsOn(swap).at(-1)!.body).toMatch(/@bob is not an approver, so fleetspec does nothing for `\/fleetspec rollback`[\s\S]*@alice, @carol, @erin/);
    expect(gitServer.git(REPO, 'branch', '--list', 'fleetspec/rollback/*')).toBe('');
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:7b');
    // Acted on once: the next tick says nothing more.
    const comments = gh.repo().issueComments.length;
    expect((await runTick()).commands).toEqual([]);
    expect(gh.repo().issueComments.length).toBe(comments);
  });

  it("an approver's /fleetspec rollback opens a labelled revert PR, planned in the same tick, which says what cannot be undone", async () => {
    const asked = gh.addComment(swap, { user: 'alice', body: '/fleetspec rollback' });
    const report = await runTick();
    expect(report.commands).toEqual([expect.objectContaining({ command: 'rollback', pr: swap, by: '@alice', state: 'done', resultPr: expect.any(Number) })]);
    revert = report.commands[0]!.resultPr!;
    rollbackRun = report.run;
    const pr = gh.repo().pulls.get(revert)!;
    expect(pr.head.ref).toBe(`fleetspec/rollback/pr-${swap}`);
    expect(pr.title).toBe(`Roll back #${swap}: Swap the developer model to qwen2.5:7b`);
    expect(pr.labels).toContain('fleetspec:rollback');
    // Planned in this same tick: the plan comment and its status are there.
    expect(report.branches).toEqual([expect.objectContaining({ branch: `fleetspec/rollback/pr-${swap}`, pr: revert, status: 'success' })]);
    const plan = commentsOn(revert).find((c) => c.body.includes('<!-- fleetspec:plan -->'))!.body;
    expect(plan).toContain(`### Rollback of #${swap}`);
    expect(plan).toMatch(/Cannot be undone[\s\S]*`models\/qwen2\.5:3b@web` was deleted by #\d+: its files were removed from the host/);
    expect(plan).toMatch(/\| \+ \| `models\/qwen2\.5:3b@web` \| create \|/);
    expect(plan).toMatch(/\| - \| `models\/qwen2\.5:7b@web` \| delete \|/);
    // The revert restores the specs only; the stacks and diagrams follow on the branch.
    const head = gitServer.git(REPO, 'rev-parse', `fleetspec/rollback/pr-${swap}`);
    expect(await repo.readFile(head, 'specs/models/web.yaml')).toBe(modelsYaml(['qwen2.5:3b']));
    expect(await repo.readFile(head, 'specs/roles/roles.yaml')).toBe(roleYaml('qwen2.5:3b'));
    // The requester is told, and the request and its time are recorded.
    expect(commentsOn(swap).at(-1)!.body).toContain(`opened #${revert} to roll this back`);
    const [cmd] = await listCommands(db, KEY, 1);
    expect(cmd).toMatchObject({ commentId: asked.id, state: 'done', resultPr: revert, requestedBy: 'alice' });
    expect(cmd!.plannedAt!.getTime()).toBeGreaterThanOrEqual(cmd!.requestedAt.getTime() - 1000);
    // Nothing is applied by asking.
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:7b');
  });

  it('asking again points to the open revert PR; everyone who asked is an author of it and cannot approve it', async () => {
    gh.addComment(swap, { user: 'carol', body: '/fleetspec rollback' });
    const report = await runTick();
    expect(report.commands).toEqual([expect.objectContaining({ state: 'done', resultPr: revert, detail: `#${revert} is open already` })]);
    expect(gh.repo().pulls.size).toBe(revert);
    const authors = await authorsOf(github(), db, KEY, await github().getPull(revert));
    expect([...authors.known]).toEqual(expect.arrayContaining(['alice', 'carol']));
    expect([...authors.known]).not.toContain('erin');
  });

  it('approved by another approver and merged, the revert is applied: live is back, with the SLA measured', async () => {
    const pr = gh.repo().pulls.get(revert)!;
    // alice and carol asked for it: their approvals would not count (decideApproval counts them as authors).
    gh.review(revert, { user: 'erin', state: 'APPROVED', commitId: pr.head.sha });
    const sha = merge(revert, 'erin');
    const report = await runTick();
    expect(report.applied).toMatchObject({ sha, pr: revert, status: 'applied' });
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:3b');
    expect(ollama.models()).toEqual(['qwen2.5:3b']);
    const result = commentsOn(revert).at(-1)!.body;
    expect(result).toContain('Approved by @erin');
    expect(result).toMatch(new RegExp(`Rollback of #${swap}, against its SLA[\\s\\S]*begin: the revert pull request had its plan [0-9.]+ s \\(goal under 5 min: met\\)[\\s\\S]*finish: applied [0-9.]+ s \\(goal under 15 min: met\\)`));
    // The next tick is quiet: no drift, nothing more.
    const quiet = await runTick();
    expect(quiet.drift).toEqual([]);
    expect(quiet.applied).toBeUndefined();
  });

  it('/fleetspec plan by an approver plans an open PR again at once; on a merged PR it is refused', async () => {
    gitServer.commit(REPO, 'more-models', { 'specs/models/web.yaml': modelsYaml(['qwen2.5:3b', 'qwen2.5:7b']) }, 'Add qwen2.5:7b back');
    await runTick();
    const pr = pullFor('more-models')!;
    expect((await runTick()).branches.find((b) => b.pr === pr.number)?.action).toBe('unchanged');
    const ticks = progress.length;
    gh.addComment(pr.number, { user: 'carol', body: '/fleetspec plan' });
    gh.addComment(swap, { user: 'carol', body: '/fleetspec plan' });
    const report = await runTick();
    expect(report.commands).toEqual([
      expect.objectContaining({ command: 'plan', pr: pr.number, state: 'done' }),
      expect.objectContaining({ command: 'plan', pr: swap, state: 'refused', detail: `#${swap} is not open` }),
    ]);
    // Planned afresh (live read again), where the tick before took the recorded plan.
    expect(progress.slice(ticks)).toContain(`planning more-models at ${pr.head.sha.slice(0, 7)}`);
    expect(report.branches.find((b) => b.pr === pr.number)).toBeDefined();
    expect(commentsOn(swap).at(-1)!.body).toContain('only an open pull request is planned');
  });

  it('the command line refuses a rollback with nothing to undo, and lists the rollbacks with their times', async () => {
    const again = await cli('rollback', `run:${swapRun}`, '--quiet');
    expect(again.stderr).toContain('not rolled back: the files #' + swap + ' changed are already back to what they were before it');
    expect(again.status).toBe(1);
    const shown = await cli('runs', 'show', String(rollbackRun));
    expect(shown.stdout).toContain(`command /fleetspec rollback on #${swap} by @alice: done (#${revert})`);
    const bad = await cli('rollback', 'main');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('is neither a pull request number');
    const listed = await cli('rollback', '--list', '--format', 'json');
    expect(listed.status, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as { pr: number; state: string; revertPr: number | null; beginMs: number | null; source: string; requestedBy: string | null }[];
    expect(rows.find((r) => r.revertPr === revert && r.requestedBy === 'alice')).toMatchObject({ pr: swap, state: 'done', beginMs: expect.any(Number) });
    expect(rows.find((r) => r.source === 'cli')).toMatchObject({ pr: swap, state: 'refused' });
  });

  it("a command from another account that took an approver's login is not the approver's", async () => {
    gh.users.rename('carol', 'carol-moved');
    gh.addComment(swap, { user: 'carol', body: '/fleetspec rollback' });
    const report = await runTick();
    expect(report.commands).toEqual([expect.objectContaining({ command: 'rollback', state: 'refused', detail: expect.stringMatching(/@carol is GitHub account \d+, not account \d+/) })]);
    expect(gh.repo().pulls.size).toBe(revert + 1);
  });

  it("a push to a rollback branch by anyone but fleetspec is never planned: the branch is deleted", async () => {
    gitServer.commit(REPO, 'fleetspec/rollback/pr-77', { 'specs/models/web.yaml': modelsYaml(['qwen2.5:3b', 'qwen2.5:14b']) }, 'Roll back #77');
    const pulls = gh.repo().pulls.size;
    const report = await runTick();
    expect(report.branches.find((b) => b.branch === 'fleetspec/rollback/pr-77')).toBeUndefined();
    expect(progress.some((m) => /^fleetspec\/rollback\/pr-77 at [0-9a-f]{7} was not written by fleetspec; closing it$/.test(m))).toBe(true);
    expect(gitServer.git(REPO, 'branch', '--list', 'fleetspec/rollback/pr-77')).toBe('');
    expect(gh.repo().pulls.size).toBe(pulls);
  });
});
