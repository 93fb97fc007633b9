// Tickets opened on GitHub enter git through review: each open issue labelled `ticket` that is
// not fleetspec's own (no marker) and not yet pulled becomes a branch adding
// specs/tickets/T-NNNN.yaml with the next free id, and a pull request that closes the issue when
// merged. The merge then opens the ticket's own issue, as for any ticket added in git.
import { stringify } from 'yaml';
import type { GitHub, Issue, PullRequest } from '../github/client.js';
import type { SpecRepo } from '../git/repo.js';
import { markerOf, TICKET_LABEL } from '../kinds/tickets/issue.js';
import type { Ticket } from '../kinds/tickets/index.js';
import type { LoadedSpecs } from '../specs/load.js';
import { findSecretLiterals } from '../specs/secrets.js';
import { logLine, mdCode, mdInline, mention } from '../escape.js';
import { branchPrefix, openProposal } from '../proposals/index.js';

/** Branches of pulled tickets: fleetspec/ticket/T-0008-issue-12. The id is reserved once the branch exists. */
export const PULL_PREFIX = branchPrefix('ticket');
const PULL_BRANCH = /^fleetspec\/ticket\/(T-[0-9]{4,})-issue-([0-9]+)$/;

/** The issue a pulled ticket's branch came from, or undefined for any other branch. */
export function pulledIssue(branch: string): number | undefined {
  const m = PULL_BRANCH.exec(branch);
  return m ? Number(m[2]) : undefined;
}
/**
 * Branches that reserve a ticket id while they exist: pulled tickets and finding tickets
 * (loop/findings.ts) by their first part, and agents' proposals (proposals/propose.ts) by each
 * `-t-NNNN` part their name carries for a ticket file they add.
 */
const RESERVING_BRANCH = /^fleetspec\/(?:ticket|finding)\/(T-[0-9]{4,})-/;
const PROPOSAL_TICKETS = /-t-([0-9]{4,})(?=-)/g;

export interface PulledTicket {
  issue: number;
  id: string;
  branch: string;
  /** The PR, when one was opened. */
  pr?: number;
  action: 'opened' | 'refused';
  detail?: string;
}

export interface PullContext {
  git: SpecRepo;
  github: GitHub;
  /** The specs folder inside the repository, such as `specs`. */
  specsPath: string;
  progress(message: string): void;
}

const LABEL = /^[a-z0-9][a-z0-9:._/-]*$/;
const PRIORITIES = new Set(['low', 'normal', 'high', 'critical']);

/** The ids in use: the default branch's tickets', and those reserved by fleetspec's ticket branches. */
export function reservedTicketIds(specs: LoadedSpecs, branches: Iterable<string>): Set<string> {
  const used = new Set(specs.index.all('tickets').map((r) => r.name));
  for (const branch of branches) {
    const m = RESERVING_BRANCH.exec(branch);
    if (m) used.add(m[1]!);
    if (branch.startsWith(branchPrefix('proposal'))) for (const t of branch.matchAll(PROPOSAL_TICKETS)) used.add(`T-${t[1]}`);
  }
  return used;
}

/** The id after the highest one in use (reservedTicketIds). */
export function nextTicketId(used: Iterable<string>): string {
  let max = 0;
  for (const id of used) max = Math.max(max, Number(id.slice(2)));
  return `T-${String(max + 1).padStart(4, '0')}`;
}

/** The ticket spec an issue becomes: its title and text, priority and role from its labels, the rest as labels. */
export function ticketFromIssue(issue: Issue, id: string, roles: ReadonlySet<string>): { ticket: Ticket; dropped: string[] } {
  const labels: string[] = [];
  const dropped: string[] = [];
  let priority: Ticket['priority'];
  let assignee: string | undefined;
  for (const raw of issue.labels) {
    const name = raw.toLowerCase();
    if (name === TICKET_LABEL || name.startsWith('status:')) continue;
    if (name.startsWith('priority:') && PRIORITIES.has(name.slice(9))) priority = name.slice(9) as Ticket['priority'];
    else if (name.startsWith('role:') && roles.has(name.slice(5))) assignee = name.slice(5);
    else if (LABEL.test(name)) labels.push(name);
    else dropped.push(raw);
  }
  const description = issue.body.trim();
  const ticket: Ticket = {
    kind: 'Ticket',
    id,
    title: issue.title.trim().slice(0, 256) || `Issue #${issue.number}`,
    ...(description ? { description } : {}),
    ...(priority ? { priority } : {}),
    ...(assignee ? { assignee } : {}),
    status: 'open',
    ...(labels.length ? { labels: [...new Set(labels)].sort() } : {}),
    githubIssue: issue.number,
  };
  return { ticket, dropped };
}

