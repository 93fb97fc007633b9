// Attacks on fleetspec's approval rules that fail today: each drives real ticks of the loop and
// reads the outcome where it happens, on the live side (the ticket's GitHub issue on the stand-in)
// and in the ledger (main_commits). main's approvers are alice and carol; bob has a role without
// `approve`; mallory has none. See harness.ts for the fleet.
import { afterEach, describe, expect, it } from 'vitest';
import { addTicket, ROLES, ROLES_PATH, rolesYaml, useSecurityHarness } from './harness.js';
import type { PullState } from '../github/server.js';

const h = useSecurityHarness();

/** `as` pushes `files` on a new branch and a tick plans it: its PR, planned with a green status. */
async function proposed(branch: string, files: Record<string, string | null>, as: string, message?: string): Promise<PullState> {
  h.push(branch, files, { as, ...(message ? { message } : {}) });
  const report = await h.tick();
  expect(report.branches.find((b) => b.branch === branch), h.progress.slice(-5).join('\n')).toMatchObject({ status: 'success' });
  return h.mustPr(branch);
}

/** The tick after a merge refuses it: nothing reaches live, the ledger says not-approved, and why. */
async function expectRefused(sha: string, pr: number, ticket: string, why: string | RegExp): Promise<void> {
  const report = await h.tick();
  expect(report.applied).toBeUndefined();
  expect(report.main, JSON.stringify(report.main)).toContainEqual({ sha, outcome: 'not-approved', pr, detail: expect.stringMatching(why) });
  expect(report.state).toBe('BLOCKED');
  expect(h.applied(ticket)).toBe(false);
  expect(await h.ledger(sha)).toMatchObject({ outcome: 'not-approved', pr, detail: expect.stringMatching(why) });
  expect(h.gh.violations).toEqual([]);
}

/** The tick after a merge applies it: the ticket's issue is open on GitHub and the ledger says applied. */
async function expectApplied(sha: string, pr: number, ticket: string): Promise<void> {
  const report = await h.tick();
  expect(report.applied, report.reason).toEqual({ sha, pr, changes: 1, status: 'applied' });
  expect(h.issuesOf(ticket)).toEqual([expect.objectContaining({ state: 'open', title: expect.stringMatching(new RegExp(`^${ticket}: `)) })]);
  expect(await h.outcome(sha)).toBe('applied');
  expect(h.gh.violations).toEqual([]);
}

/**
 * "@login approved their own change", in the loop's words before the trusted-base rework (557cddb)
 * and after it ("a change they made (author, committer or pusher)").
 */
