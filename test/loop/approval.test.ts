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

const authors = (known: string[] = ['dave'], unknown: string[] = []) => ({ known: new Set(known.map((k) => k.toLowerCase())), unknown });
const rules = (accounts: [string, number][] = []) => ({ roles: roles(ROLES), accounts: new Map(accounts) });
const facts = (over: Partial<ApprovalFacts>): ApprovalFacts => ({ authors: authors(), headSha: HEAD, headPlanned: true, reviews: [], approvers: rules(), ...over });

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
  it('approves with a standing APPROVED review of the head by an allowed user who is not an author (logins compare case-insensitively)', () => {
    expect(decideApproval(facts({ reviews: [{ user: 'ALICE', state: 'APPROVED', commitId: HEAD }] }))).toEqual({ approved: true, by: 'ALICE', roles: ['monitor'] });
  });

  it('refuses a user without the capability, an author, and an approval of an older commit, saying which', () => {
    const d = decideApproval(
      facts({
        authors: authors(['carol']),
        reviews: [
          { user: 'bob', state: 'APPROVED', commitId: HEAD },
          { user: 'carol', state: 'APPROVED', commitId: HEAD },
          { user: 'alice', state: 'APPROVED', commitId: OLD },
        ],
      }),
    );
    expect(d).toEqual({
      approved: false,
      reasons: [
        '@bob approved, but no role with the approve capability lists them in githubUsers',
        '@carol approved a change they made (author, committer or pusher)',
        `@alice approved bbbbbbb, not the merged head aaaaaaa`,
      ],
    });
  });

  it('refuses an approver who pushed or committed to the branch, and takes another approver', () => {
    const pushedByAlice = facts({ authors: authors(['fleetspec-bot', 'ALICE']), reviews: [{ user: 'alice', state: 'APPROVED', commitId: HEAD }] });
    expect(decideApproval(pushedByAlice)).toEqual({ approved: false, reasons: ['@alice approved a change they made (author, committer or pusher)'] });
    expect(decideApproval({ ...pushedByAlice, reviews: [...pushedByAlice.reviews, { user: 'carol', state: 'APPROVED', commitId: HEAD }] })).toMatchObject({ approved: true, by: 'carol' });
  });

  it('with an author fleetspec cannot name, one approval is not enough: two approvers who are not known authors are', () => {
    const unknown = authors(['bob'], ['commit 1234567\'s author email is linked to no GitHub account']);
    const one = decideApproval(facts({ authors: unknown, reviews: [{ user: 'alice', state: 'APPROVED', commitId: HEAD }] }));
    expect(one).toEqual({ approved: false, reasons: [expect.stringMatching(/^two approvers are needed, because .*linked to no GitHub account$/)] });
    const two = decideApproval(facts({ authors: unknown, reviews: [{ user: 'alice', state: 'APPROVED', commitId: HEAD }, { user: 'carol', state: 'APPROVED', commitId: HEAD }] }));
    expect(two).toEqual({ approved: true, by: 'alice and @carol', roles: ['monitor', 'manager'] });
  });

  it('a standing CHANGES_REQUESTED from another approver vetoes an approval until it is dismissed', () => {
    const approve = { user: 'alice', state: 'APPROVED' as const, commitId: HEAD };
    const veto = { user: 'carol', state: 'CHANGES_REQUESTED' as const, commitId: HEAD };
    expect(decideApproval(facts({ reviews: [approve, veto] }))).toEqual({ approved: false, reasons: ['@carol requested changes; their review must be dismissed or become an approval'] });
    expect(decideApproval(facts({ reviews: [approve, veto, { ...veto, state: 'DISMISSED' }] })).approved).toBe(true);
    // A non-approver's request for changes is advice, not a veto.
    expect(decideApproval(facts({ reviews: [approve, { ...veto, user: 'bob' }] })).approved).toBe(true);
  });

  it('an approver login now held by another GitHub account approves nothing, and vetoes nothing', () => {
    const accounts = rules([['alice', 1001], ['carol', 1002]]);
    expect(decideApproval(facts({ approvers: accounts, reviews: [{ user: 'alice', userId: 1001, state: 'APPROVED', commitId: HEAD }] })).approved).toBe(true);
    const claimed = decideApproval(facts({ approvers: accounts, reviews: [{ user: 'alice', userId: 6666, state: 'APPROVED', commitId: HEAD }] }));
    expect(claimed).toEqual({ approved: false, reasons: [expect.stringContaining('@alice is GitHub account 6666, not account 1001')] });
    const veto = decideApproval(facts({ approvers: accounts, reviews: [{ user: 'alice', userId: 1001, state: 'APPROVED', commitId: HEAD }, { user: 'carol', userId: 7777, state: 'CHANGES_REQUESTED', commitId: HEAD }] }));
    expect(veto.approved).toBe(true);
  });

  it('the solo operator may approve their own change only while GitHub lists no other writer, and it says so', () => {
    const solo = { ...rules(), solo: 'alice' };
    const own = facts({ authors: authors(['alice'], ['commit 1234567\'s author email is linked to no GitHub account']), approvers: solo, reviews: [{ user: 'alice', state: 'APPROVED', commitId: HEAD }] });
    expect(decideApproval({ ...own, soleWriter: true })).toEqual({ approved: true, by: 'alice', roles: ['monitor'], self: true });
    expect(decideApproval({ ...own, soleWriter: false })).toEqual({
      approved: false,
      reasons: ['@alice approved a change they made (author, committer or pusher); the solo-operator policy does not apply, as GitHub lists other accounts with write access'],
    });
    // The policy names alice, not carol: carol approving her own change is still refused.
    expect(decideApproval({ ...own, authors: authors(['carol']), soleWriter: true, reviews: [{ user: 'carol', state: 'APPROVED', commitId: HEAD }] }).approved).toBe(false);
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
  const allowed = { roles: new Map([['alice', ['monitor']], ['carol', ['monitor']]]), accounts: new Map([['alice', 1001]]) };
  const review = (user: string, state: 'APPROVED' | 'COMMENTED' | 'DISMISSED', body: string, submittedAt = '2026-01-01T10:00:00Z') => ({ user, state, commitId: HEAD, body, submittedAt });
  const labelled = (label: string, login: string | null, at: string, action: 'labeled' | 'unlabeled' = 'labeled') => ({ label, action, actor: login ? { login, id: login === 'alice' ? 1001 : 2000 } : null, at });

  it('takes "/fleetspec <word>" lines of approvers who made no part of the change, never an author\'s or a dismissed review', () => {
    const got = overridesOf([], [review('bob', 'APPROVED', '/fleetspec trust-me'), review('mallory', 'APPROVED', '/fleetspec budget'), review('Alice', 'DISMISSED', '/fleetspec dismissed'), review('alice', 'COMMENTED', 'ok\r\n  /fleetspec   trust-me  \nnot /fleetspec inline')], allowed, authors(['bob']));
    expect(Object.fromEntries(got)).toEqual({ 'trust-me': "@alice's review" });
    expect(overridesOf([], [review('alice', 'APPROVED', '/fleetspec trust-me')], allowed, authors(['bob', 'alice'])).size, 'an approver cannot override a change they pushed to').toBe(0);
  });

  it('a fleetspec/<word> label counts when an approver who made no part of the change added it before the merge', () => {
    const merged = '2026-01-01T12:00:00Z';
    const by = (events: ReturnType<typeof labelled>[]) => Object.fromEntries(overridesOf(events, [], allowed, authors(['bob', 'carol']), merged));
    expect(by([labelled('fleetspec/allow-deletions', 'alice', '2026-01-01T11:00:00Z'), labelled('bug', 'alice', '2026-01-01T11:00:00Z')])).toEqual({ 'allow-deletions': 'label fleetspec/allow-deletions by @alice' });
    expect(by([labelled('fleetspec/allow-deletions', 'bob', '2026-01-01T11:00:00Z')]), 'a writer without approve').toEqual({});
    expect(by([labelled('fleetspec/allow-deletions', 'carol', '2026-01-01T11:00:00Z')]), 'an approver who pushed to the branch').toEqual({});
    expect(by([labelled('fleetspec/allow-deletions', 'alice', '2026-01-01T12:30:00Z')]), 'added after the merge').toEqual({});
    expect(by([labelled('fleetspec/x', 'alice', '2026-01-01T10:00:00Z'), labelled('fleetspec/x', 'bob', '2026-01-01T11:00:00Z', 'unlabeled')]), 'removed before the merge').toEqual({});
    expect(by([labelled('fleetspec/x', 'alice', '2026-01-01T10:00:00Z'), labelled('fleetspec/x', 'bob', '2026-01-01T11:00:00Z')]), 're-added by a writer: the last to add it decides').toEqual({});
    expect(by([labelled('fleetspec/x', null, '2026-01-01T10:00:00Z')]), 'a ghost actor').toEqual({});
    expect(Object.fromEntries(overridesOf([], [review('alice', 'APPROVED', '/fleetspec late', '2026-01-01T13:00:00Z')], allowed, authors(['bob']), merged)), 'a review line after the merge').toEqual({});
  });
});
