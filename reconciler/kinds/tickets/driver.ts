// Tickets live as GitHub issues, one per ticket, found by fleetspec's marker (never by title).
// Apply creates missing issues, updates changed ones and closes closed tickets; it never touches
// an issue without the marker. An issue edited on GitHub since fleetspec wrote it is drift:
// reported, not overwritten, until the spec says what GitHub says (or the edit is undone).
import { basename } from 'node:path';
import type { Issue } from '../../github/client.js';
import type { PlanFinding, ResourceChange } from '../../plan/plan.js';
import { remoteExcerpt } from '../../remote-text.js';
import { defineDriver, notRead } from '../driver.js';
import type { Resource } from '../kind.js';
import type { Ticket } from './index.js';
import { bodyWithMarker, desiredIssue, differingFields, digestOf, fieldsOf, labelsOf, markerOf, type IssueFields } from './issue.js';

/** One side of a ticket change: the issue's fleetspec-owned fields, and its number once it exists. */
export interface TicketIssue extends IssueFields {
  number?: number;
  url?: string;
  /** An issue without fleetspec's marker, adopted through the spec's `issue:` (its rollback leaves it unmarked again). */
  unmarked?: boolean;
}

type LiveTickets = { unknown: string; remote?: string } | { issues: Map<string, Issue[]>; byNumber?: Map<number, Issue> };

const specFile = (r: Resource) => `specs/tickets/${basename(r.doc.source.file)}`;
const issueRef = (i: TicketIssue | undefined) => (i?.number ? `issue #${i.number}` : 'an issue');
const asIssue = (issue: Issue): TicketIssue => ({ ...fieldsOf(issue), number: issue.number, url: issue.url });

