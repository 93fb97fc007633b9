// A ticket as the GitHub issue that mirrors it: title, body, labels and state, and the marker
// that makes the issue fleetspec's. The marker is an HTML comment at the end of the body:
//
//   <!-- fleetspec:ticket T-0001 digest=3f2a9c0d1e4b -->
//
// Only issues carrying it are ever changed. The digest is of the fields as fleetspec last wrote
// them, so a later edit on GitHub shows as a mismatch: drift, reported and never overwritten.
import { createHash } from 'node:crypto';
import type { Issue, IssueChange, LabelSpec } from '../../github/client.js';
import type { Ticket } from './index.js';
import { logLine, mdBlock, mdCode, mdInline } from '../../escape.js';

/** What the tickets driver needs of GitHub; the GitHub client is one. */
export interface IssueTracker {
  /** "owner/name", for messages. */
  readonly fullName: string;
  listIssues(opts?: { state?: 'open' | 'closed' | 'all'; labels?: string[] }): Promise<Issue[]>;
  createIssue(issue: { title: string; body: string; labels: string[] }): Promise<Issue>;
  updateIssue(number: number, change: IssueChange): Promise<Issue>;
  ensureLabels(labels: readonly LabelSpec[]): Promise<string[]>;
  comment(number: number, body: string): Promise<{ id: number; url: string }>;
}

/** The label every ticket's issue carries, and the one `fleetspec tickets pull` looks for on issues opened by hand. */
export const TICKET_LABEL = 'ticket';

/** The issue fields fleetspec owns. */
export interface IssueFields {
  title: string;
  /** The body without the marker line. */
  body: string;
  /** Sorted, lower-case compared by GitHub; kept as written. */
  labels: string[];
  state: 'open' | 'closed';
}

const MARKER = /\n?<!-- fleetspec:ticket (T-[0-9]{4,}) digest=([0-9a-f]{12}) -->\s*$/;

const PRIORITY_COLORS: Record<string, string> = { critical: 'b60205', high: 'd93f0b', normal: 'fbca04', low: '0e8a16' };

/**
 * The issue a ticket spec should have on GitHub. The spec's text is shown, never obeyed: the
 * description as Markdown-escaped lines (no HTML, links, images, mentions or references of its
 * own), the title as one line with control characters shown as escapes.
 */
export function desiredIssue(ticket: Ticket, specFile: string): IssueFields {
  const lines = [
    mdBlock(ticket.description ?? ''),
    '',
    '---',
    ...(ticket.hosts?.length ? [`Hosts: ${mdInline(ticket.hosts.join(', '))}`] : []),
    ...(ticket.assignee ? [`Assignee role: ${mdInline(ticket.assignee)}`] : []),
    ...(ticket.finding ? [`Finding: ${mdCode(ticket.finding)}; fleetspec proposes closing this ticket when it clears.`] : []),
    `Managed by fleetspec from ${mdCode(specFile)}: change the ticket there (a pull request), not here. Edits made here are reported as drift and not overwritten.`,
  ];
  return {
    title: `${ticket.id}: ${logLine(ticket.title)}`,
    body: lines.join('\n').replace(/^\n+/, ''),
    labels: sortLabels(labelsOf(ticket).map((l) => l.name)),
    state: ticket.status === 'closed' ? 'closed' : 'open',
  };
}

/** The labels a ticket's issue carries, with the colours fleetspec creates them in. */
export function labelsOf(ticket: Ticket): LabelSpec[] {
  const priority = ticket.priority ?? 'normal';
  return [
    { name: TICKET_LABEL, color: '5319e7', description: 'a fleetspec ticket (specs/tickets/)' },
    { name: `priority:${priority}`, color: PRIORITY_COLORS[priority] ?? 'ededed', description: `ticket priority ${priority}` },
    { name: `status:${ticket.status}`, color: 'c5def5', description: `ticket status ${ticket.status}` },
    ...(ticket.assignee ? [{ name: `role:${ticket.assignee}`, color: '1d76db', description: `worked by the ${ticket.assignee} role` }] : []),
    ...(ticket.labels ?? []).map((name) => ({ name, color: 'ededed' })),
  ];
}

export const sortLabels = (labels: readonly string[]) => [...new Set(labels)].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));

export function digestOf(fields: IssueFields): string {
  const canonical = JSON.stringify([fields.title, fields.body.trimEnd(), sortLabels(fields.labels).map((l) => l.toLowerCase()), fields.state]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

/** The body GitHub gets: the fields' body and the marker recording what was written. */
export function bodyWithMarker(id: string, fields: IssueFields): string {
  return `${fields.body.trimEnd()}\n\n<!-- fleetspec:ticket ${id} digest=${digestOf(fields)} -->`;
}

/** The ticket id and digest of fleetspec's marker, when the issue carries one. */
export function markerOf(body: string): { id: string; digest: string } | undefined {
  const m = MARKER.exec(body);
  return m ? { id: m[1]!, digest: m[2]! } : undefined;
}

/** The fleetspec-owned fields of a live issue, its body without the marker. */
export function fieldsOf(issue: Issue): IssueFields {
  return { title: issue.title, body: issue.body.replace(MARKER, '').trimEnd(), labels: sortLabels(issue.labels), state: issue.state };
}

/** Which fields differ, by name ("title", "labels"). */
export function differingFields(a: IssueFields, b: IssueFields): string[] {
  const out: string[] = [];
  if (a.title !== b.title) out.push('title');
  if (a.body.trimEnd() !== b.body.trimEnd()) out.push('body');
  const la = sortLabels(a.labels).map((l) => l.toLowerCase()).join('\n');
  const lb = sortLabels(b.labels).map((l) => l.toLowerCase()).join('\n');
  if (la !== lb) out.push('labels');
  if (a.state !== b.state) out.push('state');
  return out;
}
