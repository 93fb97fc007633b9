// The GitOps loop end to end, all local and all real where a real one can run here: a bare
// repository behind `git http-backend`, sshd hosts for the roles, the store on PGlite and on
// PostgreSQL; and contract servers where none can (GitHub checked against its OpenAPI
// description, an OpenAI-compatible LLM, Ollama). One story, tick by tick: a spec branch becomes
// a PR with plan, narrative and status; a merge approved by the wrong person is not applied; an
// approved one is, and reported; a quiet tick changes nothing; an apply killed half-way is not
// retried and nothing is applied twice; the daemon ticks and stops on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHub } from '../../reconciler/github/client.js';
import { SpecRepo } from '../../reconciler/git/repo.js';
import { tick, type TickContext, type TickReport } from '../../reconciler/loop/tick.js';
import { FINDING_SOURCES, type FindingAction, type FindingSource } from '../../reconciler/loop/findings.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { SshPool } from '../../reconciler/ssh/pool.js';
import { synthesiseAll } from '../../reconciler/stacks/files.js';
import { DIAGRAMS_DIR, writeDiagrams } from '../../reconciler/diagrams/index.js';
import { missingBinaryReason } from '../../reconciler/stacks/terraform.js';
import { openDb, type Db, type OpenOptions } from '../../reconciler/state/db.js';
import { getRun, runHistory } from '../../reconciler/state/ledger.js';
import { mainCommits } from '../../reconciler/state/loop.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { pushRecorder, syncPullHeads } from '../git/activity.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { startLlmServer, type LlmTestServer } from '../llm/server.js';
import { startOllamaServer, type OllamaTestServer } from '../ollama/server.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';
import { ENGINES, type Engine } from '../state/engines.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
const TOKEN = 'ghp_e2eTestToken0123456789abcdefABCDEF01';
const OWNER = 'acme';
const REPO = 'fleet';
const MODEL = 'fleetspec-test';
const NO_TERRAFORM = '/nonexistent/terraform';