export const ticketsDriver = defineDriver<LiveTickets>({
  folder: 'tickets',
  async readLive(_desired, ctx) {
    if (ctx.mode !== 'live') return { unknown: 'offline (plan with --live to read GitHub issues)' };
    if (!ctx.issues) return { unknown: ctx.noIssues ?? 'no GitHub repository configured' };
    let all: Issue[];
    try {
      all = await ctx.issues.listIssues({ state: 'all' });
    } catch (error) {
      // GitHub's answer (or a proxy's page in its place) is quoted only as a short excerpt.
      const remote = remoteExcerpt(error instanceof Error ? error.message : String(error));
      return { unknown: `GitHub issues of ${ctx.issues.fullName} not read: ${remote}`, remote };
    }
    const issues = new Map<string, Issue[]>();
    const byNumber = new Map<number, Issue>();
    for (const issue of all.sort((a, b) => a.number - b.number)) {
      byNumber.set(issue.number, issue);
      const marker = markerOf(issue.body);
      if (marker) issues.set(marker.id, [...(issues.get(marker.id) ?? []), issue]);
    }
    return { issues, byNumber };
  },

  diff(desired, live) {
    if ('unknown' in live) return { changes: [], unknown: notRead(desired, live.unknown, live.remote), findings: [] };
    const changes: ResourceChange[] = [];
    const findings: PlanFinding[] = [];
    const change = (name: string, action: ResourceChange['action'], before: TicketIssue | null, after: TicketIssue | null, reason: string) =>
      changes.push({ kind: 'tickets', name, action, before, after, reason });

    for (const r of desired as Resource<Ticket>[]) {
      const want = desiredIssue(r.value, specFile(r));
      const [issue, ...extra] = live.issues.get(r.name) ?? [];
      if (extra.length) {
        findings.push({
          kind: 'tickets',
          name: r.name,
          code: 'tickets.duplicate-issue',
          severity: 'warning',
          message: `issues ${extra.map((i) => `#${i.number}`).join(', ')} also carry ${r.name}'s marker; fleetspec keeps #${issue!.number}`,
          hint: `close the others on GitHub (${extra.map((i) => i.url).join(', ')})`,
        });
      }
      const adopt = !issue && r.value.issue !== undefined ? live.byNumber?.get(r.value.issue) : undefined;
      if (adopt) {
        const owner = markerOf(adopt.body);
        if (owner) {
          findings.push({ kind: 'tickets', name: r.name, code: 'tickets.issue-taken', severity: 'error', message: `issue #${adopt.number} is ${owner.id}'s issue (its marker says so); ${r.name} cannot adopt it`, hint: `remove issue: ${adopt.number} from ${specFile(r)}, or fix the marker on GitHub (${adopt.url})` });
          continue;
        }
        const have = { ...asIssue(adopt), unmarked: true };
        const differs = differingFields(have, want);
        change(r.name, 'update', have, { ...want, number: adopt.number, url: adopt.url }, `adopt issue #${adopt.number} (named by issue: in the spec): write ${differs.length ? `its ${differs.join(', ')} and ` : ''}fleetspec's marker, instead of opening a second issue`);
        continue;
      }
      if (!issue) {
        if (want.state === 'closed') change(r.name, 'no-op', null, null, 'closed, and never opened on GitHub: no issue is made for it');
        else change(r.name, 'create', null, want, `no issue on GitHub carries ${r.name}'s marker`);
        continue;
      }
      const have = asIssue(issue);
      const differs = differingFields(have, want);
      const recorded = markerOf(issue.body)!.digest;
      const edited = recorded !== digestOf(have);
      const target = { ...want, number: issue.number, url: issue.url };
      if (differs.length === 0) {
        // Matching again after an edit on GitHub: recording it keeps later spec changes from reading as drift.
        if (edited) change(r.name, 'update', have, target, `issue #${issue.number} was edited on GitHub and now matches the spec: record that in its marker`);
        else change(r.name, 'no-op', have, target, `issue #${issue.number} matches the spec`);
      } else if (edited) {
        change(r.name, 'drift', have, target, `issue #${issue.number} was edited on GitHub; its ${differs.join(', ')} differ from the spec, and fleetspec does not overwrite it`);
        findings.push({
          kind: 'tickets',
          name: r.name,
          code: 'tickets.edited-on-github',
          severity: 'warning',
          message: `issue #${issue.number} was edited on GitHub since fleetspec wrote it; its ${differs.join(', ')} differ${differs.length === 1 ? 's' : ''} from ${specFile(r)}`,
          hint: `put GitHub's version in ${specFile(r)} (the next plan then records it), or undo the edit on GitHub (${issue.url})`,
        });
      } else {
        const closing = want.state === 'closed' && have.state === 'open';
        change(r.name, 'update', have, target, closing ? `closed in the spec: close issue #${issue.number}` : `issue #${issue.number}: ${differs.join(', ')} changed in the spec`);
      }
    }

    // Issues of tickets no spec holds any more: closed, never deleted (GitHub keeps issues).
    const wanted = new Set(desired.map((r) => r.name));
    for (const [id, [issue]] of [...live.issues].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (wanted.has(id) || !issue || issue.state === 'closed') continue;
      change(id, 'delete', asIssue(issue), null, `no spec holds ${id}: close issue #${issue.number} as not planned`);
    }
    return { changes, unknown: [], findings };
  },

  actions(change) {
    const before = change.before as TicketIssue | null;
    const after = change.after as TicketIssue | null;
    if (change.action === 'create') return [`create labels the repository lacks (${after!.labels.join(', ')})`, `open an issue "${after!.title}"${after!.state === 'closed' ? ' and close it' : ''}`];
    if (change.action === 'delete') return [`close ${issueRef(before!)} as not planned, with a comment`];
    if (change.action === 'update') {
      const fields = differingFields(before!, after!);
      if (fields.length === 0) return [`rewrite the marker of ${issueRef(after!)} (its fields stay as they are)`];
      return [
        ...(fields.includes('labels') ? [`create labels the repository lacks (${after!.labels.join(', ')})`] : []),
        `update ${issueRef(after!)}: ${fields.join(', ')}${fields.includes('state') ? ` (${after!.state === 'closed' ? 'close' : 'reopen'})` : ''}`,
      ];
    }
    return [];
  },

  async apply(change, ctx) {
    if (change.action === 'no-op' || change.action === 'drift') return undefined;
    const tracker = ctx.issues;
    if (!tracker) throw new Error(ctx.noIssues ?? 'no GitHub repository configured');
    const before = change.before as TicketIssue | null;
    const after = change.after as TicketIssue | null;
    const ticket = ctx.index.get('tickets', change.name)?.value as Ticket | undefined;
    // Labels fleetspec names are created in its colours first; GitHub would make them grey.
    if (ticket && after && (!before || differingFields(before, after).includes('labels'))) await tracker.ensureLabels(labelsOf(ticket));

    if (change.action === 'create') {
      const created = await tracker.createIssue({ title: after!.title, body: bodyWithMarker(change.name, after!), labels: after!.labels });
      if (after!.state === 'closed') await tracker.updateIssue(created.number, { state: 'closed', stateReason: 'completed' });
      ctx.progress(`tickets/${change.name}: opened issue #${created.number}`);
      return {
        description: `closed issue #${created.number} opened for ${change.name}`,
        run: async () => {
          await tracker.updateIssue(created.number, { state: 'closed', stateReason: 'not_planned' });
        },
      };
    }
    if (change.action === 'delete') {
      await tracker.comment(before!.number!, `${change.name} was removed from the specs; fleetspec closes this issue as not planned.`);
      await tracker.updateIssue(before!.number!, { state: 'closed', stateReason: 'not_planned', body: bodyWithMarker(change.name, { ...before!, state: 'closed' }) });
      return {
        description: `reopened issue #${before!.number} of ${change.name}`,
        run: async () => {
          await tracker.updateIssue(before!.number!, { state: 'open', stateReason: 'reopened', body: bodyWithMarker(change.name, before!) });
        },
      };
    }
    // update: the whole owned state, so the marker's digest describes exactly what GitHub holds.
    const number = after!.number!;
    await tracker.updateIssue(number, issueChange(change.name, after!, before!));
    return {
      description: `restored issue #${number} of ${change.name} as it was`,
      run: async () => {
        const back = issueChange(change.name, before!, after!);
        // An adopted issue goes back as it was: without fleetspec's marker.
        await tracker.updateIssue(number, before!.unmarked ? { ...back, body: before!.body } : back);
      },
    };
  },
});

/** The PATCH that makes an issue show `to`, coming from `from`. */
function issueChange(id: string, to: IssueFields, from: IssueFields) {
  return {
    title: to.title,
    body: bodyWithMarker(id, to),
    labels: to.labels,
    ...(to.state !== from.state ? { state: to.state, stateReason: to.state === 'closed' ? ('completed' as const) : ('reopened' as const) } : {}),
  };
}
