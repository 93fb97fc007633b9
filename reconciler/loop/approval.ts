// Who may approve, and whether a pull request was approved: the two-person rule. An approval
// counts when it is a standing APPROVED review of the head fleetspec planned, from the GitHub
// account (by id, not only login) that a role with the `approve` capability names, by someone
// who is not among the change's authors: the PR's author, its commit authors and committers,
// and whoever pushed its branch. Authors fleetspec cannot establish are unknown, never "nobody":
// then two approvers are needed. A standing CHANGES_REQUESTED from any approver is a veto.
// Pure: the loop gathers the facts (loop/authors.ts).
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
  /** The account's numeric id, where GitHub gave it. */
  userId?: number | null;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  commitId: string | null;
  submittedAt?: string | null;
  body?: string;
}

/** Who made a change, as far as fleetspec can tell. */
export interface Authors {
  /** Lower-case logins: the PR's author, commit authors and committers, pushers of the branch. */
  known: ReadonlySet<string>;
  /** Why someone may have made the change whom fleetspec cannot name (an unlinked email, an unreadable push history…). */
  unknown: readonly string[];
}

/** The approvers' rules: who, and the account id first seen behind each login. */
export interface Approvers {
  roles: ReadonlyMap<string, string[]>;
  /** Login (lower case) → account id; a login missing here is checked by login alone. */
  accounts: ReadonlyMap<string, number>;
  /** The solo operator the trusted policies name (policy rule solo-operator), lower case. */
  solo?: string;
}

export interface ApprovalFacts {
  authors: Authors;
  /** The head commit that was merged. */
  headSha: string;
  /** Whether fleetspec planned that head (an approval of an unplanned commit approves nothing seen). */
  headPlanned: boolean;
  /** In GitHub's order (oldest first). */
  reviews: readonly ReviewFact[];
  approvers: Approvers;
  /** Whether the solo operator is, as GitHub says now, the only account with write access besides fleetspec's. */
  soleWriter?: boolean;
}

/** `self`: the solo operator approved a change they made, which only the solo-operator policy allows. */
export type Approval = { approved: true; by: string; roles: string[]; self?: true } | { approved: false; reasons: string[] };

const short = (sha: string | null) => (sha ?? '').slice(0, 7);

/** Why `r`'s account is not the approver its login names, or undefined when it is (or the login approves nothing). */
export function impostor(r: Pick<ReviewFact, 'user' | 'userId'>, rules: Approvers): string | undefined {
  const recorded = rules.accounts.get(r.user.toLowerCase());
  if (recorded === undefined || r.userId === undefined || r.userId === null || r.userId === recorded) return undefined;
  return `@${r.user} is GitHub account ${r.userId}, not account ${recorded} that the roles spec named by that login (renamed or re-registered); update githubUsers`;
}

/** A user's standing review is their latest one that is not a plain comment; a dismissal withdraws it. */
function standingReviews(reviews: readonly ReviewFact[]): Map<string, ReviewFact> {
  const standing = new Map<string, ReviewFact>();
  for (const r of reviews) {
    if (r.state === 'COMMENTED' || r.state === 'PENDING') continue;
    standing.set(r.user.toLowerCase(), r);
  }
  return standing;
}

