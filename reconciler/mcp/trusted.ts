// What the MCP server reads: the trusted commit (trustedTip in the store), checked out in the
// proposer's own clone, never a branch. Loaded again when the trusted tip moves. One lock covers
// every use of the clone (this view and the proposals), since a checkout rewrites its files; a lock
// file beside it extends that to the other processes sharing it (one MCP server per agent).
import { join, relative, sep } from 'node:path';
import type { SpecRepo } from '../git/repo.js';
import type { Role } from '../kinds/roles/index.js';
import { CLONE_WAIT_MS, NoTrustedCommit, PROPOSAL_CLONE } from '../proposals/propose.js';
import { loadSpecs, type LoadedSpecs } from '../specs/load.js';
import type { Queryable } from '../state/db.js';
import { lockFolder } from '../state/lock.js';
import { trustedTip } from '../state/loop.js';


export interface TrustedSpecs {
  sha: string;
  specs: LoadedSpecs;
}

export class TrustedView {
  private cached: TrustedSpecs | undefined;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly db: Queryable,
    readonly repoKey: string,
    readonly git: SpecRepo,
    readonly specsPath: string,
  ) {}

  /** Runs `fn` alone with the clone: alone in this process, and (a lock file beside it) among the MCP servers that share it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      const held = await lockFolder(this.git.dir, { waitMs: CLONE_WAIT_MS }, PROPOSAL_CLONE);
      try {
        return await fn();
      } finally {
        await held.release();
      }
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** The trusted commit's specs, loaded again when the trusted tip moved. */
  current(): Promise<TrustedSpecs> {
    return this.exclusive(() => this.load());
  }

  /** As current(), for a caller holding the lock already. */
  async load(): Promise<TrustedSpecs> {
    const tip = await trustedTip(this.db, this.repoKey);
    if (!tip) throw new NoTrustedCommit(`fleetspec has accepted no commit of ${this.repoKey} yet: run the loop once (fleetspec reconcile) so there is a trusted commit to read`);
    if (this.cached?.sha === tip.sha) return this.cached;
    await this.git.fetch();
    await this.git.checkout(tip.sha);
    const specs = await loadSpecs(join(this.git.dir, this.specsPath));
    this.cached = { sha: tip.sha, specs };
    return this.cached;
  }

  /** A spec file's path relative to the specs folder (ports/consilio.yaml), as proposals name it. */
  specPath(file: string): string {
    return relative(join(this.git.dir, this.specsPath), file).split(sep).join('/');
  }

  /** A spec file's text at the trusted commit. */
  async readSpec(sha: string, path: string): Promise<string | undefined> {
    return this.git.readFile(sha, `${this.specsPath}/${path}`);
  }
}

export const rolesOf = (t: TrustedSpecs): Role[] => t.specs.index.all('roles').map((r) => r.value as Role);
