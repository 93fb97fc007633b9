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
}

const schema = kindSchema(
  'tickets',
  'Ticket',
  'A ticket of the seeds\' ticket flow; git is its source of truth and each ticket is mirrored as one GitHub issue.',
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
    return findings;
  },
});
