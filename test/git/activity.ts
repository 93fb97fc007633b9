// GitHub learns who pushed what from its own push handling; the GitHub stand-in learns it from the
// test: this watches the bare repository's branches and records each change as repository activity
// (branch_creation, push, force_push, branch_deletion), the way GET /repos/{owner}/{repo}/activity lists them.
import type { GitTestServer } from './http-backend.js';
import type { GitHubTestServer } from '../github/server.js';

const ZERO = '0'.repeat(40);

/** Returns sync(actorOf): records every branch change since the last call, each pushed by actorOf(branch). */
export function pushRecorder(git: GitTestServer, repoName: string, gh: GitHubTestServer): (actorOf?: (branch: string) => string | null) => Map<string, string> {
  let last = new Map<string, string>();
  const refs = () =>
    new Map(
      git
        .git(repoName, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );
  const fastForward = (before: string, after: string) => {
    try {
      git.git(repoName, 'merge-base', '--is-ancestor', before, after);
      return true;
    } catch {
      return false;
    }
  };
  return (actorOf = () => 'bob') => {
    const now = refs();
    for (const [branch, after] of now) {
      const before = last.get(branch) ?? ZERO;
      if (before === after) continue;
      const type = before === ZERO ? 'branch_creation' : fastForward(before, after) ? 'push' : 'force_push';
      gh.recordActivity({ ref: `refs/heads/${branch}`, before, after, type, actor: actorOf(branch) });
    }
    for (const [branch, before] of last) {
      if (!now.has(branch)) gh.recordActivity({ ref: `refs/heads/${branch}`, before, after: ZERO, type: 'branch_deletion', actor: actorOf(branch) });
    }
    last = now;
    return now;
  };
}

/** GitHub's side of a push for the stand-in: main and every open PR's head follow the branches `pushed` returned. */
export function syncPullHeads(gh: GitHubTestServer, branches: ReadonlyMap<string, string>): void {
  gh.setBranch('main', branches.get('main')!);
  for (const p of gh.repo().pulls.values()) {
    const sha = branches.get(p.head.ref);
    if (p.state === 'open' && sha && sha !== p.head.sha) gh.setHeadSha(p.number, sha);
  }
}

/**
 * Joins the two stand-ins as GitHub is one: every push the git server takes (over HTTP, or by its
 * commit()) is handed to the GitHub stand-in's receivePush, which moves the branch and the open PRs
 * on it, records the activity and delivers push (and pull_request synchronize) webhooks. The pusher
 * is `actorOf(user)` of the push's Basic auth username (default that username; null when none).
 */
export function deliverPushes(git: GitTestServer, gh: GitHubTestServer, opts: { repoName?: string; repo?: string; actorOf?: (user: string | undefined) => string | null } = {}): void {
  const actorOf = opts.actorOf ?? ((user) => user ?? null);
  git.onPush = (push) => {
    if (opts.repoName !== undefined && push.repo !== opts.repoName) return;
    let forced = false;
    if (push.before !== ZERO && push.after !== ZERO) {
      try {
        git.git(push.repo, 'merge-base', '--is-ancestor', push.before, push.after);
      } catch {
        forced = true;
      }
    }
    gh.receivePush({ ref: push.ref, before: push.before, after: push.after, pusher: actorOf(push.user), forced, ...(opts.repo ? { repo: opts.repo } : {}) });
  };
}
