// The spec repository: one local clone that the reconciler fetches, checks out, commits to and
// pushes from, through isomorphic-git (no git binary needed on the machine that runs fleetspec).
import fs from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import git, { type HttpClient, type TreeEntry } from 'isomorphic-git';
import nodeHttp from 'isomorphic-git/http/node';
import { redactUrl } from '../redact.js';

export interface GitAuthor {
  name: string;
  email: string;
}

export interface SpecRepoOptions {
  /** Local working clone, e.g. .fleetspec/repo; created by clone when missing. */
  dir: string;
  /** https://github.com/owner/repo.git or http://127.0.0.1:… (no credentials in it: use token). */
  url: string;
  /** Sent as HTTP basic auth (username x-access-token) through isomorphic-git's onAuth; never logged, never written into .git/config. */
  token?: string;
  /** Longest a clone, fetch or push may take in all (default GIT_TIMEOUT_MS); then it fails as a network error and its connection is closed. */
  timeoutMs?: number;
  /** The bot identity for commits. */
  author: GitAuthor;
  progress?: (message: string) => void;
}

export type GitErrorCode = 'auth' | 'not-found' | 'rejected' | 'network' | 'remote-mismatch' | 'local' | 'other';

/** A git problem with what to do about it. Messages never contain the token. */
export class GitError extends Error {
  override name = 'GitError';
  readonly code: GitErrorCode;
  hint?: string;
  constructor(message: string, options: { code?: GitErrorCode; hint?: string } = {}) {
    super(message);
    this.code = options.code ?? 'other';
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

/** The hint of a push that lost a race; the reconcile loop retries on its next tick. */
export const RETRY_NEXT_TICK = 'fetch and try again next tick';

const REMOTE = 'origin';
/** Default deadline of one clone, fetch or push. */
export const GIT_TIMEOUT_MS = 120_000;
const ZERO_SHA = '0'.repeat(40);
const FULL_SHA = /^[0-9a-f]{40}$/;
const SHORT_SHA = /^[0-9a-f]{4,39}$/;
const MODE_FILE = '100644';
const MODE_EXECUTABLE = '100755';
const MODE_SYMLINK = '120000';
const MODE_TREE = '040000';

/** A file in a tree: its blob id and mode (100644, 100755, 120000 for a symlink, 160000 for a submodule). */
export interface TreeBlob {
  oid: string;
  mode: string;
}

/** A blob to put at a path: its id, its mode if it should change, and its content if it may not be stored yet. */
interface BlobChange {
  oid: string;
  mode?: string;
  content?: Uint8Array;
}

export class SpecRepo {
  readonly dir: string;
  readonly url: string;
  private readonly token: string | undefined;
  private readonly author: GitAuthor;
  private readonly report: ((message: string) => void) | undefined;
  /** isomorphic-git's parsed packfile indexes and index file, kept between calls. */
  private readonly cache: object = {};
  /** refs/heads/<name> the remote's HEAD pointed at on the last fetch. */
  private remoteHead: string | undefined;
  /** Told of every commit this clone is about to push: the loop records what fleetspec wrote. */
  onPushed: ((branch: string, sha: string) => Promise<void>) | undefined;
  /** Cancels the clone's network calls (their connections are closed): the loop's tick sets it for its duration. */
  signal: AbortSignal | undefined;
  private readonly timeoutMs: number;

  private constructor(options: SpecRepoOptions) {
    this.dir = options.dir;
    this.url = options.url;
    this.token = options.token || undefined;
    this.author = options.author;
    this.report = options.progress;
    this.timeoutMs = options.timeoutMs ?? GIT_TIMEOUT_MS;
  }

  /** Clones into `dir` when it holds no repository (objects only, no checkout), else reuses the clone after checking its remote. */
  static async open(options: SpecRepoOptions): Promise<SpecRepo> {
    if (hasCredentials(options.url)) {
      throw new GitError(`the spec repository url must not contain credentials: ${redactUrl(options.url)}`, {
        code: 'local',
        hint: 'put the token in the token setting, not in the url (it would be written to .git/config)',
      });
    }
    const repo = new SpecRepo(options);
    if (fs.existsSync(join(repo.dir, '.git'))) {
      await repo.verifyRemote();
    } else {
      await repo.clone();
    }
    return repo;
  }

  /** Fetches all branches, pruning deleted ones; returns remote branch name -> sha (refs/remotes/origin/*, HEAD excluded). */
  async fetch(): Promise<Map<string, string>> {
    const result = await this.network(`fetch from ${redactUrl(this.url)}`, (http) =>
      git.fetch({ fs, http, dir: this.dir, remote: REMOTE, prune: true, tags: false, singleBranch: false, ...this.callbacks() }),
    );
    if (result.defaultBranch) this.remoteHead = result.defaultBranch;
    return this.remoteBranches();
  }

  /** The remote's HEAD symref target (e.g. 'main') as last fetched; 'main' if unknown. */
  async defaultBranch(): Promise<string> {
    let head = this.remoteHead;
    if (!head) {
      try {
        // Depth 2 stops at the symref's target instead of resolving it to a sha.
        head = await git.resolveRef({ fs, dir: this.dir, ref: `refs/remotes/${REMOTE}/HEAD`, depth: 2 });
      } catch {
        head = undefined;
      }
    }
    const name = head?.replace(/^refs\/(heads|remotes\/[^/]+)\//, '');
    return name && name !== 'HEAD' && !FULL_SHA.test(name) ? name : 'main';
  }

  /**
   * Force-checks-out a remote branch's tip or a commit into dir with a detached HEAD: tracked files
   * are rewritten, files not in that commit's tree are removed (everything but .git). Returns the sha.
   */
  async checkout(ref: string): Promise<string> {
    const sha = await this.resolveCommit(ref);
    const files = await this.local(`list the files of ${sha}`, () => git.listFiles({ fs, dir: this.dir, ref: sha, cache: this.cache }));
    const keepFiles = new Set(files);
    const keepDirs = new Set<string>();
    for (const file of files) {
      for (let slash = file.indexOf('/'); slash >= 0; slash = file.indexOf('/', slash + 1)) keepDirs.add(file.slice(0, slash));
    }
    await this.local(`check out ${sha}`, async () => {
      // isomorphic-git's checkout leaves untracked files (and folders no longer in the tree) where they are.
      await this.removeAllBut(keepFiles, keepDirs, '');
      // With the old index, a folder that became a file (or back) is planned but never written; with an empty one every path is new and compared with the disk.
      const staged = await git.listFiles({ fs, dir: this.dir, cache: this.cache });
      const tops = [...new Set(staged.map((path) => path.split('/')[0]!))];
      if (tops.length > 0) await git.remove({ fs, dir: this.dir, filepath: tops, cache: this.cache });
      await git.checkout({ fs, dir: this.dir, ref: sha, force: true, cache: this.cache });
    });
    return sha;
  }

  /** The checked-out commit. */
  async head(): Promise<string> {
    return this.local('read HEAD', () => git.resolveRef({ fs, dir: this.dir, ref: 'HEAD' }));
  }

  /** First parents from sha (inclusive) back until stopAt is true (that commit excluded) or `limit` commits; oldest first. */
  async firstParents(sha: string, stopAt: (sha: string) => boolean, limit = 200): Promise<string[]> {
    const chain: string[] = [];
    let current: string | undefined = sha;
    while (current !== undefined && chain.length < limit && !stopAt(current)) {
      chain.push(current);
      current = (await this.readCommit(current)).parent[0];
    }
    return chain.reverse();
  }

  /** Whether `ancestor` is `sha` or reachable from it: a branch whose tip the default branch contains has nothing to propose. */
  async isAncestor(ancestor: string, sha: string): Promise<boolean> {
    if (ancestor === sha) return true;
    return this.local(`compare ${ancestor.slice(0, 7)} with ${sha.slice(0, 7)}`, () =>
      git.isDescendent({ fs, dir: this.dir, oid: sha, ancestor, depth: -1, cache: this.cache }),
    );
  }

  async parents(sha: string): Promise<string[]> {
    return (await this.readCommit(sha)).parent;
  }

  /** The message, and author and committer as "Name <email>". */
  async commitMessage(sha: string): Promise<{ message: string; author: string; committer: string }> {
    const commit = await this.readCommit(sha);
    return {
      message: commit.message,
      author: `${commit.author.name} <${commit.author.email}>`,
      committer: `${commit.committer.name} <${commit.committer.email}>`,
    };
  }

  /**
   * Stages exactly `paths` (files or folders, relative to dir: additions, changes and deletions under them) in the
   * checked-out tree, commits on top of the checked-out commit as the bot if anything changed, and pushes the new
   * commit to remote `branch` (not forced). Returns the new sha, or undefined when nothing changed. A rejected push
   * (someone pushed meanwhile) is a GitError with hint 'fetch and try again next tick'.
   */
  async commitAndPush(branch: string, message: string, paths: string[]): Promise<string | undefined> {
    // checkout always detaches HEAD; a branch there means the fresh clone's empty working tree, which would commit as "delete everything".
    if (await git.currentBranch({ fs, dir: this.dir, test: true })) {
      throw new GitError(`nothing is checked out in ${this.dir} yet`, { code: 'local', hint: 'fetch and check out a commit before committing' });
    }
    const base = await this.head();
    const baseCommit = await this.readCommit(base);
    const changes = new Map<string, BlobChange | null>();
    await this.local('stage the changes', async () => {
      const tracked = await git.listFiles({ fs, dir: this.dir, ref: base, cache: this.cache });
      for (const path of paths.map(normalizePath)) {
        const under = (file: string) => path === '' || file === path || file.startsWith(`${path}/`);
        // Everything the commit had under the path goes, unless the working tree still has it.
        for (const file of tracked) if (under(file)) changes.set(file, null);
        for (const [file, change] of await this.workdirBlobs(path, new Set(tracked))) changes.set(file, change);
      }
    });
    const tree = await this.local('write the tree', () => this.rewriteTree(baseCommit.tree, changes));
    if (tree === baseCommit.tree) return undefined;
    const sha = await this.writeCommit(tree, base, message);
    await this.onPushed?.(branch, sha);
    await this.push(sha, branch, false);
    // The working tree already holds this commit's files; only HEAD moves.
    await this.local('move HEAD', () => git.writeRef({ fs, dir: this.dir, ref: 'HEAD', value: sha, force: true }));
    return sha;
  }

  /**
   * Makes one commit on top of `base` that writes `files` (path -> content; null deletes a file or folder) without
   * touching the checkout, and force-pushes it to remote `branch` (the bot owns such branches). Returns the new sha,
   * or undefined (and pushes nothing) when the resulting tree equals base's.
   */
  async writeBranch(branch: string, base: string, files: Record<string, string | null>, message: string): Promise<string | undefined> {
    const baseCommit = await this.readCommit(base);
    const changes = new Map<string, BlobChange | null>();
    await this.local('write the files', async () => {
      for (const [path, content] of Object.entries(files)) {
        if (normalizePath(path) === '') throw new GitError(`writeBranch needs file paths, not "${path}"`, { code: 'local' });
        const oid = content === null ? undefined : await git.writeBlob({ fs, dir: this.dir, blob: Buffer.from(content, 'utf8') });
        changes.set(normalizePath(path), oid === undefined ? null : { oid });
      }
    });
    const tree = await this.local('write the tree', () => this.rewriteTree(baseCommit.tree, changes));
    if (tree === baseCommit.tree) return undefined;
    const sha = await this.writeCommit(tree, base, message);
    await this.onPushed?.(branch, sha);
    await this.push(sha, branch, true);
    return sha;
  }

  /** Deletes `branch` on the remote (and its remote-tracking ref); nothing to do if the remote has no such branch. */
  async deleteRemoteBranch(branch: string): Promise<void> {
    let absent = false;
    try {
      await this.network(`delete branch ${branch} on ${redactUrl(this.url)}`, (http) =>
        git.push({
          fs,
          http,
          dir: this.dir,
          remote: REMOTE,
          // With delete, isomorphic-git still expands `ref` locally; a full sha expands to itself.
          ref: ZERO_SHA,
          remoteRef: `refs/heads/${branch}`,
          delete: true,
          // The hook sees the remote's current value: skip the push when the branch is already gone.
          onPrePush: ({ remoteRef }) => {
            absent = remoteRef.oid === ZERO_SHA;
            return !absent;
          },
          ...this.callbacks(),
        }),
      );
    } catch (error) {
      if (!absent) throw error;
      await git.deleteRef({ fs, dir: this.dir, ref: `refs/remotes/${REMOTE}/${branch}` }).catch(() => undefined);
    }
  }

  /** The object id of a file or folder at a commit (equal ids: equal contents); undefined when absent. */
  async pathOid(sha: string, path: string): Promise<string | undefined> {
    const filepath = normalizePath(path);
    return this.atPath(sha, path, async () => {
      if (filepath === '') return (await this.readCommit(sha)).tree;
      const parent = filepath.includes('/') ? filepath.slice(0, filepath.lastIndexOf('/')) : '';
      const name = filepath.slice(parent.length ? parent.length + 1 : 0);
      const { tree } = await git.readTree({ fs, dir: this.dir, oid: sha, filepath: parent || undefined, cache: this.cache });
      return tree.find((e) => e.path === name)?.oid;
    });
  }

  /** A file's content at a commit; undefined when the commit has no file at that path. */
  async readFile(sha: string, path: string): Promise<string | undefined> {
    return this.atPath(sha, path, async () => {
      const { blob } = await git.readBlob({ fs, dir: this.dir, oid: sha, filepath: normalizePath(path), cache: this.cache });
      return Buffer.from(blob).toString('utf8');
    });
  }

  /**
   * The files that differ between two commits: path -> its blob at each (absent where the commit has no file there).
   * Subtrees with equal ids are not read, so two close commits cost a few tree reads. A symlink or submodule is a
   * blob of its own mode here: a file that became a symlink differs.
   */
  async diffTrees(a: string, b: string): Promise<Map<string, { a?: TreeBlob; b?: TreeBlob }>> {
    const [ta, tb] = await Promise.all([this.readCommit(a), this.readCommit(b)]);
    const out = new Map<string, { a?: TreeBlob; b?: TreeBlob }>();
    await this.local(`compare ${a.slice(0, 7)} with ${b.slice(0, 7)}`, () => this.diffTree(ta.tree, tb.tree, '', out));
    return out;
  }

  private async diffTree(a: string | undefined, b: string | undefined, prefix: string, out: Map<string, { a?: TreeBlob; b?: TreeBlob }>): Promise<void> {
    if (a === b) return;
    const read = async (oid: string | undefined) => new Map((oid ? (await git.readTree({ fs, dir: this.dir, oid, cache: this.cache })).tree : []).map((e) => [e.path, e]));
    const [ea, eb] = await Promise.all([read(a), read(b)]);
    for (const name of new Set([...ea.keys(), ...eb.keys()])) {
      const x = ea.get(name);
      const y = eb.get(name);
      if (x && y && x.oid === y.oid && x.mode === y.mode) continue;
      const path = prefix + name;
      const tree = (e: TreeEntry | undefined) => (e?.type === 'tree' ? e.oid : undefined);
      const blob = (e: TreeEntry | undefined): TreeBlob | undefined => (e && e.type !== 'tree' ? { oid: e.oid, mode: e.mode } : undefined);
      if (tree(x) || tree(y)) await this.diffTree(tree(x), tree(y), `${path}/`, out);
      const bx = blob(x);
      const by = blob(y);
      if (bx || by) out.set(path, { ...(bx ? { a: bx } : {}), ...(by ? { b: by } : {}) });
    }
  }

  /** The best common ancestor of two commits, or undefined when they share no history. */
  async mergeBase(a: string, b: string): Promise<string | undefined> {
    const bases = await this.local(`find the merge base of ${a.slice(0, 7)} and ${b.slice(0, 7)}`, () =>
      git.findMergeBase({ fs, dir: this.dir, oids: [a, b], cache: this.cache }),
    );
    return (bases as string[])[0];
  }

  /** Paths under `folders` at `sha` that are symlinks or submodules (or are the folders themselves): what a spec repository must not hold. */
  async linksUnder(sha: string, folders: readonly string[]): Promise<string[]> {
    const found: string[] = [];
    const visit = async (oid: string, prefix: string): Promise<void> => {
      for (const e of (await git.readTree({ fs, dir: this.dir, oid, cache: this.cache })).tree) {
        if (e.type === 'tree') await visit(e.oid, `${prefix}${e.path}/`);
        else if (e.mode === MODE_SYMLINK || e.type === 'commit') found.push(prefix + e.path);
      }
    };
    const root = (await this.readCommit(sha)).tree;
    await this.local(`look for symlinks at ${sha.slice(0, 7)}`, async () => {
      const top = new Map((await git.readTree({ fs, dir: this.dir, oid: root, cache: this.cache })).tree.map((e) => [e.path, e]));
      for (const folder of folders.map(normalizePath)) {
        // Each folder is walked from the root, so a symlinked parent (a/ -> elsewhere) is caught too.
        let entry: TreeEntry | undefined = { path: '', mode: MODE_TREE, oid: root, type: 'tree' };
        let at = '';
        for (const part of folder.split('/').filter(Boolean)) {
          const entries: Map<string, TreeEntry> = at === '' ? top : new Map((await git.readTree({ fs, dir: this.dir, oid: entry!.oid, cache: this.cache })).tree.map((e) => [e.path, e]));
          entry = entries.get(part);
          at = at ? `${at}/${part}` : part;
          if (!entry) break;
          if (entry.type !== 'tree') {
            if (entry.mode === MODE_SYMLINK || entry.type === 'commit') found.push(at);
            entry = undefined;
            break;
          }
        }
        if (entry?.type === 'tree') await visit(entry.oid, `${folder}/`);
      }
    });
    return [...new Set(found)].sort();
  }

  /** Runs a read of `path` at `sha`: undefined when the path is not there, an error when the commit is not. */
  private async atPath<T>(sha: string, path: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      const code = errorCode(error);
      if (code === 'NotFoundError' || code === 'ObjectTypeError') {
        // Distinguish a missing file from a missing commit: the latter is the caller's problem.
        await this.readCommit(sha);
        return undefined;
      }
      throw this.toGitError(error, `read ${path} at ${sha}`);
    }
  }

  private async clone(): Promise<void> {
    const entries = fs.existsSync(this.dir) ? await readdir(this.dir) : undefined;
    if (entries && entries.length > 0) {
      throw new GitError(`${this.dir} is not empty and is not a git clone; refusing to clone into it`, {
        code: 'local',
        hint: `checkout removes every file that is not in the spec repository: empty ${this.dir} or choose another folder`,
      });
    }
    await mkdir(this.dir, { recursive: true });
    this.report?.(`cloning ${redactUrl(this.url)} into ${this.dir}`);
    try {
      await this.network(`clone ${redactUrl(this.url)}`, (http) =>
        git.clone({ fs, http, dir: this.dir, url: this.url, remote: REMOTE, noCheckout: true, noTags: true, ...this.callbacks() }),
      );
    } catch (error) {
      // A half-made clone would be reused next time; start over instead.
      await rm(join(this.dir, '.git'), { recursive: true, force: true });
      throw error;
    }
  }

  private async verifyRemote(): Promise<void> {
    const configured = (await this.local('read .git/config', () => git.getConfig({ fs, dir: this.dir, path: `remote.${REMOTE}.url` }))) as string | undefined;
    if (configured === undefined) {
      await this.local('write .git/config', () => git.setConfig({ fs, dir: this.dir, path: `remote.${REMOTE}.url`, value: this.url }));
      return;
    }
    if (sameRemote(configured, this.url)) return;
    throw new GitError(`${this.dir} is a clone of ${redactUrl(configured)}, not of ${redactUrl(this.url)}`, {
      code: 'remote-mismatch',
      hint: `remove ${this.dir} so that fleetspec clones the right repository, or fix the url`,
    });
  }

  private async remoteBranches(): Promise<Map<string, string>> {
    const names = await this.local('list remote branches', () => git.listBranches({ fs, dir: this.dir, remote: REMOTE }));
    const branches = new Map<string, string>();
    for (const name of names.filter((name) => name !== 'HEAD').sort()) {
      branches.set(name, await git.resolveRef({ fs, dir: this.dir, ref: `refs/remotes/${REMOTE}/${name}` }));
    }
    return branches;
  }

  /** A remote branch name or a commit sha (full, or at least 4 hex digits) to a commit present in the clone. */
  private async resolveCommit(ref: string): Promise<string> {
    let sha: string | undefined;
    if (FULL_SHA.test(ref)) sha = ref;
    else {
      sha = await git.resolveRef({ fs, dir: this.dir, ref: `refs/remotes/${REMOTE}/${ref}` }).catch(() => undefined);
      if (sha === undefined && SHORT_SHA.test(ref)) sha = await git.expandOid({ fs, dir: this.dir, oid: ref, cache: this.cache }).catch(() => undefined);
    }
    if (sha === undefined) {
      throw new GitError(`${ref} is neither a branch of ${redactUrl(this.url)} nor a commit in the clone`, { code: 'not-found', hint: 'fetch first; check the branch name' });
    }
    await this.readCommit(sha);
    return sha;
  }

  private async readCommit(sha: string) {
    try {
      return (await git.readCommit({ fs, dir: this.dir, oid: sha, cache: this.cache })).commit;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'NotFoundError' || code === 'ObjectTypeError') {
        throw new GitError(`commit ${sha} is not in the clone of ${redactUrl(this.url)}`, { code: 'not-found', hint: 'fetch first; the commit may have been force-pushed away' });
      }
      throw this.toGitError(error, `read commit ${sha}`);
    }
  }

  private async writeCommit(tree: string, parent: string, message: string): Promise<string> {
    // One timestamp for both, so author and committer lines agree.
    const who = { ...this.author, timestamp: Math.floor(Date.now() / 1000) };
    return this.local('write the commit', () =>
      git.commit({ fs, dir: this.dir, message, author: who, committer: who, tree, parent: [parent], noUpdateBranch: true, cache: this.cache }),
    );
  }

  private async push(sha: string, branch: string, force: boolean): Promise<void> {
    await this.network(`push to ${branch} on ${redactUrl(this.url)}`, (http) =>
      git.push({ fs, http, dir: this.dir, remote: REMOTE, ref: sha, remoteRef: `refs/heads/${branch}`, force, ...this.callbacks() }),
    );
  }

  /**
   * The tree `treeOid` with `changes` applied (path -> blob, or null to delete a file or a whole folder); folders
   * left empty disappear. Unchanged subtrees keep their ids, so an edit that changes nothing returns `treeOid`.
   */
  private async rewriteTree(treeOid: string, changes: Map<string, BlobChange | null>): Promise<string> {
    return (await this.editTree(treeOid, changes)) ?? git.writeTree({ fs, dir: this.dir, tree: [] });
  }

  /** rewriteTree for one level; undefined when the result is empty. */
  private async editTree(treeOid: string | undefined, changes: Map<string, BlobChange | null>): Promise<string | undefined> {
    const original = treeOid === undefined ? [] : (await git.readTree({ fs, dir: this.dir, oid: treeOid, cache: this.cache })).tree;
    const entries = new Map<string, TreeEntry>(original.map((entry) => [entry.path, entry]));
    const nested = new Map<string, Map<string, BlobChange | null>>();
    for (const [path, change] of changes) {
      const slash = path.indexOf('/');
      if (slash < 0) {
        const existing = entries.get(path);
        if (change === null) entries.delete(path);
        else {
          const mode = change.mode ?? (existing?.type === 'blob' ? existing.mode : MODE_FILE);
          if (existing?.oid !== change.oid && change.content) await git.writeBlob({ fs, dir: this.dir, blob: change.content });
          entries.set(path, { path, mode, oid: change.oid, type: 'blob' });
        }
      } else {
        const name = path.slice(0, slash);
        if (!nested.has(name)) nested.set(name, new Map());
        nested.get(name)!.set(path.slice(slash + 1), change);
      }
    }
    for (const [name, subChanges] of nested) {
      const existing = entries.get(name);
      const subtree = await this.editTree(existing?.type === 'tree' ? existing.oid : undefined, subChanges);
      if (subtree !== undefined) entries.set(name, { path: name, mode: MODE_TREE, oid: subtree, type: 'tree' });
      // Deleting under a path that is a file (or nothing) leaves it as it is.
      else if (existing?.type === 'tree') entries.delete(name);
    }
    if (entries.size === 0) return undefined;
    const unchanged =
      treeOid !== undefined &&
      entries.size === original.length &&
      original.every((entry) => {
        const now = entries.get(entry.path);
        return now !== undefined && now.oid === entry.oid && now.mode === entry.mode;
      });
    return unchanged ? treeOid : git.writeTree({ fs, dir: this.dir, tree: [...entries.values()] });
  }

  /** The blobs under `path` in the working tree (hashed, not stored yet), skipping .git and ignored untracked files. */
  private async workdirBlobs(path: string, tracked: Set<string>): Promise<Map<string, BlobChange>> {
    const blobs = new Map<string, BlobChange>();
    const visit = async (relative: string): Promise<void> => {
      const absolute = relative === '' ? this.dir : join(this.dir, relative);
      const stat = await lstat(absolute).catch(() => undefined);
      if (!stat) return;
      if (stat.isDirectory()) {
        for (const name of await readdir(absolute)) {
          if (name === '.git') continue;
          await visit(relative === '' ? name : `${relative}/${name}`);
        }
        return;
      }
      if (!tracked.has(relative) && (await git.isIgnored({ fs, dir: this.dir, filepath: relative }))) return;
      let content: Uint8Array;
      let mode: string;
      if (stat.isSymbolicLink()) {
        content = Buffer.from(await readlink(absolute), 'utf8');
        mode = MODE_SYMLINK;
      } else if (stat.isFile()) {
        content = await readFile(absolute);
        mode = stat.mode & 0o111 ? MODE_EXECUTABLE : MODE_FILE;
      } else {
        return; // sockets, fifos: nothing git can store
      }
      blobs.set(relative, { oid: (await git.hashBlob({ object: content })).oid, mode, content });
    };
    await visit(path);
    return blobs;
  }

  /** Removes everything under `relative` except .git, the files in keepFiles and the folders in keepDirs (recursing into those). */
  private async removeAllBut(keepFiles: Set<string>, keepDirs: Set<string>, relative: string): Promise<void> {
    for (const entry of await readdir(relative === '' ? this.dir : join(this.dir, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (path === '.git') continue;
      if (entry.isDirectory() && keepDirs.has(path)) await this.removeAllBut(keepFiles, keepDirs, path);
      else if (entry.isDirectory() || !keepFiles.has(path)) await rm(join(this.dir, path), { recursive: true, force: true });
    }
  }

  /** Auth and progress callbacks for every network call. */
  private callbacks() {
    const token = this.token;
    let lastPhase = '';
    let lastSaid = '';
    const say = (message: string) => {
      if (message !== lastSaid) this.say(message);
      lastSaid = message;
    };
    return {
      cache: this.cache,
      onAuth: token === undefined ? undefined : () => ({ username: 'x-access-token', password: token }),
      onProgress: this.report
        ? ({ phase, loaded, total }: { phase: string; loaded: number; total: number }) => {
            // isomorphic-git reports every object; a phase's start and its end are enough for a log.
            if (phase !== lastPhase || (total > 0 && loaded === total)) say(total > 0 ? `${phase}: ${loaded}/${total}` : phase);
            lastPhase = phase;
          }
        : undefined,
      onMessage: this.report
        ? (message: string) => {
            const line = message.trim();
            // Counter lines ("Counting objects:  50% (4/8)") also arrive through onProgress.
            if (line !== '' && !/\(\d+\/\d+\)/.test(line)) say(`remote: ${line}`);
          }
        : undefined,
    };
  }

  private say(message: string): void {
    this.report?.(this.scrub(message));
  }

  /**
   * A clone, fetch or push, within its deadline and cancellable through `signal`: each HTTP request
   * carries the abort (its connection is closed), and the operation ends at once even if isomorphic-git
   * is between requests or reading a body that stopped coming.
   */
  private async network<T>(what: string, run: (http: HttpClient) => Promise<T>): Promise<T> {
    const outer = this.signal;
    if (outer?.aborted) throw new GitError(`${this.scrub(what)}: cancelled before it started`, { code: 'network', hint: 'the next tick tries again' });
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, this.timeoutMs);
    const onCancel = () => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onCancel, { once: true });
    const signal = controller.signal;
    const http: HttpClient = { request: (request) => nodeHttp.request({ ...request, signal }) };
    let onAbort: (() => void) | undefined;
    const ended = new Promise<never>((_, reject) => {
      onAbort = () =>
        reject(
          timedOut
            ? new GitError(`${this.scrub(what)}: no answer within ${Math.round(this.timeoutMs / 1000)} s`, { code: 'network', hint: 'check the network and the git server; the next tick tries again' })
            : new GitError(`${this.scrub(what)}: cancelled`, { code: 'network', hint: 'the next tick tries again' }),
        );
      signal.addEventListener('abort', onAbort, { once: true });
    });
    ended.catch(() => undefined);
    try {
      const running = run(http);
      running.catch(() => undefined); // settled by the race below; a late rejection is not unhandled
      return await Promise.race([running, ended]);
    } catch (error) {
      throw this.toGitError(error, what);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onCancel);
      signal.removeEventListener('abort', onAbort!);
    }
  }

