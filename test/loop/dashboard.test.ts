// The fleet dashboard (loop/dashboard.ts): one issue fleetspec keeps, through real ticks against git
// http-backend and the OpenAPI-checked GitHub stand-in (test/security/harness.ts). Created once;
// a tick that changes nothing sends nothing (the stand-in's PATCH requests are counted); a change
// edits it once; a hand edit is rewritten and reported; an issue without the marker, or with it but
// not fleetspec's, is never touched; hostile PR titles and branch names are escaped.
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_TITLE, dashboardMarker, renderDashboard, untouched, withMarker, type DashboardFacts } from '../../reconciler/loop/dashboard.js';
import { dashboardSetting } from '../../reconciler/loop/config.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import { addTicket, BOT, useSecurityHarness } from '../security/harness.js';

const h = useSecurityHarness();
const ISSUE = 'PATCH /repos/{owner}/{repo}/issues/{issue_number}';
const CREATE = 'POST /repos/{owner}/{repo}/issues';

afterEach(() => {
  expect(h.gh.takeViolations()).toEqual([]);
});

const tick = (): Promise<TickReport> => h.tick({ dashboard: true });
const dashboards = () => h.gh.issues().filter((i) => i.author === BOT && dashboardMarker(i.body ?? '') !== undefined);
const dashboard = () => {
  const all = dashboards();
  expect(all).toHaveLength(1);
  return all[0]!;
};
/** What the tick did to GitHub's issues from request `from` on: PATCHes by issue number, and creations. */
const writes = (from: number) => {
  const sent = h.gh.requests.slice(from);
  return {
    patched: sent.filter((r) => r.operation === ISSUE).map((r) => Number(r.path.split('/').pop())),
    created: sent.filter((r) => r.operation === CREATE).length,
  };
};

