// docs/getting-started.md, run as a user would follow it: its ```sh blocks in order, in one shell
// session (each block's folder and exported variables carry into the next), against a real
// `git http-backend` as the GitHub remote and the OpenAPI-checked GitHub stand-in, with the embedded
// store the guide uses. The guide's people act through the stand-in: its `<!-- step: … -->` markers
// (approve as a second user, merge) are performed here. So the guide fails this test when it and the
// product drift apart: a renamed option or variable, an output line it quotes that changed, a step
// missing or out of order.
//
// The guide's conventions (also written at its top, in a comment):
//   <!-- not run: why -->          the next ```sh block is skipped
//   <!-- exit: N -->               the next ```sh block's last command exits N (default 0; bash -e)
//   ```text right after a ```sh block or a step: each line of it appears in a line of that output
//                                  ("…" matches anything)
//   <!-- step: approve branch=B as=LOGIN -->   LOGIN approves the head of B's open PR
//   <!-- step: merge branch=B -->              the guide's user merges B's PR with a merge commit
//   <!-- step: result-comment branch=B -->     the text block after it is found in B's PR comments
//
// `fleetspec` is this checkout's build (dist/reconciler/cli.js, run with --liftoff-only as the
// release's command is), not the release installed with npm: installing needs the registry.
// Nothing leaves loopback: the variables the guide exports for GitHub (FLEETSPEC_GITHUB_REPO,
// FLEETSPEC_GIT_URL, FLEETSPEC_GITHUB_TOKEN) are pointed at the stand-ins after each block, and
// FLEETSPEC_GITHUB_API is set to the stand-in throughout (checked first to be a setting the loop
// still reads); the user's own git rewrites https://github.com/ to the git server and has a dead
// proxy for anything else.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer, type PullState } from '../github/server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const GUIDE = join(ROOT, 'docs', 'getting-started.md');
const CLI = join(ROOT, 'dist', 'reconciler', 'cli.js');
const TOKEN = 'ghp_gettingStartedToken0123456789abcdef';
const OWNER = 'you';
const REPO = 'my-fleet';
/** The guide's reader: owns the repository, pushes and merges. */
const ME = OWNER;
/** The bot: the token's login on the stand-in. */
const BOT = 'fleetspec-bot';
const ZERO = '0'.repeat(40);
/** How long one block or step may take (a tick clones, plans and writes to GitHub: seconds, more on a loaded machine). */
const STEP_MS = 180_000;

// ---- the guide, parsed --------------------------------------------------------------------------

interface Block {
  kind: 'sh';
  line: number;
  code: string;
  exit: number;
  skip?: string;
  expect: string[];
}
interface Step {
  kind: 'step';
  line: number;
  name: string;
  args: Record<string, string>;
  expect: string[];
}
type Item = Block | Step;

