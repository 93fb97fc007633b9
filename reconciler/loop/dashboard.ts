// The fleet dashboard: one GitHub issue fleetspec owns, rewritten in place at the end of a tick when
// what it says changes. It shows what waits for approval and why, drift per kind, open findings and
// their tickets, the last applies, what is suspended and whether the default branch is trusted.
// Found by a marker at the end of its body, like a ticket's issue:
//
//   <!-- fleetspec:dashboard digest=3f2a9c0d1e4b -->
//
// The digest is of the title and body as fleetspec last wrote them: a tick whose rendering has the
// same digest, on an issue whose text still has it, sends nothing; a hand edit (the text no longer
// matches its digest) is rewritten and reported. An issue without the marker is never touched, and
// only the bot's own issue is the dashboard: a second one, or one a person wrote with the marker,
// is reported and left alone. Every value from a spec, git or GitHub is escaped for Markdown.
import { createHash } from 'node:crypto';
import type { Issue, PullRequest } from '../github/client.js';
import type { Queryable } from '../state/db.js';
import type { Ticket } from '../kinds/tickets/index.js';
import { markerOf as ticketMarkerOf } from '../kinds/tickets/issue.js';
import type { LoadedSpecs } from '../specs/load.js';
import { plannedCommit, trustedTip, unapprovedSinceApplied, type MainCommit, type TrustedCommit } from '../state/loop.js';
import { mdCode, mdInline } from '../escape.js';
import { FINDING_PREFIX } from './findings.js';
import { planStatus, short } from './pr-text.js';
import { DRIFT_PREFIX, type Services, type TickReport } from './phases/types.js';
import type { Held } from './phases/windows.js';

export const DASHBOARD_TITLE = 'fleetspec dashboard';
const MARKER = /<!-- fleetspec:dashboard digest=([0-9a-f]{12}) -->/;
const MARKER_AT_END = /\n*<!-- fleetspec:dashboard digest=([0-9a-f]{12}) -->\s*$/;
const FINDING_BRANCH = /^fleetspec\/finding\/(T-[0-9]{4,})-([a-z0-9_-]+)$/;
/** How many applies the dashboard lists, newest first. */
const APPLIES_LISTED = 5;
const LISTED = 50;

/**
 * What is suspended (a kind or resource the loop leaves alone: the trusted commit's Suspend documents and
 * `suspend:` fields, policies/suspend.ts), then what sync windows hold this tick and when each goes.
 */
export function suspended(sync?: Pick<TickReport, 'suspended' | 'held'>): string[] {
  return [...(sync?.suspended ?? []), ...(sync?.held ?? []).map(heldLine)];
}

/** "held by sync window freeze: 1a2b3c4 (#7): hosts/ai: deny window … is active until …; it goes at …" */
export function heldLine(h: Held): string {
  return `held by sync window ${h.window}: ${h.sha ? `${short(h.sha)}${h.pr ? ` (#${h.pr})` : ''}` : `drift in ${h.kind ?? '?'}`}: ${h.detail}`;
}

export interface WaitingPull {
  number: number;
  title: string;
  branch: string;
  author: string;
  /** Why it waits: its verdict, or why it has none. */
  verdict: string;
  blocked: boolean;
}

export interface FindingRow {
  key: string;
  ticket: string;
  title?: string;
  /** The ticket's issue, when it is open on GitHub. */
  issue?: number;
  /** A PR proposing the ticket, or its closing. */
  pr?: number;
  state: 'ticket open' | 'proposed' | 'closing proposed';
}

export interface DashboardFacts {
  repo: string;
  main: string;
  mainSha: string;
  trusted?: TrustedCommit;
  /** Refused commits since the trusted commit, oldest first. */
  refused: MainCommit[];
  waiting: WaitingPull[];
  drift: { kind: string; pr: number; verdict: string }[];
  findings: FindingRow[];
  applies: (MainCommit & { at: string })[];
  suspended: string[];
}

