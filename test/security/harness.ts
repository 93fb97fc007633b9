// A small, fast fixture for attacking fleetspec's approval rules: the real loop `tick()` against a
// real `git http-backend`, the OpenAPI-checked GitHub stand-in and the state store on one engine
// (PostgreSQL when TEST_DATABASE_URL is set, else PGlite). Set up once per test file; each test
// pushes branches, reviews, merges and ticks, and reads ground truth from the live side.
//
// The fleet on main needs no SSH, no terraform and no LLM:
//   - specs/roles/roles.yaml: `approvers` (capability `approve`, GitHub users alice and carol) and
//     `developers` (`code.push`, bob); mallory is in no role. The schema requires an `ssh:` block on
//     every role, but a role that manages no files (no authorizedKeys, no llm) is never read or
//     written over SSH: the roles kind plans to nothing and never blocks an apply. The roles have no
//     host, so each has its own SSH port (two roles on the same host and port are an error, and
//     "no host" counts as the same host).
//   - specs/tickets/T-0001.yaml, an open ticket. The tickets kind's live side is GitHub issues on the
//     stand-in (tick() hands its GitHub client to the engine as `issues`): "applied" means a ticket
//     merged to main became an issue carrying fleetspec's marker.
//   - policies/roles.yaml: one overridable error policy (only approvers deploy), which this fleet
//     never trips.
//   - stacks/ and docs/diagrams/src as synthesiseAll/writeDiagrams leave them, committed, so the bot
//     has nothing to add to a branch that only adds tickets.
// Live starts as main says: main's plan is applied once (T-0001's issue opens), then one tick takes
// main as its baseline. Start it with `useSecurityHarness()` at the top of a test file, and call
// `reset()` after each test. A tick costs about a second; a test of two ticks, three to five.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll } from 'vitest';
import { GitHub } from '../../reconciler/github/client.js';
import { SpecRepo } from '../../reconciler/git/repo.js';
import { tick, type TickContext, type TickReport } from '../../reconciler/loop/tick.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { synthesiseAll } from '../../reconciler/stacks/files.js';
import { DIAGRAMS_DIR, writeDiagrams } from '../../reconciler/diagrams/index.js';
import { missingBinaryReason } from '../../reconciler/stacks/terraform.js';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import { openDb, type Db, type OpenOptions } from '../../reconciler/state/db.js';
import { mainCommits, trustedTip, type MainCommit, type MainOutcome } from '../../reconciler/state/loop.js';
import type { FindingSource } from '../../reconciler/loop/findings.js';
import { sh } from '../../reconciler/ssh/quote.js';
import { startGitServer, type GitTestServer, type TestClone } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer, type IssueState, type PullCommitRecord, type PullState, type ReviewRecord } from '../github/server.js';
import { ENGINES, type Engine } from '../state/engines.js';

export const TOKEN = 'ghp_securityTestToken0123456789abcdefABCD';
export const OWNER = 'acme';
export const REPO = 'fleet';
export const REPO_KEY = `${OWNER}/${REPO}`;
/** The bot's login on the stand-in: the author of the PRs and issues fleetspec opens. */
export const BOT = 'fleetspec-bot';
const NO_TERRAFORM = '/nonexistent/terraform';
const ZERO = '0'.repeat(40);

/** Who is who on main: approvers may approve, bob may not, mallory is nobody. */
export const PEOPLE = { approvers: ['alice', 'carol'], developers: ['bob'], nobody: ['mallory'] } as const;

export interface Role {
  name: string;
  capabilities: string[];
  githubUsers: string[];
}

/** main's roles; `rolesYaml` renders them, or a variant a branch proposes. */
export const ROLES: readonly Role[] = [
  { name: 'approvers', capabilities: ['approve'], githubUsers: [...PEOPLE.approvers] },
  { name: 'developers', capabilities: ['code.push'], githubUsers: [...PEOPLE.developers] },
];
export const ROLES_PATH = 'specs/roles/roles.yaml';

/** specs/roles/roles.yaml for `roles`: no host, no files managed, so nothing is read over SSH. */
export function rolesYaml(roles: readonly Role[] = ROLES): string {
  return roles
    .map((r, i) => stringify({ kind: 'Role', name: r.name, type: 'role', ssh: { user: r.name.replace(/-/g, '_').slice(0, 32), port: 2201 + i }, capabilities: r.capabilities, githubUsers: r.githubUsers }))
    .join('---\n');
}

/** One overridable error policy, in the format of policies/README.md (never tripped by this fleet). */
export const POLICY = stringify({ kind: 'Policy', name: 'only-approvers-deploy', severity: 'error', override: 'trust-me', rule: 'role-matrix', params: { exclusive: { 'deploy.production': ['approvers'] } } });