/**
 * Opens a pull request for each issue to pull. `heads` are the repository's branches (name to
 * sha) as fetched this tick; a pull branch whose PR a person closed stays, and keeps its issue
 * from being pulled again.
 */
export async function pullTickets(ctx: PullContext, main: string, mainSha: string, heads: ReadonlyMap<string, string>, specs: LoadedSpecs): Promise<PulledTicket[]> {
  const tickets = specs.index.all('tickets').map((r) => r.value as Ticket);
  const used = reservedTicketIds(specs, heads.keys());
  // Pulled already, or adopted by a spec that names the issue (fleetspec import).
  const pulledIssues = new Set(tickets.flatMap((t) => [t.githubIssue, t.issue].filter((n): n is number => n !== undefined)));
  for (const branch of heads.keys()) {
    const m = PULL_BRANCH.exec(branch);
    if (m) pulledIssues.add(Number(m[2]));
  }
  const candidates = (await ctx.github.listIssues({ state: 'open', labels: [TICKET_LABEL] })).filter((i) => !markerOf(i.body) && !pulledIssues.has(i.number)).sort((a, b) => a.number - b.number);
  const roles = new Set(specs.index.all('roles').map((r) => r.name));
  const out: PulledTicket[] = [];
  for (const issue of candidates) {
    const id = nextTicketId(used);
    used.add(id);
    const branch = `${PULL_PREFIX}${id}-issue-${issue.number}`;
    const { ticket, dropped } = ticketFromIssue(issue, id, roles);
    const secrets = findSecretLiterals(ticket);
    if (secrets.length) {
      // Git keeps what it is given forever; the issue can still be edited.
      ctx.progress(`not pulling issue #${issue.number}: ${logLine(secrets[0]!.message)}`);
      await ctx.github.comment(issue.number, `fleetspec did not make this issue a ticket: its text looks like it holds a secret (${mdInline(secrets.map((s) => s.message).join('; '))}). Edit it out here, and the next run pulls the issue.`);
      out.push({ issue: issue.number, id, branch, action: 'refused', detail: 'looks like it holds a secret' });
      used.delete(id);
      pulledIssues.add(issue.number);
      continue;
    }
    const path = `${ctx.specsPath}/tickets/${id}.yaml`;
    const text = `# yaml-language-server: $schema=../schemas/tickets.schema.json\n# Pulled by fleetspec from GitHub issue #${issue.number}, opened by @${logLine(issue.author)}.\n${stringify(ticket, { lineWidth: 0 })}`;
    ctx.progress(`pulling issue #${issue.number} as ${id} on ${branch}`);
    const opened = await openProposal(ctx, main, {
      branch,
      base: mainSha,
      files: { [path]: text },
      message: `Add ${id} from issue #${issue.number}: ${logLine(ticket.title)}`.slice(0, 200),
      // The candidates are issues no branch has pulled yet: no PR is open for this one.
      open: null,
      title: `${id}: ${logLine(ticket.title)}`,
      body: [
        `Adds ${mdCode(path)} from issue #${issue.number} (opened by ${mention(issue.author)}), so the ticket enters git through review.`,
        '',
        `Merging this closes #${issue.number}; fleetspec then opens ${id}'s own issue, managed from the spec.`,
        ...(dropped.length ? ['', `Labels not carried over (not valid ticket labels): ${dropped.map((d) => mdCode(d)).join(', ')}.`] : []),
      ].join('\n'),
    });
    if (!opened) continue;
    const pr: PullRequest = opened.pr;
    out.push({ issue: issue.number, id, branch, pr: pr.number, action: 'opened' });
  }
  return out;
}
