// The trusted base: the last default-branch commit fleetspec accepted. Approvers, policies and
// what live should hold come from it, never from the tip of the default branch. A commit joins
// the chain only when it holds exactly what an approver approved on top of it (merge integrity),
// changes nothing but inert files, or brings the content back to the trusted commit's (a revert).
import { createHash } from 'node:crypto';
import type { SpecRepo, TreeBlob } from '../git/repo.js';

/**
 * Files a direct push may change without approval: rendered diagrams (the diagrams workflow
 * commits them) and Markdown outside the folders a plan reads. Nothing here is run or judged.
 */
export function isInert(path: string, appliedRoots: readonly string[]): boolean {
  if (path.startsWith('docs/diagrams/svg/')) return true;
  return /\.md$/i.test(path) && !appliedRoots.some((root) => path === root || path.startsWith(`${root}/`));
}

const same = (a: TreeBlob | undefined, b: TreeBlob | undefined) => a?.oid === b?.oid && a?.mode === b?.mode;

/** Paths that differ between two commits, inert files left out. */
export async function contentChanges(git: SpecRepo, a: string, b: string, appliedRoots: readonly string[]): Promise<string[]> {
  return [...(await git.diffTrees(a, b)).keys()].filter((p) => !isInert(p, appliedRoots)).sort();
}

/**
 * Whether `merged` holds exactly what the approved `head` gives merged onto the `trusted` commit
 * (merge commits and squashes alike), inert files aside. Merges are by file: a file both sides
 * changed differently is a problem (rebase the branch and have it approved again), never guessed.
 */
export async function mergeIntegrity(git: SpecRepo, trusted: string, head: string, merged: string, appliedRoots: readonly string[]): Promise<string[]> {
  const base = await git.mergeBase(trusted, head);
  if (!base) return [`the approved head ${head.slice(0, 7)} shares no history with the trusted commit ${trusted.slice(0, 7)}`];
  const problems: string[] = [];
  // What the merge should change relative to the trusted commit: path -> blob (undefined: deleted).
  const expected = new Map<string, TreeBlob | undefined>();
  if (base === trusted) {
    for (const [path, { b }] of await git.diffTrees(trusted, head)) expected.set(path, b);
  } else {
    const [onTrusted, onHead] = await Promise.all([git.diffTrees(base, trusted), git.diffTrees(base, head)]);
    for (const [path, { a: inBase, b: inHead }] of onHead) {
      const t = onTrusted.has(path) ? onTrusted.get(path)!.b : inBase;
      if (same(t, inHead)) continue;
      if (!onTrusted.has(path)) expected.set(path, inHead);
      else if (!isInert(path, appliedRoots)) problems.push(`${path} changed both in the approved head and on the trusted base since they parted`);
    }
  }
  const actual = await git.diffTrees(trusted, merged);
  for (const path of new Set([...expected.keys(), ...actual.keys()])) {
    if (isInert(path, appliedRoots)) continue;
    if (!expected.has(path)) problems.push(`${path} is changed by the merge but not by the approved head`);
    else if (!actual.has(path)) problems.push(`${path} is changed by the approved head but not by the merge`);
    else if (!same(expected.get(path), actual.get(path)!.b)) problems.push(`${path} differs from the approved head`);
  }
  return problems.sort();
}

/** Symlinks or submodules in the folders fleetspec reads and writes (or those folders as links): refused, as they can swap one folder for another or point outside the checkout. */
export async function linkProblems(git: SpecRepo, sha: string, folders: readonly string[]): Promise<string[]> {
  return (await git.linksUnder(sha, folders)).map((path) => `${path} is a symlink or submodule; fleetspec reads and writes only plain files in ${folders.join(', ')}`);
}

/** One digest of who may approve and which policies judge: an approval holds only under the rules it was given under. */
export function rulesDigest(approvers: ReadonlyMap<string, readonly string[]>, policiesTree: string | undefined): string {
  const who = [...approvers.entries()].map(([login, roles]) => `${login}:${[...roles].sort().join(',')}`).sort();
  return createHash('sha256').update(JSON.stringify({ who, policies: policiesTree ?? null })).digest('hex');
}