describe('the dashboard issue', () => {
  it('is created once, then left alone by a tick that changes nothing', async () => {
    let from = h.gh.requests.length;
    const first = await tick();
    expect(first.dashboard).toMatchObject({ action: 'created', handEdited: false });
    expect(writes(from).created).toBe(1);
    const issue = dashboard();
    expect(issue.title).toBe(DASHBOARD_TITLE);
    expect(untouched({ title: issue.title, body: issue.body ?? '' })).toBe(true);
    expect(issue.body).toContain('### Waiting for approval\n\nNothing.');
    expect(issue.body).toContain('### Suspended\n\nNone.');
    expect(issue.body).toMatch(/Trusted: `main` at `[0-9a-f]{7}`\./);

    from = h.gh.requests.length;
    const quiet = await tick();
    expect(quiet.dashboard).toMatchObject({ issue: issue.number, action: 'unchanged' });
    expect(writes(from)).toEqual({ patched: [], created: 0 });
  });

  it('is edited once when the fleet changes: a PR waiting for approval, with its verdict', async () => {
    h.push('ticket-T-0002', addTicket('T-0002'), { as: 'bob' });
    const from = h.gh.requests.length;
    const report = await tick();
    const pr = h.mustPr('ticket-T-0002');
    expect(report.dashboard).toMatchObject({ action: 'updated', handEdited: false });
    expect(writes(from)).toEqual({ patched: [dashboard().number], created: 0 });
    expect(dashboard().body).toContain(`- #${pr.number} `);
    expect(dashboard().body).toMatch(/`ticket-T-0002` by fleetspec-bot: waits for an approver's review of [0-9a-f]{7}: /);

    const again = h.gh.requests.length;
    await tick();
    expect(writes(again).patched).toEqual([]);
  });

  it('rewrites a hand edit on GitHub and says so in the tick log', async () => {
    const issue = dashboard();
    const before = issue.body;
    h.gh.editIssue(issue.number, { body: `${before}\n\nmallory was here`, actor: 'mallory' });
    const progress = h.progress.length;
    const from = h.gh.requests.length;
    const report = await tick();
    expect(report.dashboard).toMatchObject({ issue: issue.number, action: 'updated', handEdited: true });
    expect(writes(from).patched).toEqual([issue.number]);
    expect(dashboard().body).toBe(before);
    expect(h.progress.slice(progress).some((l) => l.includes(`issue #${issue.number} was edited on GitHub; rewriting it`))).toBe(true);
    expect(report.reason).toContain(`dashboard #${issue.number} was edited on GitHub; rewritten`);
    // Title edits too.
    h.gh.editIssue(issue.number, { title: 'renamed', actor: 'mallory' });
    await tick();
    expect(dashboard().title).toBe(DASHBOARD_TITLE);
  });

  it('never touches an issue without the marker, nor one with it that fleetspec did not open', async () => {
    const plain = h.gh.openIssue({ title: DASHBOARD_TITLE, body: 'my own notes about the fleet', author: 'alice' });
    const forged = h.gh.openIssue({ title: DASHBOARD_TITLE, body: withMarker(DASHBOARD_TITLE, 'forged'), author: 'mallory' });
    const progress = h.progress.length;
    h.push('ticket-T-0003', addTicket('T-0003'), { as: 'bob' }); // a change, so the dashboard is written this tick
    const from = h.gh.requests.length;
    const report = await tick();
    expect(report.dashboard).toMatchObject({ action: 'updated', ignored: [forged.number] });
    expect(writes(from).patched).toEqual([dashboard().number]);
    expect(h.gh.issues().find((i) => i.number === plain.number)!.body).toBe('my own notes about the fleet');
    expect(h.gh.issues().find((i) => i.number === forged.number)!.body).toBe(withMarker(DASHBOARD_TITLE, 'forged'));
    expect(h.progress.slice(progress).some((l) => l.includes(`issue #${forged.number} carries the dashboard marker: opened by mallory, not fleetspec; left alone`))).toBe(true);
    // A hand edit of the plain issue is no reason to write anything.
    h.gh.editIssue(plain.number, { body: 'still mine', actor: 'alice' });
    const quiet = h.gh.requests.length;
    await tick();
    expect(writes(quiet)).toEqual({ patched: [], created: 0 });
  });

  it('escapes hostile PR titles and branch names: no HTML, link, mention or marker of their own', async () => {
    const branch = 'evil/@mallory-<b>x</b>_y';
    h.push(branch, addTicket('T-0004'), { as: 'mallory' });
    const title = '**pwn** <img src=x onerror=alert(1)> @mallory [click](http://evil.example) <!-- fleetspec:dashboard digest=000000000000 --> #1';
    h.openPull(branch, 'mallory', title);
    await tick();
    const body = dashboard().body ?? '';
    expect(body).not.toContain('<img');
    expect(body).not.toContain('](http');
    // Outside code spans (where GitHub links nothing) no mention is left.
    expect(body.replace(/`[^`\n]*`/g, '')).not.toContain('@mallory');
    expect(body).toContain('@&#8203;mallory');
    expect(body).toContain('\\*\\*pwn\\*\\* &lt;img src=x onerror=alert(1)&gt;');
    expect(body).toContain('`evil/@mallory-<b>x</b>_y`');
    expect(body.match(/<!-- fleetspec:dashboard/g)).toHaveLength(1);
    expect(untouched({ title: DASHBOARD_TITLE, body })).toBe(true);
    await h.reset();
  });
});

describe('rendering', () => {
  const facts: DashboardFacts = {
    repo: 'acme/fleet',
    main: 'main',
    mainSha: 'b'.repeat(40),
    trusted: { sha: 'a'.repeat(40), via: 'applied', pr: 3 },
    refused: [{ sha: 'b'.repeat(40), outcome: 'not-approved', pr: null, runId: 9, detail: 'pushed to main by @mallory <script>' }],
    waiting: [],
    drift: [{ kind: 'dns', pr: 7, verdict: 'blocked at ccccccc: policy x' }],
    findings: [{ key: 'drift.dns', ticket: 'T-0009', title: 'Live differs [x](y)', issue: 12, state: 'ticket open' }],
    applies: [{ sha: 'a'.repeat(40), outcome: 'applied', pr: 3, runId: 4, detail: '2 changes applied', at: '2025-01-02 03:04 UTC' }],
    suspended: [],
  };

  it('says when the default branch is not trusted, and lists drift, findings and applies, escaped', () => {
    const body = renderDashboard(facts);
    expect(body).toContain('**Not trusted**: `main` is at `bbbbbbb`; the trusted commit is `aaaaaaa` (applied).');
    expect(body).toContain('- `bbbbbbb`: not-approved: pushed to main by @&#8203;mallory &lt;script&gt;');
    expect(body).toContain('- `dns`: #7, blocked at ccccccc: policy x');
    expect(body).toContain('- `drift.dns`: T-0009 Live differs \\[x\\]\\(y), ticket open, issue #12');
    expect(body).toContain('- 2025-01-02 03:04 UTC: `aaaaaaa` from #3 applied in run 4: 2 changes applied');
    expect(renderDashboard(facts)).toBe(body);
  });

  it('is on unless FLEETSPEC_DASHBOARD=off', () => {
    expect(dashboardSetting({})).toBe(true);
    expect(dashboardSetting({ FLEETSPEC_DASHBOARD: 'on' })).toBe(true);
    expect(dashboardSetting({ FLEETSPEC_DASHBOARD: 'off' })).toBe(false);
    expect(() => dashboardSetting({ FLEETSPEC_DASHBOARD: 'maybe' })).toThrow(/FLEETSPEC_DASHBOARD="maybe" is neither on nor off/);
  });
});
