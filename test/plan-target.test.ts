// fleetspec plan --target KIND/NAME and apply of such a plan, through the built binary: only the
// targeted resources are planned and applied, the targets are part of the hash, an unknown
// target exits 1 with the closest name, and a stack's targets reach terraform as -target=.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pglite, postgres } from './state/engines.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const WARNING = 'Warning: targeting is for exceptional use: recovering from a mistake, or working around a limitation. Routine changes should be planned whole.';

const run = (args: string[], cwd: string, env: NodeJS.ProcessEnv, input = '') =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd, env }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }));
    child.stdin!.end(input);
  });

describe('plan --target on PGlite', { timeout: 120_000 }, () => {
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  let dir: string;
  const fleetspec = (args: string[]) => run(args, ROOT, env);

  beforeAll(async () => {
    const fresh = await pglite.fresh();
    cleanup = fresh.cleanup;
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-target-'));
    const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, ...rest } = process.env;
    env = { ...rest, NO_COLOR: '1', FLEETSPEC_ACTOR: 'ci', FLEETSPEC_REPO: 'test/target', FLEETSPEC_STATE_DIR: fresh.options.stateDir! };
  });
  afterAll(async () => {
    await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('plans one port range and its allocations only, with the warning at the top (exit 2); its hash is not the whole plan\'s', async () => {
    const targeted = join(dir, 'targeted.json');
    const r = await fleetspec(['plan', 'specs', '--target', 'ports/consilio', '--out', targeted]);
    expect(r.code).toBe(2);
    expect(r.stdout.startsWith(`Targeted plan: ports/consilio\n${WARNING}`)).toBe(true);
    expect(r.stdout).toContain('+ ports/consilio (create');
    expect(r.stdout).toContain('+ ports/consilio/api (create');
    expect(r.stdout).not.toMatch(/ports\/(?!consilio)/);
    expect(r.stdout).not.toContain('not read');
    expect(r.stdout).toContain('Plan: 2 to add, 0 to change, 0 to destroy');
    const plan = JSON.parse(await readFile(targeted, 'utf8'));
    expect(plan.targets).toEqual(['ports/consilio']);
    expect(plan.changes.map((c: { name: string }) => c.name)).toEqual(['consilio', 'consilio/api']);

    const whole = join(dir, 'whole.json');
    expect((await fleetspec(['plan', 'specs', '--out', whole])).code).toBe(2);
    const wholePlan = JSON.parse(await readFile(whole, 'utf8'));
    expect(wholePlan.targets).toBeUndefined();
    expect(wholePlan.hash).not.toBe(plan.hash);

    const md = await fleetspec(['plan', 'specs', '--target', 'ports/consilio', '--format', 'markdown']);
    expect(md.stdout.startsWith('> [!WARNING]\n> Targeted plan: `ports/consilio`. targeting is for exceptional use')).toBe(true);
  });

  it('refuses a targeted plan file edited to drop its targets, applying nothing (exit 1)', async () => {
    const plan = JSON.parse(await readFile(join(dir, 'targeted.json'), 'utf8'));
    delete plan.targets;
    const edited = join(dir, 'untargeted.json');
    await writeFile(edited, JSON.stringify(plan));
    const r = await fleetspec(['apply', edited]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the plan was edited after it was made');
  });

  it('applies only the targeted range; the next whole plan still shows the others', async () => {
    const r = await fleetspec(['apply', join(dir, 'targeted.json')]);
    expect(r.stderr).toContain('Apply complete: 2 changes applied');
    expect(r.code).toBe(0);
    const again = await fleetspec(['plan', 'specs', '--target', 'ports/consilio']);
    expect(again.code).toBe(0);
    const whole = await fleetspec(['plan', 'specs']);
    expect(whole.code).toBe(2);
    expect(whole.stdout).not.toContain('+ ports/consilio');
    expect(whole.stdout).toContain('Plan: 5 to add');
  });

  it('exits 1 for an unknown kind or name, with the closest', async () => {
    const kind = await fleetspec(['plan', 'specs', '--target', 'port/consilio']);
    expect(kind.code).toBe(1);
    expect(kind.stderr).toContain('--target port/consilio: no kind port');
    expect(kind.stderr).toContain('did you mean ports/consilio?');
    const name = await fleetspec(['plan', 'specs', '--target', 'ports/consilo']);
    expect(name.code).toBe(1);
    expect(name.stderr).toContain('no ports named consilo');
    expect(name.stderr).toContain('did you mean ports/consilio?');
  });
});

const admin = process.env.TEST_DATABASE_URL;

describe.skipIf(!admin)('plan --target of a stack with terraform (stand-in CLI, real PostgreSQL)', { timeout: 120_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  const fleetspec = (args: string[], input = '') => run(args, dir, env, input);

  beforeAll(async () => {
    const fresh = await postgres(admin!).fresh();
    cleanup = fresh.cleanup;
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-target-tf-'));
    await cp(join(ROOT, 'specs'), join(dir, 'specs'), { recursive: true });
    await cp(join(ROOT, 'stacks'), join(dir, 'stacks'), { recursive: true });
    const { FLEETSPEC_SECRET_KEY: _, FLEETSPEC_TERRAFORM: __, PG_CONN_STR: ___, FLEETSPEC_GITHUB_REPO: ____, ...rest } = process.env;
    env = {
      ...rest,
      NO_COLOR: '1',
      DATABASE_URL: fresh.options.databaseUrl!,
      FLEETSPEC_ACTOR: 'ci',
      FLEETSPEC_REPO: 'target-tf-test',
      FLEETSPEC_WORK_DIR: join(dir, 'work'),
      FLEETSPEC_TERRAFORM: join(ROOT, 'test', 'stacks', 'fake-terraform.mjs'),
      FLEETSPEC_SSH_KEY: join(dir, 'no-key'),
      TF_FAKE_LOG: join(dir, 'terraform.log'),
    };
    env.FLEETSPEC_SECRET_KEY = (await fleetspec(['secrets', 'keygen'])).stdout.trim();
    expect((await fleetspec(['secrets', 'set', 'meta/cloudflare/api_token', '--allow', 'zones/153.se'], 'cf-token')).code).toBe(0);
  });
  afterAll(async () => {
    await cleanup?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes -target= for the targeted record to terraform plan, and runs no other stack', async () => {
    const r = await fleetspec(['plan', 'specs', '--live', '--target', 'dns/api.consilio.153.se']);
    expect(r.stdout).toContain('Targeted plan: dns/api.consilio.153.se');
    expect(r.stdout).toContain('+ dns/cloudflare_dns_record.api_consilio_153_se (create: terraform plan)');
    expect(r.code).toBe(2);
    const calls = (await readFile(join(dir, 'terraform.log'), 'utf8')).trim().split('\n');
    const plans = calls.filter((l) => l.startsWith('plan '));
    expect(plans).toHaveLength(1);
    expect(plans[0]).toContain('-target=cloudflare_dns_record.api_consilio_153_se');
  });
});

describe('a targeted plan keeps the findings that are its own', () => {
  it('plan-wide findings and invalid policy files stay (they would block any apply); findings about untargeted resources go', async () => {
    const { targetedFinding } = await import('../reconciler/plan/engine.js');
    const { parseTarget, targetScope } = await import('../reconciler/plan/targets.js');
    const { loadSpecs } = await import('../reconciler/specs/load.js');
    const loaded = await loadSpecs(join(ROOT, 'specs'));
    const scope = targetScope([parseTarget('ports/consilio')], loaded.index);
    const finding = (kind: string, name: string) => ({ kind, name, code: 'policy.x', severity: 'error' as const, message: 'm', policy: 'x' });
    expect(targetedFinding(scope, finding('plan', 'deletions'))).toBe(true);
    expect(targetedFinding(scope, finding('policies', 'policies/budget.yaml'))).toBe(true);
    expect(targetedFinding(scope, finding('ports', 'consilio'))).toBe(true);
    expect(targetedFinding(scope, finding('ports', 'odin'))).toBe(false);
    expect(targetedFinding(scope, finding('hosts', 'ai'))).toBe(false);
  });
});
