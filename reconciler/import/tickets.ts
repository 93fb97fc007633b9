// Import source `tickets`: each open GitHub issue labelled `ticket` that is not fleetspec's own
// (no marker) and that no spec names yet (githubIssue: or issue:) becomes specs/tickets/T-NNNN.yaml
// with the next free id, as `fleetspec tickets pull` would make it, except that it names the issue
// with `issue:`: the tickets driver then adopts that issue (writes the spec's fields and its marker
// into it) instead of opening a duplicate. An issue whose text looks like a secret is flagged.
import type { Resource } from '../kinds/kind.js';
import type { Ticket } from '../kinds/tickets/index.js';
import { markerOf, TICKET_LABEL } from '../kinds/tickets/issue.js';
import { nextTicketId, ticketFromIssue } from '../loop/tickets.js';
import { remoteExcerpt } from '../remote-text.js';
import { findSecretLiterals } from '../specs/secrets.js';
import type { ImportContext, ImportSource, SourceResult } from './source.js';

export const ticketsSource: ImportSource = {
  name: 'tickets',
  async read(ctx: ImportContext): Promise<SourceResult> {
    const result: SourceResult = { added: [], flagged: [], notRead: [] };
    if (!ctx.issues) {
      result.notRead.push({ target: 'github', reason: ctx.noIssues ?? 'no GitHub repository configured' });
      return result;
    }
    let open;
    try {
      open = await ctx.issues.listIssues({ state: 'open', labels: [TICKET_LABEL] });
    } catch (error) {
      result.notRead.push({ target: `github ${ctx.issues.fullName}`, reason: `issues not read: ${remoteExcerpt(error instanceof Error ? error.message : String(error))}` });
      return result;
    }
    const tickets = ctx.index.all('tickets') as Resource<Ticket>[];
    const named = new Set(tickets.flatMap((t) => [t.value.githubIssue, t.value.issue].filter((n): n is number => n !== undefined)));
    const used = new Set(tickets.map((t) => t.name));
    const roles = new Set(ctx.index.all('roles').map((r) => r.name));
    for (const issue of open.filter((i) => !markerOf(i.body) && !named.has(i.number)).sort((a, b) => a.number - b.number)) {
      const id = nextTicketId(used);
      const { ticket, dropped } = ticketFromIssue(issue, id, roles);
      const { githubIssue: _pulled, ...rest } = ticket;
      const spec: Ticket = { ...rest, issue: issue.number };
      const secrets = findSecretLiterals(spec);
      if (secrets.length) {
        result.flagged.push({ label: `tickets/#${issue.number}`, message: `not imported: its text looks like it holds a secret (${secrets[0]!.message}); edit it out on GitHub and import again` });
        continue;
      }
      used.add(id);
      result.added.push({ type: 'document', folder: 'tickets', file: `${id}.yaml`, label: `tickets/${id}`, value: spec as unknown as Record<string, unknown>, from: `GitHub issue #${issue.number}` });
      if (dropped.length) result.flagged.push({ label: `tickets/${id}`, message: `labels not carried over (not valid ticket labels): ${dropped.map((d) => JSON.stringify(d)).join(', ')}` });
    }
    return result;
  },
};
