// Merge integrity and link refusal (reconciler/loop/trust.ts) on commits made by real git and
// read back through the SpecRepo clone, as the loop reads them.
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecRepo } from '../../reconciler/git/repo.js';
import { contentChanges, isInert, linkProblems, mergeIntegrity, rulesDigest } from '../../reconciler/loop/trust.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';

const TOKEN = 'ghs_trust-test-token';
const ROOTS = ['specs', 'stacks', 'policies'];
let server: GitTestServer;
let work: string;
let repo: SpecRepo;
let trusted: string;

beforeAll(async () => {
  server = await startGitServer({ token: TOKEN });
  work = mkdtempSync(join(tmpdir(), 'fleetspec-trust-'));
  trusted = await server.createBare('fleet', {
    'specs/roles/roles.yaml': 'githubUsers: [alice]\n',
    'specs/tickets/T-0001.yaml': 'id: T-0001\n',
    'policies/p.yaml': 'rule: budget\n',
    'README.md': '# fleet\n',
  });
  repo = await SpecRepo.open({ dir: join(work, 'clone'), url: server.url('fleet'), token: TOKEN, author: { name: 'bot', email: 'bot@example.com' } });
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs real git in a fresh clone and pushes `branch`; returns its tip. */
function inClone(steps: (git: (...args: string[]) => string, dir: string) => void, push: string): string {
  const c = server.clone('fleet');
  steps(c.git, c.dir);
  c.git('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${push}`);
  return c.git('rev-parse', 'HEAD');
}

describe('mergeIntegrity', () => {
  it('accepts a merge commit and a squash of the approved head onto the trusted commit', async () => {
    const head = server.commit('fleet', 'feature', { 'specs/tickets/T-0002.yaml': 'id: T-0002\n' }, 'add T-0002');
    const merged = inClone((git) => git('merge', '--quiet', '--no-ff', '-m', 'merge', `origin/feature`), 'merged');
    const squashed = inClone((git) => {
      git('merge', '--quiet', '--squash', 'origin/feature');
      git('commit', '--quiet', '-m', 'squash');
    }, 'squashed');
    await repo.fetch();
    expect(await mergeIntegrity(repo, trusted, head, merged, ROOTS)).toEqual([]);
    expect(await mergeIntegrity(repo, trusted, head, squashed, ROOTS)).toEqual([]);
  });

  it('refuses an edited merge and a merge onto a commit that was never trusted, naming the files', async () => {
    const head = server.commit('fleet', 'feature2', { 'specs/tickets/T-0003.yaml': 'id: T-0003\n' }, 'add T-0003');
    const edited = inClone((git) => {
      git('merge', '--quiet', '--no-ff', '--no-commit', 'origin/feature2');
      git('rm', '--quiet', 'policies/p.yaml');
      git('commit', '--quiet', '-m', 'merge, and a policy gone');
    }, 'edited');
    // main moved to a pushed grant (refused), then the approved PR merged on top of it.
    const grant = server.commit('fleet', 'untrusted', { 'specs/roles/roles.yaml': 'githubUsers: [alice, mallory]\n' }, 'grant');
    const onGrant = inClone((git) => {
      git('checkout', '--quiet', grant);
      git('merge', '--quiet', '--no-ff', '-m', 'merge', 'origin/feature2');
    }, 'on-grant');
    await repo.fetch();
    expect(await mergeIntegrity(repo, trusted, head, edited, ROOTS)).toEqual(['policies/p.yaml is changed by the merge but not by the approved head']);
    expect(await mergeIntegrity(repo, trusted, head, onGrant, ROOTS)).toEqual(['specs/roles/roles.yaml is changed by the merge but not by the approved head']);
  });

  it('merges by file when the head is behind the trusted commit; a file changed on both sides is a problem, an inert one is not', async () => {
    // The trusted base moved on (T-0001 edited, README edited) after the branch left it.
    const branchBase = trusted;
    const moved = inClone((git) => {
      git('checkout', '--quiet', branchBase);
      git('rm', '--quiet', 'specs/tickets/T-0001.yaml');
      git('commit', '--quiet', '-m', 'close T-0001');
    }, 'moved');
    const disjoint = inClone((git) => {
      git('checkout', '--quiet', branchBase);
      git('commit', '--quiet', '--allow-empty', '-m', 'nothing');
    }, 'disjoint');
    const clash = inClone((git) => {
      git('checkout', '--quiet', branchBase);
      git('rm', '--quiet', 'specs/tickets/T-0001.yaml');
      git('rm', '--quiet', 'README.md');
      git('commit', '--quiet', '-m', 'also deletes T-0001, and the README');
    }, 'clash');
    const mergedDisjoint = inClone((git) => {
      git('checkout', '--quiet', moved);
      git('merge', '--quiet', '--no-ff', '-m', 'merge', disjoint);
    }, 'merged-disjoint');
    await repo.fetch();
    expect(await mergeIntegrity(repo, moved, disjoint, mergedDisjoint, ROOTS)).toEqual([]);
    // Both sides deleted T-0001: the same change, no problem; a README edit is inert either way.
    const mergedClash = inClone((git) => {
      git('checkout', '--quiet', moved);
      git('merge', '--quiet', '--no-ff', '-m', 'merge', clash);
    }, 'merged-clash');
    await repo.fetch();
    expect(await mergeIntegrity(repo, moved, clash, mergedClash, ROOTS)).toEqual([]);
  });

  it('names a file changed differently on both sides', async () => {
    const left = server.commit('fleet', 'left', { 'specs/roles/roles.yaml': 'githubUsers: [alice, carol]\n' });
    const right = inClone((git) => {
      git('checkout', '--quiet', trusted);
      git('rm', '--quiet', 'specs/roles/roles.yaml');
      git('commit', '--quiet', '-m', 'drop roles');
    }, 'right');
    await repo.fetch();
    expect(await mergeIntegrity(repo, left, right, left, ROOTS)).toEqual(['specs/roles/roles.yaml changed both in the approved head and on the trusted base since they parted']);
  });
});

describe('inert files and links', () => {
  it('only rendered diagrams and Markdown outside the applied folders are inert', () => {
    expect(isInert('docs/diagrams/svg/topology.svg', ROOTS)).toBe(true);
    expect(isInert('README.md', ROOTS)).toBe(true);
    expect(isInert('policies/README.md', ROOTS)).toBe(false);
    expect(isInert('package.json', ROOTS)).toBe(false);
    expect(isInert('.github/workflows/validate.yml', ROOTS)).toBe(false);
    expect(isInert('docs/diagrams/render.sh', ROOTS)).toBe(false);
  });

  it('lists what a push changes besides inert files', async () => {
    const pushed = server.commit('fleet', 'code', { 'README.md': '# fleet!\n', 'package.json': '{}\n' });
    await repo.fetch();
    expect(await contentChanges(repo, trusted, pushed, ROOTS)).toEqual(['package.json']);
  });

  it('refuses policies/ as a symlink and a symlink inside specs/', async () => {
    const swapped = inClone((git) => {
      git('rm', '--quiet', '-r', 'policies');
      // A symlink committed as git stores it: mode 120000, the target as content.
      git('update-index', '--add', '--cacheinfo', `120000,${git('hash-object', '-w', '--', 'README.md')},policies`);
      git('update-index', '--add', '--cacheinfo', `120000,${git('hash-object', '-w', '--', 'README.md')},specs/tickets/link.yaml`);
      git('commit', '--quiet', '-m', 'swap policies for a link');
    }, 'links');
    await repo.fetch();
    expect(await linkProblems(repo, swapped, ROOTS)).toEqual([
      'policies is a symlink or submodule; fleetspec reads and writes only plain files in specs, stacks, policies',
      'specs/tickets/link.yaml is a symlink or submodule; fleetspec reads and writes only plain files in specs, stacks, policies',
    ]);
    expect(await linkProblems(repo, trusted, ROOTS)).toEqual([]);
  });

  it('the rules digest changes with approvers, their roles and the policies tree, not with order', () => {
    const a = rulesDigest(new Map([['alice', ['monitor']], ['carol', ['manager', 'monitor']]]), 'abc');
    expect(rulesDigest(new Map([['carol', ['monitor', 'manager']], ['alice', ['monitor']]]), 'abc')).toBe(a);
    expect(rulesDigest(new Map([['alice', ['monitor']]]), 'abc')).not.toBe(a);
    expect(rulesDigest(new Map([['alice', ['monitor']], ['carol', ['manager', 'monitor']]]), 'abd')).not.toBe(a);
  });
});