function parseGuide(text: string): Item[] {
  const lines = text.split('\n');
  const items: Item[] = [];
  let skip: string | undefined;
  let exit = 0;
  /** The item a ```text block right after it (blank lines between only) checks. */
  let last: Item | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const marker = /^<!--\s*(not run|exit|step):\s*(.*?)\s*-->\s*$/.exec(raw);
    const fence = /^```(\w*)\s*$/.exec(raw);
    if (marker) {
      const [, word, rest] = marker;
      if (word === 'not run') skip = rest!;
      else if (word === 'exit') exit = Number(rest);
      else {
        const [name, ...pairs] = rest!.split(/\s+/);
        const args = Object.fromEntries(pairs.map((p) => p.split('=') as [string, string]));
        items.push((last = { kind: 'step', line: i + 1, name: name!, args, expect: [] }));
      }
      continue;
    }
    if (fence) {
      const lang = fence[1];
      const body: string[] = [];
      const start = i + 1;
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
      if (lang === 'sh') {
        items.push((last = { kind: 'sh', line: start, code: body.join('\n'), exit, expect: [], ...(skip !== undefined ? { skip } : {}) }));
        skip = undefined;
        exit = 0;
      } else if (lang === 'text' && last) {
        last.expect.push(...body.filter((l) => l.trim() !== ''));
        last = undefined;
      } else last = undefined;
      continue;
    }
    if (raw.trim() !== '') last = undefined;
  }
  return items;
}

/** A quoted output line as a pattern: "…" matches anything, the rest literally, anywhere in one line. */
function linePattern(quoted: string): RegExp {
  return new RegExp(quoted.trim().split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
}

function missingLines(expected: string[], output: string): string[] {
  const lines = output.split('\n');
  return expected.filter((e) => !lines.some((l) => linePattern(e).test(l)));
}

const items = parseGuide(readFileSync(GUIDE, 'utf8'));

// ---- the world the guide runs in ----------------------------------------------------------------

let gitServer: GitTestServer;
let gh: GitHubTestServer;
let work: string;
/** The shell session: where the next block starts, and its exported variables (bash `export -p`). */
const session = { cwd: '', envFile: '' };
/** The variables the guide exported that the test points at its stand-ins. */
const exported = new Set<string>();
let overrides: Record<string, string>;
let baseEnv: NodeJS.ProcessEnv;
/** The bare repository's post-receive log: "<user> <before> <after> <ref>" per ref a push over HTTP changed. */
let pushLog: string;
let pushLogRead = 0;
/** Commit → the login GitHub maps its author to (the guide's user; the bot's own commits). */
const authorOf = (email: string): string | null => {
  if (email === 'fleetspec@users.noreply.github.com') return BOT;
  const m = /^([A-Za-z0-9-]+)@users\.noreply\.github\.com$/.exec(email);
  return m ? m[1]! : null;
};

function git(...args: string[]): string {
  return gitServer.git(REPO, ...args);
}

/**
 * What GitHub knows after pushes: each ref change as repository activity with who pushed it (the
 * bot authenticates as x-access-token), the default branch's tip, and each open PR's head and commits.
 */
function syncGitHub(): void {
  if (existsSync(pushLog)) {
    const text = readFileSync(pushLog, 'utf8');
    const fresh = text.slice(pushLogRead);
    pushLogRead = text.length;
    for (const line of fresh.split('\n').filter(Boolean)) {
      const [user, before, after, ref] = line.split(' ') as [string, string, string, string];
      if (!ref.startsWith('refs/heads/')) continue;
      let type: 'push' | 'force_push' | 'branch_creation' | 'branch_deletion' = 'push';
      if (before === ZERO) type = 'branch_creation';
      else if (after === ZERO) type = 'branch_deletion';
      else {
        try {
          git('merge-base', '--is-ancestor', before, after);
        } catch {
          type = 'force_push';
        }
      }
      gh.recordActivity({ ref, before, after, type, actor: user === 'x-access-token' ? BOT : user });
    }
  }
  const tips = new Map(
    git('for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
  for (const [branch, sha] of tips) gh.setBranch(branch, sha);
  for (const p of gh.repo().pulls.values()) {
    const sha = tips.get(p.head.ref);
    if (p.state !== 'open' || !sha) continue;
    if (sha !== p.head.sha) gh.setHeadSha(p.number, sha);
    const commits = git('log', '--reverse', '--format=%H %ae %ce', `refs/heads/${p.base.ref}..${sha}`)
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [c, author, committer] = l.split(' ') as [string, string, string];
        return { sha: c, author: authorOf(author), committer: authorOf(committer) };
      });
    gh.setPullCommits(p.number, commits);
  }
}

/** Runs one block in the session with bash -e; returns its exit code and its output (stdout and stderr). */
async function runBlock(code: string): Promise<{ status: number | null; output: string }> {
  const state = join(work, 'session');
  const apply = Object.entries(overrides)
    .map(([name, value]) => `if [ -n "\${${name}+set}" ]; then export ${name}=${shellQuote(value)}; fi`)
    .join('\n');
  const script = [
    `cd ${shellQuote(session.cwd)}`,
    existsSync(session.envFile) ? `. ${shellQuote(session.envFile)}` : ':',
    apply,
    `trap 'rc=$?; pwd > ${shellQuote(join(state, 'cwd'))}; export -p > ${shellQuote(session.envFile)}; exit $rc' EXIT`,
    'set -e',
    code,
  ].join('\n');
  const child = spawn('bash', ['--noprofile', '--norc', '-c', script], { env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const status = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
  session.cwd = readFileSync(join(state, 'cwd'), 'utf8').trim();
  for (const m of readFileSync(session.envFile, 'utf8').matchAll(/^declare -x (\w+)=/gm)) if (m[1]! in overrides) exported.add(m[1]!);
  return { status, output };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function openPull(branch: string): PullState {
  syncGitHub();
  const pull = [...gh.repo().pulls.values()].find((p) => p.head.ref === branch && p.state === 'open');
  if (!pull) throw new Error(`no open PR for ${branch}; PRs: ${[...gh.repo().pulls.values()].map((p) => `#${p.number} ${p.head.ref} ${p.state}`).join(', ')}`);
  return pull;
}

/** The people's steps on GitHub; each returns the text its ```text block is checked against. */
const STEPS: Record<string, (args: Record<string, string>) => string> = {
  approve({ branch, as }) {
    const pull = openPull(branch!);
    gh.review(pull.number, { user: as!, state: 'APPROVED' });
    return '';
  },
  merge({ branch }) {
    const pull = openPull(branch!);
    // "Create a merge commit", as GitHub does it: the head merged into the base, pushed, the branch deleted.
    const clone = gitServer.clone(REPO);
    const me = { GIT_AUTHOR_NAME: ME, GIT_AUTHOR_EMAIL: `${ME}@users.noreply.github.com`, GIT_COMMITTER_NAME: ME, GIT_COMMITTER_EMAIL: `${ME}@users.noreply.github.com` };
    const run = (...args: string[]) => execFileSync('git', args, { cwd: clone.dir, env: { ...process.env, ...me, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' }, encoding: 'utf8' }).trim();
    const before = run('rev-parse', `refs/remotes/origin/${pull.base.ref}`);
    run('checkout', '--quiet', '-B', pull.base.ref, `refs/remotes/origin/${pull.base.ref}`);
    run('merge', '--quiet', '--no-ff', '-m', `Merge pull request #${pull.number} from ${OWNER}/${branch}`, `refs/remotes/origin/${branch}`);
    run('push', '--quiet', 'origin', `HEAD:refs/heads/${pull.base.ref}`);
    const sha = run('rev-parse', 'HEAD');
    run('push', '--quiet', 'origin', '--delete', branch!);
    gh.merge(pull.number, { mergeCommitSha: sha, mergedBy: ME });
    gh.recordActivity({ ref: `refs/heads/${pull.base.ref}`, before, after: sha, type: 'pr_merge', actor: ME });
    gh.recordActivity({ ref: `refs/heads/${branch}`, before: pull.head.sha, after: ZERO, type: 'branch_deletion', actor: ME });
    gh.repo().branches.delete(branch!);
    syncGitHub();
    return '';
  },
  'result-comment'({ branch }) {
    const pull = [...gh.repo().pulls.values()].find((p) => p.head.ref === branch);
    if (!pull) throw new Error(`no PR for ${branch}`);
    return gh
      .repo()
      .issueComments.filter((c) => c.issue === pull.number)
      .map((c) => c.body)
      .join('\n');
  },
};

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  work = await mkdtemp(join(tmpdir(), 'fleetspec-guide-'));
  const home = join(work, 'home');
  const bin = join(work, 'bin');
  for (const dir of [home, bin, join(work, 'session')]) mkdirSync(dir, { recursive: true });

  gitServer = await startGitServer({ token: TOKEN });
  gh = await startGitHubServer({ owner: OWNER, repo: REPO, token: TOKEN, login: BOT, defaultBranch: 'main', resolveBranch: (b) => git('rev-parse', `refs/heads/${b}`) });
  // The empty repository the guide's reader creates on GitHub, with a hook that logs who pushed what.
  const bare = join(gitServer.root, `${REPO}.git`);
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  git('config', 'http.receivepack', 'true');
  pushLog = join(work, 'pushes.log');
  writeFileSync(join(bare, 'hooks', 'post-receive'), `#!/bin/sh\nwhile read before after ref; do echo "$REMOTE_USER $before $after $ref"; done >> ${shellQuote(pushLog)}\n`);
  chmodSync(join(bare, 'hooks', 'post-receive'), 0o755);
  for (const login of [ME, BOT]) gh.users.id(login);

  // `fleetspec` on PATH, as the release installs it.
  writeFileSync(join(bin, 'fleetspec'), `#!/bin/sh\nexec ${shellQuote(process.execPath)} --liftoff-only ${shellQuote(CLI)} "$@"\n`);
  chmodSync(join(bin, 'fleetspec'), 0o755);
  const gitUrl = gitServer.url(REPO);
  const gitConfig = join(home, '.gitconfig');
  writeFileSync(
    gitConfig,
    [
      '[user]',
      `\tname = ${ME}`,
      `\temail = ${ME}@users.noreply.github.com`,
      '[http]',
      `\textraHeader = Authorization: Basic ${Buffer.from(`${ME}:${TOKEN}`).toString('base64')}`,
      `[url "${gitUrl.replace(/my-fleet\.git$/, '')}"]`,
      `\tinsteadOf = https://github.com/${OWNER}/`,
      '',
    ].join('\n'),
  );
  overrides = { FLEETSPEC_GITHUB_REPO: `${OWNER}/${REPO}`, FLEETSPEC_GIT_URL: gitUrl, FLEETSPEC_GITHUB_TOKEN: TOKEN };
  baseEnv = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    LANG: 'C',
    NO_COLOR: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: gitConfig,
    GIT_TERMINAL_PROMPT: '0',
    // The user's git and anything else that honours a proxy: nothing reaches past loopback.
    https_proxy: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    no_proxy: '127.0.0.1,localhost',
    NO_PROXY: '127.0.0.1,localhost',
    FLEETSPEC_GITHUB_API: gh.url,
    // No SSH key (the example host is never contacted), no terraform (nothing reaches a registry).
    FLEETSPEC_SSH_KEY: join(home, 'no-key'),
    FLEETSPEC_TERRAFORM: join(work, 'no-terraform'),
  };
  session.cwd = work;
  session.envFile = join(work, 'session', 'env');

  // The settings the test relies on are still the ones the loop reads: otherwise a renamed one would send it to github.com.
  const help = execFileSync(process.execPath, [CLI, 'reconcile', '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } });
  for (const name of ['FLEETSPEC_GITHUB_API', 'FLEETSPEC_GIT_URL', 'FLEETSPEC_GITHUB_REPO', 'FLEETSPEC_GITHUB_TOKEN']) {
    if (!help.includes(name)) throw new Error(`fleetspec reconcile --help no longer names ${name}: the guide's test would not reach its stand-ins`);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([gitServer?.close(), gh?.close()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('docs/getting-started.md, followed to the letter', () => {
  it('has blocks to run, steps for the people, and output it quotes', () => {
    expect(items.filter((i) => i.kind === 'sh' && !i.skip).length).toBeGreaterThan(5);
    expect(items.filter((i) => i.kind === 'step').map((s) => (s as Step).name)).toEqual(expect.arrayContaining(['approve', 'merge']));
    for (const s of items.filter((i): i is Step => i.kind === 'step')) expect(Object.keys(STEPS), `line ${s.line}: unknown step ${s.name}`).toContain(s.name);
    for (const b of items.filter((i): i is Block => i.kind === 'sh' && i.skip !== undefined)) expect(b.skip, `line ${b.line}: "not run" needs a reason`).not.toBe('');
  });

  // A block the guide marks "not run" is left out (the first test holds it to a reason).
  for (const item of items.filter((i) => !(i.kind === 'sh' && i.skip !== undefined))) {
    const title = item.kind === 'sh' ? `line ${item.line}: ${item.code.split('\n')[0]}` : `line ${item.line}: step ${item.name} ${Object.entries(item.args).map(([k, v]) => `${k}=${v}`).join(' ')}`;
    it(
      title,
      async () => {
        let output: string;
        if (item.kind === 'sh') {
          syncGitHub();
          const result = await runBlock(item.code);
          output = result.output;
          expect(result.status, `the block at line ${item.line} exited ${result.status}, the guide expects ${item.exit}; its output:\n${output}`).toBe(item.exit);
          syncGitHub();
        } else {
          output = STEPS[item.name]!(item.args);
        }
        const missing = missingLines(item.expect, output);
        expect(missing, `lines the guide quotes (line ${item.line}) that the output lacks; the output:\n${output}`).toEqual([]);
      },
      STEP_MS,
    );
  }

  it('the guide set the variables that point the loop at GitHub, and GitHub saw a change go through', () => {
    expect([...exported].sort()).toEqual(Object.keys(overrides).sort());
    // The change went through: its PR merged and reported, a ticket an issue on the stand-in, nothing off the contract.
    const pull = [...gh.repo().pulls.values()].find((p) => p.head.ref === 'add-web');
    expect(pull?.merged).toBe(true);
    expect(gh.issues().some((i) => i.author === BOT && /fleetspec:ticket T-0001/.test(i.body ?? ''))).toBe(true);
    expect(gh.violations).toEqual([]);
  });
});
