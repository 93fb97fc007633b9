// Policy files: a broken one is a load-time error at its file:line:col with what to do, and
// custom CEL rules judge resources and plans with their messages, paths and failure modes.
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../reconciler/plan/plan.js';
import { evaluatePolicies, loadPolicies } from '../../reconciler/policies/index.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { line } from '../helpers.js';

async function policiesDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-policies-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function problems(text: string): Promise<string[]> {
  const dir = await policiesDir({ 'p.yaml': text });
  const { set, diagnostics } = await loadPolicies(dir);
  expect(set.policies, 'a policy with errors is never used').toEqual([]);
  for (const d of diagnostics) expect(d.hint, `${d.message} says what to do`).toBeTruthy();
  return diagnostics.map((d) => line(d, dir));
}

describe('loading policy files', () => {
  it('points at the offending character of a CEL expression, plain, quoted or in a block', async () => {
    expect(
      await problems(
        [
          'kind: Policy',
          'name: broken',
          'severity: error',
          'match: {kinds: [roles]}',
          'validations:',
          '  - expression: size(resource.capabilities) > 0 &&',
          '  - expression: "resource.type == nope"',
          '  - expression: |',
          "      resource.type == 'role' &&",
          '        resource.ssh.port + 1',
        ].join('\n'),
      ),
    ).toEqual([
      'p.yaml:6:51: CEL: Unexpected token: EOF',
      'p.yaml:7:35: CEL: Unknown variable: nope',
      'p.yaml:9:7: CEL: Logical operator requires bool operands, got \'int\'',
    ]);
  });

  it('refuses an expression of the wrong type where a condition or a message is needed', async () => {
    expect(await problems("kind: Policy\nname: t\nseverity: warning\nmatch: {kinds: [vms]}\nvalidations:\n  - expression: \"'yes'\"\n    messageExpression: '1 + 2'\n")).toEqual([
      'p.yaml:6:18: CEL: the expression gives string, but bool is needed here',
      'p.yaml:7:25: CEL: the expression gives int, but string is needed here',
    ]);
  });

  it('names an unknown rule, a misspelt severity, bad params and a field that does not belong, each where it is written', async () => {
    expect(await problems('kind: Policy\nname: a\nseverity: error\nrule: port-range\n')).toEqual(['p.yaml:4:7: unknown rule "port-range"']);
    expect(await problems('kind: Policy\nname: a\nseverity: eror\nrule: budget\n')).toEqual(['p.yaml:3:11: "eror" is not one of: error, warning']);
    expect(await problems('kind: Policy\nname: a\nseverity: error\nrule: budget\nparams:\n  currency: usd\n  monthlyBudget: 100\n  brakeAt: 80\n  prices: {}\n')).toEqual([
      'p.yaml:6:13: "usd" is not in the expected format',
      'p.yaml:8:12: 80 must be <= 1',
    ]);
    expect(await problems('kind: Policy\nname: a\nseverity: error\nrule: blast-radius\nparams: {maxDeletions: 3}\nvalidations:\n  - expression: "true"\n')).toEqual([
      'p.yaml:6:1: a policy gives either rule: (a built-in rule) or validations: (CEL), not both',
    ]);
    expect(await problems('kind: Policy\nname: a\nseverity: error\nrule: blast-radius\nparams: {maxDeletions: 3}\nexpresion: x\n')).toEqual(['p.yaml:6:1: unknown field "expresion"']);
    expect(await problems('kind: Policy\nname: a\nseverity: error\nmatch: {scope: resources}\nvalidations:\n  - expression: "true"\n')).toEqual(['p.yaml:4:8: a CEL policy checking resources needs match.kinds']);
  });

  it('refuses two policies of one name across files, and YAML that does not parse', async () => {
    const dir = await policiesDir({
      'a.yaml': 'kind: Policy\nname: same\nseverity: error\nrule: port-ranges\n',
      'b.yaml': 'kind: Policy\nname: same\nseverity: warning\nrule: dns-routes\n---\nkind: Policy\nname: [broken\n',
    });
    const { set, diagnostics } = await loadPolicies(dir);
    expect(set.policies.map((p) => p.name)).toEqual(['same']);
    expect(diagnostics.map((d) => line(d, dir))).toEqual([
      `b.yaml:2:7: policy "same" is already defined at ${join(dir, 'a.yaml')}:2`,
      expect.stringMatching(/^b\.yaml:8:1: YAML: /),
    ]);
  });

  it('gives no policies and no error for a missing folder, and skips a disabled policy', async () => {
    expect(await loadPolicies(join(tmpdir(), 'no-such-policies-folder'))).toEqual({ set: { policies: [] }, diagnostics: [] });
    const dir = await policiesDir({ 'a.yaml': 'kind: Policy\nname: off\nseverity: error\nenabled: false\nrule: port-ranges\n' });
    expect((await loadPolicies(dir)).set.policies).toEqual([]);
  });
});

