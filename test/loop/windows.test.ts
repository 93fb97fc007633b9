// Sync windows and suspend in the loop (reconciler/loop/phases/windows.ts, policies/windows.ts and
// policies/suspend.ts), the real tick against git http-backend and the OpenAPI-checked GitHub stand-in
// (test/security/harness.ts), with a clock the test sets. The windows and suspensions come in as any
// policy does, through an approved merge, and from then on judge from the trusted commit. One story:
//   (a) an approved merge outside its allow window waits (a pending status, one comment, nothing
//       refused) and is applied by the first tick inside the window;
//   (b) a deny window holding a ticket's drift opens no drift PR until it closes;
//   (c) a suspended ticket's change is listed as suspended and not applied, and its drift opens no PR;
//   (d) a branch that adds a Suspend and a `suspend:` suspends nothing in its own plan.
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { APPLY_CONTEXT, PLAN_MARKER } from '../../reconciler/loop/pr-text.js';
import { WINDOW_MARKER } from '../../reconciler/loop/phases/windows.js';
import { lastTick } from '../../reconciler/state/reports.js';
import { suspended } from '../../reconciler/commands/status.js';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import { DASHBOARD_TITLE } from '../../reconciler/loop/dashboard.js';
import { addTicket, REPO_KEY, useSecurityHarness } from '../security/harness.js';

const h = useSecurityHarness();

afterEach(async () => {
  expect(h.gh.takeViolations()).toEqual([]);
});

/** A clock at `iso`, for one tick. */
const at = (iso: string) => ({ now: () => new Date(iso) });

/** `files` proposed by bob, planned, approved by alice, merged and applied: the trusted commit then holds them. */
async function land(branch: string, files: Record<string, string>): Promise<{ pr: number; sha: string }> {
  h.push(branch, files, { as: 'bob' });
  await h.tick();
  const pr = h.mustPr(branch);
  h.approve(pr.number, 'alice');
  const sha = h.mergeCommit(pr.number, 'alice');
  const report = await h.tick();
  expect(report.main.map((m) => [m.sha, m.outcome]), h.progress.slice(-5).join(' | ')).toEqual([[sha, 'applied']]);
  expect(h.trusted).toBe(sha);
  return { pr: pr.number, sha };
}

/** Ticket `id`'s issue on the stand-in. */
const issueOf = (id: string) => h.gh.issues().find((i) => markerOf(i.body ?? '')?.id === id)!;
const driftPr = () => h.pr('fleetspec/drift-tickets');
const dashboard = () => h.gh.issues().find((i) => i.title === DASHBOARD_TITLE && i.state === 'open')?.body ?? '';

const WINDOWS = [
  { kind: 'SyncWindow', name: 'tickets-mornings', description: 'T-0002 goes out at 08:00 UTC only', action: 'allow', schedule: '0 8 * * *', duration: '1h', match: { resources: ['tickets/T-0002'] }, holds: ['apply'] },
  { kind: 'SyncWindow', name: 't6-nights', action: 'deny', schedule: '0 0 * * *', duration: '12h', timezone: 'UTC', match: { resources: ['tickets/T-0006'] }, holds: ['drift'] },
]
  .map((w) => stringify(w))
  .join('---\n');

/** A test here is six to eight ticks of about a second; a loaded 2-core machine may take several times that. */
const TICKS = 120_000;

