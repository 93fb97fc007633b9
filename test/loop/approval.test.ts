import { describe, expect, it } from 'vitest';
import { approvers, decideApproval, overridesOf, type ApprovalFacts } from '../../reconciler/loop/approval.js';
import { buildResources } from '../../reconciler/specs/load.js';
import { parseSpecText } from '../../reconciler/specs/source.js';

const HEAD = 'a'.repeat(40);
const OLD = 'b'.repeat(40);

function roles(yaml: string) {
  const read = parseSpecText('/specs/roles/r.yaml', yaml);
  const { index, diagnostics } = buildResources(read.documents);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return approvers(index);
}

const ROLES = `kind: Role
name: monitor
type: role
ssh: { user: monitor, port: 2201 }
capabilities: [approve, deploy.production]
githubUsers: [Alice, carol]
---
kind: Role
name: developer
type: role
ssh: { user: developer, port: 2204 }
capabilities: [code.push]
githubUsers: [bob]
---
kind: Role
name: manager
type: role
ssh: { user: manager, port: 2202 }
capabilities: [approve]
githubUsers: [carol]
`;

const facts = (over: Partial<ApprovalFacts>): ApprovalFacts => ({ author: 'dave', headSha: HEAD, headPlanned: true, reviews: [], approvers: roles(ROLES), ...over });

describe('approvers', () => {
  it('maps lower-cased GitHub logins to the roles with the approve capability', () => {
    const map = roles(ROLES);
    expect([...map.entries()].sort()).toEqual([
      ['alice', ['monitor']],
      ['carol', ['monitor', 'manager']],
    ]);
    expect(map.has('bob')).toBe(false);
  });
});

describe('decideApproval', () => {
  it('approves with a standing APPROVED review of the head by an allowed user who is not the author (logins compare case-insensitively)', () => {
    expect(decideApproval(facts({ reviews: [{ user: 'ALICE', state: 'APPROVED', commitId: HEAD }] }))).toEqual({ approved: true, by: 'ALICE', roles: ['monitor'] });
  });

  it('refuses a user without the capability, the author, and an approval of an older commit, saying which', () => {
    const d = decideApproval(
      facts({
        author: 'carol',
        reviews: [
          { user: 'bob', state: 'APPROVED', commitId: HEAD },
          { user: 'carol', state: 'APPROVED', commitId: HEAD },
          { user: 'alice', state: 'APPROVED', commitId: OLD },
        ],
      }),
    );
    expect(d.approved).toBe(false);
    if (d.approved) return;
    expect(d.reasons).toEqual([
      '@bob approved, but no role with the approve capability lists them in githubUsers',
      '@carol approved their own pull request',
      `@alice approved bbbbbbb, not the merged head aaaaaaa`,
    ]);
  });

  it('refuses an approver who wrote commits of the PR (the bot opened it for their pushed branch), and takes another approver', () => {
    const pushedByAlice = facts({ author: 'fleetspec-bot', commitAuthors: ['ALICE'], reviews: [{ user: 'alice', state: 'APPROVED', commitId: HEAD }] });
    expect(decideApproval(pushedByAlice)).toEqual({ approved: false, reasons: ['@alice approved a pull request with commits they wrote'] });
    expect(decideApproval({ ...pushedByAlice, reviews: [...pushedByAlice.reviews, { user: 'carol', state: 'APPROVED', commitId: HEAD }] })).toMatchObject({ approved: true, by: 'carol' });
  });

  it('a later CHANGES_REQUESTED or DISMISSED withdraws an approval; a later plain comment does not', () => {
    const approve = { user: 'alice', state: 'APPROVED' as const, commitId: HEAD };
    expect(decideApproval(facts({ reviews: [approve, { user: 'alice', state: 'CHANGES_REQUESTED', commitId: HEAD }] })).approved).toBe(false);
    expect(decideApproval(facts({ reviews: [approve, { user: 'alice', state: 'DISMISSED', commitId: HEAD }] })).approved).toBe(false);
    expect(decideApproval(facts({ reviews: [approve, { user: 'alice', state: 'COMMENTED', commitId: HEAD }] })).approved).toBe(true);
  });

  it('refuses a head fleetspec never planned, even with a good review', () => {
    const d = decideApproval(facts({ headPlanned: false, reviews: [{ user: 'alice', state: 'APPROVED', commitId: HEAD }] }));
    expect(d).toMatchObject({ approved: false, reasons: [expect.stringContaining('never planned the merged head aaaaaaa')] });
  });

  it('no reviews: refused with a reason', () => {
    expect(decideApproval(facts({}))).toEqual({ approved: false, reasons: ['no standing APPROVED review'] });
  });
});

describe('overridesOf', () => {
  const allowed = new Map([['alice', ['monitor']]]);
  const review = (user: string, state: 'APPROVED' | 'COMMENTED' | 'DISMISSED', body: string) => ({ user, state, commitId: HEAD, body });

  it('takes fleetspec/<word> labels and "/fleetspec <word>" lines of allowed reviewers, never the author or a dismissed review', () => {
    const pr = { author: 'bob', labels: ['bug', 'fleetspec/allow-deletions', 'fleetspec/Not A Word'] };
    const got = overridesOf(pr, [review('bob', 'APPROVED', '/fleetspec trust-me'), review('mallory', 'APPROVED', '/fleetspec budget'), review('Alice', 'DISMISSED', '/fleetspec dismissed'), review('alice', 'COMMENTED', 'ok\r\n  /fleetspec   trust-me  \nnot /fleetspec inline')], allowed);
    expect(Object.fromEntries(got)).toEqual({ 'allow-deletions': 'label fleetspec/allow-deletions', 'trust-me': "@alice's review" });
    expect(overridesOf({ author: 'alice', labels: [] }, [review('alice', 'APPROVED', '/fleetspec trust-me')], allowed).size, 'an approver cannot override their own PR').toBe(0);
  });
});
