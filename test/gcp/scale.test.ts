// Seed 003's scale rule and its proposal: the vm-scale decision over the CPU a live plan read, and
// reconcileScale against a bare repository behind real `git http-backend` and the GitHub stand-in:
// exactly one PR over two ticks while the CPU is high (machineType set in place, comments kept,
// label fleetspec:scale), nothing done while the VM is not read, the PR withdrawn when the load
// falls, and no PR but a finding when the budget brake refuses the new type.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHub } from '../../reconciler/github/client.js';
import { SpecRepo } from '../../reconciler/git/repo.js';
import type { DriverPlan } from '../../reconciler/kinds/driver.js';
import type { VirtualMachine } from '../../reconciler/kinds/vms/index.js';
import type { VmFacts } from '../../reconciler/kinds/vms/facts.js';
import type { Planned } from '../../reconciler/plan/engine.js';
import { evaluatePolicies } from '../../reconciler/policies/evaluate.js';
import { loadPolicies } from '../../reconciler/policies/load.js';
import type { PolicySet } from '../../reconciler/policies/policy.js';
import { scaleDecision } from '../../reconciler/policies/rules/vm-scale.js';
import { reconcileScale, scaleBranch, SCALE_LABEL } from '../../reconciler/loop/scale.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cpu = (avgPercent: number, maxPercent: number, coveredMinutes = 120): VmFacts['cpu'] => ({ windowMinutes: 120, samples: coveredMinutes, coveredMinutes, avgPercent, maxPercent });
const running = (c: VmFacts['cpu']): VmFacts => ({ id: '1', status: 'RUNNING', machineType: 'n1-standard-2', ...(c ? { cpu: c } : {}) });
const seedVm: VirtualMachine = { kind: 'VirtualMachine', name: 'supervisor-vm', provider: 'gcp', project: 'vm-host', zone: 'us-central1-a', machineType: 'n1-standard-2', autoscale: { scaleUpTo: 'n1-standard-4', checkEveryMinutes: 60, when: { windowMinutes: 120, cpuAvgAbove: 70, cpuMaxAbove: 85 } } };

describe('the vm-scale rule', () => {
  it("holds when the CPU average and max are both over seed 003's thresholds, over the whole window", () => {
    expect(scaleDecision(seedVm, running(cpu(78, 93)))).toMatchObject({ holds: true, to: 'n1-standard-4', avg: 78, max: 93, window: 120 });
    expect(scaleDecision(seedVm, running(cpu(78, 93))) as { message: string }).toHaveProperty('message', 'CPU over the last 120 minutes: average 78% > 70% and max 93% > 85%; scale supervisor-vm up from n1-standard-2 to n1-standard-4');
    expect(scaleDecision(seedVm, running(cpu(78, 84)))).toEqual({ holds: false, why: 'CPU over the last 120 minutes: average 78%, max 84%' });
    expect(scaleDecision(seedVm, running(cpu(65, 99)))).toMatchObject({ holds: false });
    expect(scaleDecision(seedVm, running(cpu(70, 85)))).toMatchObject({ holds: false }); // "above" is strict
    // Undecided: not read, no samples, or samples over only part of the window.
    expect(scaleDecision(seedVm, undefined)).toEqual({ unknown: 'the VM was not read' });
    expect(scaleDecision(seedVm, { ...running(undefined), cpuNotRead: 'timeSeries.list failed (HTTP 403)' })).toEqual({ unknown: 'timeSeries.list failed (HTTP 403)' });
    expect(scaleDecision(seedVm, running(cpu(95, 99, 30)))).toEqual({ unknown: 'CPU samples cover 30 of the 120 minutes the rule looks at' });
    // A stopped VM, or one already at its scaleUpTo type, is not due a resize.
    expect(scaleDecision(seedVm, { id: '1', status: 'TERMINATED', machineType: 'n1-standard-2' })).toEqual({ holds: false, why: 'the VM is TERMINATED' });
    expect(scaleDecision({ ...seedVm, machineType: 'n1-standard-4' }, running(cpu(95, 99)))).toEqual({ holds: false, why: 'already n1-standard-4' });
  });

  it("is on in this repository's policies/ and becomes a warning on the user's VM from live facts", async () => {
    const specs = await loadSpecs(join(ROOT, 'specs'));
    const { set } = await loadPolicies(join(ROOT, 'policies'));
    const policy = set.policies.find((p) => p.name === 'vm-scale')!;
    expect(policy).toMatchObject({ severity: 'warning', builtin: { params: { defaults: { windowMinutes: 120, cpuAvgAbove: 70, cpuMaxAbove: 85 } } } });
    const judge = (facts: VmFacts) => evaluatePolicies({ set: { ...set, policies: [policy] }, root: ROOT }, { index: specs.index, facts: new Map([['vms', new Map([['supervisor-vm', facts]])]]) }).findings;
    const [finding, ...rest] = judge(running(cpu(78, 93)));
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ kind: 'vms', name: 'supervisor-vm', code: 'policy.vm-scale', severity: 'warning', subject: 'scale' });
    expect(finding!.where).toMatch(/^specs\/vms\/supervisor-vm\.yaml:\d+:\d+$/);
    expect(judge(running(cpu(40, 60)))).toEqual([]);
  });
});