describe('custom CEL rules', () => {
  async function fleet() {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-cel-'));
    await mkdir(join(dir, 'specs', 'roles'), { recursive: true });
    await mkdir(join(dir, 'specs', 'ports'), { recursive: true });
    await writeFile(
      join(dir, 'specs', 'roles', 'r.yaml'),
      'kind: Role\nname: deployer-frontend\ntype: bastion\nssh: {user: deployer, port: 2222}\ncapabilities: [ssh.roles]\n---\nkind: Role\nname: monitor\ntype: role\nssh: {user: monitor, port: 2201}\ncapabilities: [deploy.production]\n',
    );
    await writeFile(join(dir, 'specs', 'ports', 'p.yaml'), 'kind: PortRange\nname: consilio\nrange: {start: 4000, end: 4999}\n');
    return { dir, index: (await loadSpecs(join(dir, 'specs'))).index };
  }

  it('judges each matched resource, with messageExpression, path, params and variables', async () => {
    const { dir, index } = await fleet();
    const pdir = await policiesDir({
      'roles.yaml': [
        'kind: Policy',
        'name: bastions-hold-nothing',
        'severity: error',
        'match:',
        '  kinds: [roles]',
        "  condition: resource.type == 'bastion'",
        'validations:',
        '  - expression: size(resource.capabilities) == 0',
        "    messageExpression: \"'bastion ' + name + ' holds ' + resource.capabilities.join(', ')\"",
        '    hint: empty its capabilities',
        '    path: capabilities',
        '---',
        'kind: Policy',
        'name: ranges-wide-enough',
        'severity: warning',
        'params: {width: 1000}',
        'match: {kinds: [ports]}',
        'variables:',
        '  - name: width',
        '    expression: resource.range.end - resource.range.start + 1',
        'validations:',
        '  - expression: variables.width >= params.width * 2',
        '    message: the range is narrow',
        '    path: range.end',
      ].join('\n'),
    });
    const { set, diagnostics } = await loadPolicies(pdir);
    expect(diagnostics).toEqual([]);
    const { findings, evaluated } = evaluatePolicies({ set, root: dir }, { index, facts: new Map() });
    expect(evaluated).toEqual(['bastions-hold-nothing', 'ranges-wide-enough']);
    expect(findings).toEqual([
      {
        kind: 'roles',
        name: 'deployer-frontend',
        code: 'policy.bastions-hold-nothing',
        severity: 'error',
        message: 'bastion deployer-frontend holds ssh.roles',
        hint: 'empty its capabilities',
        policy: 'bastions-hold-nothing',
        where: 'specs/roles/r.yaml:5:15',
      },
      expect.objectContaining({ kind: 'ports', name: 'consilio', severity: 'warning', message: 'the range is narrow', where: 'specs/ports/p.yaml:3:27' }),
    ]);
  });

  it('turns an evaluation error into a finding that says how to guard, instead of passing silently', async () => {
    const { index } = await fleet();
    const pdir = await policiesDir({ 'p.yaml': 'kind: Policy\nname: llm-set\nseverity: error\nmatch: {kinds: [roles]}\nvalidations:\n  - expression: resource.llm.provider == "openrouter"\n' });
    const { set } = await loadPolicies(pdir);
    const { findings } = evaluatePolicies({ set }, { index, facts: new Map() });
    expect(findings).toHaveLength(2);
    expect(findings[0]).toMatchObject({ severity: 'error', message: expect.stringContaining('could not be evaluated'), hint: 'guard optional fields with has(resource.field)' });
    expect(findings[0]!.message).toContain('No such key: llm');
  });

  it('judges the plan once with scope plan, and is skipped without a plan', async () => {
    const { index } = await fleet();
    const pdir = await policiesDir({ 'p.yaml': "kind: Policy\nname: few-creates\nseverity: error\nmatch: {scope: plan}\nvalidations:\n  - expression: plan.summary.add <= 1\n    messageExpression: \"string(plan.summary.add) + ' creations'\"\n" });
    const { set } = await loadPolicies(pdir);
    const create = (name: string) => ({ kind: 'ports', name, action: 'create' as const, before: null, after: {}, reason: 'new' });
    expect(evaluatePolicies({ set }, { index, plan: buildPlan([create('a')]), facts: new Map() }).findings).toEqual([]);
    expect(evaluatePolicies({ set }, { index, plan: buildPlan([create('a'), create('b')]), facts: new Map() }).findings).toEqual([
      expect.objectContaining({ kind: 'plan', name: 'few-creates', message: '2 creations', severity: 'error' }),
    ]);
    expect(evaluatePolicies({ set }, { index, facts: new Map() })).toMatchObject({ findings: [], skipped: ['few-creates'] });
  });
});
