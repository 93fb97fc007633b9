// The solo operator: a trusted policy (rule solo-operator) lets one approver approve their own
// change, only while GitHub lists no other account with write access besides fleetspec's own,
// asked at each apply. Driven through real ticks; ground truth is the ticket's issue on the stand-in.
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { addTicket, BOT, useSecurityHarness } from './harness.js';

const h = useSecurityHarness();
const SOLO = stringify({ kind: 'Policy', name: 'solo', severity: 'warning', rule: 'solo-operator', params: { login: 'alice' } });

describe('a solo operator', { timeout: 120_000 }, () => {
  it('approves their own change while the only writer; not once another writer appears, nor before the policy is trusted', async () => {
    // Before the policy is on the trusted commit, alice approving her own change is refused.
    h.gh.setCollaborators([{ login: 'alice', permission: 'admin' }, { login: BOT, permission: 'write' }]);
    h.push('early', addTicket('T-0040'), { as: 'alice' });
    await h.tick();
    let pr = h.mustPr('early');
    h.approve(pr.number, 'alice');
    let sha = h.mergeCommit(pr.number, 'alice');
    let report = await h.tick();
    expect(report.main).toContainEqual(expect.objectContaining({ sha, outcome: 'not-approved', detail: expect.stringMatching(/^@alice approved a change they made/) }));
    expect(h.applied('T-0040')).toBe(false);
    await h.reset();

    // The policy lands through a change carol approves.
    h.push('solo-policy', { 'policies/solo.yaml': SOLO }, { as: 'alice' });
    await h.tick();
    pr = h.mustPr('solo-policy');
    h.approve(pr.number, 'carol');
    sha = h.mergeCommit(pr.number, 'alice');
    report = await h.tick();
    expect(report.main).toContainEqual(expect.objectContaining({ sha, outcome: 'applied' }));

    // Now alice, the only writer besides the bot, approves her own change; the plan comment says what that gives up.
    h.push('own', addTicket('T-0041'), { as: 'alice' });
    await h.tick();
    pr = h.mustPr('own');
    expect(h.commentsOn(pr.number).at(-1)).toContain('gives up the two-person rule');
    h.approve(pr.number, 'alice');
    sha = h.mergeCommit(pr.number, 'alice');
    report = await h.tick();
    expect(report.applied, report.reason).toMatchObject({ sha, pr: pr.number, status: 'applied' });
    expect(h.applied('T-0041')).toBe(true);
    expect(h.commentsOn(pr.number).at(-1)).toContain('their own change: solo-operator policy');

    // A second writer appears: the exception no longer holds, checked at the apply.
    h.push('own-again', addTicket('T-0042'), { as: 'alice' });
    await h.tick();
    pr = h.mustPr('own-again');
    h.approve(pr.number, 'alice');
    h.gh.setCollaborators([{ login: 'alice', permission: 'admin' }, { login: BOT, permission: 'write' }, { login: 'bob', permission: 'write' }]);
    sha = h.mergeCommit(pr.number, 'alice');
    report = await h.tick();
    expect(report.main).toContainEqual(expect.objectContaining({ sha, outcome: 'not-approved', detail: expect.stringContaining('GitHub lists other accounts with write access') }));
    expect(h.applied('T-0042')).toBe(false);
    expect(h.gh.violations).toEqual([]);
  });
});
