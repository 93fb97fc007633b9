// The artifact flow (seed 002, 6.1, as fleetspec runs it): a spec change from push to apply,
// with the reviewers and the live systems this fleet's specs name.
import type { SpecIndex } from '../kinds/kind.js';
import { approverRoles, indent, text, type Diagram } from './diagram.js';

/** The live systems the specs put to work. Names only: a count would redraw this on every added resource. */
function liveSystems(index: SpecIndex): string[] {
  const any = (folder: string, test: (value: any) => boolean = () => true) => index.all(folder).some((r) => test(r.value));
  const systems: [string, boolean][] = [
    ['hosts over SSH', any('hosts')],
    ['role users over SSH', any('roles')],
    ['Ollama and llama.cpp models', any('models', (m: { runtime: string }) => m.runtime !== 'api')],
    ['Terraform: Cloudflare DNS and tunnel', any('dns') || any('zones')],
    ['Terraform: GCE VMs', any('vms')],
    ['port allocations in the state store', any('ports')],
    ['GitHub issues', any('tickets')],
  ];
  return systems.filter(([, used]) => used).map(([what]) => what);
}

function render(index: SpecIndex): string[] {
  const approvers = approverRoles(index);
  const reviewer = approvers.length ? `Reviewer: ${approvers.map((r) => r.name).join(', ')}` : 'Reviewer (no role holds approve)';
  const participant = (id: string, ...lines: string[]) => indent(1, `participant ${id} as ${lines.map(text).join('<br/>')}`);
  const say = (from: string, arrow: string, to: string, what: string) => indent(1, `${from}${arrow}${to}: ${text(what)}`);
  return [
    'sequenceDiagram',
    indent(1, 'autonumber'),
    indent(1, `actor Op as ${text('Operator')}`),
    participant('Git', 'spec repository', 'specs/, policies/, stacks/'),
    participant('Fs', 'fleetspec daemon', 'one tick per cron run'),
    participant('Gh', 'GitHub', 'PRs, reviews, statuses'),
    participant('Ci', 'GitHub Actions', 'validate, diagrams'),
    participant('Llm', 'LLM', 'narrates the plan'),
    indent(1, `actor Rv as ${text(reviewer)}`),
    participant('Live', 'live systems', ...liveSystems(index)),
    say('Op', '->>', 'Git', 'push a branch that edits specs/'),
    say('Gh', '-->>', 'Ci', 'pull request: validate, policy check, offline plan'),
    say('Fs', '->>', 'Git', 'fetch branches'),
    say('Fs', '->>', 'Live', 'read live state, diff against the specs'),
    say('Fs', '->>', 'Git', 'commit synthesised stacks and diagrams to the branch'),
    say('Fs', '->>', 'Llm', 'the plan, without secrets'),
    say('Llm', '-->>', 'Fs', 'narrative'),
    say('Fs', '->>', 'Gh', 'open the PR: plan, verdict, narrative; status fleetspec/plan'),
    say('Rv', '->>', 'Gh', 'approve the planned commit'),
    say('Op', '->>', 'Gh', 'merge'),
    say('Fs', '->>', 'Git', 'fetch the merge commit'),
    say('Fs', '->>', 'Live', 'plan again: the approved plan hash, or stop'),
    say('Fs', '->>', 'Live', 'apply in order; roll back on failure'),
    say('Fs', '->>', 'Gh', 'comment the result; status fleetspec/apply'),
    say('Gh', '-->>', 'Ci', 'push to docs/diagrams/src: render SVGs, commit them'),
  ];
}

export const flow: Diagram = {
  name: 'flow',
  title: 'Artifact flow: a spec change from push to apply',
  render,
};