describe('sync windows and suspend in the loop', () => {
  it('(a) an approved merge outside its allow window waits, said once on the PR with a pending status and nothing refused; inside the window it is applied', async () => {
    await land('windows', { 'policies/windows.yaml': WINDOWS });

    h.push('ticket-T-0002', addTicket('T-0002'), { as: 'bob' });
    await h.tick();
    const pr = h.mustPr('ticket-T-0002').number;
    h.approve(pr, 'alice');
    const sha = h.mergeCommit(pr, 'alice');

    // 06:00: two hours before the window.
    const early = await h.tick(at('2026-03-09T06:00:00Z'));
    expect(early.applied).toBeUndefined();
    expect(early.main).toEqual([]);
    expect(early.waiting).toBe(1);
    expect(early.held).toEqual([
      expect.objectContaining({ sha, pr, resource: 'tickets/T-0002', window: 'tickets-mornings', opens: '2026-03-09T08:00:00.000Z' }),
    ]);
    expect(early.reason).toContain('held by sync windows');
    expect(h.applied('T-0002')).toBe(false);
    expect(await h.outcome(sha), 'not refused: nothing is recorded').toBeUndefined();
    const told = () => h.commentsOn(pr).filter((c) => c.includes(WINDOW_MARKER));
    expect(told()).toHaveLength(1);
    expect(told()[0]).toContain('`tickets-mornings`');
    expect(told()[0]).toContain('2026-03-09 08:00 UTC');
    const statuses = () => h.gh.repo().statuses.filter((s) => s.sha === sha && s.context === APPLY_CONTEXT);
    expect(statuses().map((s) => s.state)).toEqual(['pending']);
    expect(statuses()[0]!.description).toContain('tickets-mornings');

    // Still outside: the same words, so the comment is not repeated.
    const still = await h.tick({ ...at('2026-03-09T07:30:00Z'), dashboard: true });
    expect(still.applied).toBeUndefined();
    expect(still.held).toHaveLength(1);
    expect(told()).toHaveLength(1);
    expect(h.applied('T-0002')).toBe(false);
    const status = suspended((await lastTick(h.db, REPO_KEY))!.report);
    expect(status).toEqual([expect.stringMatching(/^held by sync window tickets-mornings: [0-9a-f]{7} \(#\d+\): tickets\/T-0002: outside allow window tickets-mornings/)]);
    // The dashboard lists it under Suspended, with when it goes.
    expect(dashboard()).toMatch(/### Suspended\n\n- held by sync window tickets-mornings: [0-9a-f]{7} \(#&#8203;\d+\): tickets\/T-0002: outside allow window tickets-mornings .*; it goes at 2026-03-09 08:00 UTC\n/);

    // 08:05: inside the window.
    const inside = await h.tick(at('2026-03-09T08:05:00Z'));
    expect(inside.applied).toMatchObject({ sha, pr, status: 'applied' });
    expect(inside.held ?? []).toEqual([]);
    expect(h.applied('T-0002')).toBe(true);
    expect(await h.outcome(sha)).toBe('applied');
    expect(statuses().map((s) => s.state)).toEqual(['pending', 'success']);
    // The waiting comment no longer says it waits: edited in place, not repeated.
    expect(told()).toHaveLength(1);
    expect(told()[0]).toContain('let it go; the tick at 2026-03-09 08:05 UTC took it: applied');
    expect(told()[0]).not.toContain('It goes at');
  }, TICKS);

  it('(b) a deny window holding a ticket’s drift opens no drift PR while it is active; after it closes the drift PR opens', async () => {
    await land('ticket-T-0006', addTicket('T-0006'));
    expect(h.applied('T-0006')).toBe(true);
    // Someone strips fleetspec's marker from T-0006's issue: live no longer has it, and the plan would open it again.
    const issue = issueOf('T-0006');
    const body = issue.body;
    issue.body = 'rewritten by hand';
    try {
      const night = await h.tick(at('2026-03-10T03:00:00Z'));
      expect(night.drift).toEqual([]);
      expect(driftPr()).toBeUndefined();
      expect(night.held).toEqual([expect.objectContaining({ kind: 'tickets', pr: null, resource: 'tickets/T-0006', window: 't6-nights', opens: '2026-03-10T12:00:00.000Z' })]);
      expect(h.progress.some((p) => p.startsWith('drift in tickets: not proposed now'))).toBe(true);

      const noon = await h.tick(at('2026-03-10T12:30:00Z'));
      expect(noon.held ?? []).toEqual([]);
      expect(noon.drift).toEqual([expect.objectContaining({ kind: 'tickets', action: 'opened' })]);
      expect(driftPr()).toBeDefined();
    } finally {
      issue.body = body;
    }
    // Live matches again: the drift PR is closed.
    const back = await h.tick(at('2026-03-10T12:40:00Z'));
    expect(back.drift).toEqual([expect.objectContaining({ kind: 'tickets', action: 'closed' })]);
  }, TICKS);

  it('(c) a suspended ticket’s change is listed as suspended and not applied, and its drift opens no PR', async () => {
    const SUSPEND = stringify({ kind: 'Suspend', name: 'park-t3', reason: 'waiting for the budget review', match: { resources: ['tickets/T-0003'] } });
    // T-0001 is suspended in its own spec, on the same approved merge.
    const t1 = addTicket('T-0001', 'Baseline ticket');
    const [t1Path, t1Yaml] = Object.entries(t1)[0]!;
    await land('suspend', { 'policies/suspend.yaml': SUSPEND, [t1Path]: `${t1Yaml}suspend: issue handled by hand\n` });

    h.push('ticket-T-0003', addTicket('T-0003'), { as: 'bob' });
    const planned = await h.tick();
    const pr = h.mustPr('ticket-T-0003').number;
    expect(planned.branches.find((b) => b.pr === pr)?.status).toBe('success');
    const comment = h.commentsOn(pr).find((c) => c.startsWith(PLAN_MARKER))!;
    expect(comment).toContain('No changes');
    expect(comment).toContain('**Suspended: left out, not applied**');
    expect(comment).toContain('- `tickets/T-0003` (create): suspended by Suspend park-t3: waiting for the budget review');

    h.approve(pr, 'alice');
    const sha = h.mergeCommit(pr, 'alice');
    const applied = await h.tick();
    expect(applied.applied).toMatchObject({ sha, changes: 0, status: 'applied' });
    expect(h.applied('T-0003'), 'apply never touches a suspended resource').toBe(false);

    // T-0003 is in the trusted specs and not live, and T-0001's issue loses its marker: drift in both, both suspended.
    const issue = issueOf('T-0001');
    const body = issue.body;
    issue.body = 'rewritten by hand';
    try {
      const drift = await h.tick({ dashboard: true });
      expect(drift.drift).toEqual([]);
      expect(driftPr()).toBeUndefined();
      expect(h.applied('T-0003')).toBe(false);
      expect(drift.suspended).toEqual([
        'tickets/T-0003: waiting for the budget review (Suspend park-t3)',
        'tickets/T-0001: issue handled by hand (specs/tickets/T-0001.yaml)',
      ]);
      // fleetspec status shows what the last tick found suspended.
      expect(suspended((await lastTick(h.db, REPO_KEY))!.report)).toEqual(drift.suspended);
      expect(dashboard()).toContain('### Suspended\n\n- tickets/T-0003: waiting for the budget review (Suspend park-t3)\n- tickets/T-0001: issue handled by hand (specs/tickets/T-0001.yaml)');
    } finally {
      issue.body = body;
    }
  }, TICKS);

  it('(d) a branch adding a Suspend and a `suspend:` suspends nothing in its own plan', async () => {
    const SUSPEND = stringify({ kind: 'Suspend', name: 'park-t4', reason: 'the branch would like to', match: { resources: ['tickets/T-0004'] } });
    const [path, yaml] = Object.entries(addTicket('T-0004'))[0]!;
    h.push('sneaky', { 'policies/suspend-t4.yaml': SUSPEND, [path]: `${yaml}suspend: true\n` }, { as: 'bob' });
    await h.tick();
    const pr = h.mustPr('sneaky').number;
    const comment = h.commentsOn(pr).find((c) => c.startsWith(PLAN_MARKER))!;
    expect(comment).toContain('Plan: 1 to add');
    expect(comment).toContain('`tickets/T-0004`');
    // Listed as suspended there is only what the trusted commit suspends (T-0003), never T-0004.
    expect(comment).not.toContain('park-t4');
    expect(comment).not.toMatch(/`tickets\/T-0004` \(create\): suspended/);
    h.approve(pr, 'alice');
    const sha = h.mergeCommit(pr, 'alice');
    const applied = await h.tick();
    expect(applied.applied).toMatchObject({ sha, changes: 1, status: 'applied' });
    expect(h.applied('T-0004')).toBe(true);
    // From now on the trusted commit suspends it.
    const next = await h.tick();
    expect(next.suspended).toContain('tickets/T-0004: the branch would like to (Suspend park-t4)');
  }, TICKS);
});