/** The applies on the default branch, newest first (applied, failed, interrupted). */
export async function recentApplies(db: Queryable, repo: string, limit = APPLIES_LISTED): Promise<(MainCommit & { at: string })[]> {
  const rows = await db.query<MainCommit & { at: string | Date }>(
    `select sha, outcome, pr, run_id::integer as "runId", detail, at from main_commits
      where repo = $1 and outcome in ('applied', 'failed', 'abandoned') order by at desc limit $2`,
    [repo, limit],
  );
  return rows.map((r) => ({ ...r, at: (r.at instanceof Date ? r.at : new Date(r.at)).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' }));
}

async function verdictOf(svc: Services, pr: PullRequest): Promise<{ verdict: string; blocked: boolean }> {
  const planned = await plannedCommit(svc.db, svc.repoKey, pr.headSha);
  if (!planned) return { verdict: `${short(pr.headSha)} not planned yet`, blocked: false };
  if (!planned.plan) return { verdict: `${short(pr.headSha)} cannot be planned: ${planned.problem ?? 'invalid specs'}`, blocked: true };
  const status = planStatus(planned.plan);
  return status.state === 'success'
    ? { verdict: `waits for an approver's review of ${short(pr.headSha)}: ${status.description}`, blocked: false }
    : { verdict: `blocked at ${short(pr.headSha)}: ${status.description}`, blocked: true };
}

/** The dashboard's facts, read afresh: open PRs and their plans, the ledger, the trusted specs' tickets and their issues. */
export async function dashboardFacts(
  svc: Services,
  main: string,
  mainSha: string,
  loaded: LoadedSpecs,
  issues: readonly Issue[],
  pulls: readonly PullRequest[],
  sync?: Pick<TickReport, 'suspended' | 'held'>,
): Promise<DashboardFacts> {
  const open = pulls.filter((p) => p.state === 'open' && p.baseRef === main).sort((a, b) => a.number - b.number);
  const waiting: WaitingPull[] = [];
  const drift: DashboardFacts['drift'] = [];
  for (const pr of open) {
    const { verdict, blocked } = await verdictOf(svc, pr);
    if (pr.headRef.startsWith(DRIFT_PREFIX)) drift.push({ kind: pr.headRef.slice(DRIFT_PREFIX.length), pr: pr.number, verdict });
    waiting.push({ number: pr.number, title: pr.title, branch: pr.headRef, author: pr.author, verdict, blocked });
  }
  const issueOf = new Map<string, number>();
  for (const i of issues) {
    const id = ticketMarkerOf(i.body)?.id;
    if (id && i.state === 'open' && !issueOf.has(id)) issueOf.set(id, i.number);
  }
  const findings: FindingRow[] = [];
  const tickets = loaded.index.all('tickets').map((r) => r.value as Ticket);
  for (const t of tickets) {
    if (!t.finding || t.status === 'closed') continue;
    const issue = issueOf.get(t.id);
    findings.push({ key: t.finding, ticket: t.id, title: t.title, ...(issue ? { issue } : {}), state: 'ticket open' });
  }
  for (const pr of open) {
    const m = FINDING_BRANCH.exec(pr.headRef);
    if (!m || !pr.headRef.startsWith(FINDING_PREFIX)) continue;
    const key = m[2]!.replace(/_/g, '.');
    const row = findings.find((f) => f.key === key && f.ticket === m[1]);
    if (row) Object.assign(row, { pr: pr.number, state: 'closing proposed' });
    else findings.push({ key, ticket: m[1]!, pr: pr.number, state: 'proposed' });
  }
  findings.sort((a, b) => a.key.localeCompare(b.key) || a.ticket.localeCompare(b.ticket));
  const [trusted, unapproved, applies] = await Promise.all([trustedTip(svc.db, svc.repoKey), unapprovedSinceApplied(svc.db, svc.repoKey), recentApplies(svc.db, svc.repoKey)]);
  return { repo: svc.repoKey, main, mainSha, ...(trusted ? { trusted } : {}), refused: unapproved.commits, waiting, drift, findings, applies, suspended: suspended(sync) };
}

const ref = (n: number) => `#${n}`;
const capped = <T>(rows: readonly T[], line: (row: T) => string): string[] => [
  ...rows.slice(0, LISTED).map(line),
  ...(rows.length > LISTED ? [`- and ${rows.length - LISTED} more`] : []),
];

/** The dashboard's body (without its marker): stable for the same facts, so an unchanged fleet sends nothing. */
export function renderDashboard(f: DashboardFacts): string {
  const lines: string[] = [`Kept by fleetspec for ${mdCode(f.repo)}; rewritten when the fleet changes. Edits made here are overwritten.`, ''];

  lines.push('### Trust of the default branch', '');
  if (!f.trusted) lines.push(`${mdCode(f.main)} has no trusted commit yet.`);
  else if (f.trusted.sha === f.mainSha && !f.refused.length) lines.push(`Trusted: ${mdCode(f.main)} at ${mdCode(short(f.mainSha))}.`);
  else {
    lines.push(`**Not trusted**: ${mdCode(f.main)} is at ${mdCode(short(f.mainSha))}; the trusted commit is ${mdCode(short(f.trusted.sha))} (${mdInline(f.trusted.via)}).`);
    if (f.refused.length) {
      lines.push('', 'Refused since the trusted commit:');
      lines.push(...capped(f.refused, (c) => `- ${mdCode(short(c.sha))}${c.pr ? ` (${ref(c.pr)})` : ''}: ${mdInline(c.outcome)}: ${mdInline(c.detail ?? 'not approved')}`));
    } else lines.push('', 'The commits after it wait for the next tick.');
  }

  lines.push('', '### Waiting for approval', '');
  if (!f.waiting.length) lines.push('Nothing.');
  else lines.push(...capped(f.waiting, (p) => `- ${ref(p.number)} ${mdInline(p.title)}, ${mdCode(p.branch)} by ${mdInline(p.author)}: ${p.blocked ? '**blocked**, ' : ''}${mdInline(p.verdict)}`));

  lines.push('', '### Drift', '');
  if (!f.drift.length) lines.push('None known: live matched the trusted commit when drift was last checked.');
  else lines.push(...capped(f.drift, (d) => `- ${mdCode(d.kind)}: ${ref(d.pr)}, ${mdInline(d.verdict)}`));

  lines.push('', '### Open findings', '');
  if (!f.findings.length) lines.push('None.');
  else
    lines.push(
      ...capped(f.findings, (r) =>
        [`- ${mdCode(r.key)}: ${mdInline(r.ticket)}`, r.title ? ` ${mdInline(r.title)}` : '', `, ${r.state}`, r.issue ? `, issue ${ref(r.issue)}` : '', r.pr ? `, PR ${ref(r.pr)}` : ''].join(''),
      ),
    );

  lines.push('', '### Last applies', '');
  if (!f.applies.length) lines.push('None yet.');
  else lines.push(...f.applies.map((a) => `- ${mdInline(a.at)}: ${mdCode(short(a.sha))}${a.pr ? ` from ${ref(a.pr)}` : ''} ${mdInline(a.outcome)}${a.runId ? ` in run ${a.runId}` : ''}${a.detail ? `: ${mdInline(a.detail)}` : ''}`));

  lines.push('', '### Suspended', '');
  lines.push(f.suspended.length ? f.suspended.map((s) => `- ${mdInline(s)}`).join('\n') : 'None.');
  return lines.join('\n');
}

const normal = (text: string) => text.replace(/\r\n/g, '\n').trimEnd();

export function dashboardDigest(title: string, body: string): string {
  return createHash('sha256').update(JSON.stringify([title, normal(body)])).digest('hex').slice(0, 12);
}

export function withMarker(title: string, body: string): string {
  return `${normal(body)}\n\n<!-- fleetspec:dashboard digest=${dashboardDigest(title, body)} -->`;
}

/** The digest in an issue's dashboard marker, when it has one (anywhere in the body). */
export function dashboardMarker(body: string): string | undefined {
  return MARKER.exec(body ?? '')?.[1];
}

/** Whether the issue's title and body are still exactly what fleetspec wrote (its marker's digest, at the end). */
export function untouched(issue: Pick<Issue, 'title' | 'body'>): boolean {
  const m = MARKER_AT_END.exec(issue.body ?? '');
  if (!m) return false;
  const body = issue.body.slice(0, m.index);
  return dashboardDigest(issue.title, body) === m[1];
}

export interface DashboardResult {
  issue: number;
  action: 'created' | 'updated' | 'unchanged';
  /** The issue had been edited on GitHub since fleetspec wrote it (now rewritten). */
  handEdited: boolean;
  /** Other issues carrying the marker, left alone. */
  ignored: number[];
}

/**
 * The dashboard issue brought in line with `body`: created when there is none, rewritten when the
 * rendering or the issue's text differs from what its marker records, else left alone (no request).
 */
export async function syncDashboard(svc: Services, body: string, issues: readonly Issue[], bot: string): Promise<DashboardResult> {
  const marked = issues.filter((i) => dashboardMarker(i.body) !== undefined).sort((a, b) => a.number - b.number);
  const mine = marked.filter((i) => i.author.toLowerCase() === bot.toLowerCase());
  const [current] = mine;
  const ignored = marked.filter((i) => i !== current).map((i) => i.number);
  for (const i of marked) {
    if (i === current) continue;
    const whose = mine.includes(i) ? `a second dashboard; close it` : `opened by ${i.author}, not fleetspec; left alone`;
    svc.progress(`dashboard: issue #${i.number} carries the dashboard marker: ${whose}`);
  }
  const text = withMarker(DASHBOARD_TITLE, body);
  if (!current) {
    svc.progress('dashboard: opening the dashboard issue');
    const created = await svc.github.createIssue({ title: DASHBOARD_TITLE, body: text, labels: [] });
    return { issue: created.number, action: 'created', handEdited: false, ignored };
  }
  const handEdited = !untouched(current);
  if (!handEdited && dashboardMarker(current.body) === dashboardDigest(DASHBOARD_TITLE, body)) return { issue: current.number, action: 'unchanged', handEdited, ignored };
  if (handEdited) svc.progress(`dashboard: issue #${current.number} was edited on GitHub; rewriting it (the dashboard is fleetspec's, edits there are overwritten)`);
  if (current.state === 'closed') svc.progress(`dashboard: issue #${current.number} is closed; updated, left closed`);
  await svc.github.updateIssue(current.number, { ...(current.title === DASHBOARD_TITLE ? {} : { title: DASHBOARD_TITLE }), body: text });
  return { issue: current.number, action: 'updated', handEdited, ignored };
}

/** The dashboard at the end of a tick: its facts read, rendered, and the issue synced. */
export async function updateDashboard(svc: Services, main: string, mainSha: string, loaded: LoadedSpecs, sync?: Pick<TickReport, 'suspended' | 'held'>): Promise<DashboardResult> {
  // Open issues only: the list of all grows with the repository's age, and a closed dashboard is
  // replaced by a new one (FLEETSPEC_DASHBOARD=off stops keeping it).
  const [issues, pulls, me] = await Promise.all([svc.github.listIssues({ state: 'open' }), svc.github.listOpenPulls(), svc.github.me()]);
  const facts = await dashboardFacts(svc, main, mainSha, loaded, issues, pulls, sync);
  return syncDashboard(svc, renderDashboard(facts), issues, me.login);
}
