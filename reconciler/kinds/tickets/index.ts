import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { missingReference } from '../references.js';

export interface Ticket {
  kind: 'Ticket';
  id: string;
  title: string;
  description?: string;
  priority?: 'low' | 'normal' | 'high' | 'critical';
  assignee?: string;
  status: 'open' | 'in_progress' | 'closed';
  labels?: string[];
  hosts?: string[];
  /** The GitHub issue this ticket was opened from (`fleetspec tickets pull`). */
  githubIssue?: number;
  /** The GitHub issue that already mirrors this ticket (`fleetspec import`): adopted, not opened again. */
  issue?: number;
  /** The finding this ticket is for (`disk.linux-home.root`): fleetspec opens it while the finding holds and closes it when it clears. */
  finding?: string;
}

/** A finding's key: dot-separated parts of lowercase letters, digits and dashes (`disk.linux-home.root`, `drift.dns`). */
export const FINDING_KEY = '^[a-z0-9]+(-[a-z0-9]+)*(\\.[a-z0-9]+(-[a-z0-9]+)*)*$';

const schema = kindSchema(
  'tickets',
  'Ticket',
  'A ticket of the ticket flow (open, in progress, closed); git is its source of truth and each ticket is mirrored as one GitHub issue.',
  {
    required: ['kind', 'id', 'title', 'status'],
    properties: {
      kind: { const: 'Ticket' },
      id: { type: 'string', pattern: '^T-[0-9]{4,}$', description: 'a ticket id such as T-0001' },
      title: { type: 'string', minLength: 1, maxLength: 256 },
      description: ref('text'),
      priority: { enum: ['low', 'normal', 'high', 'critical'], default: 'normal' },
      assignee: ref('name', 'the role that works the ticket, from specs/roles'),
      status: { enum: ['open', 'in_progress', 'closed'] },
      labels: ref('labels'),
      hosts: { type: 'array', items: ref('hostName'), uniqueItems: true, description: 'hosts the ticket is about' },
      githubIssue: { type: 'integer', minimum: 1, description: 'the GitHub issue this ticket was opened from (fleetspec tickets pull); the pull request that added it closes that issue' },
      issue: {
        type: 'integer',
        minimum: 1,
        description: 'the existing GitHub issue that mirrors this ticket (written by fleetspec import): the plan adopts it (writes the spec\'s fields and fleetspec\'s marker into it) instead of opening a new one',
      },
      finding: {
        type: 'string',
        pattern: FINDING_KEY,
        maxLength: 100,
        description:
          'the finding this ticket is for, such as disk.linux-home.root, drift.dns, apply.failed or main.unapproved: the loop opens a ticket while a finding holds and proposes closing it when it clears; set it on a ticket of your own to make it that finding\'s ticket',
      },
    },
  },
);

export const tickets = defineKind<Ticket>({
  kind: 'Ticket',
  folder: 'tickets',
  description: 'tickets in git, mirrored to GitHub Issues',
  schema,
  nameOf: (t) => t.id,
  namePath: ['id'],
  references({ value }, index) {
    const findings: Finding[] = [];
    const role = missingReference(index, 'roles', value.assignee, ['assignee']);
    if (role) findings.push(role);
    (value.hosts ?? []).forEach((h, i) => {
      const host = missingReference(index, 'hosts', h, ['hosts', i]);
      if (host) findings.push(host);
    });
    if (value.finding && value.status !== 'closed') {
      // One open ticket per finding: the loop closes only the one it finds first.
      const first = index.all('tickets').find((r) => (r.value as Ticket).finding === value.finding && (r.value as Ticket).status !== 'closed');
      if (first && first.name !== value.id) {
        findings.push({ code: 'tickets.duplicate-finding', path: ['finding'], severity: 'warning', message: `${first.name} is already the open ticket for the finding "${value.finding}"`, hint: `close one of them, or remove finding: from one` });
      }
    }
    return findings;
  },
});
