// Each built-in rule, configured by the repository's own policies/ (the user's parameters),
// against a passing and a failing fixture in test/fixtures/policies/<rule>/: the failing ones
// must give exactly the expected violations at exactly the expected places.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../reconciler/kinds/hosts/facts.js';
import { buildPlan, type ResourceChange } from '../../reconciler/plan/plan.js';
import { evaluatePolicies, loadPolicies, RULES, type PolicySet } from '../../reconciler/policies/index.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { soloLogin, soloOperator } from '../../reconciler/policies/rules/solo-operator.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'policies');

async function repoPolicies(): Promise<PolicySet> {
  const { set, diagnostics } = await loadPolicies(join(ROOT, 'policies'));
  expect(diagnostics).toEqual([]);
  return set;
}

/** The findings of one rule on a fixture, as "where kind/name: message". */
async function judge(rule: string, fixture: string, extra: { facts?: Map<string, Map<string, unknown>> } = {}) {
  const dir = join(FIXTURES, rule, fixture);
  const loaded = await loadSpecs(dir);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error'), 'the fixture itself is valid').toEqual([]);
  const { findings } = evaluatePolicies({ set: await repoPolicies(), root: dir }, { index: loaded.index, facts: extra.facts ?? new Map() });
  const mine = findings.filter((f) => f.policy === rule);
  for (const f of mine) expect(f.hint, 'every violation says what to change').toBeTruthy();
  return mine.map((f) => `${f.where ?? '-'} ${f.kind}/${f.name}: ${f.message}`);
}

const cases: Record<string, Record<string, string[]>> = {
  'role-matrix': {
    pass: [],
    fail: [
      'roles/developer.yaml:5:27 roles/developer: holds "docker.socket", which only monitor may hold',
      'roles/developer.yaml:6:9 roles/developer: must deny "ssh.bastions", "docker.socket"',
    ],
  },
  'port-ranges': {
    pass: [],
    'fail-overlap': ['ports/odin.yaml:3:8 ports/odin: range 4500-5499 overlaps ports/consilio (4000-4999)'],
    'fail-allocation': [
      "ports/consilio.yaml:6:11 ports/consilio: port 5001 is outside the project's range 4000-4999",
      'ports/openhorizon.yaml:6:11 ports/openhorizon: port 5001 is already allocated to ports/consilio service "api"',
    ],
  },
  'port-listeners': {
    pass: [],
    fail: ['hosts/ai.yaml:6:11 hosts/ai: service "api" listens on 8000, inside ports/quiculum-monitor\'s range 8000-8999, which does not allocate it'],
  },
  'dns-routes': {
    pass: [],
    'fail-no-route': ['dns/api.yaml:2:7 dns/api.consilio.153.se: no port allocation behind this name'],
    'fail-unknown-route': ['dns/web.yaml:6:8 dns/web.consilio.153.se: project "consilio" has no allocation for service "web"'],
    'fail-dangling': [
      'dns/old.yaml:2:7 dns/old.153.se: no port allocation behind this name',
      'dns/old.yaml:5:9 dns/old.153.se: points at gone.153.se, a name in zone 153.se that no spec defines (a dangling record)',
    ],
  },
  'model-memory': {
    pass: [],
    fail: ['models/ai.yaml:11:15 models/qwen2.5:14b@ai: the 2 models qwen2.5:7b, qwen2.5:14b on ai need 15GB of RAM, over the Ollama budget of ai (12GB)'],
    'fail-vram': ["models/desk.yaml:5:16 models/qwen2.5-7b-q4@desk: the model qwen2.5-7b-q4 on desk needs 5GB of VRAM, over the VRAM of desk's GPUs (4GB)"],
  },
  'host-thresholds': {
    pass: [],
    fail: ['hosts/linux-home.yaml:10:3 hosts/linux-home: disk / at 97% (alert >90%; observed: inventory)'],
  },
  budget: {
    pass: [],
    fail: [
      'vms/vm.yaml:8:14 vms/supervisor-vm: forecast 277.40 USD a month is 139% of the 200.00 USD budget, at or over the 80% brake (supervisor-vm n1-standard-8 277.40 USD)',
    ],
    'fail-unpriced': ['vms/vm.yaml:8:14 vms/supervisor-vm: no price for gcp n1-highmem-96 in us-central1, so the budget cannot be forecast'],
  },
};

describe('built-in rules against their fixtures', () => {
  it('covers every built-in rule with a passing and a failing fixture', () => {
    // solo-operator judges no plan (the loop's approval reads it): tested below and in test/security/solo.test.ts.
    // vm-scale judges live facts only (CPU read through Cloud Monitoring): tested in test/gcp/scale.test.ts.
    const tested = new Set([...Object.keys(cases), 'blast-radius', 'solo-operator', 'vm-scale']);
    expect(RULES.map((r) => r.name).filter((n) => !tested.has(n))).toEqual([]);
    for (const [rule, fixtures] of Object.entries(cases)) {
      expect(Object.keys(fixtures), rule).toContain('pass');
      expect(Object.keys(fixtures).some((f) => f.startsWith('fail')), rule).toBe(true);
    }
  });

  for (const [rule, fixtures] of Object.entries(cases)) {
    for (const [fixture, expected] of Object.entries(fixtures)) {
      it(`${rule}/${fixture}: ${expected.length ? `${expected.length} violation${expected.length === 1 ? '' : 's'}` : 'passes'}`, async () => {
        expect(await judge(rule, fixture)).toEqual(expected);
      });
    }
  }
});