/** The files of a new open ticket `id`. */
export function addTicket(id: string, title = `Security check ${id}`): Record<string, string> {
  return { [`specs/tickets/${id}.yaml`]: stringify({ kind: 'Ticket', id, title, priority: 'normal', assignee: 'developers', status: 'open', description: `${title}.` }) };
}

/** One push to a branch of the bare repository, and who made it. */
export interface Push {
  branch: string;
  /** The branch's tip before, ZERO when the push created it. */
  before: string;
  after: string;
  actor: string;
  type: 'push' | 'force_push' | 'branch_creation' | 'branch_deletion' | 'pr_merge';
}

export interface PushOptions {
  /** The GitHub login who pushes; also the commit's author (login@users.noreply.github.com). */
  as: string;
  message?: string;
  /** Where a new branch starts (a branch or a sha); default main. With `force`, the branch is reset onto it first. */
  from?: string;
  /** Rewrite the branch: start from `from` (default main) whatever the branch held, and force-push. */
  force?: boolean;
  /** The commits' author and committer email is linked to no GitHub account (GitHub lists them with author null). */
  unlinked?: boolean;
}

/** What GET /pulls/{n}/commits should list instead of the PR's real commits (see listCommits). */
export type CommitsOverride = (real: PullCommitRecord[]) => { commits: PullCommitRecord[]; total?: number };

export interface SecurityHarnessOptions {
  /** Which findings open tickets (none by default: findings are off unless a test turns them on). */
  findings?: ReadonlySet<FindingSource>;
}

export class SecurityHarness {
  gitServer!: GitTestServer;
  gh!: GitHubTestServer;
  db!: Db;
  engine!: Engine;
  /** How to open the store: for a `fleetspec` process of its own (close `db` first on PGlite). */
  storeOptions!: OpenOptions;
  /** The loop's own working clone (what SpecRepo fetches into). */
  repo!: SpecRepo;
  /** Every push, merge and branch deletion the harness made, in order: what GitHub's activity would list. */
  readonly pushes: Push[] = [];
  /** The loop's progress lines, for a failing test's message. */
  readonly progress: string[] = [];
  /** Which findings open tickets on the next tick; off unless a test sets it. */
  findings: ReadonlySet<FindingSource> | undefined;
  /** The trusted commit: the last main commit the loop accepted (the seed, an applied or blocked merge, a revert, an inert push). */
  trusted = '';
  /** main's tip when the suite started. */
  seedSha = '';

  private work = '';
  private cleanupStore: () => Promise<void> = async () => {};
  private people!: TestClone;
  /** Whether a branch may have moved since syncHeads last looked. */
  private moved = true;
  /** The bare repository's post-receive log of the loop's own pushes, and how much of it is recorded. */
  private botLog = '';
  private botLogRead = 0;
  /** A stand-in without accounts (557cddb and earlier): the spelling GitHub shows for a login is kept here instead. */
  private readonly spelling = new Map<string, string>();
  /** Case renames made with showAs, undone by reset. */
  private readonly renamed: [from: string, to: string][] = [];
  /** The branches and their tips when syncHeads last looked. */
  private branchTips = new Map<string, string>();
  /** Commit → the login GitHub maps its author to. */
  private readonly authorOf = new Map<string, string>();
  /** PR → what GitHub lists as its commits instead of the real ones (listCommits), until reset. */
  private readonly commitsOverride = new Map<number, CommitsOverride>();

  constructor(options: SecurityHarnessOptions = {}) {
    this.findings = options.findings;
  }

  // -- set-up ---------------------------------------------------------------------------------------