export function decideApproval(f: ApprovalFacts): Approval {
  if (!f.headPlanned) {
    return { approved: false, reasons: [`fleetspec never planned the merged head ${short(f.headSha)} (it was pushed and merged between two ticks), so no review could approve its plan`] };
  }
  const standing = standingReviews(f.reviews);
  const reasons: string[] = [];
  const valid: { user: string; roles: string[]; self?: true }[] = [];
  const solo = f.soleWriter && f.approvers.solo ? f.approvers.solo : undefined;
  let vetoed = false;
  for (const [login, r] of standing) {
    const roles = f.approvers.roles.get(login);
    const notThem = impostor(r, f.approvers);
    if (r.state === 'CHANGES_REQUESTED') {
      // A veto stands until its author approves or the review is dismissed.
      if (roles && !notThem) {
        vetoed = true;
        reasons.push(`@${r.user} requested changes; their review must be dismissed or become an approval`);
      }
      continue;
    }
    if (r.state !== 'APPROVED') continue;
    const self = f.authors.known.has(login);
    if (self && login !== solo) reasons.push(`@${r.user} approved a change they made (author, committer or pusher)${f.approvers.solo === login ? '; the solo-operator policy does not apply, as GitHub lists other accounts with write access' : ''}`);
    else if (!roles) reasons.push(`@${r.user} approved, but no role with the approve capability lists them in githubUsers`);
    else if (notThem) reasons.push(notThem);
    else if (r.commitId !== f.headSha) reasons.push(`@${r.user} approved ${short(r.commitId)}, not the merged head ${short(f.headSha)}`);
    else valid.push({ user: r.user, roles, ...(self ? { self: true as const } : {}) });
  }
  // The sole writer approving: nobody else could have made the change, so an unknown author is them or fleetspec.
  const needed = f.authors.unknown.length && !valid.some((v) => v.user.toLowerCase() === solo) ? 2 : 1;
  if (!vetoed && valid.length >= needed) {
    const by = valid.slice(0, needed);
    return { approved: true, by: by.map((v) => v.user).join(' and @'), roles: [...new Set(by.flatMap((v) => v.roles))], ...(by.some((v) => v.self) ? { self: true as const } : {}) };
  }
  if (!vetoed && valid.length > 0) {
    reasons.push(`two approvers are needed, because fleetspec cannot name everyone who made this change: ${f.authors.unknown.join('; ')}`);
  }
  if (!reasons.length) reasons.push('no standing APPROVED review');
  return { approved: false, reasons };
}

export interface LabelEventFact {
  label: string;
  action: 'labeled' | 'unlabeled';
  actor: { login: string; id: number } | null;
  at: string;
}

/**
 * Policy overrides in force on a PR, by word. A label fleetspec/<word> counts when, replaying the
 * PR's label events up to `until` (the merge), it was there and the last to add it was an approver
 * who did not make the change. A line "/fleetspec <word>" counts in a review submitted by then by
 * such an approver (a dismissed review counts for nothing). The PR's own text never overrides anything.
 */
export function overridesOf(
  events: readonly LabelEventFact[],
  reviews: readonly ReviewFact[],
  rules: Approvers,
  authors: Authors,
  until?: string | null,
): Map<string, string> {
  const out = new Map<string, string>();
  const cutoff = until ? Date.parse(until) : Infinity;
  const before = (at: string | null | undefined) => !at || Date.parse(at) <= cutoff;
  const counts = (who: { login: string; id?: number | null } | null) =>
    who !== null && rules.roles.has(who.login.toLowerCase()) && !authors.known.has(who.login.toLowerCase()) && !impostor({ user: who.login, userId: who.id ?? null }, rules);
  const labels = new Map<string, { login: string; id: number } | null>();
  for (const e of events) {
    if (!before(e.at)) continue;
    const m = /^fleetspec\/([a-z0-9][a-z0-9-]*)$/.exec(e.label);
    if (!m) continue;
    if (e.action === 'labeled') labels.set(m[1]!, e.actor);
    else labels.delete(m[1]!);
  }
  for (const [word, actor] of labels) if (counts(actor)) out.set(word, `label fleetspec/${word} by @${actor!.login}`);
  for (const r of reviews) {
    if (r.state === 'DISMISSED' || r.state === 'PENDING' || !before(r.submittedAt) || !counts({ login: r.user, id: r.userId ?? null })) continue;
    for (const line of (r.body ?? '').split(/\r?\n/)) {
      const m = /^\s*\/fleetspec\s+([a-z0-9][a-z0-9-]*)\s*$/.exec(line);
      if (m && !out.has(m[1]!)) out.set(m[1]!, `@${r.user}'s review`);
    }
  }
  return out;
}
