// The spec repository (reconciler/git/repo.ts) against a real git http-backend with token auth
// (test/git/http-backend.ts): what isomorphic-git does must be what real git sees on the server.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rejectionOf } from '../helpers.js';
import { GitError, SpecRepo, type SpecRepoOptions } from '../../reconciler/git/repo.js';
import { runGitAsync, startGitServer, TEST_AUTHOR, type GitTestServer } from './http-backend.js';

const TOKEN = 'ghs_Tok3n-never-print-me-9f2c';
const BOT = { name: 'fleetspec[bot]', email: 'fleetspec@users.noreply.example' };
const RETRY = 'fetch and try again next tick';

let server: GitTestServer;
let work: string;
let clones = 0;
/** Every progress message any SpecRepo in this file reported. */
const progress: string[] = [];

beforeAll(async () => {
  server = await startGitServer({ token: TOKEN });
  work = mkdtempSync(join(tmpdir(), 'fleetspec-spec-repo-'));
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A SpecRepo on a fresh local folder for the bare repository `name`. */
function openRepo(name: string, options: Partial<SpecRepoOptions> = {}): Promise<SpecRepo> {
  return SpecRepo.open({
    dir: join(work, `${name}-${++clones}`),
    url: server.url(name),
    token: TOKEN,
    author: BOT,
    progress: (message) => progress.push(message),
    ...options,
  });
}

/** The working tree's files (not .git) and their contents, sorted by path. */
function workingFiles(dir: string, relative = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(join(dir, relative), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = relative ? `${relative}/${entry.name}` : entry.name;
    if (path === '.git') continue;
    if (entry.isDirectory()) Object.assign(files, workingFiles(dir, path));
    else files[path] = readFileSync(join(dir, path), 'utf8');
  }
  return files;
}

function write(dir: string, path: string, content: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), content);
}

/** Pushes the server received (receive-pack POSTs), to prove that something pushed nothing. */
const pushCount = (name: string) => server.requests.filter((r) => r.method === 'POST' && r.path === `/${name}.git/git-receive-pack`).length;

const gitError = (promise: Promise<unknown>) => rejectionOf(promise, GitError);