  async start(): Promise<void> {
    // One engine keeps the file fast: PostgreSQL when the suite has one, else PGlite.
    this.engine = ENGINES.find((e) => e.name === 'postgres') ?? ENGINES[0]!;
    const fresh = await this.engine.fresh();
    this.cleanupStore = fresh.cleanup;
    this.storeOptions = fresh.options;
    this.db = await openDb(fresh.options);
    this.work = await mkdtemp(join(tmpdir(), 'fleetspec-security-'));
    this.gitServer = await startGitServer({ token: TOKEN });
    this.gh = await startGitHubServer({
      owner: OWNER,
      repo: REPO,
      token: TOKEN,
      defaultBranch: 'main',
      login: BOT,
      resolveBranch: (branch) => this.git('rev-parse', `refs/heads/${branch}`),
    });

    const seed = join(this.work, 'seed');
    const files: Record<string, string> = {
      [ROLES_PATH]: rolesYaml(),
      ...addTicket('T-0001', 'Baseline ticket'),
      'policies/roles.yaml': POLICY,
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(seed, dirname(path)), { recursive: true });
      writeFileSync(join(seed, path), text);
    }
    const loaded = await loadSpecs(join(seed, 'specs'));
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length) throw new Error(`the security fleet is invalid: ${errors.map((d) => d.message).join('; ')}`);
    await synthesiseAll(loaded.index, join(seed, 'stacks'));
    await writeDiagrams(loaded.index, join(seed, DIAGRAMS_DIR));
    for (const folder of ['stacks', DIAGRAMS_DIR]) {
      for (const name of await readdir(join(seed, folder), { recursive: true }).catch(() => [] as string[])) {
        const path = join(seed, folder, name);
        if (/\.(json|mmd)$/.test(name)) files[relative(seed, path)] = await readFile(path, 'utf8');
      }
    }
    this.seedSha = await this.gitServer.createBare(REPO, files);
    this.trusted = this.seedSha;
    this.gh.setBranch('main', this.seedSha);
    this.people = this.gitServer.clone(REPO);
    this.watchBotPushes();
    // The people are GitHub accounts before they do anything (on a stand-in that has accounts).
    const users = (this.gh as { users?: { id(login: string): number } }).users;
    for (const login of [...PEOPLE.approvers, ...PEOPLE.developers, ...PEOPLE.nobody]) users?.id(login);

    // Live starts as main says: T-0001's issue, opened by an apply of main's plan.
    const github = this.github();
    const seeded: EngineOptions = { ...this.engineOptions(), specs: join(seed, 'specs'), stacks: { ...this.engineOptions().stacks!, dir: join(seed, 'stacks') }, issues: github };
    delete seeded.noIssues;
    const planned = await planFleet(seeded);
    if (!planned.plan) throw new Error('main of the security fleet does not plan');
    const applied = await applyPlan(planned.plan, seeded);
    if (applied.status !== 'applied' || !this.applied('T-0001')) throw new Error(`seeding live failed: ${applied.status}`);

    this.repo = await SpecRepo.open({ dir: join(this.work, 'repo'), url: this.gitServer.url(REPO), token: TOKEN, author: { name: 'fleetspec[bot]', email: 'fleetspec@users.noreply.github.com' } });
    // The first tick takes main as its baseline; live already matches it, so there is no drift.
    const first = await this.tick();
    if (first.main[0]?.outcome !== 'baseline' || first.drift.length || first.errors.length) throw new Error(`the baseline tick was not clean: ${first.reason}`);
  }

  async close(): Promise<void> {
    await this.db?.close().catch(() => {});
    await Promise.all([this.gitServer?.close(), this.gh?.close()]);
    await this.cleanupStore();
    if (this.work) await rm(this.work, { recursive: true, force: true });
  }

  // -- the loop -------------------------------------------------------------------------------------

  engineOptions(): EngineOptions {
    return {
      specs: join(this.work, 'repo', 'specs'),
      mode: 'live',
      db: this.db,
      // No SSH pool: the roles manage no files, so nothing needs one.
      noSsh: 'no SSH in the security suite',
      secret: async () => undefined,
      progress: (m) => void this.progress.push(m),
      noIssues: 'issues come from the tick',
      // No terraform: the fleet has no stacks to apply, and nothing here may reach a registry.
      stacks: { dir: join(this.work, 'repo', 'stacks'), workDir: join(this.work, 'terraform'), noTerraform: missingBinaryReason(undefined, { FLEETSPEC_TERRAFORM: NO_TERRAFORM }) },
    };
  }

  /** A fresh client of the stand-in, as each daemon tick has. */
  github(): GitHub {
    return new GitHub({ owner: OWNER, repo: REPO, token: TOKEN, baseUrl: this.gh.url, writeIntervalMs: 0, retryAfterBaseMs: 5 });
  }

  /** One real tick of the loop (PR heads synced from the repository first, as GitHub would have them). */
  /** One real tick; `extra` adds to or replaces its context (a watch, an LLM, a progress callback). */
  async tick(extra: Partial<TickContext> = {}): Promise<TickReport> {
    this.syncHeads();
    const ctx: TickContext = {
      db: this.db,
      repoKey: REPO_KEY,
      git: this.repo,
      github: this.github(),
      specsPath: 'specs',
      llmProblem: 'no LLM in the security suite',
      engine: this.engineOptions(),
      trigger: 'manual',
      ...(this.findings ? { findings: this.findings } : {}),
      progress: (m) => void this.progress.push(m),
      ...extra,
    };
    const report = await tick(ctx);
    this.moved = true; // the bot may have committed to branches, opened or closed PRs
    this.recordBotPushes();
    // What the loop accepted last (an applied merge, a blocked or stale approved one, a revert, an inert push).
    this.trusted = (await trustedTip(this.db, REPO_KEY))?.sha ?? this.trusted;
    return report;
  }

  /** Ticks until `done` holds of a report (at most `max` ticks); returns the reports. */
  async tickUntil(done: (report: TickReport) => boolean, max = 4): Promise<TickReport[]> {
    const reports: TickReport[] = [];
    for (let i = 0; i < max; i++) {
      const report = await this.tick();
      reports.push(report);
      if (done(report)) return reports;
    }
    throw new Error(`no tick of ${max} got there: ${reports.map((r) => r.reason).join(' | ')}`);
  }

  /**
   * GitHub moves a PR's head when its branch moves, and lists its commits with the logins their
   * authors map to: both learnt from the real repository (one git process; skipped when nothing
   * moved since the last sync).
   */
  /** Whether the store is let go (releaseStore) for a child process to open. */
  private released = false;

  /** PGlite is one process's: lets go of it while a fleetspec child has it (PostgreSQL is shared: nothing to do). */
  async releaseStore(): Promise<void> {
    if (this.storeOptions.databaseUrl || this.released) return;
    await this.db.close();
    this.released = true;
  }

  /** Opens the store again after releaseStore. */
  async reopenStore(): Promise<void> {
    if (!this.released) return;
    this.db = await openDb(this.storeOptions);
    this.released = false;
  }

  /**
   * GitHub as git has it, before a fleetspec child's run (tick() syncs before its own): a branch deleted
   * in git is gone from the stand-in too (it keeps the tip of a branch a PR was opened from, and would
   * open a new PR of that name at the old tip), and open PRs' heads are their branches' tips.
   */
  syncFromGit(): void {
    const tips = new Set(this.git('for-each-ref', '--format=%(refname:short)', 'refs/heads').split('\n').filter(Boolean));
    const branches = this.gh.repo().branches;
    for (const b of [...branches.keys()]) if (!tips.has(b)) branches.delete(b);
    this.moved = true;
    this.syncHeads();
  }

  syncHeads(): void {
    if (!this.moved) return;
    const open = [...this.gh.repo().pulls.values()].filter((p) => p.state === 'open');
    const out = script(this.gitServer.root, [
      `git --git-dir=${REPO}.git for-each-ref --format='branch %(refname:short) %(objectname)' refs/heads`,
      ...open.flatMap((p) => [sh`echo pull ${p.number}`, sh`git --git-dir=${REPO}.git rev-list --reverse refs/heads/${p.base.ref}..refs/heads/${p.head.ref} 2>/dev/null || true`]),
    ]);
    const branches = new Map<string, string>();
    const commits = new Map<number, string[]>();
    let pull: number | undefined;
    for (const line of out.split('\n').filter(Boolean)) {
      const [word, a, b] = line.split(' ');
      if (word === 'branch') branches.set(a!, b!);
      else if (word === 'pull') commits.set((pull = Number(a)), []);
      else if (pull !== undefined) commits.get(pull)!.push(word!);
    }
    this.gh.setBranch('main', branches.get('main')!);
    for (const p of open) {
      const sha = branches.get(p.head.ref);
      if (!sha) continue;
      if (sha !== p.head.sha) this.gh.setHeadSha(p.number, sha);
      const real = (commits.get(p.number) ?? []).map((c) => ({ sha: c, author: this.shown(this.authorOf.get(c)) ?? null }));
      const override = this.commitsOverride.get(p.number);
      if (override) {
        const { commits: listed, total } = override(real);
        this.gh.setPullCommits(p.number, listed, total === undefined ? undefined : { total });
      } else this.gh.setPullCommits(p.number, real);
    }
    this.branchTips = branches;
    this.moved = false;
  }

  // -- people on GitHub -----------------------------------------------------------------------------

  /**
   * `as` commits `files` (null deletes) on `branch` and pushes, with real git; returns the new tip.
   * Recorded in `pushes` and, when the stand-in has it, as GitHub activity (recordPush).
   */
  push(branch: string, files: Record<string, string | null>, options: PushOptions): string {
    const c = this.people;
    const base = options.from ?? 'main';
    const from = /^[0-9a-f]{40}$/.test(base) ? base : `refs/remotes/origin/${base}`;
    const [before] = this.inClone([
      'git fetch --quiet --prune origin',
      sh`before=$(git rev-parse --verify --quiet refs/remotes/origin/${branch} || echo ${ZERO})`,
      // A new branch starts at `from`; an existing one grows, unless it is forced back onto `from`.
      sh`if [ "$before" = ${ZERO} ] || ${options.force ? 'true' : 'false'}; then start=${from}; else start=refs/remotes/origin/${branch}; fi`,
      'git checkout --quiet --force -B work "$start"',
      'git clean --quiet -fd',
      'echo "$before"',
    ]);
    for (const [path, content] of Object.entries(files)) if (content === null) rmSync(join(c.dir, path), { force: true, recursive: true });
    for (const [path, content] of Object.entries(files)) {
      if (content === null) continue;
      mkdirSync(join(c.dir, dirname(path)), { recursive: true });
      writeFileSync(join(c.dir, path), content);
    }
    const [after] = this.inClone(
      [
        'git add --all',
        sh`git commit --quiet --allow-empty -m ${options.message ?? `${options.as}: ${Object.keys(files).join(', ')}`}`,
        sh`git push --quiet ${options.force ? '--force' : '--no-force'} origin HEAD:refs/heads/${branch}`,
        'git rev-parse HEAD',
      ],
      options.as,
      options.unlinked ? unlinkedIdentity(options.as) : undefined,
    );
    if (!options.unlinked) this.authorOf.set(after!, options.as);
    this.moved = true;
    this.recordPush({ branch, before: before!, after: after!, actor: options.as, type: before === ZERO ? 'branch_creation' : options.force ? 'force_push' : 'push' });
    if (branch === 'main') this.gh.setBranch('main', after!);
    return after!;
  }

  /**
   * `as` runs `lines` (shell, in the people's clone, as `as`) on `branch` checked out as push() does,
   * then pushes what they committed (possibly nothing new: the branch then points where it started).
   * For what files alone cannot say: symlinks, many commits, a fast-forward of one branch to another.
   * Returns the new tip; every commit the lines made is `as`'s, as GitHub maps them.
   */
  pushScript(branch: string, lines: string[], options: PushOptions): string {
    const base = options.from ?? 'main';
    const from = /^[0-9a-f]{40}$/.test(base) ? base : `refs/remotes/origin/${base}`;
    const out = this.inClone(
      [
        'git fetch --quiet --prune origin',
        sh`before=$(git rev-parse --verify --quiet refs/remotes/origin/${branch} || echo ${ZERO})`,
        sh`if [ "$before" = ${ZERO} ] || ${options.force ? 'true' : 'false'}; then start=${from}; else start=refs/remotes/origin/${branch}; fi`,
        'git checkout --quiet --force -B work "$start"',
        'git clean --quiet -fd',
        'started=$(git rev-parse HEAD)',
        ...lines,
        sh`git push --quiet ${options.force ? '--force' : '--no-force'} origin HEAD:refs/heads/${branch}`,
        'echo "before $before"',
        'echo "after $(git rev-parse HEAD)"',
        'for c in $(git rev-list "$started..HEAD"); do echo "commit $c"; done',
      ],
      options.as,
      options.unlinked ? unlinkedIdentity(options.as) : undefined,
    );
    const said = (word: string) => out.filter((l) => l.startsWith(`${word} `)).map((l) => l.slice(word.length + 1));
    const [before] = said('before');
    const [after] = said('after');
    if (!options.unlinked) for (const c of said('commit')) this.authorOf.set(c, options.as);
    this.moved = true;
    this.recordPush({ branch, before: before!, after: after!, actor: options.as, type: before === ZERO ? 'branch_creation' : options.force ? 'force_push' : 'push' });
    if (branch === 'main') this.gh.setBranch('main', after!);
    return after!;
  }

  /** From now on (until reset) GitHub lists PR `number`'s commits as `override` makes them of the real ones. */
  listCommits(number: number, override: CommitsOverride): void {
    this.commitsOverride.set(number, override);
    this.moved = true;
  }

  /** `as` pushes `files` straight to main, no pull request. */
  pushToMain(files: Record<string, string | null>, as: string, message?: string): string {
    return this.push('main', files, { as, ...(message ? { message } : {}) });
  }

  /**
   * ⚑ The one place pushes reach GitHub's activity: every push, merge and branch deletion (the
   * people's and the bot's) goes through here into `pushes`, and into the stand-in's
   * `recordActivity({ ref, before, after, type, actor })` when it has one (the stand-in before the
   * trusted-base rework, 557cddb and earlier, has not).
   */
  recordPush(p: Push): void {
    this.pushes.push(p);
    if ('recordActivity' in this.gh) {
      (this.gh as unknown as { recordActivity(a: { ref: string; before: string; after: string; type: string; actor: string }): void }).recordActivity({ ref: `refs/heads/${p.branch}`, before: p.before, after: p.after, type: p.type, actor: p.actor });
    }
  }

  /**
   * The loop's own pushes (over HTTP, as the bot) land in a post-receive log of the bare repository;
   * they are recorded as the bot's activity before GitHub's activity is read, as GitHub would have
   * them, and after each tick.
   */
  private watchBotPushes(): void {
    const bare = join(this.gitServer.root, `${REPO}.git`);
    this.botLog = join(this.work, 'bot-pushes.log');
    const hook = join(bare, 'hooks', 'post-receive');
    mkdirSync(dirname(hook), { recursive: true });
    // http-backend runs receive-pack with REMOTE_USER set for an authenticated push; the people's pushes are local.
    writeFileSync(hook, `#!/bin/sh\n[ -n "$REMOTE_USER" ] || exit 0\ncat >> ${sh`${this.botLog}`}\n`);
    chmodSync(hook, 0o755);
    const key = 'GET /repos/{owner}/{repo}/activity';
    const activity = this.gh.routes.get(key);
    if (activity) this.gh.route(key, (ctx) => (this.recordBotPushes(), activity(ctx)));
  }

  private recordBotPushes(): void {
    if (!existsSync(this.botLog)) return;
    const text = readFileSync(this.botLog, 'utf8');
    const fresh = text.slice(this.botLogRead);
    this.botLogRead = text.length;
    for (const line of fresh.split('\n').filter(Boolean)) {
      const [before, after, ref] = line.split(' ') as [string, string, string];
      if (!ref.startsWith('refs/heads/')) continue;
      const fastForward = before !== ZERO && after !== ZERO && script(join(this.gitServer.root, `${REPO}.git`), [sh`git merge-base --is-ancestor ${before} ${after} && echo yes || echo no`]) === 'yes';
      const type = before === ZERO ? 'branch_creation' : after === ZERO ? 'branch_deletion' : fastForward ? 'push' : 'force_push';
      this.recordPush({ branch: ref.slice('refs/heads/'.length), before, after, actor: BOT, type });
    }
  }

  /**
   * GitHub shows `login`'s account as `shown` from now on (the same account, another spelling, such
   * as another case), until reset. On a stand-in with accounts the account is renamed; on one without,
   * the harness spells the login so wherever it hands it to GitHub.
   */
  showAs(login: string, shown: string): void {
    const users = (this.gh as { users?: { rename(from: string, to: string): void } }).users;
    if (users) {
      users.rename(login, shown);
      this.renamed.push([login, shown]);
    } else this.spelling.set(login.toLowerCase(), shown);
  }

  /** How GitHub spells `login` now. */
  private shown<T extends string | undefined>(login: T): T {
    return (login === undefined ? login : (this.spelling.get(login.toLowerCase()) ?? login)) as T;
  }

  /** The open PR of `branch` (fleetspec opens them for pushed branches), its head synced first. */
  pr(branch: string): PullState | undefined {
    this.syncHeads();
    return [...this.gh.repo().pulls.values()].find((p) => p.head.ref === branch && p.state === 'open');
  }

  /** The open PR of `branch`, or a thrown error naming what the loop said. */
  mustPr(branch: string): PullState {
    const found = this.pr(branch);
    if (!found) throw new Error(`no open PR for ${branch}; progress: ${this.progress.slice(-5).join(' | ')}`);
    return found;
  }

  /** As if `login` opened a PR for `branch` on GitHub (fleetspec then plans it instead of opening its own), into `base` (default main). */
  openPull(branch: string, login: string, title = `${login}: ${branch}`, base?: string): PullState {
    const pull = this.gh.openPull({ head: branch, author: this.shown(login), title, headSha: this.git('rev-parse', `refs/heads/${branch}`), ...(base ? { base } : {}) });
    this.moved = true;
    return pull;
  }

  /** An APPROVED review by `login`, on `commitId` (default: the PR's head now). */
  approve(number: number, login: string, commitId?: string, body?: string): ReviewRecord {
    this.syncHeads();
    return this.gh.review(number, { user: this.shown(login), state: 'APPROVED', ...(commitId ? { commitId } : {}), ...(body ? { body } : {}) });
  }

  requestChanges(number: number, login: string, commitId?: string): ReviewRecord {
    this.syncHeads();
    return this.gh.review(number, { user: this.shown(login), state: 'CHANGES_REQUESTED', ...(commitId ? { commitId } : {}) });
  }

  /** A plain review comment (state COMMENTED) by `login`. */
  reviewComment(number: number, login: string, body: string): ReviewRecord {
    this.syncHeads();
    return this.gh.review(number, { user: this.shown(login), state: 'COMMENTED', body });
  }

  /**
   * A maintainer dismisses `login`'s latest approval: GitHub turns that review's state into
   * DISMISSED (the stand-in has no dismissals route yet, so its record is changed directly).
   */
  dismiss(number: number, login: string, state: 'APPROVED' | 'CHANGES_REQUESTED' = 'APPROVED'): ReviewRecord {
    const review = this.gh
      .repo()
      .reviews.filter((r) => r.pull === number && r.user.toLowerCase() === login.toLowerCase() && r.state === state)
      .at(-1);
    if (!review) throw new Error(`@${login} has no ${state} review on #${number} to dismiss`);
    review.state = 'DISMISSED';
    return review;
  }

  /** An issue comment on the PR (the conversation tab), not a review. */
  comment(number: number, login: string, body: string): void {
    this.gh.addComment(number, { user: this.shown(login), body });
  }

  /**
   * "Create a merge commit" by `by`: real git on the bare repository, then GitHub marks the PR merged.
   * Returns the base branch's new tip. With `edit`, the merge commit also changes those files (null
   * deletes): an "edited merge", as a merge that resolved conflicts by hand, or a maintainer's local merge.
   */
  mergeCommit(number: number, by: string, options: { keepBranch?: boolean; edit?: Record<string, string | null> } = {}): string {
    const p = this.openPr(number);
    const message = `Merge pull request #${number} from ${OWNER}/${p.head.ref}\n\n${p.title}`;
    if (!options.edit) return this.landOnMain(p, by, [sh`git merge --quiet --no-ff -m ${message} refs/remotes/origin/${p.head.ref}`], options);
    const edits = Object.entries(options.edit).map(([path, content]) =>
      content === null ? sh`git rm -r --quiet --ignore-unmatch -- ${path}` : sh`mkdir -p "$(dirname ${path})" && printf '%s' ${content} > ${path}`,
    );
    return this.landOnMain(p, by, [sh`git merge --quiet --no-ff --no-commit refs/remotes/origin/${p.head.ref}`, ...edits, 'git add --all', sh`git commit --quiet -m ${message}`], options);
  }

  /** "Squash and merge" by `by`: one new commit on main with the PR's changes. */
  squash(number: number, by: string, options: { keepBranch?: boolean } = {}): string {
    const p = this.openPr(number);
    return this.landOnMain(p, by, [sh`git merge --quiet --squash refs/remotes/origin/${p.head.ref}`, sh`git commit --quiet --allow-empty -m ${`${p.title} (#${number})`}`], options);
  }

  /**
   * "Rebase and merge" by `by`: each PR commit replayed on main as a new commit (GitHub always
   * rewrites them); merge_commit_sha is the last, and GitHub lists the PR for every one of them.
   */
  rebase(number: number, by: string, options: { keepBranch?: boolean } = {}): string {
    const p = this.openPr(number);
    return this.landOnMain(
      p,
      by,
      [
        sh`git checkout --quiet --force -B rebase refs/remotes/origin/${p.head.ref}`,
        'git rebase --quiet --force-rebase refs/remotes/origin/main',
        'for c in $(git rev-list --reverse refs/remotes/origin/main..HEAD); do echo "replayed $c"; done',
      ],
      options,
    );
  }

  /** The bodies of the conversation comments on issue or PR `number`, oldest first. */
  commentsOn(number: number): string[] {
    return this.gh
      .repo()
      .issueComments.filter((c) => c.issue === number)
      .map((c) => c.body);
  }

  /** Whether the stand-in has the issue fleetspec opens for ticket `id` (its marker in the body). */
  applied(id: string): boolean {
    return this.issuesOf(id).length > 0;
  }

  /** fleetspec's issues for ticket `id`. */
  issuesOf(id: string): IssueState[] {
    return this.gh.issues().filter((i) => i.author === BOT && markerOf(i.body ?? '')?.id === id);
  }

  /** The ledger's outcome for a main commit (undefined: the loop has not dealt with it). */
  async outcome(sha: string): Promise<MainOutcome | undefined> {
    return (await this.ledger(sha))?.outcome;
  }

  /** The ledger's row for a main commit: outcome, PR and detail. */
  async ledger(sha: string): Promise<MainCommit | undefined> {
    return (await mainCommits(this.db, REPO_KEY)).get(sha);
  }

  /** main's tip now. */
  main(): string {
    return this.git('rev-parse', 'refs/heads/main');
  }

  /** Real git in the bare repository. */
  git(...args: string[]): string {
    return this.gitServer.git(REPO, ...args);
  }

  /**
   * Between tests (afterEach): logins showAs respelled get their spelling back; PRs a test left open
   * are closed and their branches deleted (drift PRs and branches aside: the loop closes those); and when main holds what live does not (a refused merge),
   * `admin` pushes main back to the content of `trusted`, so the next test's branches start from what
   * live holds. It changes nothing live: the loop before the trusted-base rework refuses it as a direct
   * push (and its next tick closes the drift PR the refused merge opened); after it, the loop accepts
   * it as `reverted`.
   */
  async reset(): Promise<void> {
    const users = (this.gh as { users?: { rename(from: string, to: string): void } }).users;
    for (const [from, to] of this.renamed.splice(0).reverse()) users!.rename(to, from);
    this.spelling.clear();
    this.commitsOverride.clear();
    this.moved = true;
    this.syncHeads();
    const github = this.github();
    for (const p of this.gh.repo().pulls.values()) {
      if (p.state === 'open' && !p.head.ref.startsWith('fleetspec/drift-')) await github.updatePull(p.number, { state: 'closed' });
    }
    // fleetspec's ticket and finding branches too: one whose PR was closed here would read as declined in the next test. Drift branches the loop closes itself.
    const leftover = [...this.branchTips].filter(([branch]) => branch !== 'main' && !branch.startsWith('fleetspec/drift-'));
    const [before, after] = this.inClone(
      [
        'git fetch --quiet --prune origin',
        'git checkout --quiet --force -B main refs/remotes/origin/main',
        'before=$(git rev-parse HEAD)',
        sh`if [ "$(git rev-parse HEAD^{tree})" != "$(git rev-parse ${this.trusted}^{tree})" ]; then
          git read-tree --reset -u ${this.trusted}
          git commit --quiet -m ${`Restore main to ${this.trusted.slice(0, 7)}, what live holds`}
          git push --quiet origin HEAD:refs/heads/main
        fi`,
        ...(leftover.length ? [`git push --quiet origin --delete ${leftover.map(([b]) => sh`${b}`).join(' ')}`] : []),
        'echo "$before"',
        'git rev-parse HEAD',
      ],
      'admin',
    );
    this.moved = true;
    for (const [branch, sha] of leftover) this.recordPush({ branch, before: sha, after: ZERO, actor: 'admin', type: 'branch_deletion' });
    if (before !== after) {
      this.recordPush({ branch: 'main', before: before!, after: after!, actor: 'admin', type: 'push' });
      this.gh.setBranch('main', after!);
    }
  }

  // -- internals ------------------------------------------------------------------------------------

  private openPr(number: number): PullState {
    this.syncHeads();
    const p = this.gh.repo().pulls.get(number);
    if (!p || p.state !== 'open') throw new Error(`#${number} is not an open PR`);
    return p;
  }

  /** Runs `lines` as one shell script in the people's clone, as `login` (author and committer); stdout's lines. */
  private inClone(lines: string[], login?: string, env?: Record<string, string>): string[] {
    return script(this.people.dir, lines, env ?? (login ? identity(login) : {})).split('\n');
  }

  /**
   * `by` lands PR `p` on its base branch (main, or another such as staging): the base checked out in
   * the people's clone, `merge` run there, the result pushed to the base; then GitHub marks the PR
   * merged as it, and deletes the head branch (as its "Automatically delete head branches" setting
   * does) unless kept. Returns the base's new tip.
   */
  private landOnMain(p: PullState, by: string, merge: string[], options: { keepBranch?: boolean }): string {
    const target = p.base.ref;
    const out = this.inClone(
      [
        'git fetch --quiet --prune origin',
        sh`git checkout --quiet --force -B ${target} refs/remotes/origin/${target}`,
        'echo "before $(git rev-parse HEAD)"',
        sh`echo "head $(git rev-parse refs/remotes/origin/${p.head.ref})"`,
        ...merge,
        sh`git push --quiet origin HEAD:refs/heads/${target}`,
        'echo "after $(git rev-parse HEAD)"',
        ...(options.keepBranch ? [] : [sh`git push --quiet origin --delete ${p.head.ref}`]),
      ],
      by,
    );
    const said = (word: string) => out.filter((l) => l.startsWith(`${word} `)).map((l) => l.slice(word.length + 1));
    const [before] = said('before');
    const [head] = said('head');
    const [sha] = said('after');
    // GitHub lists the PR for each commit a rebase merge wrote.
    for (const replayed of said('replayed')) this.gh.associate(replayed, p.number);
    this.gh.merge(p.number, { mergeCommitSha: sha!, mergedBy: this.shown(by) });
    this.moved = true;
    this.recordPush({ branch: target, before: before!, after: sha!, actor: by, type: 'pr_merge' });
    if (!options.keepBranch) this.recordPush({ branch: p.head.ref, before: head!, after: ZERO, actor: by, type: 'branch_deletion' });
    return sha!;
  }
}

/** git as the test git server runs it: no system or user config, no prompts. */
const GIT_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  LANG: 'C',
  ...identity('admin'),
};

/**
 * Runs `lines` with `sh -e` in `cwd`: many git commands for one process spawned from this (large)
 * Node process, which is what a git command costs most here. Returns stdout without the final newline.
 */
function script(cwd: string, lines: string[], env: Record<string, string> = {}): string {
  return execFileSync('/bin/sh', ['-ec', lines.join('\n')], { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).replace(/\n$/, '');
}

/** Commits by `login` under an email linked to no GitHub account. */
function unlinkedIdentity(login: string): Record<string, string> {
  const email = `${login.replace(/[^A-Za-z0-9-]/g, '')}@unlinked.example`;
  return { GIT_AUTHOR_NAME: login, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: login, GIT_COMMITTER_EMAIL: email };
}

/** Commits authored and committed by GitHub user `login`. */
function identity(login: string): Record<string, string> {
  const email = `${login.replace(/[^A-Za-z0-9-]/g, '')}@users.noreply.github.com`;
  return { GIT_AUTHOR_NAME: login, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: login, GIT_COMMITTER_EMAIL: email };
}

/** The harness for one test file: started in beforeAll (60 s), closed in afterAll. */
export function useSecurityHarness(options: SecurityHarnessOptions = {}): SecurityHarness {
  const h = new SecurityHarness(options);
  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.close());
  return h;
}
