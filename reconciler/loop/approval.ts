// Who may approve, and whether a merged pull request was approved: an APPROVED review, still
// standing, on the head commit fleetspec planned, from a GitHub user of a role with the
// `approve` capability, who is not the PR's author. Pure: the loop gathers the facts.
import type { Resource, SpecIndex } from '../kinds/kind.js';
import type { Role } from '../kinds/roles/index.js';

/** GitHub login (lower case) → the roles that let it approve. */
export function approvers(index: SpecIndex): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const role of index.all('roles') as Resource<Role>[]) {
    if (!role.value.capabilities.includes('approve')) continue;
    for (const login of role.value.githubUsers ?? []) {
      const key = login.toLowerCase();
      out.set(key, [...(out.get(key) ?? []), role.name]);
    }
  }
  return out;
}

export interface ReviewFact {
  user: string;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  commitId: string | null;
}

export interface ApprovalFacts {
  author: string;
  /** GitHub logins of the PR's commit authors: whoever pushed the change is its author too (the bot opens PRs for pushed branches). */
  commitAuthors?: readonly string[];
  /** The head commit that was merged. */
  headSha: string;
  /** Whether fleetspec planned that head (an approval of an unplanned commit approves nothing seen). */
  headPlanned: boolean;
  /** In GitHub's order (oldest first). */
  reviews: readonly ReviewFact[];
  approvers: ReadonlyMap<string, string[]>;
}

export type Approval = { approved: true; by: string; roles: string[] } | { approved: false; reasons: string[] };

const short = (sha: string | null) => (sha ?? '').slice(0, 7);

export function decideApproval(f: ApprovalFacts): Approval {
  if (!f.headPlanned) {
    return { approved: false, reasons: [`fleetspec never planned the merged head ${short(f.headSha)} (it was pushed and merged between two ticks), so no review could approve its plan`] };
  }
  // A user's standing review is their latest one that is not a plain comment; a dismissal withdraws it.
  const standing = new Map<string, ReviewFact>();
  for (const r of f.reviews) {
    if (r.state === 'COMMENTED' || r.state === 'PENDING') continue;
    standing.set(r.user.toLowerCase(), r);
  }
  const reasons: string[] = [];
  const commitAuthors = new Set((f.commitAuthors ?? []).map((a) => a.toLowerCase()));
  for (const [login, r] of standing) {
    if (r.state !== 'APPROVED') continue;
    const roles = f.approvers.get(login);
    if (login === f.author.toLowerCase()) reasons.push(`@${r.user} approved their own pull request`);
    else if (commitAuthors.has(login)) reasons.push(`@${r.user} approved a pull request with commits they wrote`);
    else if (!roles) reasons.push(`@${r.user} approved, but no role with the approve capability lists them in githubUsers`);
    else if (r.commitId !== f.headSha) reasons.push(`@${r.user} approved ${short(r.commitId)}, not the merged head ${short(f.headSha)}`);
    else return { approved: true, by: r.user, roles };
  }
  if (!reasons.length) reasons.push('no standing APPROVED review');
  return { approved: false, reasons };
}

/**
 * Policy overrides in force on a PR, by word: its labels fleetspec/<word>, and lines
 * "/fleetspec <word>" in reviews by users allowed to approve who are not its author
 * (a dismissed review counts for nothing). The PR's own text never overrides anything.
 */
export function overridesOf(
  pr: { author: string; labels: readonly string[] },
  reviews: readonly (ReviewFact & { body?: string })[],
  allowed: ReadonlyMap<string, string[]>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const label of pr.labels) {
    const m = /^fleetspec\/([a-z0-9][a-z0-9-]*)$/.exec(label);
    if (m) out.set(m[1]!, `label ${label}`);
  }
  for (const r of reviews) {
    const who = r.user.toLowerCase();
    if (r.state === 'DISMISSED' || r.state === 'PENDING' || !allowed.has(who) || who === pr.author.toLowerCase()) continue;
    for (const line of (r.body ?? '').split(/\r?\n/)) {
      const m = /^\s*\/fleetspec\s+([a-z0-9][a-z0-9-]*)\s*$/.exec(line);
      if (m && !out.has(m[1]!)) out.set(m[1]!, `@${r.user}'s review`);
    }
  }
  return out;
}
