// The run state machine (seed 002, 6.2, as fleetspec runs it): drawn from the ledger's own
// table of legal transitions, so the picture cannot disagree with what the database accepts.
// The approvers the specs name are noted on WAIT_FOR_APPROVE.
import type { SpecIndex } from '../kinds/kind.js';
import { RUN_STATES, TRANSITIONS, TRANSITION_CAUSES } from '../state/ledger.js';
import { approverRoles, indent, text, type Diagram } from './diagram.js';

function render(index: SpecIndex): string[] {
  const out: string[] = ['stateDiagram-v2', indent(1, `[*] --> PENDING: ${text('a tick, or fleetspec apply')}`)];
  for (const from of RUN_STATES) {
    for (const to of TRANSITIONS[from]) {
      const cause = TRANSITION_CAUSES[from][to];
      out.push(indent(1, cause ? `${from} --> ${to}: ${text(cause)}` : `${from} --> ${to}`));
    }
  }
  for (const state of RUN_STATES.filter((s) => TRANSITIONS[s].length === 0)) out.push(indent(1, `${state} --> [*]`));

  const approvers = approverRoles(index);
  const who = approvers.map((r) => `${r.name} (${r.githubUsers?.length ? r.githubUsers.map((u) => `@${u}`).join(', ') : 'no GitHub users named'})`);
  out.push(indent(1, 'note right of WAIT_FOR_APPROVE'));
  out.push(indent(2, text(who.length ? `approvers: ${who.join(', ')}` : 'no role holds approve: nothing can be approved')));
  out.push(indent(2, text('never the PR author; the review must be of the planned commit')));
  out.push(indent(1, 'end note'));
  return out;
}

export const states: Diagram = {
  name: 'states',
  title: 'Run state machine: every transition is a row in the run ledger',
  render,
};