describe.each(ENGINES)('the GitOps loop end to end on $name', (engine: Engine) => {
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let llm: LlmTestServer;
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
  /** Findings open tickets from their own step on (the daemon's default is all of them). */
  let findings: Set<FindingSource> | undefined;

  const env = () => {
    const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, GITHUB_TOKEN: ___, ...rest } = process.env;
    return {
      ...rest,
      NO_COLOR: '1',
      FLEETSPEC_GITHUB_REPO: `${OWNER}/${REPO}`,
      FLEETSPEC_GITHUB_TOKEN: TOKEN,
      FLEETSPEC_GIT_URL: gitServer.url(REPO),
      FLEETSPEC_GITHUB_API: gh.url,
      FLEETSPEC_REPO_DIR: join(work, 'repo'),
      FLEETSPEC_WORK_DIR: join(work, 'terraform'),
      FLEETSPEC_SSH_KEY: join(work, 'id_ed25519'),
      FLEETSPEC_LLM_BASE_URL: llm.baseUrl,
      FLEETSPEC_LLM_MODEL: MODEL,
      FLEETSPEC_TERRAFORM: NO_TERRAFORM,
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { FLEETSPEC_STATE_DIR: options.stateDir! }),
    };
  };

  const engineOptions = (): EngineOptions => ({
    specs: join(work, 'repo', 'specs'),
    mode: 'live',
    db,
    ssh: pool,
    noSsh: 'no ssh',
    sshPublicKey: clientKey().publicKey,
    secret: async () => undefined,
    progress: (m) => void progress.push(m),
    // No terraform, in this process and in the reconcile child alike: a real one (this machine has
    // /usr/local/bin/terraform) would try to download providers, and nothing here reaches a registry.
    stacks: { dir: join(work, 'repo', 'stacks'), workDir: join(work, 'terraform'), noTerraform: missingBinaryReason(undefined, { FLEETSPEC_TERRAFORM: NO_TERRAFORM }) },
  });

  /** Who pushed what, as GitHub's repository activity: dave, a writer in no role, pushes every branch here. */
  let recordPushes: ReturnType<typeof pushRecorder>;
  /** GitHub moves a PR's head when its branch moves; the test server learns it from the real repository. */
  const syncHeads = () => {
    syncPullHeads(gh, recordPushes(() => 'dave'));
  };

  const runTick = async (): Promise<TickReport> => {
    syncHeads();
    const github = new GitHub({ owner: OWNER, repo: REPO, token: TOKEN, baseUrl: gh.url, writeIntervalMs: 0, retryAfterBaseMs: 5 });
    const ctx: TickContext = {
      db,
      repoKey: `${OWNER}/${REPO}`,
      git: repo,
      github,
      specsPath: 'specs',
      llm: { baseUrl: llm.baseUrl, model: MODEL, timeoutMs: 5000 },
      engine: engineOptions(),
      trigger: 'manual',
      ...(findings ? { findings } : {}),
      progress: (m) => void progress.push(m),
    };
    return tick(ctx);
  };

  const roleYaml = (model: string) =>
    [
      {
        kind: 'Role',
        name: 'monitor',
        type: 'role',
        host: 'web',
        ssh: { user: monitor.user, port: monitor.port, hostKey: monitor.hostKey },
        capabilities: ['approve', 'deploy.production'],
        githubUsers: ['alice'],
      },
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
  const POLICY = stringify({ kind: 'Policy', name: 'only-monitor-deploys', severity: 'error', override: 'trust-me', rule: 'role-matrix', params: { exclusive: { 'deploy.production': ['monitor'] } } });
  const modelsYaml = (names: string[]) => names.map((name) => stringify({ kind: 'Model', name, host: 'web', runtime: 'ollama' })).join('---\n');
  const developerEnv = () => readFileSync(join(developer.home, '.env'), 'utf8');
  const pullsOf = (name: string) => ollama.requests.filter((r) => r.path === '/api/pull' && (r.body as { model?: string })?.model === name).length;

  /** What a person does on GitHub: merge the PR (real git on the bare repository), then GitHub marks it merged. */
  const merge = (number: number): string => {
    const pull = gh.repo().pulls.get(number)!;
    const clone = gitServer.clone(REPO);
    clone.git('checkout', '--quiet', 'main');
    clone.git('merge', '--quiet', '--no-ff', '-m', `Merge pull request #${number} from ${pull.head.ref}`, `origin/${pull.head.ref}`);
    clone.git('push', '--quiet', 'origin', 'main');
    const sha = clone.git('rev-parse', 'HEAD');
    gh.merge(number, { mergeCommitSha: sha, mergedBy: 'alice' });
    return sha;
  };
  const pullFor = (branch: string) => {
    syncHeads();
    return [...gh.repo().pulls.values()].find((p) => p.head.ref === branch && p.state === 'open');
  };
  const commentsOn = (number: number) => gh.repo().issueComments.filter((c) => c.issue === number).map((c) => c.body);
  const statusesOf = (sha: string, context: string) => gh.repo().statuses.filter((s) => s.sha === sha && s.context === context);

  beforeAll(async () => {
    const fresh = await engine.fresh();
    options = fresh.options;
    cleanup = fresh.cleanup;
    db = await openDb(options);
    work = await mkdtemp(join(tmpdir(), 'fleetspec-e2e-'));
    writeFileSync(join(work, 'id_ed25519'), clientKey().privateKey, { mode: 0o600 });
    web = await startSshd();
    [monitor, developer] = await Promise.all([startSshd({ address: web.host }), startSshd({ address: web.host })]);
    ollama = await startOllamaServer({
      models: [{ name: 'qwen2.5:3b' }],
      registry: { 'qwen2.5:3b': 1_900_000_000, 'qwen2.5:7b': 4_700_000_000, 'qwen2.5:14b': 9_000_000_000 },
      slowPullOf: { 'qwen2.5:14b': 1500 },
    });
    llm = await startLlmServer({ mode: 'good', models: [MODEL] });
    gitServer = await startGitServer({ token: TOKEN });
    gh = await startGitHubServer({
      owner: OWNER,
      repo: REPO,
      token: TOKEN,
      defaultBranch: 'main',
      login: 'fleetspec-bot',
      // A PR opens on the branch's tip at that moment, bot commits included: asked of the real repository.
      resolveBranch: (branch) => gitServer.git(REPO, 'rev-parse', `refs/heads/${branch}`),
    });
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 3000, commandTimeoutMs: 10_000 });

    // The fleet on main: one host with Ollama, two roles (monitor may approve, developer may not), one model;
    // its stacks synthesised and its diagrams drawn and committed, as `fleetspec stacks synth` and `fleetspec diagrams` leave them.
    const seed = join(work, 'seed');
    const files: Record<string, string> = {
      'specs/hosts/web.yaml': stringify({
        kind: 'Host',
        name: 'web',
        address: web.host,
        ssh: { user: web.user, port: web.port, hostKey: web.hostKey },
        services: [{ name: 'ollama', port: ollama.port }],
      }),
      'specs/roles/roles.yaml': roleYaml('qwen2.5:3b'),
      'specs/models/web.yaml': modelsYaml(['qwen2.5:3b']),
      // main's policies judge every PR: only monitor deploys, unless an approver overrides.
      'policies/roles.yaml': POLICY,
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

    // Live starts as main says: the developer's .env written by an apply of main's plan.
    const seeded = { ...engineOptions(), specs: join(seed, 'specs'), stacks: { ...engineOptions().stacks!, dir: join(seed, 'stacks') } };
    const applied = await applyPlan((await planFleet(seeded)).plan!, seeded);
    expect(applied.status).toBe('applied');
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:3b');

    repo = await SpecRepo.open({ dir: join(work, 'repo'), url: gitServer.url(REPO), token: TOKEN, author: { name: 'fleetspec[bot]', email: 'fleetspec@users.noreply.github.com' } });
  }, 60_000);

  afterAll(async () => {
    await pool?.close();
    await db?.close().catch(() => {});
    await Promise.all([web, monitor, developer].map((s) => s?.stop()));
    await Promise.all([ollama?.close(), llm?.close(), gitServer?.close(), gh?.close()]);
    await cleanup?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('tick 1: the first tick takes main as its baseline; a pushed spec branch becomes a PR with the plan, the narrative and a status', async () => {
    gitServer.commit(REPO, 'bigger-model', { 'specs/roles/roles.yaml': roleYaml('qwen2.5:7b'), 'specs/models/web.yaml': modelsYaml(['qwen2.5:3b', 'qwen2.5:7b']) }, 'Use qwen2.5:7b for the developer');
    const pushed = gitServer.git(REPO, 'rev-parse', 'bigger-model');
    const report = await runTick();
    expect(report.state).toBe('DONE');
    expect(report.main).toEqual([expect.objectContaining({ outcome: 'baseline', sha: gitServer.git(REPO, 'rev-parse', 'main') })]);
    expect(report.drift).toEqual([]);
    // The new model is on the topology diagram: the bot refreshed it on the branch, on top of the push.
    const head = gitServer.git(REPO, 'rev-parse', 'bigger-model');
    expect(gitServer.git(REPO, 'log', '--format=%P %an: %s', '-1', head)).toBe(`${pushed} fleetspec[bot]: fleetspec: refresh the topology diagram for ${pushed.slice(0, 7)}`);
    expect(gitServer.git(REPO, 'diff', '--name-only', pushed, head)).toBe('docs/diagrams/src/topology.mmd');
    expect(await repo.readFile(head, 'docs/diagrams/src/topology.mmd')).toContain('qwen2.5:7b');
    const pr = pullFor('bigger-model')!;
    expect(pr).toMatchObject({ title: 'Use qwen2.5:7b for the developer', base: { ref: 'main' }, head: { sha: head } });
    expect(report.branches).toEqual([{ branch: 'bigger-model', sha: head, pr: pr.number, action: 'opened', status: 'success' }]);
    const [comment, ...more] = commentsOn(pr.number);
    expect(more).toEqual([]);
    expect(comment).toContain('<!-- fleetspec:plan -->');
    expect(comment).toContain('### What this changes');
    expect(comment).toContain('`models/qwen2.5:7b@web`');
    expect(comment).toMatch(/\| \+ \| `models\/qwen2\.5:7b@web` \| create \|/);
    expect(comment).toMatch(/\| ~ \| `roles\/developer` \| update \|/);
    expect(comment).toContain('@alice');
    expect(statusesOf(head, 'fleetspec/plan')).toEqual([expect.objectContaining({ state: 'success', description: expect.stringContaining('Plan: 1 to add, 1 to change') })]);
    // The LLM saw the plan, not the token, and was asked once.
    expect(llm.requests.length).toBe(1);
    expect(JSON.stringify(llm.requests)).not.toContain(TOKEN);
    expect(gh.violations).toEqual([]);
  });

  it('tick 2: a merge approved by a user without the approve capability is not applied; it is reported, and never comes back as a drift PR', async () => {
    const pr = pullFor('bigger-model')!;
    gh.review(pr.number, { user: 'bob', state: 'APPROVED', commitId: pr.head.sha });
    const sha = merge(pr.number);
    const report = await runTick();
    expect(report.state).toBe('BLOCKED');
    expect(report.main).toEqual([{ sha, outcome: 'not-approved', pr: pr.number, detail: '@bob approved, but no role with the approve capability lists them in githubUsers' }]);
    expect(report.applied).toBeUndefined();
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:3b');
    expect(ollama.models()).toEqual(['qwen2.5:3b']);
    expect(statusesOf(sha, 'fleetspec/apply')).toEqual([expect.objectContaining({ state: 'failure' })]);
    expect(commentsOn(pr.number).at(-1)).toContain('fleetspec did not apply');
    expect(commentsOn(pr.number).at(-1)).toContain('`main` is not trusted');
    // Drift is live against the trusted commit, which live matches: the refused change is not re-proposed.
    expect(report.drift).toEqual([]);
    expect(pullFor('fleetspec/drift-roles')).toBeUndefined();
    expect((await mainCommits(db, `${OWNER}/${REPO}`)).get(sha)?.outcome).toBe('not-approved');
    expect(gh.violations).toEqual([]);
  });

  it('tick 3: a new PR approved by an allowed reviewer on the planned head is applied after the merge; the ledger says DONE and the PR gets the result', async () => {
    gitServer.commit(REPO, 'tune', { 'specs/roles/roles.yaml': roleYaml('qwen2.5:7b').replace('http://127.0.0.1:11434/v1', 'http://127.0.0.1:11434/v1/') }, 'Trailing slash on the Ollama URL');
    let report = await runTick();
    const pr = pullFor('tune')!;
    expect(report.branches.find((b) => b.branch === 'tune')).toMatchObject({ action: 'opened', status: 'success' });
    // bob pushed the branch (GitHub maps his commit to his login); alice, who did not, approves the planned head.
    gh.setPullCommits(pr.number, [{ sha: pr.head.sha, author: 'bob' }]);
    gh.review(pr.number, { user: 'alice', state: 'APPROVED', commitId: pr.head.sha });
    const sha = merge(pr.number);
    report = await runTick();
    expect(report.applied).toEqual({ sha, pr: pr.number, changes: 2, status: 'applied' });
    expect(report.state).toBe('DONE');
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:7b');
    expect(developerEnv()).toContain('LLM_BASE_URL=http://127.0.0.1:11434/v1/');
    expect(ollama.models()).toEqual(['qwen2.5:3b', 'qwen2.5:7b']);
    const run = await getRun(db, report.run);
    expect(run).toMatchObject({ state: 'DONE', planHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await runHistory(db, report.run)).map((t) => t.to)).toEqual(['PENDING', 'PLANNING', 'WAIT_FOR_APPROVE', 'APPLYING', 'DONE']);
    expect(commentsOn(pr.number).at(-1)).toMatch(/fleetspec applied .* \(run \d+\)[\s\S]*Approved by @alice[\s\S]*✓ `models\/qwen2\.5:7b@web` create[\s\S]*✓ `roles\/developer` update/);
    expect(statusesOf(sha, 'fleetspec/apply')).toEqual([expect.objectContaining({ state: 'success' })]);
    expect(gh.violations).toEqual([]);
  });

  it('tick 4: nothing changed, nothing happens: no apply, no new comment, no drift', async () => {
    const comments = gh.repo().issueComments.length;
    const pulls = ollama.requests.length;
    const report = await runTick();
    expect(report.state).toBe('DONE');
    expect(report.applied).toBeUndefined();
    expect(report.main).toEqual([]);
    expect(report.drift).toEqual([]);
    expect(gh.repo().issueComments.length).toBe(comments);
    expect(pullFor('fleetspec/drift-roles')).toBeUndefined();
    expect(gitServer.git(REPO, 'branch', '--list', 'fleetspec/*')).toBe('');
    // The live reads went to Ollama; no pull.
    expect(ollama.requests.slice(pulls).some((r) => r.path === '/api/pull')).toBe(false);
    const again = await runTick();
    expect(again).toMatchObject({ state: 'DONE', branches: [], main: [], drift: [] });
    expect(gh.repo().issueComments.length).toBe(comments);
  });

  it('a push to main without a PR: rendered SVGs alone are accepted; touching specs/ is refused, and reported until a revert', async () => {
    // What the diagrams workflow commits back after rendering: nothing a plan reads.
    const svg = gitServer.commit(REPO, 'main', { 'docs/diagrams/svg/topology.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>' }, 'docs(diagrams): render SVGs');
    let report = await runTick();
    expect(report.state).toBe('DONE');
    expect(report.main).toEqual([{ sha: svg, outcome: 'no-changes', pr: null, detail: 'pushed without a pull request; changes only inert files' }]);
    expect(statusesOf(svg, 'fleetspec/apply')).toEqual([]);
    expect(gh.repo().commitComments.filter((c) => c.sha === svg)).toEqual([]);
    // A comment in a spec changes nothing live, but it is a spec change nobody approved.
    const host = await repo.readFile(svg, 'specs/hosts/web.yaml');
    const sneaked = gitServer.commit(REPO, 'main', { 'specs/hosts/web.yaml': `# edited on main\n${host}` }, 'Edit main directly');
    report = await runTick();
    expect(report.state).toBe('BLOCKED');
    expect(report.main).toEqual([{ sha: sneaked, outcome: 'not-approved', pr: null, detail: 'pushed to main without a pull request; changes specs/hosts/web.yaml' }]);
    expect(statusesOf(sneaked, 'fleetspec/apply')).toEqual([expect.objectContaining({ state: 'failure' })]);
    expect(report.drift).toEqual([]);
    // Reported once, not every tick; main stays untrusted until it holds the trusted content again.
    report = await runTick();
    expect(report.main).toEqual([]);
    const undo = gitServer.commit(REPO, 'main', { 'specs/hosts/web.yaml': host! }, 'Undo the direct edit');
    report = await runTick();
    expect(report.main).toEqual([{ sha: undo, outcome: 'reverted', pr: null, detail: `brings main back to the trusted commit ${svg.slice(0, 7)}` }]);
    expect(report.state).toBe('DONE');
    expect(gh.violations).toEqual([]);
  });

  it('a PR a person closed stays closed until its branch gets a new commit', async () => {
    gitServer.commit(REPO, 'maybe', { 'specs/roles/roles.yaml': roleYaml('qwen2.5:3b') }, 'Back to 3b?');
    await runTick();
    const first = pullFor('maybe')!;
    const github = new GitHub({ owner: OWNER, repo: REPO, token: TOKEN, baseUrl: gh.url, writeIntervalMs: 0 });
    await github.updatePull(first.number, { state: 'closed' });
    const quiet = await runTick();
    expect(quiet.branches).toEqual([]);
    expect(pullFor('maybe')).toBeUndefined();
    gitServer.commit(REPO, 'maybe', { 'specs/models/web.yaml': modelsYaml(['qwen2.5:3b']) }, 'and drop 7b');
    const reopened = await runTick();
    const second = pullFor('maybe')!;
    expect(second.number).not.toBe(first.number);
    expect(reopened.branches).toEqual([expect.objectContaining({ branch: 'maybe', pr: second.number, action: 'opened' })]);
    await github.updatePull(second.number, { state: 'closed' });
    expect(gh.violations).toEqual([]);
  });

  it('main\'s policies judge a PR, which cannot loosen them; the failing verdict is the status until an approver\'s review line overrides it', async () => {
    const granted = roleYaml('qwen2.5:7b').replace("capabilities:\n  - code.push", "capabilities:\n  - code.push\n  - deploy.production");
    expect(granted).toContain('deploy.production\ngithubUsers:\n  - bob');
    // The branch also rewrites the policy to let developer deploy: main's policy still judges it.
    const loosened = POLICY.replace('- monitor', '- monitor\n      - developer');
    gitServer.commit(REPO, 'grant', { 'specs/roles/roles.yaml': granted, 'policies/roles.yaml': loosened }, 'Let developer deploy');
    let report = await runTick();
    const pr = pullFor('grant')!;
    expect(report.branches.find((b) => b.branch === 'grant')).toMatchObject({ action: 'opened', status: 'failure' });
    expect(statusesOf(pr.head.sha, 'fleetspec/plan').at(-1)).toMatchObject({
      state: 'failure',
      description: expect.stringContaining('policy only-monitor-deploys: roles/developer: holds "deploy.production", which only monitor may hold'),
    });
    const comment = commentsOn(pr.number).at(-1)!;
    expect(comment).toMatch(/\*\*Verdict: ❌ blocked\*\* \(fail: 1 error, \d+ warnings, from the 1 policy checked and the plan itself\)\. Apply refuses this plan/);
    expect(comment).toContain('policy `only-monitor-deploys`: `roles/developer` at `specs/roles/roles.yaml:');
    expect(comment).toContain('an approver writes `/fleetspec trust-me` on a line of their review');

    // bob's own review line counts for nothing; alice's does.
    gh.review(pr.number, { user: 'bob', state: 'COMMENTED', commitId: pr.head.sha, body: '/fleetspec trust-me' });
    report = await runTick();
    expect(report.branches.find((b) => b.branch === 'grant')).toMatchObject({ action: 'unchanged' });
    gh.review(pr.number, { user: 'alice', state: 'APPROVED', commitId: pr.head.sha, body: 'Fine for this sprint.\n/fleetspec trust-me' });
    report = await runTick();
    expect(report.branches.find((b) => b.branch === 'grant')).toMatchObject({ action: 'updated', status: 'success' });
    expect(statusesOf(pr.head.sha, 'fleetspec/plan').at(-1)).toMatchObject({ state: 'success' });
    expect(commentsOn(pr.number).at(-1)).toContain("(overridden by @&#8203;alice's review)");
    const github = new GitHub({ owner: OWNER, repo: REPO, token: TOKEN, baseUrl: gh.url, writeIntervalMs: 0 });
    await github.updatePull(pr.number, { state: 'closed' });
    expect(gh.violations).toEqual([]);
  });

  it('a ticket added in specs/ is planned in its PR and appears as a GitHub issue after the approved merge', async () => {
    const ticket = stringify({ kind: 'Ticket', id: 'T-0001', title: 'Clean the disk on web', priority: 'critical', assignee: 'developer', status: 'open', labels: ['phase-1'], description: 'Root is at 97%.' });
    gitServer.commit(REPO, 'ticket', { 'specs/tickets/T-0001.yaml': ticket }, 'Add T-0001');
    let report = await runTick();
    const pr = pullFor('ticket')!;
    expect(report.branches.find((b) => b.branch === 'ticket')).toMatchObject({ action: 'opened', status: 'success' });
    expect(commentsOn(pr.number).at(-1)).toMatch(/\| \+ \| `tickets\/T-0001` \| create \|/);
    expect(gh.issues()).toEqual([]);
    gh.review(pr.number, { user: 'alice', state: 'APPROVED', commitId: pr.head.sha });
    const sha = merge(pr.number);
    report = await runTick();
    expect(report.applied).toEqual({ sha, pr: pr.number, changes: 1, status: 'applied' });
    const [issue, ...others] = gh.issues();
    expect(others).toEqual([]);
    expect(issue).toMatchObject({ title: 'T-0001: Clean the disk on web', state: 'open', author: 'fleetspec-bot' });
    expect(issue!.body).toMatch(/^Root is at 97%\.[\s\S]*<!-- fleetspec:ticket T-0001 digest=[0-9a-f]{12} -->$/);
    expect([...issue!.labels].sort()).toEqual(['phase-1', 'priority:critical', 'role:developer', 'status:open', 'ticket']);
    expect(gh.implicitLabels).toEqual([]);
    expect(commentsOn(pr.number).at(-1)).toContain('✓ `tickets/T-0001` create');
    // The next tick finds the issue by its marker: nothing to do, no drift PR.
    report = await runTick();
    expect(report).toMatchObject({ state: 'DONE', main: [], drift: [], pulled: [] });
    expect(gh.violations).toEqual([]);
  });

  it('an issue opened on GitHub with the ticket label becomes a PR adding the next free ticket id; once merged, the ticket gets its own issue', async () => {
    const opened = gh.openIssue({ title: 'Disk alarm on web', body: 'The alarm fired twice tonight.', author: 'carol', labels: ['ticket', 'priority:high', 'role:developer', 'Needs Triage'] });
    gh.openIssue({ title: 'Just a question', author: 'carol' });
    let report = await runTick();
    const branch = `fleetspec/ticket/T-0002-issue-${opened.number}`;
    expect(report.pulled).toEqual([{ issue: opened.number, id: 'T-0002', branch, pr: expect.any(Number), action: 'opened' }]);
    const pr = pullFor(branch)!;
    expect(pr.number).toBe(report.pulled[0]!.pr);
    expect(pr.title).toBe('T-0002: Disk alarm on web');
    expect(pr.body).toContain(`Merging this closes #${opened.number}`);
    expect(pr.body).toContain('Labels not carried over (not valid ticket labels): `Needs Triage`.');
    const spec = gitServer.git(REPO, 'show', `${branch}:specs/tickets/T-0002.yaml`);
    expect(spec).toContain(`# Pulled by fleetspec from GitHub issue #${opened.number}, opened by @carol.`);
    expect(spec).toContain('id: T-0002\ntitle: Disk alarm on web\ndescription: The alarm fired twice tonight.\npriority: high\nassignee: developer\nstatus: open\n');
    expect(spec).toContain(`githubIssue: ${opened.number}`);
    // Not pulled twice: the branch reserves the id and the issue.
    report = await runTick();
    expect(report.pulled).toEqual([]);
    expect(report.branches.find((b) => b.branch === branch)).toMatchObject({ action: 'updated', status: 'success' });
    const planned = pullFor(branch)!;
    gh.review(planned.number, { user: 'alice', state: 'APPROVED', commitId: planned.head.sha });
    const sha = merge(planned.number);
    report = await runTick();
    expect(report.applied).toEqual({ sha, pr: planned.number, changes: 1, status: 'applied' });
    expect(report.pulled).toEqual([]);
    const own = gh.issues().filter((i) => (i.body ?? '').includes('<!-- fleetspec:ticket T-0002 '));
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ title: 'T-0002: Disk alarm on web', state: 'open' });
    // The hand-opened issue is GitHub's to close (the PR said "closes"); fleetspec never edits it.
    expect(gh.issues().find((i) => i.number === opened.number)).toMatchObject({ title: 'Disk alarm on web', body: 'The alarm fired twice tonight.', state: 'open' });
    expect(gh.violations).toEqual([]);
  });

  it('an apply killed half-way ends FAILED at the next tick, is reported on the PR, and is not retried: nothing is applied twice', async () => {
    gitServer.commit(REPO, 'huge', { 'specs/roles/roles.yaml': roleYaml('qwen2.5:14b'), 'specs/models/web.yaml': modelsYaml(['qwen2.5:3b', 'qwen2.5:7b', 'qwen2.5:14b']) }, 'Go to 14b');
    await runTick();
    const pr = pullFor('huge')!;
    gh.review(pr.number, { user: 'alice', state: 'APPROVED', commitId: pr.head.sha });
    const sha = merge(pr.number);

    // The tick runs as its own process (the daemon's), killed with SIGKILL while Ollama streams the pull.
    await db.close();
    const child: ChildProcess = spawn(process.execPath, [BIN, 'reconcile', '--format', 'json'], { env: { ...env(), FLEETSPEC_DEBUG: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (stderr += d.toString()));
    let gone = false;
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => ((gone = true), done(code))));
    for (let i = 0; i < 300 && pullsOf('qwen2.5:14b') === 0 && !gone; i++) await new Promise((r) => setTimeout(r, 100));
    expect(pullsOf('qwen2.5:14b'), stderr).toBe(1);
    child.kill('SIGKILL');
    await exited;

    db = await openDb(options);
    repo = await SpecRepo.open({ dir: join(work, 'repo'), url: gitServer.url(REPO), token: TOKEN, author: { name: 'fleetspec[bot]', email: 'fleetspec@users.noreply.github.com' } });
    const report = await runTick();
    expect(report.recovered.applies).toEqual([sha]);
    expect(report.recovered.runs).toHaveLength(1);
    const killed = await getRun(db, report.recovered.runs[0]!);
    expect(killed).toMatchObject({ state: 'FAILED', reason: expect.stringContaining('abandoned') });
    expect((await runHistory(db, killed!.id)).map((t) => t.to)).toEqual(['PENDING', 'PLANNING', 'WAIT_FOR_APPROVE', 'APPLYING', 'FAILED']);
    expect((await mainCommits(db, `${OWNER}/${REPO}`)).get(sha)?.outcome).toBe('abandoned');
    expect(commentsOn(pr.number).at(-1)).toContain('was interrupted');
    // Not retried: the roles change (after the models in plan order) was never made, and the pull happened once.
    expect(developerEnv()).toContain('LLM_MODEL=qwen2.5:7b');
    expect(report.applied).toBeUndefined();
    expect(pullsOf('qwen2.5:14b')).toBe(1);
    // What remains goes out as drift for a fresh review.
    expect(report.drift.map((d) => d.kind)).toContain('roles');
    const next = await runTick();
    expect(next.recovered).toEqual({ runs: [], applies: [] });
    expect(pullsOf('qwen2.5:14b')).toBe(1);
    expect(gh.violations).toEqual([]);
  }, 60_000);

  it('findings open tickets through PRs: the interrupted apply and the drift it left each get one, closed when they clear; unapproved commits on main get one until reverted', async () => {
    findings = new Set(FINDING_SOURCES);
    ollama.slowPull('qwen2.5:14b', 0); // slow only so that the previous step could kill an apply mid-pull
    let report = await runTick();
    // T-0001 and T-0002 are on main: the next ids, one per finding, in key order. The kill left
    // both the 14b pull (models) and the developer's change (roles) unapplied.
    expect(report.findings.map((f) => [f.key, f.id, f.branch, f.action])).toEqual([
      ['apply.failed', 'T-0003', 'fleetspec/finding/T-0003-apply_failed', 'opened'],
      ['drift.models', 'T-0004', 'fleetspec/finding/T-0004-drift_models', 'opened'],
      ['drift.roles', 'T-0005', 'fleetspec/finding/T-0005-drift_roles', 'opened'],
    ]);
    const [failed, models, drift] = report.findings as [FindingAction, FindingAction, FindingAction];
    const failedPr = pullFor(failed.branch)!;
    expect(failedPr.title).toBe('T-0003: The last apply on main was interrupted');
    const spec = parse((await repo.readFile(failedPr.head.sha, 'specs/tickets/T-0003.yaml'))!) as Record<string, unknown>;
    expect(spec).toMatchObject({ id: 'T-0003', status: 'open', priority: 'high', labels: ['finding'], finding: 'apply.failed' });
    expect(String(spec.description)).toMatch(/^[0-9a-f]{7} \(#\d+\) was interrupted while it applied in run \d+: interrupted during run \d+; not retried\./);
    const driftSpec = parse((await repo.readFile(pullFor(drift.branch)!.head.sha, 'specs/tickets/T-0005.yaml'))!) as Record<string, string>;
    expect(driftSpec.description).toContain('- `roles/developer` update');
    expect(driftSpec.description).toContain(`The drift PR #${pullFor('fleetspec/drift-roles')!.number} holds the plan`);

    // Planned like any branch on the next tick; nothing new proposed.
    report = await runTick();
    expect(report.findings).toEqual([]);
    expect(report.branches.find((b) => b.branch === failed.branch)).toMatchObject({ status: 'success' });
    expect(commentsOn(failedPr.number).at(-1)).toMatch(/\| \+ \| `tickets\/T-0003` \| create \|/);

    // alice approves and merges: the ticket's issue opens, and the apply that did it clears the finding.
    const planned = pullFor(failed.branch)!;
    gh.review(planned.number, { user: 'alice', state: 'APPROVED', commitId: planned.head.sha });
    const sha = merge(planned.number);
    report = await runTick();
    expect(report.applied).toMatchObject({ sha, pr: planned.number, status: 'applied' });
    expect(gh.issues().find((i) => i.title.startsWith('T-0003: '))).toMatchObject({ state: 'open', labels: expect.arrayContaining(['finding', 'priority:high']) });
    expect(report.findings).toEqual([{ key: 'apply.failed', id: 'T-0003', branch: failed.branch, pr: expect.any(Number), action: 'closing' }]);
    const closing = pullFor(failed.branch)!;
    expect(closing.title).toBe('T-0003: close, apply.failed cleared');
    expect(await repo.readFile(closing.head.sha, 'specs/tickets/T-0003.yaml')).toBe((await repo.readFile(sha, 'specs/tickets/T-0003.yaml'))!.replace('status: open', 'status: closed'));

    // The merge applied the drift too: the drift PRs close, and the drift tickets' PRs are withdrawn.
    report = await runTick();
    expect(report.drift.map((d) => [d.kind, d.action])).toEqual([
      ['models', 'closed'],
      ['roles', 'closed'],
    ]);
    expect(report.findings).toEqual([
      { key: 'drift.models', id: 'T-0004', branch: models.branch, pr: models.pr, action: 'withdrawn' },
      { key: 'drift.roles', id: 'T-0005', branch: drift.branch, pr: drift.pr, action: 'withdrawn' },
    ]);
    expect(pullFor(drift.branch)).toBeUndefined();
    expect(commentsOn(drift.pr!).at(-1)).toMatch(/^The finding `drift\.roles` no longer needs this: it cleared \(main at [0-9a-f]{7}\)\. Closing\.\n\n<!-- fleetspec:comment [0-9a-f]{12} -->$/);

    // Merging the closing PR closes T-0003's issue.
    const close = pullFor(failed.branch)!;
    gh.review(close.number, { user: 'alice', state: 'APPROVED', commitId: close.head.sha });
    merge(close.number);
    report = await runTick();
    expect(report.applied).toMatchObject({ pr: close.number, changes: 1, status: 'applied' });
    expect(gh.issues().find((i) => i.title.startsWith('T-0003: '))).toMatchObject({ state: 'closed' });
    expect(report.findings).toEqual([]);

    // A push straight to main: refused, and a ticket proposed until main is reverted.
    const tip = gitServer.git(REPO, 'rev-parse', 'main');
    const host = (await repo.readFile(tip, 'specs/hosts/web.yaml'))!;
    const sneaked = gitServer.commit(REPO, 'main', { 'specs/hosts/web.yaml': `# edited on main again\n${host}` }, 'Edit main directly again');
    report = await runTick();
    expect(report.state).toBe('BLOCKED');
    const unapproved = report.findings.find((f) => f.key === 'main.unapproved')!;
    expect(unapproved).toMatchObject({ id: 'T-0004', action: 'opened' });
    const unapprovedSpec = parse((await repo.readFile(pullFor(unapproved.branch)!.head.sha, 'specs/tickets/T-0004.yaml'))!) as Record<string, string>;
    expect(unapprovedSpec.description).toContain(`- ${sneaked.slice(0, 7)}: pushed to main without a pull request`);
    gitServer.commit(REPO, 'main', { 'specs/hosts/web.yaml': host }, 'Undo the direct edit');
    report = await runTick();
    expect(report.findings).toEqual([{ key: 'main.unapproved', id: 'T-0004', branch: unapproved.branch, pr: unapproved.pr, action: 'withdrawn' }]);
    expect(gitServer.git(REPO, 'branch', '--list', 'fleetspec/finding/*')).toBe('');
    expect(gh.violations).toEqual([]);
  }, 60_000);

  it('fleetspec daemon ticks on its schedule, logs one JSON line per tick, survives failing ticks and stops on SIGTERM', async () => {
    await db.close();
    const daemon = (extra: Record<string, string>) => {
      const child = spawn(process.execPath, [BIN, 'daemon', '--schedule', '*/1 * * * * *', '--log-format', 'json'], { env: { ...env(), ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: string[] = [];
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
      return { child, lines, exited, stderr: () => stderr };
    };
    const waitFor = async (lines: string[], n: number) => {
      for (let i = 0; i < 200 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 100));
    };
    // A revoked token: each tick fails at its first fetch, is logged, and the next one still runs.
    const broken = daemon({ FLEETSPEC_GITHUB_TOKEN: 'ghp_revoked000000000000000000000000000000' });
    await waitFor(broken.lines, 2);
    broken.child.kill('SIGTERM');
    expect(await broken.exited, broken.stderr()).toBe(0);
    const failures = broken.lines.map((l) => JSON.parse(l));
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const f of failures) expect(f).toMatchObject({ level: 'error', message: expect.stringContaining('tick failed') });
    expect(broken.stderr()).toMatch(/stopped after \d+ ticks?/);
    expect(broken.lines.join('\n') + broken.stderr()).not.toContain('ghp_revoked');

    const healthy = daemon({});
    await waitFor(healthy.lines, 2);
    healthy.child.kill('SIGTERM');
    expect(await healthy.exited, healthy.stderr()).toBe(0);
    const ticks = healthy.lines.map((l) => JSON.parse(l));
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    for (const t of ticks) expect(t).toMatchObject({ level: 'info', state: 'DONE', run: expect.any(Number), report: { errors: [] } });
    expect(ticks[1].run).toBeGreaterThan(ticks[0].run);
    expect(ticks.some((t) => t.report.applied)).toBe(false);
    expect(JSON.stringify(ticks)).not.toContain(TOKEN);
    db = await openDb(options);
  }, 60_000);
});
