import { describe, expect, it } from 'vitest';
import { buildPlan, hasChanges, summaryLine, verdictLine, verdictOf, type ResourceChange } from '../reconciler/plan/plan.js';
import { renderJson, renderMarkdown, renderText } from '../reconciler/plan/render.js';

const changes: ResourceChange[] = [
  { kind: 'ports', name: 'consilio/api', action: 'create', before: null, after: { port: 4001 }, reason: 'port pinned in specs, not allocated' },
  { kind: 'hosts', name: 'linux-home', action: 'drift', before: { disk: 90 }, after: { disk: 97 }, reason: 'root disk over the 90% threshold' },
  { kind: 'ports', name: 'odin', action: 'delete', before: { start: 7000, end: 7999 }, after: null, reason: 'range in the store, not in specs' },
  { kind: 'models', name: 'qwen2.5:7b@ai', action: 'update', before: { size: '4.7GB' }, after: { size: '6GB' }, reason: 'digest differs' },
  { kind: 'roles', name: 'developer', action: 'no-op', before: { a: 1 }, after: { a: 1 }, reason: 'in sync' },
];

describe('plan as data', () => {
  it('orders changes by kind, then name, whatever order they were found in', () => {
    const plan = buildPlan(changes);
    expect(plan.changes.map((c) => `${c.kind}/${c.name}`)).toEqual(['hosts/linux-home', 'models/qwen2.5:7b@ai', 'roles/developer', 'ports/consilio/api', 'ports/odin']);
    expect(plan.summary).toEqual({ add: 1, change: 1, destroy: 1, replace: 0, drift: 1, unchanged: 1, unknown: 0 });
    expect(summaryLine(plan)).toBe('Plan: 1 to add, 1 to change, 1 to destroy, 1 drifted, 2 of them in fleetspec\'s state store.');
  });

  it('hashes the content: same changes in any order or key order give the same hash, any edit another', () => {
    const a = buildPlan(changes);
    const reordered = buildPlan([...changes].reverse().map((c) => Object.fromEntries(Object.entries(c).reverse()) as unknown as ResourceChange));
    expect(reordered.hash).toBe(a.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    const edited = buildPlan(changes.map((c) => (c.name === 'consilio/api' ? { ...c, after: { port: 4002 } } : c)));
    expect(edited.hash).not.toBe(a.hash);
  });

  it('hashes which resources were not read, but not why, nor findings', () => {
    const unknown = [{ kind: 'hosts', name: 'ai', reason: 'connection refused' }];
    const finding = { kind: 'hosts', name: 'linux-home', code: 'threshold.disk', severity: 'warning' as const, message: 'disk / at 97%' };
    const a = buildPlan(changes, { mode: 'live', unknown, findings: [finding] });
    expect(buildPlan(changes, { mode: 'live', unknown: [{ ...unknown[0]!, reason: 'timed out' }] }).hash).toBe(a.hash);
    expect(buildPlan(changes, { mode: 'live' }).hash).not.toBe(a.hash);
    expect(buildPlan(changes, { mode: 'offline', unknown }).hash).not.toBe(a.hash);
    expect(a.summary.unknown).toBe(1);
    expect(summaryLine(a)).toBe('Plan: 1 to add, 1 to change, 1 to destroy, 1 drifted, 2 of them in fleetspec\'s state store. 1 not read.');
    expect(summaryLine(buildPlan([], { unknown }))).toBe('No changes in what was read. 1 not read.');
  });

  it('says when there is nothing to do', () => {
    const plan = buildPlan([changes[4]!]);
    expect(hasChanges(plan)).toBe(false);
    expect(summaryLine(plan)).toBe('No changes. Live matches the specs.');
  });
});

describe('plan renderers', () => {
  const plan = buildPlan(changes);

  it('renders text with before/after, the summary line and the hash', () => {
    const text = renderText(plan);
    expect(text).toContain('+ ports/consilio/api (create: port pinned in specs, not allocated)\n    after:  {"port":4001}');
    expect(text).toContain('- ports/odin (delete: range in the store, not in specs)\n    before: {"end":7999,"start":7000}');
    expect(text).not.toContain('roles/developer');
    expect(text).toContain('Plan: 1 to add, 1 to change, 1 to destroy, 1 drifted, 2 of them in fleetspec\'s state store.');
    expect(text.endsWith(`plan ${plan.hash}`)).toBe(true);
    // Changes to live systems and fleetspec's own store records are apart, live first.
    const live = text.indexOf('Changes to live systems:\n');
    const store = text.indexOf("Changes to fleetspec's state store (port ranges and allocations):\n");
    expect(live).toBeGreaterThanOrEqual(0);
    expect(store).toBeGreaterThan(text.indexOf('! hosts/linux-home'));
    expect(text.indexOf('! hosts/linux-home')).toBeGreaterThan(live);
    expect(text.indexOf('+ ports/consilio/api')).toBeGreaterThan(store);
    expect(renderText(plan, { color: true })).toMatch(/\u001b\[32m\+ ports\/consilio\/api/);
  });

  it('renders Markdown whose table a hostile value cannot break', () => {
    const hostile = buildPlan([{ kind: 'tickets', name: 'T-0001', action: 'update', before: { title: 'a | b' }, after: { title: 'x `y` z\nnext' }, reason: 'title | changed' }]);
    const md = renderMarkdown(hostile);
    const row = md.split('\n').find((l) => l.startsWith('| ~'))!;
    // Six columns: every pipe inside a cell is escaped.
    expect(row.split(/(?<!\\)\|/).length).toBe(8);
    expect(row).toContain('`` {"title":"x `y` z\\nnext"} ``');
    expect(md).toContain(`<sub>offline plan \`${hostile.hash}\`</sub>`);
  });

  it('groups resources not read by reason and lists findings, in text and Markdown', () => {
    const withUnknown = buildPlan([], {
      unknown: [
        { kind: 'roles', name: 'manager', reason: 'offline' },
        { kind: 'hosts', name: 'ai', reason: 'offline' },
        { kind: 'hosts', name: 'east', reason: 'connection refused' },
      ],
      findings: [{ kind: 'hosts', name: 'linux-home', code: 'threshold.disk', severity: 'warning', message: 'disk / at 97%', hint: 'free space' }],
    });
    const text = renderText(withUnknown);
    expect(text).toContain('? not read: hosts/ai, roles/manager: offline');
    expect(text).toContain('? not read: hosts/east: connection refused');
    expect(text).toContain('hosts/linux-home: warning disk / at 97%\n  hint: free space');
    expect(text).toContain('Verdict: warn: 1 warning, from the plan itself; no policies checked, none found anything');
    const md = renderMarkdown(withUnknown);
    expect(md).toContain('- `hosts/ai`, `roles/manager`: offline');
    expect(md).toContain('- ⚠️ `hosts/linux-home`: warning disk / at 97%. To fix: free space');
    expect(md).toContain('**Policy verdict: warn: 1 warning, from the plan itself; no policies checked, none found anything**');
    const judged = buildPlan([], { findings: [{ kind: 'ports', name: 'odin', code: 'policy.port-ranges', severity: 'error', message: 'overlaps', hint: 'move it', policy: 'port-ranges', where: 'specs/ports/odin.yaml:3:8' }], policies: ['port-ranges', 'budget'] });
    expect(judged.verdict).toEqual({ status: 'fail', errors: 1, warnings: 0, policies: ['budget', 'port-ranges'], flagging: ['port-ranges'], planFindings: 0 });
    // A plan stored before the verdict named the policies that found something still reads.
    expect(verdictLine({ status: 'warn', errors: 0, warnings: 2, policies: ['a', 'b', 'c'] })).toBe('warn: 2 warnings (3 policies checked)');
    expect(verdictLine(verdictOf([], ['a']))).toBe('pass: 1 policy checked, no findings');
    const found = (policy: string) => ({ kind: 'hosts', name: 'x', code: `policy.${policy}`, severity: 'warning' as const, message: 'm', policy });
    expect(verdictLine(verdictOf([found('a')], ['a']))).toBe('warn: 1 warning, from the 1 policy checked');
    expect(verdictLine(verdictOf([found('a'), found('b'), found('b')], ['a', 'b']))).toBe('warn: 3 warnings, from all 2 policies checked');
    expect(verdictLine(verdictOf([found('a')], ['a', 'b', 'c']))).toBe('warn: 1 warning, from 1 of the 3 policies checked');
    expect(renderText(judged)).toContain('specs/ports/odin.yaml:3:8 ports/odin: error overlaps (policy port-ranges)');
    expect(renderText(judged)).toContain('Verdict: fail: 1 error, from 1 of the 2 policies checked');
    expect(renderMarkdown(judged)).toContain('- ❌ `specs/ports/odin.yaml:3:8` `ports/odin`: error overlaps (policy `port-ranges`). To fix: move it');
  });

  it('renders JSON that parses back to the same plan', () => {
    expect(JSON.parse(renderJson(plan))).toEqual(plan);
  });
});

describe('planDifferences', () => {
  const change = (after: unknown): ResourceChange => ({ kind: 'roles', name: 'developer', action: 'update', before: { env: { a: 1, b: 2 } }, after, reason: 'r' });
  it('names what made an approved plan stale, and ignores key order (a plan read back from jsonb)', async () => {
    const { planDifferences } = await import('../reconciler/plan/engine.js');
    const approved = buildPlan([change({ env: { LLM_MODEL: 'x', LLM_PROVIDER: 'ollama' } })], { mode: 'live' });
    const reordered = JSON.parse(JSON.stringify(approved).replace('{"LLM_MODEL":"x","LLM_PROVIDER":"ollama"}', '{"LLM_PROVIDER":"ollama","LLM_MODEL":"x"}'));
    expect(planDifferences(reordered, approved)).toEqual([]);
    const moved = buildPlan([change({ env: { LLM_MODEL: 'y', LLM_PROVIDER: 'ollama' } }), { ...change(null), name: 'manager', action: 'create', before: null }], { mode: 'live' });
    expect(planDifferences(approved, moved)).toEqual(['~ roles/developer update (different before/after)', '+ roles/manager create (newly planned)']);
  });
});

describe('the plan hash', () => {
  const noop = (reason: string): ResourceChange => ({ kind: 'dns', name: 'stack', action: 'no-op', before: null, after: null, reason });
  const update = (reason: string): ResourceChange => ({ kind: 'roles', name: 'dev', action: 'update', before: { a: 1 }, after: { a: 2 }, reason });
  it('ignores how a no-op was read, and not why a change is planned', () => {
    expect(buildPlan([noop('terraform not run: not on PATH'), update('x')]).hash).toBe(buildPlan([noop('terraform not run: pg backend needs PostgreSQL'), update('x')]).hash);
    expect(buildPlan([update('x')]).hash).not.toBe(buildPlan([update('y')]).hash);
    expect(buildPlan([update('x')]).hash).not.toBe(buildPlan([{ ...update('x'), after: { a: 3 } }]).hash);
  });
});