describe('clone and fetch', () => {
  test('clones without a checkout, fetches every branch and prunes deleted ones', async () => {
    const main = await server.createBare('fetching', { 'specs/a.yaml': 'a: 1\n' });
    const feature = server.commit('fetching', 'fleetspec/plan-1', { 'specs/b.yaml': 'b: 1\n' });
    const repo = await openRepo('fetching');
    expect(readdirSync(repo.dir)).toEqual(['.git']);

    expect(await repo.fetch()).toEqual(new Map([['fleetspec/plan-1', feature], ['main', main]]));

    server.git('fetching', 'branch', '-D', 'fleetspec/plan-1');
    const next = server.commit('fetching', 'main', { 'specs/c.yaml': 'c: 1\n' });
    const other = server.commit('fetching', 'other', { 'specs/d.yaml': 'd: 1\n' });
    expect(await repo.fetch()).toEqual(new Map([['main', next], ['other', other]]));
    // The pruned branch's remote-tracking ref is gone from the clone too.
    expect(existsRef(repo.dir, 'refs/remotes/origin/fleetspec/plan-1')).toBe(false);
  });

  test('reuses an existing clone, and refuses one of another repository', async () => {
    await server.createBare('reuse', { 'a.yaml': 'a\n' });
    await server.createBare('elsewhere', { 'b.yaml': 'b\n' });
    const first = await openRepo('reuse');
    const again = await SpecRepo.open({ dir: first.dir, url: `${server.url('reuse')}/`, token: TOKEN, author: BOT });
    expect((await again.fetch()).get('main')).toBe(server.git('reuse', 'rev-parse', 'main'));

    const error = await gitError(SpecRepo.open({ dir: first.dir, url: server.url('elsewhere'), token: TOKEN, author: BOT }));
    expect(error.code).toBe('remote-mismatch');
    expect(error.message).toContain(server.url('reuse'));
  });

  test('refuses to clone into a folder that already holds files', async () => {
    await server.createBare('occupied', { 'a.yaml': 'a\n' });
    const dir = join(work, 'occupied-folder');
    write(dir, 'notes.txt', 'mine\n');
    const error = await gitError(SpecRepo.open({ dir, url: server.url('occupied'), token: TOKEN, author: BOT }));
    expect(error.code).toBe('local');
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  test("defaultBranch follows the remote's HEAD", async () => {
    await server.createBare('trunk', { 'a.yaml': 'a\n' }, { branch: 'trunk' });
    const repo = await openRepo('trunk');
    expect(await repo.defaultBranch()).toBe('trunk');
    server.commit('trunk', 'release', { 'b.yaml': 'b\n' });
    server.git('trunk', 'symbolic-ref', 'HEAD', 'refs/heads/release');
    await repo.fetch();
    expect(await repo.defaultBranch()).toBe('release');

    await server.createBare('plain', { 'a.yaml': 'a\n' });
    const plain = await openRepo('plain');
    await plain.fetch();
    expect(await plain.defaultBranch()).toBe('main');
  });
});

describe('checkout', () => {
  test('checks out a branch, then a sha: tracked files rewritten, everything else removed', async () => {
    const main = await server.createBare('checkout', {
      'README.md': 'hello\n',
      'specs/a.yaml': 'a: 1\n',
      'specs/b.yaml': 'b: 1\n',
      'swap/inner.yaml': 'folder on main\n',
    });
    const next = server.commit('checkout', 'next', {
      'specs/a.yaml': 'a: 2\n',
      'specs/b.yaml': null,
      'swap/inner.yaml': null,
      swap: 'a file on next\n',
      'deep/er/c.yaml': 'c: 1\n',
    });
    const repo = await openRepo('checkout');
    await repo.fetch();

    expect(await repo.checkout('main')).toBe(main);
    expect(workingFiles(repo.dir)).toEqual({ 'README.md': 'hello\n', 'specs/a.yaml': 'a: 1\n', 'specs/b.yaml': 'b: 1\n', 'swap/inner.yaml': 'folder on main\n' });
    // Local edits and stray files must not survive a checkout.
    write(repo.dir, 'specs/a.yaml', 'edited by hand\n');
    write(repo.dir, 'specs/stray.yaml', 'stray\n');
    write(repo.dir, 'junk/x.txt', 'junk\n');

    expect(await repo.checkout('next')).toBe(next);
    expect(workingFiles(repo.dir)).toEqual({ 'README.md': 'hello\n', 'specs/a.yaml': 'a: 2\n', swap: 'a file on next\n', 'deep/er/c.yaml': 'c: 1\n' });
    expect(await repo.head()).toBe(next);

    write(repo.dir, 'README.md', 'edited again\n');
    expect(await repo.checkout(main)).toBe(main);
    expect(workingFiles(repo.dir)).toEqual({ 'README.md': 'hello\n', 'specs/a.yaml': 'a: 1\n', 'specs/b.yaml': 'b: 1\n', 'swap/inner.yaml': 'folder on main\n' });
    expect(readdirSync(repo.dir).sort()).toEqual(['.git', 'README.md', 'specs', 'swap']);

    expect(await repo.checkout(next.slice(0, 10))).toBe(next);
    const unknown = await gitError(repo.checkout('no-such-branch'));
    expect(unknown.code).toBe('not-found');
  });

  test('readFile reads a file at a commit', async () => {
    const main = await server.createBare('reading', { 'specs/a.yaml': 'a: 1\n' });
    const repo = await openRepo('reading');
    expect(await repo.readFile(main, 'specs/a.yaml')).toBe('a: 1\n');
    expect(await repo.readFile(main, 'specs/missing.yaml')).toBeUndefined();
    expect(await repo.readFile(main, 'specs')).toBeUndefined();
    expect((await gitError(repo.readFile('1'.repeat(40), 'specs/a.yaml'))).code).toBe('not-found');
  });
});

describe('commitAndPush', () => {
  test('commits exactly the given paths as the bot and pushes; nothing changed pushes nothing', async () => {
    const base = await server.createBare('committing', {
      'specs/a.yaml': 'a: 1\n',
      'stacks/web/main.tf.json': '{"v":1}\n',
      'stacks/old/gone.tf.json': '{}\n',
      'stacks/keep.txt': 'keep\n',
    });
    const repo = await openRepo('committing');
    await repo.fetch();
    await repo.checkout('main');
    write(repo.dir, 'stacks/web/main.tf.json', '{"v":2}\n');
    write(repo.dir, 'stacks/new/added.tf.json', '{"new":true}\n');
    write(repo.dir, 'stacks/new/run.sh', '#!/bin/sh\n');
    chmodSync(join(repo.dir, 'stacks/new/run.sh'), 0o755);
    rmSync(join(repo.dir, 'stacks/old'), { recursive: true });
    // Outside the staged paths: must stay out of the commit.
    write(repo.dir, 'specs/a.yaml', 'a: 2\n');
    write(repo.dir, 'elsewhere.txt', 'not staged\n');

    const pushed = await repo.commitAndPush('main', 'stacks: record synthesized output', ['stacks/']);
    expect(pushed).toMatch(/^[0-9a-f]{40}$/);
    const sha = pushed!;
    expect(server.git('committing', 'rev-parse', 'main')).toBe(sha);
    expect(server.git('committing', 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%P|%s', 'main')).toBe(
      `${BOT.name} <${BOT.email}>|${BOT.name} <${BOT.email}>|${base}|stacks: record synthesized output`,
    );
    expect(server.git('committing', 'diff-tree', '--no-commit-id', '--name-status', '-r', base, sha).split('\n').sort()).toEqual([
      'A\tstacks/new/added.tf.json',
      'A\tstacks/new/run.sh',
      'D\tstacks/old/gone.tf.json',
      'M\tstacks/web/main.tf.json',
    ]);
    expect(server.git('committing', 'ls-tree', sha, 'stacks/new/run.sh')).toMatch(/^100755 blob /);
    expect(server.git('committing', 'show', `${sha}:stacks/web/main.tf.json`)).toBe('{"v":2}');
    // Real git accepts what isomorphic-git wrote.
    server.git('committing', 'fsck', '--strict');
    expect(await repo.head()).toBe(sha);
    expect(await repo.commitMessage(sha)).toEqual({
      message: 'stacks: record synthesized output\n',
      author: `${BOT.name} <${BOT.email}>`,
      committer: `${BOT.name} <${BOT.email}>`,
    });

    const pushes = pushCount('committing');
    expect(await repo.commitAndPush('main', 'again', ['stacks'])).toBeUndefined();
    expect(await repo.commitAndPush('main', 'nothing there', ['no/such/folder'])).toBeUndefined();
    expect(pushCount('committing')).toBe(pushes);
    expect(server.git('committing', 'rev-parse', 'main')).toBe(sha);
  });

  test('a push that lost the race is a GitError that says to fetch and try again', async () => {
    await server.createBare('racing', { 'stacks/a.json': '1\n' });
    const repo = await openRepo('racing');
    await repo.fetch();
    await repo.checkout('main');
    const theirs = server.commit('racing', 'main', { 'specs/theirs.yaml': 'x: 1\n' });
    write(repo.dir, 'stacks/a.json', '2\n');

    const error = await gitError(repo.commitAndPush('main', 'mine', ['stacks']));
    expect(error.code).toBe('rejected');
    expect(error.hint).toBe(RETRY);
    expect(server.git('racing', 'rev-parse', 'main')).toBe(theirs);

    // The next tick: fetch, check out, redo the change.
    await repo.fetch();
    await repo.checkout('main');
    write(repo.dir, 'stacks/a.json', '2\n');
    const sha = await repo.commitAndPush('main', 'mine, again', ['stacks']);
    expect(server.git('racing', 'rev-parse', 'main^')).toBe(theirs);
    expect(server.git('racing', 'rev-parse', 'main')).toBe(sha);
  });
});

describe('writeBranch and deleteRemoteBranch', () => {
  test('creates and force-updates a bot branch without touching the checkout, then deletes it', async () => {
    const base = await server.createBare('branches', { 'specs/a.yaml': 'a: 1\n', 'specs/old/b.yaml': 'b: 1\n' });
    const repo = await openRepo('branches');
    await repo.fetch();
    await repo.checkout('main');
    const before = workingFiles(repo.dir);

    const first = await repo.writeBranch('fleetspec/plan', base, { 'plans/p.yaml': 'step: 1\n', 'specs/old/b.yaml': null }, 'plan: first');
    expect(server.git('branches', 'rev-parse', 'fleetspec/plan')).toBe(first);
    expect(server.git('branches', 'ls-tree', '-r', '--name-only', 'fleetspec/plan').split('\n')).toEqual(['plans/p.yaml', 'specs/a.yaml']);
    expect(server.git('branches', 'log', '-1', '--format=%P|%an|%s', 'fleetspec/plan')).toBe(`${base}|${BOT.name}|plan: first`);

    // A rewrite from the same base replaces the branch (force).
    const second = await repo.writeBranch('fleetspec/plan', base, { 'plans/p.yaml': 'step: 2\n', 'specs': null }, 'plan: second');
    expect(server.git('branches', 'rev-parse', 'fleetspec/plan')).toBe(second);
    expect(server.git('branches', 'log', '--format=%H', 'fleetspec/plan').split('\n')).toEqual([second, base]);
    expect(server.git('branches', 'ls-tree', '-r', '--name-only', 'fleetspec/plan')).toBe('plans/p.yaml');
    server.git('branches', 'fsck', '--strict');

    const pushes = pushCount('branches');
    expect(await repo.writeBranch('fleetspec/plan', base, { 'specs/a.yaml': 'a: 1\n', 'specs/nothing.yaml': null }, 'no-op')).toBeUndefined();
    expect(pushCount('branches')).toBe(pushes);
    expect(await repo.readFile(second!, 'plans/p.yaml')).toBe('step: 2\n');

    // The checkout did not move.
    expect(await repo.head()).toBe(base);
    expect(workingFiles(repo.dir)).toEqual(before);

    expect((await repo.fetch()).get('fleetspec/plan')).toBe(second);
    await repo.deleteRemoteBranch('fleetspec/plan');
    expect(server.git('branches', 'branch', '--list', 'fleetspec/plan')).toBe('');
    expect([...(await repo.fetch()).keys()]).toEqual(['main']);
    // Deleting again is not an error.
    await repo.deleteRemoteBranch('fleetspec/plan');
  });
});

describe('history', () => {
  test('firstParents walks the first-parent chain over a merge commit, oldest first', async () => {
    const root = await server.createBare('history', { 'specs/a.yaml': 'a: 1\n' });
    const clone = server.clone('history');
    clone.git('checkout', '--quiet', '-b', 'feature');
    write(clone.dir, 'specs/f.yaml', 'f: 1\n');
    clone.git('add', '.');
    clone.git('commit', '--quiet', '-m', 'feature one');
    write(clone.dir, 'specs/f.yaml', 'f: 2\n');
    clone.git('commit', '--quiet', '-am', 'feature two');
    const featureTip = clone.git('rev-parse', 'HEAD');
    clone.git('checkout', '--quiet', 'main');
    write(clone.dir, 'specs/m.yaml', 'm: 1\n');
    clone.git('add', '.');
    clone.git('commit', '--quiet', '-m', 'main one');
    const mainOne = clone.git('rev-parse', 'HEAD');
    clone.git('merge', '--quiet', '--no-ff', '-m', 'Merge feature', 'feature');
    const merge = clone.git('rev-parse', 'HEAD');
    clone.git('push', '--quiet', 'origin', 'main');

    const repo = await openRepo('history');
    const tip = (await repo.fetch()).get('main')!;
    expect(tip).toBe(merge);
    expect(await repo.firstParents(tip, (sha) => sha === root)).toEqual([mainOne, merge]);
    expect(await repo.firstParents(tip, (sha) => sha === root)).toEqual(server.git('history', 'rev-list', '--first-parent', '--reverse', `${root}..main`).split('\n'));
    expect(await repo.firstParents(tip, () => false)).toEqual([root, mainOne, merge]);
    expect(await repo.firstParents(tip, () => false, 2)).toEqual([mainOne, merge]);
    expect(await repo.firstParents(tip, (sha) => sha === merge)).toEqual([]);
    expect(await repo.parents(merge)).toEqual([mainOne, featureTip]);
    expect(await repo.parents(root)).toEqual([]);
    expect(await repo.commitMessage(merge)).toEqual({
      message: 'Merge feature\n',
      author: `${TEST_AUTHOR.name} <${TEST_AUTHOR.email}>`,
      committer: `${TEST_AUTHOR.name} <${TEST_AUTHOR.email}>`,
    });
  });
});

describe('the token', () => {
  test('a wrong or missing token is an auth GitError that does not show the token', async () => {
    await server.createBare('guarded', { 'a.yaml': 'a\n' });
    const wrong = 'ghs_wrong-token-also-secret-71d0';
    const error = await gitError(openRepo('guarded', { token: wrong }));
    expect(error.code).toBe('auth');
    expect(error.hint).toMatch(/token/);
    for (const text of [error.message, error.hint ?? '', error.stack ?? '']) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(TOKEN);
    }
    const missing = await gitError(openRepo('guarded', { token: undefined }));
    expect(missing.code).toBe('auth');

    // A failed clone leaves nothing to reuse; an existing clone with a bad token fails on fetch and on push.
    const good = await openRepo('guarded');
    await good.fetch();
    await good.checkout('main');
    const bad = await SpecRepo.open({ dir: good.dir, url: server.url('guarded'), token: wrong, author: BOT });
    const fetchError = await gitError(bad.fetch());
    expect(fetchError.code).toBe('auth');
    expect(fetchError.message).not.toContain(wrong);
    write(bad.dir, 'a.yaml', 'b\n');
    const pushError = await gitError(bad.commitAndPush('main', 'denied', ['a.yaml']));
    expect(pushError.code).toBe('auth');
    expect(pushError.message).not.toContain(wrong);
  });

  test('an unknown repository, an unreachable server and a commit before any checkout are GitErrors', async () => {
    const missing = await gitError(openRepo('does-not-exist'));
    expect(missing.code).toBe('not-found');
    expect(missing.message).toContain(server.url('does-not-exist'));

    const unreachable = await gitError(SpecRepo.open({ dir: join(work, 'unreachable'), url: 'http://127.0.0.1:1/specs.git', token: TOKEN, author: BOT }));
    expect(unreachable.code).toBe('network');
    expect(unreachable.message).not.toContain(TOKEN);

    await server.createBare('unchecked', { 'stacks/a.json': '1\n' });
    const repo = await openRepo('unchecked');
    const early = await gitError(repo.commitAndPush('main', 'too early', ['stacks']));
    expect(early.code).toBe('local');
    expect(server.git('unchecked', 'ls-tree', '-r', '--name-only', 'main')).toBe('stacks/a.json');
  });

  test('the token is not in .git/config, not in progress messages, and not accepted in the url', async () => {
    await server.createBare('hygiene', { 'stacks/a.json': '1\n' });
    const repo = await openRepo('hygiene');
    await repo.fetch();
    await repo.checkout('main');
    write(repo.dir, 'stacks/a.json', '2\n');
    await repo.commitAndPush('main', 'change', ['stacks']);

    const config = readFileSync(join(repo.dir, '.git', 'config'), 'utf8');
    expect(config).toContain(server.url('hygiene'));
    expect(config).not.toContain(TOKEN);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.filter((message) => message.includes(TOKEN))).toEqual([]);
    // The server saw the token as Basic auth with GitHub's username.
    expect(server.requests.some((r) => r.path.startsWith('/hygiene.git/') && r.user === 'x-access-token')).toBe(true);

    const inUrl = server.url('hygiene').replace('http://', `http://x-access-token:${TOKEN}@`);
    const error = await gitError(SpecRepo.open({ dir: join(work, 'url-token'), url: inUrl, author: BOT }));
    expect(error.code).toBe('local');
    expect(error.message).not.toContain(TOKEN);
  });
});

describe('the test server', () => {
  test('serves real git, including gzip-compressed fetch requests', async () => {
    await server.createBare('busy', { 'a.yaml': 'a\n' });
    // Enough branches that git compresses its upload-pack request (it gzips bodies over 1 KiB).
    for (let i = 0; i < 40; i++) server.git('busy', 'branch', `branch-${i}`, 'main');
    const target = join(work, 'real-git-clone');
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    await runGitAsync(work, ['-c', `http.extraHeader=Authorization: Basic ${basic}`, 'clone', '--quiet', '--no-single-branch', server.url('busy'), target]);
    expect(readFileSync(join(target, 'a.yaml'), 'utf8')).toBe('a\n');
    expect(server.requests.some((r) => r.path === '/busy.git/git-upload-pack' && r.contentEncoding === 'gzip' && r.status === 200)).toBe(true);

    const anonymous = await runGitAsync(work, ['ls-remote', server.url('busy')]).then(
      () => 'accepted',
      (error: Error) => error.message,
    );
    expect(anonymous).toMatch(/Authentication failed|could not read Username|401/);
  });
});

function existsRef(dir: string, ref: string): boolean {
  if (existsSync(join(dir, '.git', ref))) return true;
  const packed = join(dir, '.git', 'packed-refs');
  return existsSync(packed) && readFileSync(packed, 'utf8').includes(` ${ref}\n`);
}