const SELF_APPROVAL = (login: string, flags = '') => new RegExp(`^@${login} approved (a pull request with commits they wrote|a change they made\\b)`, flags);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Two to four real ticks a test: generous for a loaded 2-core machine.
describe('approval rules that hold', { timeout: 90_000 }, () => {
  afterEach(() => h.reset(), 30_000);

  it('starts from a clean baseline: T-0001 is live, main was taken as the baseline', async () => {
    expect(h.applied('T-0001')).toBe(true);
    expect(await h.outcome(h.seedSha)).toBe('baseline');
  });

  it('an author approving their own PR is refused (alice pushed the commits and approves them)', async () => {
    const pr = await proposed('own-approval', addTicket('T-0002'), 'alice');
    expect(h.pushes.at(-1)).toEqual({ branch: 'own-approval', before: '0'.repeat(40), after: pr.head.sha, actor: 'alice', type: 'branch_creation' });
    h.approve(pr.number, 'alice');
    const sha = h.mergeCommit(pr.number, 'alice');
    await expectRefused(sha, pr.number, 'T-0002', SELF_APPROVAL('alice'));
  });

  it('a PR opened by an approver is refused when only they approve it, even if someone else pushed the commits', async () => {
    h.push('opened-by-alice', addTicket('T-0003'), { as: 'bob' });
    const opened = h.openPull('opened-by-alice', 'alice');
    await h.tick();
    const pr = h.mustPr('opened-by-alice');
    expect(pr.number).toBe(opened.number);
    h.approve(pr.number, 'alice');
    const sha = h.mergeCommit(pr.number, 'alice');
    await expectRefused(sha, pr.number, 'T-0003', /^@alice approved (their own pull request|a change they made\b)/);
  });

  it('approval is compared case-insensitively: GitHub spells the account @Alice, main lists alice, and her approval counts', async () => {
    const pr = await proposed('case-allowed', addTicket('T-0004'), 'bob');
    h.showAs('alice', 'Alice');
    h.approve(pr.number, 'alice');
    const sha = h.mergeCommit(pr.number, 'alice');
    await expectApplied(sha, pr.number, 'T-0004');
    expect(h.commentsOn(pr.number).at(-1)).toContain('Approved by @Alice');
  });

  it('approval is compared case-insensitively: @ALICE approving commits alice pushed is still self-approval, and @AIice (capital i) is another account, not alice', async () => {
    const pr = await proposed('case-refused', addTicket('T-0005'), 'alice');
    h.approve(pr.number, 'ALICE');
    h.approve(pr.number, 'AIice');
    const sha = h.mergeCommit(pr.number, 'carol');
    await expectRefused(sha, pr.number, 'T-0005', new RegExp(`${SELF_APPROVAL('alice', 'i').source}.*; @AIice approved, but no role with the approve capability lists them in githubUsers$`, 'i'));
  });

  it('a reviewer in a role without the approve capability is refused', async () => {
    const pr = await proposed('no-capability', addTicket('T-0006'), 'carol');
    h.approve(pr.number, 'bob');
    const sha = h.mergeCommit(pr.number, 'carol');
    await expectRefused(sha, pr.number, 'T-0006', /^@bob approved, but no role with the approve capability lists them in githubUsers$/);
  });

  it('a PR that adds its own reviewer to the approvers is refused: approvers come from main before the merge', async () => {
    const promoted = ROLES.map((r) => (r.name === 'approvers' ? { ...r, githubUsers: [...r.githubUsers, 'mallory'] } : r));
    const pr = await proposed('self-promotion', { ...addTicket('T-0007'), [ROLES_PATH]: rolesYaml(promoted) }, 'bob');
    // The plan comment names main's approvers, not the branch's.
    const plan = h.commentsOn(pr.number).at(-1)!;
    expect(plan).toContain('@alice');
    expect(plan).not.toContain('@mallory');
    h.approve(pr.number, 'mallory');
    const sha = h.mergeCommit(pr.number, 'bob');
    await expectRefused(sha, pr.number, 'T-0007', /^@mallory approved, but no role with the approve capability lists them in githubUsers$/);
  });

  it('an approval of an old head does not carry over to a new push', async () => {
    const pr = await proposed('moved-head', addTicket('T-0008'), 'bob');
    const approvedHead = pr.head.sha;
    h.approve(pr.number, 'alice');
    h.push('moved-head', addTicket('T-0008', 'Changed after the approval'), { as: 'bob' });
    await h.tick(); // the new head is planned: only the approval is stale
    const head = h.mustPr('moved-head').head.sha;
    expect(head).not.toBe(approvedHead);
    const sha = h.mergeCommit(pr.number, 'bob');
    await expectRefused(sha, pr.number, 'T-0008', new RegExp(`^@alice approved ${approvedHead.slice(0, 7)}, not the merged head ${head.slice(0, 7)}$`));
  });

  it('a dismissed approval counts for nothing', async () => {
    const pr = await proposed('dismissed', addTicket('T-0009'), 'bob');
    h.approve(pr.number, 'alice');
    h.dismiss(pr.number, 'alice');
    const sha = h.mergeCommit(pr.number, 'bob');
    await expectRefused(sha, pr.number, 'T-0009', /^no standing APPROVED review$/);
  });

  it("an approver's later request for changes withdraws their approval", async () => {
    const pr = await proposed('changes-requested', addTicket('T-0010'), 'bob');
    h.approve(pr.number, 'alice');
    h.requestChanges(pr.number, 'alice');
    const sha = h.mergeCommit(pr.number, 'bob');
    await expectRefused(sha, pr.number, 'T-0010', /^(no standing APPROVED review|@alice requested changes\b)/);
  });

  it('a bot account listed nowhere cannot approve', async () => {
    const pr = await proposed('bot-approval', addTicket('T-0011'), 'bob');
    h.approve(pr.number, 'dependabot[bot]');
    const sha = h.mergeCommit(pr.number, 'alice');
    await expectRefused(sha, pr.number, 'T-0011', new RegExp(`^${escape('@dependabot[bot]')} approved, but no role with the approve capability lists them in githubUsers$`));
  });

  it('an "/approve" comment by an approver is not a review', async () => {
    const pr = await proposed('approve-comment', addTicket('T-0012'), 'bob');
    h.comment(pr.number, 'alice', '/approve');
    h.comment(pr.number, 'carol', 'LGTM\n/approve');
    const sha = h.mergeCommit(pr.number, 'alice');
    await expectRefused(sha, pr.number, 'T-0012', /^no standing APPROVED review$/);
  });

  it('a squash merge of an approved PR is applied', async () => {
    const pr = await proposed('squashed', addTicket('T-0013'), 'bob');
    h.approve(pr.number, 'carol');
    const sha = h.squash(pr.number, 'carol');
    expect(h.git('rev-list', '--parents', '-1', sha).split(' ')).toHaveLength(2); // one parent: a squash, not a merge
    await expectApplied(sha, pr.number, 'T-0013');
  });

  it('a rebase merge of an approved single-commit PR is applied', async () => {
    const pr = await proposed('rebased', addTicket('T-0014'), 'bob');
    h.approve(pr.number, 'alice');
    const sha = h.rebase(pr.number, 'alice');
    expect(sha).not.toBe(pr.head.sha); // GitHub rewrites the commit
    await expectApplied(sha, pr.number, 'T-0014');
  });

  it('a rebase merge of an approved two-commit PR is applied at its last commit; the first replayed commit is never applied on its own', async () => {
    h.push('rebased-two', addTicket('T-0015'), { as: 'bob' });
    const pr = await proposed('rebased-two', addTicket('T-0016'), 'bob');
    h.approve(pr.number, 'alice');
    const sha = h.rebase(pr.number, 'alice');
    const [first] = h.git('rev-list', '--reverse', `${sha}~2..${sha}`).split('\n');
    const report = await h.tick();
    // Never applied on its own. Before the trusted-base rework (557cddb) the first replayed commit, not
    // the PR's merge_commit_sha, is refused as a direct push: a false alarm (a failure status and a
    // "pushed without a pull request" commit comment on a commit of an approved PR). After it, a commit
    // GitHub lists for a PR merged later in the same run of new commits is passed over, unrecorded.
    expect(await h.outcome(first!)).not.toBe('applied');
    const refusedFirst = report.main.find((m) => m.sha === first);
    if (refusedFirst) expect(refusedFirst).toEqual({ sha: first, outcome: 'not-approved', pr: null, detail: 'pushed to main without a pull request' });
    expect(report.applied).toEqual({ sha, pr: pr.number, changes: 2, status: 'applied' });
    expect(await h.outcome(sha)).toBe('applied');
    expect(h.applied('T-0015')).toBe(true);
    expect(h.applied('T-0016')).toBe(true);
    expect(h.gh.violations).toEqual([]);
  });

  it('two approved PRs merged between two ticks: the first is applied; the second, planned before the first went live, is stale and not applied, and comes back as a drift PR', async () => {
    h.push('first-of-two', addTicket('T-0017'), { as: 'bob' });
    h.push('second-of-two', addTicket('T-0018'), { as: 'bob' });
    await h.tick();
    const first = h.mustPr('first-of-two');
    const second = h.mustPr('second-of-two');
    h.approve(first.number, 'alice');
    h.approve(second.number, 'carol');
    const a = h.mergeCommit(first.number, 'alice');
    const b = h.mergeCommit(second.number, 'carol');

    // One apply per tick: the first merge, the second waits.
    let report = await h.tick();
    expect(report.applied).toEqual({ sha: a, pr: first.number, changes: 1, status: 'applied' });
    expect(report.waiting).toBe(1);
    expect(h.applied('T-0017')).toBe(true);
    expect(h.applied('T-0018')).toBe(false);
    expect(await h.outcome(a)).toBe('applied');
    expect(await h.outcome(b)).toBeUndefined();

    // The second PR's approved plan never saw T-0017; the plan of its merge commit does (a no-op now),
    // so it is not the approved plan: stale, nothing applied, and main's T-0018 is drift.
    report = await h.tick();
    expect(report.applied).toBeUndefined();
    expect(report.main).toEqual([{ sha: b, outcome: 'stale', pr: second.number, detail: 'live changed since the approval (+ tickets/T-0017 no-op (newly planned))' }]);
    expect(await h.ledger(b)).toMatchObject({ outcome: 'stale', pr: second.number });
    expect(h.applied('T-0018')).toBe(false);
    expect(report.drift).toEqual([{ kind: 'tickets', pr: expect.any(Number), action: 'opened' }]);

    // The drift PR carries T-0018 to live once an approver approves it.
    const drift = h.mustPr('fleetspec/drift-tickets');
    h.approve(drift.number, 'alice');
    const c = h.mergeCommit(drift.number, 'alice');
    await expectApplied(c, drift.number, 'T-0018');
    expect(h.issuesOf('T-0017')).toHaveLength(1);
  });
});
