// Scale proposals (seed 003): when the vm-scale rule holds for a VM in the default branch's live
// plan, fleetspec proposes its resize as a pull request that sets machineType: to the VM's
// autoscale.scaleUpTo in its spec file (edited in place, comments kept), through the same path
// findings and rollbacks use (proposals/index.ts). Merging it resizes the VM through the vms stack;
// nothing is resized without that approval. Exactly one PR per VM while the rule holds:
//   holds, no PR                   -> one is opened on fleetspec/finding/scale-<vm>, label fleetspec:scale
//   holds, its PR open             -> left as it is (later ticks open no other)
//   holds, a person closed the PR  -> left closed while the rule holds (declined)
//   holds, the budget brake refuses the new type -> no PR (an open one is closed); a finding says so
//   decided false (load fell)      -> an open PR is closed with a comment (withdrawn), its branch deleted
//   unknown (not read, too few samples, no live plan) -> nothing changes
import { relative } from 'node:path';
import { isMap, isScalar, type Node, type Pair } from 'yaml';
import type { LabelSpec, PullRequest } from '../github/client.js';
import type { Resource, SpecIndex } from '../kinds/kind.js';
import type { VirtualMachine } from '../kinds/vms/index.js';
import type { VmFacts } from '../kinds/vms/facts.js';
import type { Planned } from '../plan/engine.js';
import type { PlanFinding } from '../plan/plan.js';
import type { PolicySet } from '../policies/policy.js';
import { scaleDecision, type VmScaleParams } from '../policies/rules/vm-scale.js';
import type { LoadedSpecs } from '../specs/load.js';
import { mdCode, mdInline } from '../escape.js';
import { openProposal, proposalBranch, type ProposalContext } from '../proposals/index.js';
import { short } from './pr-text.js';

export const SCALE_LABEL: LabelSpec = { name: 'fleetspec:scale', color: 'fbca04', description: 'fleetspec proposes a VM resize (the vm-scale rule held)' };

export interface ScaleAction {
  vm: string;
  branch: string;
  pr?: number;
  /** opened: a PR proposes the resize; kept: its PR is open already; declined: a person closed it; withdrawn: closed, the load fell (or the brake now refuses it); refused: the budget brake refuses the new type, no PR. */
  action: 'opened' | 'kept' | 'declined' | 'withdrawn' | 'refused';
  /** For refused: what the plan and the tick report show. */
  finding?: PlanFinding;
}

/**
 * The PR branch of a VM's scale proposal: fleetspec/finding/scale-<vm>. A finding's branch, not an
 * agent's proposal: fleetspec itself wrote it from what it found, so (its commits recorded as the
 * bot's) nobody made the change and one approver suffices. It holds no ticket id, so the finding
 * tickets (loop/findings.ts) leave it alone.
 */
export const scaleBranch = (vm: string) => proposalBranch('finding', 'scale', vm);

/** The VM's spec file with machineType: set to `to`, everything else (comments, order, quoting) as it was. */
export function resizedText(resource: Resource<VirtualMachine>, to: string): string {
  const { doc, source } = resource.doc;
  const contents = doc.contents;
  const pair = isMap(contents) ? (contents.items as Pair<Node, Node>[]).find((p) => isScalar(p.key) && p.key.value === 'machineType') : undefined;
  const range = pair?.value?.range;
  if (!range) throw new Error(`${source.file}: ${resource.name} has no machineType to set`);
  // `to` is a machine type the schema checked (^[a-z0-9]+(-[a-z0-9]+)+$): a plain YAML scalar.
  if (!/^[a-z0-9]+(-[a-z0-9]+)+$/.test(to)) throw new Error(`${to} is not a machine type`);
  return `${source.text.slice(0, range[0])}${to}${source.text.slice(range[1])}`;
}

/** Why the budget brake would refuse `to` for this VM, or undefined when it would not (or there is no brake). */
export function budgetRefusal(policies: PolicySet, index: SpecIndex, resource: Resource<VirtualMachine>, to: string): string | undefined {
  const brake = policies.policies.find((p) => p.builtin?.rule.name === 'budget');
  if (!brake?.builtin || brake.severity !== 'error') return undefined;
  const resized: Resource<VirtualMachine> = { ...resource, value: { ...resource.value, machineType: to } };
  const swap = (r: Resource) => (r.name === resource.name ? resized : r);
  const after: SpecIndex = {
    get: (folder, name) => (folder === 'vms' && name === resource.name ? resized : index.get(folder, name)),
    all: (folder) => (folder === 'vms' ? index.all('vms').map(swap) : index.all(folder)),
    declared: (folder, name) => index.declared(folder, name),
  };
  const violations = brake.builtin.rule.check(brake.builtin.params, { index: after, facts: new Map() });
  return violations.length ? violations.map((v) => v.message).join('; ') : undefined;
}

