// fleetspec runs, runs show and status through the built binary on each store engine. The ledger is
// made as the product makes it: a real `fleetspec apply` of the offline plan, and loop runs written
// with the ledger's and the loop's own functions (startRun, transition, recordMain, trust,
// recordPlanned) and the tick's record (tickRecord, recordTick) as a tick writes them.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../reconciler/state/db.js';
import { startRun, transition } from '../../reconciler/state/ledger.js';
import { recordMain, recordPlanned, trust } from '../../reconciler/state/loop.js';
import { recordTick } from '../../reconciler/state/reports.js';
import { tickRecord } from '../../reconciler/loop/tick-record.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { ENGINES, type Engine } from '../state/engines.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const REPO = 'acme/fleet';
const sha = (c: string) => c.repeat(40);
const HOSTILE = 'boom \x1b[31mred\nsecond line \u202e';

const plan = (hash: string, status: 'pass' | 'fail'): Plan =>
  ({
    format: 'fleetspec-plan/v1',
    mode: 'live',
    changes: [],
    unknown: [],
    findings: [],
    summary: { add: 1, change: 0, destroy: 0, replace: 0, drift: 0, unchanged: 3, unknown: 0 },
    verdict: { status, errors: status === 'fail' ? 1 : 0, warnings: 0, policies: [] },
    hash,
  }) as Plan;

const report = (run: number, extra: Partial<TickReport> = {}): TickReport => ({
  run,
  state: 'DONE',
  reason: '',
  recovered: { runs: [], applies: [] },
  branches: [],
  commands: [],
  main: [],
  drift: [],
  pulled: [],
  findings: [],
  waiting: 0,
  errors: [],
  durationMs: 0,
  ...extra,
});

/** A live plan of the trusted commit with nothing to change: the drift check of an in-sync tick. */
const inSync = { plan: plan('c'.repeat(64), 'pass'), diagnostics: [], resources: 3 };