describe('scale proposals through pull requests', () => {
  let work: string;
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let repo: SpecRepo;
  let github: GitHub;
  let policies: PolicySet;
  let tightBudget: PolicySet;
  const progress: string[] = [];
  let vmText: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetspec-scale-'));
    vmText = await readFile(join(ROOT, 'specs', 'vms', 'supervisor-vm.yaml'), 'utf8');
    gh = await startGitHubServer({ owner: 'acme', repo: 'fleet', defaultBranch: 'main', resolveBranch: (b) => gitServer.git('fleet', 'rev-parse', `refs/heads/${b}`) });
    gitServer = await startGitServer({ token: gh.token });
    await gitServer.createBare('fleet', { 'specs/vms/supervisor-vm.yaml': vmText });
    repo = await SpecRepo.open({ dir: join(work, 'repo'), url: gitServer.url('fleet'), token: gh.token, author: { name: 'fleetspec[bot]', email: 'bot@example.com' } });
    github = new GitHub({ owner: 'acme', repo: 'fleet', token: gh.token, baseUrl: gh.url, writeIntervalMs: 0 });
    // The repository's own policies (budget: 200 USD, brake 80%; vm-scale on), and a budget that n1-standard-4 breaks.
    policies = (await loadPolicies(join(ROOT, 'policies'))).set;
    const tight = join(work, 'tight-policies');
    await mkdir(tight, { recursive: true });
    for (const f of ['vm-scale.yaml', 'budget.yaml']) await writeFile(join(tight, f), (await readFile(join(ROOT, 'policies', f), 'utf8')).replace('monthlyBudget: 200', 'monthlyBudget: 100'));
    tightBudget = (await loadPolicies(tight)).set;
    expect(tightBudget.policies.map((p) => p.name).sort()).toEqual(['budget', 'vm-scale']);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([gh?.close(), gitServer?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const live = (facts: VmFacts | undefined): Planned =>
    ({ diagnostics: [], resources: 1, byDriver: new Map([['vms', { changes: [], unknown: [], findings: [], facts: new Map(facts ? [['supervisor-vm', facts]] : []) } satisfies DriverPlan]]) }) as unknown as Planned;
  /** One scale pass as a tick makes it: fetch, main's specs, then the PRs. */
  const tick = async (facts: VmFacts | undefined, set: PolicySet = policies) => {
    const heads = await repo.fetch();
    const mainSha = heads.get('main')!;
    await repo.checkout(mainSha);
    const specs = await loadSpecs(join(repo.dir, 'specs'));
    expect(specs.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return reconcileScale({ git: repo, github, progress: (m) => void progress.push(m) }, 'main', mainSha, specs, set, heads, live(facts));
  };
  const openPulls = () => [...gh.repo().pulls.values()].filter((p) => p.state === 'open');
  const branch = scaleBranch('supervisor-vm');

  it('proposes the resize once while the CPU is high, over two ticks', async () => {
    const first = await tick(running(cpu(78, 93)));
    expect(branch).toBe('fleetspec/finding/scale-supervisor-vm');
    expect(first).toEqual([{ vm: 'supervisor-vm', branch, pr: expect.any(Number), action: 'opened' }]);
    const pr = gh.repo().pulls.get(first[0]!.pr!)!;
    expect(pr).toMatchObject({ title: 'Resize supervisor-vm from n1-standard-2 to n1-standard-4', state: 'open', head: { ref: branch }, base: { ref: 'main' }, labels: [SCALE_LABEL.name] });
    expect(pr.body).toContain('average 78% &gt; 70% and max 93% &gt; 85%');
    expect(pr.body).toContain('nothing is resized until an approver approves and it is merged');
    // Only machineType changed, in place: every comment and the rest of the file kept byte for byte.
    const text = (await repo.readFile(gitServer.git('fleet', 'rev-parse', branch), 'specs/vms/supervisor-vm.yaml'))!;
    expect(text).toBe(vmText.replace('machineType: n1-standard-2', 'machineType: n1-standard-4'));
    expect(text).toContain('# Seed 003: checked hourly;');
    expect(gitServer.git('fleet', 'diff', '--name-only', 'main', branch)).toBe('specs/vms/supervisor-vm.yaml');

    const second = await tick(running(cpu(81, 97)));
    expect(second).toEqual([{ vm: 'supervisor-vm', branch, pr: first[0]!.pr, action: 'kept' }]);
    expect(openPulls()).toHaveLength(1);
  });

  it('changes nothing while the VM is not read or its samples do not cover the window', async () => {
    const before = openPulls().map((p) => p.number);
    expect(await tick(undefined)).toEqual([]);
    expect(await tick(running(cpu(10, 20, 15)))).toEqual([]);
    expect(openPulls().map((p) => p.number)).toEqual(before);
  });

  it('withdraws the PR with a comment when the load falls, and deletes its branch', async () => {
    const [open] = openPulls();
    const actions = await tick(running(cpu(35, 60)));
    expect(actions).toEqual([{ vm: 'supervisor-vm', branch, pr: open!.number, action: 'withdrawn' }]);
    expect(gh.repo().pulls.get(open!.number)!.state).toBe('closed');
    const comment = gh.repo().issueComments.filter((c) => c.issue === open!.number).at(-1)!;
    expect(comment.body).toMatch(/^Withdrawn: the scale rule no longer holds: CPU over the last 120 minutes: average 35%, max 60% \(main at [0-9a-f]{7}\)/);
    expect(gitServer.git('fleet', 'branch', '--list', branch)).toBe('');
    // Low again next tick: nothing more to do.
    expect(await tick(running(cpu(30, 50)))).toEqual([]);
  });

  it('opens no PR when the budget brake refuses the new type, and says so in a finding', async () => {
    const pulls = gh.repo().pulls.size;
    const actions = await tick(running(cpu(90, 99)), tightBudget);
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ vm: 'supervisor-vm', branch, action: 'refused', finding: { kind: 'vms', name: 'supervisor-vm', code: 'vms.scale-refused', severity: 'warning' } });
    expect(actions[0]!.finding!.message).toContain('but the budget brake refuses it: forecast 138.70 USD a month is 139% of the 100.00 USD budget');
    expect(gh.repo().pulls.size).toBe(pulls);
    expect(gitServer.git('fleet', 'branch', '--list', branch)).toBe('');
  });

  it('with the rule off (no vm-scale policy), does nothing at all', async () => {
    const off: PolicySet = { ...policies, policies: policies.policies.filter((p) => p.name !== 'vm-scale') };
    expect(await tick(running(cpu(90, 99)), off)).toEqual([]);
  });
});