/**
 * Brings each VM's scale PR in line with the vm-scale rule over the default branch's live plan.
 * `specs` and `policies` are the trusted commit's; `heads` are the branches fetched this tick.
 */
export async function reconcileScale(
  ctx: ProposalContext,
  main: string,
  mainSha: string,
  specs: LoadedSpecs,
  policies: PolicySet,
  heads: ReadonlyMap<string, string>,
  live: Planned | undefined,
): Promise<ScaleAction[]> {
  const rule = policies.policies.find((p) => p.builtin?.rule.name === 'vm-scale');
  if (!rule?.builtin) return []; // the rule is off: no policy file turns it on
  const params = rule.builtin.params as VmScaleParams;
  const facts = live?.byDriver?.get('vms')?.facts;
  if (!facts) return []; // no live plan of the VMs this tick: nothing is decided
  const vms = (specs.index.all('vms') as Resource<VirtualMachine>[]).filter((r) => r.value.autoscale).sort((a, b) => (a.name < b.name ? -1 : 1));
  const out: ScaleAction[] = [];
  let pulls: Map<string, PullRequest> | undefined;
  const openPull = async (branch: string) => {
    pulls ??= new Map((await ctx.github.listOpenPulls()).map((p) => [p.headRef, p]));
    return pulls.get(branch);
  };
  const at = `${main} at ${short(mainSha)}`;
  const close = async (vm: string, branch: string, why: string): Promise<ScaleAction | undefined> => {
    const pr = await openPull(branch);
    if (pr) {
      ctx.progress(`scale ${vm}: closing #${pr.number}, ${why}`);
      await ctx.github.comment(pr.number, `Withdrawn: ${mdInline(why)} (${mdInline(at)}). fleetspec proposes the resize again if the load returns.`);
      await ctx.github.updatePull(pr.number, { state: 'closed' });
    }
    if (heads.has(branch)) await ctx.git.deleteRemoteBranch(branch);
    return pr ? { vm, branch, pr: pr.number, action: 'withdrawn' } : undefined;
  };

  for (const resource of vms) {
    const vm = resource.value;
    const branch = scaleBranch(vm.name);
    const decision = scaleDecision(vm, facts.get(vm.name) as VmFacts | undefined, params);
    if ('unknown' in decision) continue;
    if (!decision.holds) {
      const done = await close(vm.name, branch, `the scale rule no longer holds: ${decision.why}`);
      if (done) out.push(done);
      continue;
    }
    const refused = budgetRefusal(policies, specs.index, resource, decision.to);
    if (refused) {
      const finding: PlanFinding = {
        kind: 'vms',
        name: vm.name,
        code: 'vms.scale-refused',
        severity: 'warning',
        message: `${decision.message}, but the budget brake refuses it: ${refused}`,
        hint: 'no pull request was opened; raise monthlyBudget in the budget policy, or lower scaleUpTo',
        subject: 'scale',
      };
      const closed = await close(vm.name, branch, 'the budget brake refuses the new machine type');
      out.push({ vm: vm.name, branch, ...(closed?.pr ? { pr: closed.pr } : {}), action: 'refused', finding });
      continue;
    }
    const open = await openPull(branch);
    if (open) {
      out.push({ vm: vm.name, branch, pr: open.number, action: 'kept' });
      continue;
    }
    const sha = heads.get(branch);
    if (sha && !(await ctx.git.isAncestor(sha, mainSha))) {
      // A person closed this PR: respected while the rule holds.
      out.push({ vm: vm.name, branch, action: 'declined' });
      continue;
    }
    const path = relative(ctx.git.dir, resource.doc.source.file);
    ctx.progress(`scale ${vm.name}: proposing ${decision.to} on ${branch}`);
    const opened = await openProposal(ctx, main, {
      branch,
      base: mainSha,
      files: { [path]: resizedText(resource, decision.to) },
      message: `fleetspec: resize ${vm.name} to ${decision.to} (the vm-scale rule held)`,
      title: `Resize ${vm.name} from ${vm.machineType} to ${decision.to}`,
      body: [
        `The vm-scale rule holds for ${mdCode(`vms/${vm.name}`)} on ${mdInline(at)}: ${mdInline(decision.message)}.`,
        '',
        `This sets ${mdCode(`machineType: ${decision.to}`)} in ${mdCode(path)}. Merging it resizes the VM through the vms stack (Terraform stops it for the change and starts it again); nothing is resized until an approver approves and it is merged.`,
        '',
        'If the load falls before this is merged, fleetspec closes this PR. Closing it declines the resize while the load stays high.',
      ].join('\n'),
      labels: [SCALE_LABEL],
      open: null,
      // A scale branch without a PR reads as one a person declined: do not leave one behind.
      dropBranchOnFailure: true,
    });
    if (opened) out.push({ vm: vm.name, branch, pr: opened.pr.number, action: 'opened' });
  }
  return out;
}