describe('solo-operator', () => {
  it('judges no plan; soloLogin names the one login the policies give, and none when they disagree or the login is no GitHub login', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-solo-'));
    const policy = (name: string, login: string) => `kind: Policy\nname: ${name}\nseverity: warning\nrule: solo-operator\nparams: { login: ${login} }\n`;
    await writeFile(join(dir, 'solo.yaml'), policy('solo', 'Alice'));
    let loaded = await loadPolicies(dir);
    expect(loaded.diagnostics).toEqual([]);
    expect(soloLogin(loaded.set)).toBe('alice');
    expect(soloOperator.check({ login: 'alice' }, { index: (await loadSpecs(join(dir, 'none'))).index, facts: new Map() })).toEqual([]);
    await writeFile(join(dir, 'other.yaml'), policy('other', 'carol'));
    expect(soloLogin((await loadPolicies(dir)).set), 'two solo operators name nobody').toBeUndefined();
    await writeFile(join(dir, 'other.yaml'), policy('other', '"bob;rm -rf /"'));
    loaded = await loadPolicies(dir);
    expect(loaded.diagnostics.map((d) => d.severity)).toContain('error');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('rules that read the plan or live facts', () => {
  const deletion = (i: number): ResourceChange => ({ kind: 'models', name: `m${i}@ai`, action: 'delete', before: { model: `m${i}` }, after: null, reason: 'not in specs' });

  it('blast-radius: five deletions pass, six need the override, and the override turns the error into a warning', async () => {
    const set = await repoPolicies();
    const index = (await loadSpecs(join(FIXTURES, 'role-matrix', 'pass'))).index;
    const judgeDeletions = (n: number, overrides?: Map<string, string>) =>
      evaluatePolicies({ set, ...(overrides ? { overrides } : {}) }, { index, plan: buildPlan(Array.from({ length: n }, (_, i) => deletion(i))), facts: new Map() }).findings.filter((f) => f.policy === 'blast-radius');
    expect(judgeDeletions(5)).toEqual([]);
    const [six] = judgeDeletions(6);
    expect(six).toMatchObject({ kind: 'plan', name: 'deletions', severity: 'error', override: 'allow-deletions' });
    expect(six!.message).toBe('6 deletions, more than the 5 allowed in one plan: models/m0@ai, models/m1@ai, models/m2@ai, models/m3@ai, models/m4@ai, models/m5@ai');
    expect(six!.hint).toContain('fleetspec/allow-deletions');
    const [lifted] = judgeDeletions(6, new Map([['allow-deletions', '@alice\'s review']]));
    expect(lifted).toMatchObject({ severity: 'warning', message: expect.stringContaining("(overridden by @alice's review)") });
    // A replacement counts too (countReplacements: true).
    const replaces = buildPlan([...Array.from({ length: 5 }, (_, i) => deletion(i)), { kind: 'vms', name: 'vm', action: 'replace', before: {}, after: {}, reason: 'image changed' }]);
    expect(evaluatePolicies({ set }, { index, plan: replaces, facts: new Map() }).findings.filter((f) => f.policy === 'blast-radius')).toHaveLength(1);
  });

  it('blast-radius is skipped, and says so, when there is no plan', async () => {
    const index = (await loadSpecs(join(FIXTURES, 'role-matrix', 'pass'))).index;
    const result = evaluatePolicies({ set: await repoPolicies() }, { index, facts: new Map() });
    expect(result.skipped).toContain('blast-radius');
    expect(result.evaluated).not.toContain('blast-radius');
  });

  const facts = (over: Partial<HostFacts>): HostFacts => ({
    os: 'Ubuntu 24.04.3 LTS',
    kernel: 'Linux 6.8',
    hostname: 'linux-home',
    cpus: 4,
    load: [0.5, 0.5, 0.5],
    memory: { totalBytes: 16 * 2 ** 30, availableBytes: 8 * 2 ** 30 },
    disks: [{ mount: '/', filesystem: '/dev/sda1', sizeBytes: 100, usedBytes: 50, usedPercent: 50 }],
    listening: [],
    ...over,
  });
  const hostFacts = (name: string, f: HostFacts) => new Map([['hosts', new Map<string, unknown>([[name, f]])]]);

  it('host-thresholds: live facts win over the observed figure, and the defaults cover CPU and memory', async () => {
    // Live disk at 50% clears the observed 97%.
    expect(await judge('host-thresholds', 'fail', { facts: hostFacts('linux-home', facts({})) })).toEqual([]);
    const busy = facts({ load: [4, 4, 3.8], memory: { totalBytes: 100, availableBytes: 5 }, disks: [{ mount: '/', filesystem: 'x', sizeBytes: 100, usedBytes: 93, usedPercent: 93 }] });
    expect(await judge('host-thresholds', 'pass', { facts: hostFacts('linux-home', busy) })).toEqual([
      'hosts/linux-home.yaml:5:5 hosts/linux-home: disk / at 93% (alert >90%; live)',
      'hosts/linux-home.yaml:2:7 hosts/linux-home: CPU load 95% of 4 CPUs (alert >85%, sustained; live)',
      'hosts/linux-home.yaml:2:7 hosts/linux-home: memory in use 95% (alert >90%; live)',
    ]);
  });

  it('port-listeners: a live listener inside a range that allocates it to no one is reported', async () => {
    const live = hostFacts('ai', facts({ listening: [22, 8100, 8443] }));
    expect(await judge('port-listeners', 'pass', { facts: live })).toEqual([
      "hosts/ai.yaml:2:7 hosts/ai: something listens on 8443 (live), inside ports/quiculum-monitor's range 8000-8999, which does not allocate it",
    ]);
  });
});
