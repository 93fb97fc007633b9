// The facts behind the two-person rule, gathered from GitHub: who made a change (the PR's author,
// its commits' authors and committers, and every account that pushed its branch, from GitHub's
// repository activity), and which account stands behind each approver login. Commits fleetspec
// wrote itself (recorded in the store) are nobody's. What cannot be read is "unknown", never "nobody".
import { GitHubError, type GitHub, type PullRequest } from '../github/client.js';
import type { Queryable } from '../state/db.js';
import { approverAccounts, botWritten, recordApproverAccount, unappliedPulls } from '../state/loop.js';
import type { Approvers, Authors } from './approval.js';
import { DRIFT_PREFIX } from './phases/types.js';
import { pulledIssue } from './tickets.js';
import { ROLLBACK_PREFIX } from './rollback.js';
import { branchPrefix } from '../proposals/index.js';
import { proposalAuthors } from '../proposals/propose.js';
import { rollbackRequesters } from '../state/commands.js';

/** GitHub's own committer for commits made in its web interface: not a person. */
const WEB_FLOW = 'web-flow';
const PUSHES = new Set(['push', 'force_push', 'branch_creation']);
const short = (sha: string) => sha.slice(0, 7);

export async function authorsOf(github: GitHub, db: Queryable, repoKey: string, pr: PullRequest): Promise<Authors> {
  const own = await branchAuthors(github, db, repoKey, pr);
  const known = new Set(own.known);
  const unknown = [...own.unknown];
  // fleetspec's PRs carry other people's changes: a drift PR applies approved content live lacks,
  // a pulled ticket is an issue's text. Whoever made those made this change too.
  if (pr.headRef.startsWith(DRIFT_PREFIX)) {
    for (const number of await unappliedPulls(db, repoKey)) {
      const behind = await branchAuthors(github, db, repoKey, await github.getPull(number));
      behind.known.forEach((k) => known.add(k));
      unknown.push(...behind.unknown);
    }
  }
  // A revert PR is the change of whoever asked for it: they may not approve it. From the command line, that is nobody fleetspec can name.
  if (pr.headRef.startsWith(ROLLBACK_PREFIX)) {
    // Whoever asked for it, first or again while it was open.
    const asked = await rollbackRequesters(db, repoKey, pr.number, pr.headRef);
    asked.logins.forEach((login) => known.add(login));
    if (asked.fromCli) unknown.push('the rollback was asked for with fleetspec rollback on the server, by someone fleetspec cannot name');
    if (!asked.any) unknown.push(`fleetspec has no record of who asked for the rollback on ${pr.headRef}`);
  }
  // An agent's proposal is the change of the people behind its role: they may not approve it.
  if (pr.headRef.startsWith(branchPrefix('proposal'))) {
    const behind = await proposalAuthors(db, repoKey, pr.headRef);
    behind.known.forEach((k) => known.add(k));
    if (behind.unknown) unknown.push(behind.unknown);
  }
  const issue = pulledIssue(pr.headRef);
  if (issue !== undefined) {
    const [opened, events] = await Promise.all([github.getIssue(issue), github.labelEvents(issue)]);
    known.add(opened.author.toLowerCase());
    for (const e of events) {
      if (e.actor) known.add(e.actor.login.toLowerCase());
      else unknown.push(`a label of issue #${issue} was set by an account GitHub does not name`);
    }
  }
  return { known, unknown: [...new Set(unknown)] };
}

/** The authors of a PR's own branch: its author, its commits' authors and committers, and its pushers. */
async function branchAuthors(github: GitHub, db: Queryable, repoKey: string, pr: PullRequest): Promise<Authors> {
  const known = new Set<string>([pr.author.toLowerCase()]);
  const unknown: string[] = [];
  if (pr.headRepo && pr.headRepo.toLowerCase() !== github.fullName.toLowerCase()) {
    unknown.push(`the branch lives in ${pr.headRepo}, whose pushes fleetspec cannot see`);
  }

  const { commits, total, complete } = await github.pullCommits(pr.number);
  const activity = await github.branchActivity(pr.headRef).catch((error: unknown) => {
    if (error instanceof GitHubError && error.status !== undefined && error.status < 500) return error;
    throw error;
  });
  const pushed = activity instanceof GitHubError ? [] : activity.map((a) => a.after);
  const ours = await botWritten(db, repoKey, [...commits.map((c) => c.sha), ...pushed, pr.headSha]);

  for (const c of commits) {
    if (ours.has(c.sha)) continue;
    if (c.author) known.add(c.author.login.toLowerCase());
    else unknown.push(`commit ${short(c.sha)}'s author email is linked to no GitHub account`);
    if (c.committer) {
      if (c.committer.login.toLowerCase() !== WEB_FLOW) known.add(c.committer.login.toLowerCase());
    } else unknown.push(`commit ${short(c.sha)}'s committer email is linked to no GitHub account`);
  }
  if (!complete) unknown.push(`GitHub lists ${commits.length} of the pull request's ${total} commits`);

  if (activity instanceof GitHubError) {
    unknown.push(`GitHub's repository activity could not be read (${activity.status}), so who pushed ${pr.headRef} is unknown`);
  } else {
    // Only this life of the branch: a deleted branch of the same name was someone else's change.
    const created = activity.map((a) => a.type).lastIndexOf('branch_creation');
    const life = created >= 0 ? activity.slice(created) : activity;
    for (const a of life) {
      if (!PUSHES.has(a.type) || ours.has(a.after)) continue;
      if (a.actor) known.add(a.actor.login.toLowerCase());
      else unknown.push(`a push to ${pr.headRef} (${short(a.after)}) by an account GitHub does not name`);
    }
    if (created < 0) unknown.push(`GitHub's activity for ${pr.headRef} does not reach back to the branch's creation`);
    if (!ours.has(pr.headSha) && !life.some((a) => a.after === pr.headSha && PUSHES.has(a.type))) {
      unknown.push(`GitHub's activity does not show who pushed the head ${short(pr.headSha)}`);
    }
  }
  return { known, unknown: [...new Set(unknown)] };
}

/**
 * The approvers with the account id behind each login. A login seen for the first time is looked up
 * and remembered; from then on a review by another account under that login (the approver renamed
 * and someone took the old name) is not theirs.
 */
export async function approverRules(github: GitHub, db: Queryable, repoKey: string, roles: ReadonlyMap<string, string[]>, solo?: string): Promise<Approvers> {
  const accounts = await approverAccounts(db, repoKey);
  for (const login of roles.keys()) {
    if (accounts.has(login)) continue;
    const account = await github.user(login);
    if (!account) continue;
    await recordApproverAccount(db, repoKey, login, account.id);
    accounts.set(login, account.id);
  }
  return { roles, accounts, ...(solo ? { solo } : {}) };
}

/** Whether `login` is the only account with write access to the repository besides the token's own (asked now, at each apply). */
export async function soleWriter(github: GitHub, login: string): Promise<boolean> {
  const [me, people] = await Promise.all([github.me(), github.collaborators()]);
  const writers = people.filter((p) => ['admin', 'maintain', 'write'].includes(p.permission) && p.id !== me.id);
  return writers.length === 1 && writers[0]!.login.toLowerCase() === login.toLowerCase();
}
