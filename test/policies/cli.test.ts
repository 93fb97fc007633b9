// `fleetspec policy check|rules`, and the verdict in `fleetspec plan` and `fleetspec apply`,
// through the built binary: specs/ is judged by the repository's own policies (the east
// server's 97% root disk shows), a failing verdict exits 1, and apply refuses it (run BLOCKED).
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan, type ResourceChange } from '../../reconciler/plan/plan.js';
import { openDb } from '../../reconciler/state/db.js';
import { listRuns, runHistory } from '../../reconciler/state/ledger.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

let dir: string;
let env: NodeJS.ProcessEnv;
const fleetspec = (args: string[], cwd = ROOT) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd, env }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }));
    child.stdin!.end();
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-policy-cli-'));
  const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, ...rest } = process.env;
  env = { ...rest, NO_COLOR: '1', FLEETSPEC_ACTOR: 'ci', FLEETSPEC_REPO: 'test/policy', FLEETSPEC_STATE_DIR: join(dir, 'state'), FLEETSPEC_TERRAFORM: join(dir, 'no-terraform') };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fleetspec policy', () => {
  it('checks specs/ against policies/: passes with warnings, and the seed\'s full east-server disk shows', async () => {
    const r = await fleetspec(['policy', 'check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hosts/linux-home: warning disk / at 97% (alert >90%; observed: seed 004 inventory');
    expect(r.stdout).toMatch(/^specs\/hosts\/linux-home\.yaml:70:3 hosts\/linux-home: warning disk .*\(policy host-thresholds\)$/m);
    expect(r.stdout).toContain('hosts/ai: warning service "stt" listens on 8000, inside ports/quiculum-monitor\'s range 8000-8999');
    expect(r.stdout).toMatch(/^Verdict: warn: 9 warnings, from 2 of the 9 policies checked$/m);
    expect(r.stderr).toContain('skipped policies blast-radius, no-vm-replacement: they judge a plan');

    const json = await fleetspec(['policy', 'check', '--format', 'json']);
    const report = JSON.parse(json.stdout);
    expect(report.verdict).toMatchObject({ status: 'warn', errors: 0, warnings: 9 });
    expect(report.verdict.policies).toEqual(['bastions-hold-nothing', 'budget', 'dns-routes', 'host-thresholds', 'model-memory', 'port-listeners', 'port-ranges', 'role-matrix', 'vm-scale']);
  });

  it('judges a plan file: six deletions fail blast-radius (exit 1) until overridden', async () => {
    const deletions: ResourceChange[] = Array.from({ length: 6 }, (_, i) => ({ kind: 'ports', name: `gone-${i}`, action: 'delete', before: { start: 9000 + i }, after: null, reason: 'not in specs' }));
    const planFile = join(dir, 'deletions.json');
    await writeFile(planFile, JSON.stringify(buildPlan(deletions)));
    const r = await fleetspec(['policy', 'check', planFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('plan/deletions: error 6 deletions, more than the 5 allowed in one plan: ports/gone-0');
    expect(r.stdout).toContain('label the PR fleetspec/allow-deletions');
    expect(r.stdout).toMatch(/^Verdict: fail: 1 error, 9 warnings, from 3 of the 11 policies checked$/m);
    const lifted = await fleetspec(['policy', 'check', planFile, '--override', 'allow-deletions']);
    expect(lifted.code).toBe(0);
    expect(lifted.stdout).toContain('(overridden by --override allow-deletions)');
  });

  it('refuses an edited plan file and a broken policies folder with exit 1 and where', async () => {
    const planFile = join(dir, 'edited.json');
    const plan = buildPlan([{ kind: 'ports', name: 'a', action: 'delete', before: {}, after: null, reason: 'r' }]);
    await writeFile(planFile, JSON.stringify({ ...plan, changes: [] }));
    expect((await fleetspec(['policy', 'check', planFile])).stderr).toContain('the plan was edited after it was made');
    const broken = join(dir, 'broken-policies');
    await cp(join(ROOT, 'policies'), broken, { recursive: true });
    await writeFile(join(broken, 'budget.yaml'), (await readFile(join(broken, 'budget.yaml'), 'utf8')).replace('brakeAt: 0.8', 'brakeAt: 80%'));
    const r = await fleetspec(['policy', 'check', '--policies', broken]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/budget\.yaml:13:12: error expected a number, got string "80%"/);
    expect(r.stderr).toContain('the policies are invalid; nothing was checked');
    expect((await fleetspec(['policy', 'check', '--policies', join(dir, 'nope')])).stderr).toContain('no such folder');
  });

  it('lists the built-in rules, with their params schemas as JSON', async () => {
    const r = await fleetspec(['policy', 'rules']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['role-matrix', 'port-ranges', 'port-listeners', 'dns-routes', 'model-memory', 'host-thresholds', 'budget', 'blast-radius', 'solo-operator', 'vm-scale']);
    const json = JSON.parse((await fleetspec(['policy', 'rules', '--format', 'json'])).stdout);
    expect(json.find((r: { name: string }) => r.name === 'budget').params.required).toEqual(['currency', 'monthlyBudget', 'brakeAt', 'prices']);
    expect((await fleetspec(['policy', '--help'])).stdout).toContain('CEL sees resource, name, kind, specs');
  });
});

describe('the verdict in plan and apply', () => {
  it('a VM past the budget brake: plan shows the failing verdict and exits 1; apply refuses and the run is BLOCKED', async () => {
    const repo = join(dir, 'repo');
    await cp(join(ROOT, 'specs'), join(repo, 'specs'), { recursive: true });
    await cp(join(ROOT, 'policies'), join(repo, 'policies'), { recursive: true });
    const vm = join(repo, 'specs', 'vms', 'supervisor-vm.yaml');
    await writeFile(vm, (await readFile(vm, 'utf8')).replace('scaleUpTo: n1-standard-4', 'scaleUpTo: n1-standard-8'));

    const planFile = join(dir, 'over-budget.json');
    const r = await fleetspec(['plan', 'specs', '--out', planFile], repo);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('vms/supervisor-vm: error forecast 277.40 USD a month is 139% of the 200.00 USD budget, at or over the 80% brake');
    expect(r.stdout).toMatch(/^specs\/vms\/supervisor-vm\.yaml:15:14 vms\/supervisor-vm: error forecast .*\(policy budget\)$/m);
    expect(r.stdout).toMatch(/^Verdict: fail: 1 error, 9 warnings, from 3 of the 11 policies checked$/m);
    expect(r.stderr).toContain('apply will refuse this plan');
    const plan = JSON.parse(await readFile(planFile, 'utf8'));
    expect(plan.verdict).toMatchObject({ status: 'fail', errors: 1 });

    const applied = await fleetspec(['apply', planFile, 'specs'], repo);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain('the plan has findings of severity error; nothing was applied');
    expect(applied.stderr).toContain('vms/supervisor-vm: error forecast 277.40 USD');
    const db = await openDb({ stateDir: join(dir, 'state') });
    try {
      const [run] = await listRuns(db, { repo: 'test/policy' });
      expect((await runHistory(db, run!.id)).map((t) => t.to)).toEqual(['PENDING', 'PLANNING', 'BLOCKED']);
      expect(run!.reason).toContain('vms/supervisor-vm: forecast 277.40 USD');
    } finally {
      await db.close();
    }
  });
});
