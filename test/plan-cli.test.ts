// fleetspec plan and apply through the built binary on each store engine: the offline plan of
// specs/, applying it, a stale plan refused, an edited plan file refused, the ledger's record.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../reconciler/state/db.js';
import { listRuns, runHistory } from '../reconciler/state/ledger.js';
import { ENGINES, type Engine } from './state/engines.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

describe.each(ENGINES)('plan and apply on $name', (engine: Engine) => {
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  let options: Awaited<ReturnType<Engine['fresh']>>['options'];
  let dir: string;
  const fleetspec = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
      );
      child.stdin!.end();
    });

  /** The newest run of this suite's repo and the states it went through, read after the CLI let go of the store. */
  const latestRun = async () => {
    const db = await openDb(options);
    try {
      const [run] = await listRuns(db, { repo: 'test/specs' });
      return { run, history: run ? (await runHistory(db, run.id)).map((t) => t.to) : [] };
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    const fresh = await engine.fresh();
    cleanup = fresh.cleanup;
    options = fresh.options;
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-plan-'));
    const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, ...rest } = process.env;
    env = {
      ...rest,
      NO_COLOR: '1',
      FLEETSPEC_ACTOR: 'ci',
      FLEETSPEC_REPO: 'test/specs',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { FLEETSPEC_STATE_DIR: options.stateDir! }),
    };
  });
  afterAll(async () => {
    await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('plans specs/ offline: ports from the store, SSH kinds not read, the seed\'s full disk as a finding (exit 2)', async () => {
    const planFile = join(dir, 'plan.json');
    const result = await fleetspec(['plan', 'specs', '--out', planFile]);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('+ ports/consilio/api (create: port pinned in specs, not allocated)\n    after:  {"port":4001}\n    will:   record allocation consilio/api: port 4001 in the state store');
    expect(result.stdout).toContain('hosts/linux-home: warning disk / at 97% (alert >90%');
    expect(result.stdout).toMatch(/\? not read: hosts\/DESKTOP-LIBOQV5, hosts\/ai, hosts\/linux-home, models\/nomic-embed-text@ai, .*roles\/manager.*: offline \(plan with --live to read it\)/);
    expect(result.stdout).toContain('Plan: 7 to add, 0 to change, 0 to destroy, all in fleetspec\'s state store. 24 not read.');
    expect(result.stderr).toContain(`plan written to ${planFile}`);
    const plan = JSON.parse(await readFile(planFile, 'utf8'));
    expect(plan).toMatchObject({ format: 'fleetspec-plan/v1', mode: 'offline', summary: { add: 7, unknown: 24 } });
    expect(plan.unknown).toContainEqual({ kind: 'hosts', name: 'ai', reason: 'offline (plan with --live to read it)' });
    expect(plan.unknown).toContainEqual({ kind: 'tickets', name: 'T-0001', reason: 'offline (plan with --live to read GitHub issues)' });
    expect(plan.findings).toContainEqual(expect.objectContaining({ kind: 'hosts', name: 'linux-home', code: 'policy.host-thresholds', severity: 'warning', where: 'specs/hosts/linux-home.yaml:70:3' }));
  });

  it('refuses a plan file edited after it was made, applying nothing (exit 1)', async () => {
    const planFile = join(dir, 'plan.json');
    const plan = JSON.parse(await readFile(planFile, 'utf8'));
    plan.changes[0].after = { start: 1, end: 2 };
    const edited = join(dir, 'edited.json');
    await writeFile(edited, JSON.stringify(plan));
    const result = await fleetspec(['apply', edited]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the plan was edited after it was made');
    expect((await fleetspec(['plan', 'specs'])).code).toBe(2);
  });

  it('applies the plan, records the run DONE, and the next plan has no changes (exit 0)', async () => {
    const result = await fleetspec(['apply', join(dir, 'plan.json')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('✓ ports/consilio create');
    expect(result.stdout).toContain('✓ ports/consilio/api create');
    expect(result.stderr).toMatch(/Apply complete: 7 changes applied \(run \d+\)/);
    const again = await fleetspec(['plan', 'specs']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes in what was read. 24 not read.');
    expect((await fleetspec(['ports', 'get', 'consilio', 'api'])).stdout).toBe('4001\n');

    const { run, history } = await latestRun();
    expect(run).toMatchObject({ state: 'DONE', trigger: 'manual' });
    expect(history).toEqual(['PENDING', 'PLANNING', 'WAIT_FOR_APPROVE', 'APPLYING', 'DONE']);
  });

  it('refuses a plan made before live changed: "live changed since this plan; plan again" (exit 1)', async () => {
    expect((await fleetspec(['ports', 'release', 'consilio', 'api'])).code).toBe(0);
    const planFile = join(dir, 'stale.json');
    expect((await fleetspec(['plan', 'specs', '--out', planFile])).code).toBe(2);
    // Someone else takes the service's port in between.
    expect((await fleetspec(['ports', 'allocate', 'consilio', 'api'])).stdout).toBe('4000\n');
    const result = await fleetspec(['apply', planFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('live changed since this plan; plan again. Nothing was applied.');
    expect(result.stderr).toContain('- ports/consilio/api create (no longer planned)');
    expect(result.stderr).toContain('+ ports/consilio/api update (newly planned)');
    expect((await fleetspec(['ports', 'get', 'consilio', 'api'])).stdout).toBe('4000\n');
    expect((await latestRun()).run).toMatchObject({ state: 'FAILED', reason: 'live changed since this plan' });
  });

  it('prints the plan as Markdown and JSON, and explains bad arguments (exit 1)', async () => {
    const md = await fleetspec(['plan', 'specs', '--format', 'markdown']);
    expect(md.code).toBe(2);
    expect(md.stdout).toMatch(/^### Plan: 0 to add, 1 to change, 0 to destroy, all in fleetspec's state store\. 24 not read\./);
    expect(md.stdout).toContain('**Not read**');
    const json = JSON.parse((await fleetspec(['plan', 'specs', '--format', 'json'])).stdout);
    expect(json.changes).toContainEqual(expect.objectContaining({ kind: 'ports', name: 'consilio/api', action: 'update', before: { port: 4000 }, after: { port: 4001 } }));
    const bad = await fleetspec(['plan', 'specs', '--concurrency', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--concurrency must be a positive number');
    const missing = await fleetspec(['apply', join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.json: no such file');
  });
});