describe.each(ENGINES)('runs and status on $name', (engine: Engine) => {
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  let options: Awaited<ReturnType<Engine['fresh']>>['options'];
  let dir: string;
  const fleetspec = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...env, ...extra } }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
      );
      child.stdin!.end();
    });
  /** Writes to the store while no CLI holds it (PGlite is one process's at a time). */
  const write = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    const db = await openDb(options);
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  };
  /** One tick as tick.ts records it: PENDING → PLANNING → end, the report on the run. */
  const tick = (end: 'DONE' | 'FAILED', reason: string, extra: Partial<TickReport>, live?: typeof inSync) =>
    write(async (db) => {
      const run = await startRun(db, { repo: REPO, trigger: 'cron' });
      await transition(db, run.id, 'PENDING', 'PLANNING');
      if (!extra.main) {
        await recordMain(db, REPO, { sha: sha('a'), outcome: 'baseline', pr: null, runId: run.id, detail: 'first tick' });
        await trust(db, REPO, { sha: sha('a'), via: 'baseline', pr: null });
      }
      for (const b of extra.branches ?? []) await recordPlanned(db, REPO, { sha: b.sha, scope: 'all', pr: b.pr, planHash: 'd'.repeat(64), plan: plan('d'.repeat(64), 'fail'), problem: null, runId: run.id });
      await transition(db, run.id, 'PLANNING', end, { reason });
      await recordTick(db, run.id, tickRecord(report(run.id, extra), 1234, live as never, sha('a')));
      return run.id;
    });

  beforeAll(async () => {
    const fresh = await engine.fresh();
    cleanup = fresh.cleanup;
    options = fresh.options;
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-runs-'));
    const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, FLEETSPEC_GITHUB_REPO: ___, FLEETSPEC_SCHEDULE: ____, ...rest } = process.env;
    env = {
      ...rest,
      NO_COLOR: '1',
      FLEETSPEC_ACTOR: 'ci',
      FLEETSPEC_REPO: 'test/specs',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { FLEETSPEC_STATE_DIR: options.stateDir! }),
    };
    // A real apply: its run, transitions and apply record.
    const planFile = join(dir, 'plan.json');
    expect((await fleetspec(['plan', 'specs', '--out', planFile])).code).toBe(2);
    const applied = await fleetspec(['apply', planFile]);
    expect(applied.code, applied.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await cleanup?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs show: every transition with its reason, the plan summary and hash, who approved, what was applied (exit 0)', async () => {
    const list = await fleetspec(['runs', '--format', 'json']);
    expect(list.code, list.stderr).toBe(0);
    const [run] = JSON.parse(list.stdout).runs;
    expect(run).toMatchObject({ repo: 'test/specs', trigger: 'manual', state: 'DONE', outcome: '7 changes applied', planHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const shown = await fleetspec(['runs', 'show', String(run.id)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`plan        ${run.planHash}: 7 to add, 0 to change, 0 to destroy, 24 not read`);
    expect(shown.stdout).toMatch(/approved by ci \(plan file .*plan\.json\)/);
    expect(shown.stdout).toMatch(/-> PENDING +fleetspec apply .*plan\.json\n.*PENDING -> PLANNING\n.*PLANNING -> WAIT_FOR_APPROVE\n.*WAIT_FOR_APPROVE -> APPLYING +approved by ci .*\n.*APPLYING -> DONE +7 changes applied\n/);
    expect(shown.stdout).toContain('apply: applied\n  applied:\n    ports/consilio create\n    ports/consilio/api create');
    // runs and runs show both take --format: show's is its own.
    const json = await fleetspec(['runs', 'show', String(run.id), '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: run.id, state: 'DONE' });
    expect((await fleetspec(['runs', 'show', '999999'])).code).toBe(1);
    const notId = await fleetspec(['runs', 'show', 'seven']);
    expect(notId).toMatchObject({ code: 1, stderr: expect.stringContaining('"seven" is not a run id') });
  });

  it('status: exit 0 when the last tick is fresh, nothing waits and live matches the trusted commit', async () => {
    await tick('DONE', '0 branches planned', {}, inSync);
    const status = await fleetspec(['status', '--repo', REPO]);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^last tick: run \d+ DONE at .*took 1\.2s\): 0 branches planned$/m);
    expect(status.stdout).toContain('leader:    none (no tick running)');
    expect(status.stdout).toContain('waiting:   no pull request waits for approval');
    expect(status.stdout).toMatch(/^drift: +none \(checked by run \d+\)$/m);
    expect(status.stdout).toContain(`trusted:   ${sha('a').slice(0, 7)} (baseline)`);
    expect(status.stdout).toContain('\nsuspended: none\n');
    expect(status.stdout).toContain('in sync:   yes');
    const json = JSON.parse((await fleetspec(['status', '--repo', REPO, '--format', 'json'])).stdout);
    expect(json).toMatchObject({ repo: REPO, inSync: true, reasons: [], waiting: [], findings: [], suspended: [], trusted: { sha: sha('a'), trusted: true } });
  });

  it('status: exit 2 while a PR waits for approval, with its verdict', async () => {
    await tick('DONE', '1 branch planned', { branches: [{ branch: 'add-web', sha: sha('b'), pr: 3, action: 'opened', status: 'failure' }] }, inSync);
    const status = await fleetspec(['status', '--repo', REPO]);
    expect(status.code).toBe(2);
    expect(status.stdout).toContain(`waiting:   #3 add-web ${sha('b').slice(0, 7)}: verdict fail`);
    expect(status.stdout).toContain('in sync:   no: 1 pull request waits for approval');
  });

  it('status: exit 2 when the last tick failed; runs filters by state and repo, and prints hostile reasons escaped', async () => {
    const failed = await tick('FAILED', HOSTILE, { main: [] });
    const status = await fleetspec(['status', '--repo', REPO]);
    expect(status.code).toBe(2);
    expect(status.stdout).toContain(`the last tick (run ${failed}) failed`);
    expect(status.stdout).toContain('boom \\x1b[31mred\\x0asecond line \\u202e');
    expect(status.stdout).not.toMatch(/[\x1b\u202e]/);

    const list = await fleetspec(['runs', '--state', 'failed', '--repo', REPO]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RUN +REPO +TRIGGER +STATE +WHEN +AGO +SHA +PLAN +PR +OUTCOME$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${failed} +acme/fleet +cron +FAILED .* boom \\\\x1b\\[31mred\\\\x0asecond line \\\\u202e$`));
    expect(list.stdout).not.toMatch(/[\x1b\u202e]/);
    const all = JSON.parse((await fleetspec(['runs', '--format', 'json', '--limit', '2'])).stdout).runs;
    expect(all.map((r: { id: number }) => r.id)).toEqual([failed, failed - 1]);
    const shown = await fleetspec(['runs', 'show', String(failed)]);
    expect(shown.stdout).toMatch(/PLANNING -> FAILED +boom \\x1b\[31mred\\x0asecond line \\u202e/);
    expect(shown.stdout).not.toMatch(/[\x1b\u202e]/);

    const bad = await fleetspec(['runs', '--state', 'SLEEPING']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--state "SLEEPING" is not a run state\n  hint: use one of PENDING, PLANNING, WAIT_FOR_APPROVE, APPLYING, ROLLBACK, DONE, BLOCKED, FAILED');
    // Two repositories in the store and none named: which one is asked for.
    expect((await fleetspec(['status'])).code).toBe(1);
  });
});
