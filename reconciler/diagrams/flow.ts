// The artifact flow (seed 002, 6.1, as fleetspec runs it): a spec change from push to apply,
// with the reviewers and the live systems this fleet's specs name.
import type { SpecIndex } from '../kinds/kind.js';
import type { Role } from '../kinds/roles/index.js';
import { indent, sortedValues, text, type Diagram } from './diagram.js';

/** Each live system the specs put to work, and how many resources it backs. */
function liveSystems(index: SpecIndex): string[] {
  const count = (folder: string) => index.all(folder).length;
  const parts: [string, number][] = [
    ['hosts over SSH', count('hosts')],
    ['role users over SSH', count('roles')],
    ['Ollama and llama.cpp models', index.all('models').filter((r) => (r.value as { runtime: string }).runtime !== 'api').length],
    ['Terraform: Cloudflare DNS and tunnel', count('dns')],
    ['Terraform: GCE VMs', count('vms')],
    ['port allocations in the state store', count('ports')],
    ['GitHub issues', count('tickets')],
  ];
  return parts.filter(([, n]) => n > 0).map(([what, n]) => `${what} (${n})`);
}

function render(index: SpecIndex): string[] {
  const approvers = sortedValues<Role>(index, 'roles').filter((r) => r.type !== 'bastion' && r.capabilities.includes('approve'));
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