  private async local<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof GitError) throw error;
      throw this.toGitError(error, what, 'local');
    }
  }

  /** isomorphic-git's and node's errors as a GitError with a hint; the token never survives into the message. */
  private toGitError(error: unknown, rawWhat: string, fallback: GitErrorCode = 'other'): GitError {
    if (error instanceof GitError) return error;
    const what = this.scrub(rawWhat);
    const code = errorCode(error);
    const message = this.scrub(error instanceof Error ? error.message : String(error));
    const data = (error as { data?: { statusCode?: number; reason?: string; prettyDetails?: string } }).data ?? {};
    if (code === 'HttpError' && (data.statusCode === 401 || data.statusCode === 403)) {
      return new GitError(`${what}: authentication failed (HTTP ${data.statusCode})`, {
        code: 'auth',
        hint: this.token === undefined ? 'the repository needs a token: set one' : 'check the token: it must be valid and allowed to read and push to this repository',
      });
    }
    if (code === 'HttpError' && data.statusCode === 404) {
      return new GitError(`${what}: repository not found (HTTP 404)`, {
        code: 'not-found',
        hint: 'check the url; GitHub also answers 404 when the token cannot see a private repository',
      });
    }
    if (code === 'PushRejectedError') {
      return new GitError(`${what}: rejected, the remote branch has commits this push does not (${data.reason ?? 'not-fast-forward'})`, {
        code: 'rejected',
        hint: RETRY_NEXT_TICK,
      });
    }
    if (code === 'GitPushError') {
      const lostRace = /non-fast-forward|fetch first|stale info|failed to (update|lock) ref|cannot lock ref/i.test(message);
      return new GitError(`${what}: the server refused the push: ${message}`, {
        code: 'rejected',
        hint: lostRace ? RETRY_NEXT_TICK : 'check the branch protection rules and the token permissions',
      });
    }
    if (code === 'SmartHttpError') {
      return new GitError(`${what}: the server did not answer as a git server`, { code: 'not-found', hint: 'check the url: it should be the repository clone url ending in .git' });
    }
    if (code && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR_\w+)$/.test(code)) {
      return new GitError(`${what}: network error (${code}): ${message}`, { code: 'network', hint: 'check the network and the url; the next tick tries again' });
    }
    if (code === 'HttpError') {
      return new GitError(`${what}: ${message}`, { code: 'network', hint: 'the git server answered with an error; the next tick tries again' });
    }
    return new GitError(`${what}: ${message}`, { code: fallback });
  }

  /** The text without the token (raw or as a Basic auth value) and without credentials in urls. */
  private scrub(text: string): string {
    let clean = redactUrl(text);
    if (this.token) {
      for (const secret of [this.token, encodeURIComponent(this.token), Buffer.from(`x-access-token:${this.token}`).toString('base64')]) {
        clean = clean.split(secret).join('***');
      }
    }
    return clean;
  }
}

/** Node and isomorphic-git both put a string `code` on their errors. */
function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function hasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

/** Two urls name the same repository: the same after dropping a trailing slash and ".git", host case ignored. */
function sameRemote(a: string, b: string): boolean {
  const canonical = (url: string) => {
    const trimmed = url.trim().replace(/\/+$/, '').replace(/\.git$/, '');
    try {
      const parsed = new URL(trimmed);
      return `${parsed.protocol}//${parsed.host.toLowerCase()}${parsed.pathname}`;
    } catch {
      return trimmed;
    }
  };
  return canonical(a) === canonical(b);
}

/** A path relative to the repository root, with forward slashes and no leading "./" or trailing "/"; '' is the root. */
function normalizePath(path: string): string {
  const parts = path.split(/[\\/]+/).filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new GitError(`path ${path} leaves the repository`, { code: 'local' });
  return parts.join('/');
}
