// Seed 003's scale rule in the loop (reconciler/loop/scale.ts, wired as tick.ts's 'scale' phase): the
// real tick against git http-backend, the OpenAPI-checked GitHub stand-in and a real store
// (test/security/harness.ts), with the vms driver pointed at the Google stand-in (test/gcp/server.ts)
// and the VM's key served through the engine's `secret`. The VM spec with autoscale, its committed
// vms stack, policies/vm-scale.yaml and policies/budget.yaml come in as any change does: bob's
// branch, approved by alice, merged and applied. One story over the ticks:
//   (a) busy CPU: exactly one PR on fleetspec/finding/scale-<vm>, labelled fleetspec:scale, setting
//       machineType: to scaleUpTo in place (comments kept); the report, the run's reason and its
//       recorded tick (lastTick) say opened;
//   (b) busy again: kept, no second PR;
//   (c) Google failing, or the key missing: nothing changes;
//   (d) idle CPU: the PR is closed with a Withdrawn comment and its branch deleted;
//   (e) a scale PR needs one approver who is not the bot: alice alone approves, it is merged and applied.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DRIVERS } from '../../reconciler/kinds/drivers.js';
import { vmsDriverWith } from '../../reconciler/kinds/vms/driver.js';
import { scaleBranch, SCALE_LABEL } from '../../reconciler/loop/scale.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import type { EngineOptions } from '../../reconciler/plan/engine.js';
import { lastTick } from '../../reconciler/state/reports.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { synthesiseAll } from '../../reconciler/stacks/files.js';
import { DIAGRAMS_DIR, writeDiagrams } from '../../reconciler/diagrams/index.js';
import { addTicket, BOT, REPO_KEY, ROLES_PATH, rolesYaml, useSecurityHarness } from '../security/harness.js';
import { startGcpServer, type GcpTestServer } from '../gcp/server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VM = 'supervisor-vm';
const VM_PATH = `specs/vms/${VM}.yaml`;
const KEY_REF = 'secret:meta/gcloud/vm_host_key';
const BRANCH = scaleBranch(VM);
/** One clock for the stand-in and the client: the CPU samples end now, and the JWT is judged by it. */
const NOW = Math.floor(Date.now() / 1000);
/** Two hours of one sample a minute: average 77.6%, max 92% (seed 003: over 70 and 85). */
const BUSY = Array.from({ length: 120 }, (_, k) => (k % 10 === 0 ? 0.92 : 0.76));
/** Two hours at 20%. */
const IDLE = Array.from({ length: 120 }, () => 0.2);
/** A test here is one to four ticks of a second or two, and the set-up three; a loaded 2-core machine may take several times that. */
const TICKS = 120_000;

const h = useSecurityHarness();
let g: GcpTestServer;
/** A Google that answers every API call 503 UNAVAILABLE (the key's token_uri is still the stand-in's). */
let down: Server;
let downUrl = '';
let downCalls = 0;
let vmText = '';

/** The tick's engine: the vms driver reads `computeUrl`/`monitoringUrl` (default the stand-in), the key is served unless `noKey`. */
function engine(opts: { google?: string; noKey?: boolean } = {}): EngineOptions {
  const base = opts.google ?? g.url;
  return {
    ...h.engineOptions(),
    drivers: [
      ...DRIVERS.filter((d) => d.folder !== 'vms'),
      vmsDriverWith({ computeUrl: `${base}/compute/v1`, monitoringUrl: `${base}/v3`, timeoutMs: 30_000, backoffMs: 1, now: () => NOW }),
    ],
    secret: async (ref, user) => (!opts.noKey && ref === KEY_REF && user === `vms/${VM}` ? g.keyJson : undefined),
  };
}

const cpu = (samples: number[]) => void (g.instance('vm-host', 'us-central1-a', VM)!.cpu = samples);
const scalePulls = () => [...h.gh.repo().pulls.values()].filter((p) => p.head.ref === BRANCH);
const openScalePulls = () => scalePulls().filter((p) => p.state === 'open');
const branchTip = () => h.git('for-each-ref', '--format=%(objectname)', `refs/heads/${BRANCH}`);
const says = (report: TickReport) => `${report.reason} | ${h.progress.slice(-8).join(' | ')}`;

beforeAll(async () => {
  g = await startGcpServer({ now: () => NOW });
  g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: VM, cpu: IDLE });
  down = createServer((req, res) => {
    downCalls++;
    req.resume();
    const message = 'The service is currently unavailable.';
    const body = JSON.stringify({ error: { code: 503, message, errors: [{ message, domain: 'global', reason: 'backendError' }], status: 'UNAVAILABLE' } });
    res.writeHead(503, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', () => resolve()));
  downUrl = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;

  // The VM (seed 003's spec as this repository has it) and what fleetspec derives from it: the vms
  // stack and the diagrams, synthesised as `fleetspec stacks synth` does, so the bot has nothing to add.
  vmText = await readFile(join(ROOT, VM_PATH), 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-scale-loop-'));
  try {
    const specs: Record<string, string> = { [ROLES_PATH]: rolesYaml(), ...addTicket('T-0001', 'Baseline ticket'), [VM_PATH]: vmText };
    for (const [path, text] of Object.entries(specs)) {
      mkdirSync(join(dir, dirname(path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const loaded = await loadSpecs(join(dir, 'specs'));
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    await synthesiseAll(loaded.index, join(dir, 'stacks'));
    await writeDiagrams(loaded.index, join(dir, DIAGRAMS_DIR));
    const files: Record<string, string> = {
      [VM_PATH]: vmText,
      'policies/vm-scale.yaml': await readFile(join(ROOT, 'policies', 'vm-scale.yaml'), 'utf8'),
      'policies/budget.yaml': await readFile(join(ROOT, 'policies', 'budget.yaml'), 'utf8'),
    };
    for (const folder of ['stacks', DIAGRAMS_DIR]) {
      for (const name of await readdir(join(dir, folder), { recursive: true }).catch(() => [] as string[])) {
        if (/\.(json|mmd)$/.test(name)) files[relative(dir, join(dir, folder, name))] = await readFile(join(dir, folder, name), 'utf8');
      }
    }
    expect(files['stacks/vms/cdk.tf.json'], 'the vms stack is synthesised').toContain('n1-standard-2');

    // Landed as any change is: bob's branch, planned, approved by alice, merged, applied. These ticks use
    // the harness's engine (no key): a branch's plan reads no VM with a key the trusted specs do not give
    // yet, and an apply plans with the stock drivers, which must not reach Google from here.
    h.push('vms', files, { as: 'bob' });
    const planned = await h.tick();
    const pr = h.mustPr('vms').number;
    expect(planned.branches.find((b) => b.pr === pr), says(planned)).toMatchObject({ status: 'success' });
    expect(h.git('rev-parse', 'refs/heads/vms'), 'the bot added nothing to the branch').toBe(h.pushes.filter((p) => p.branch === 'vms').at(-1)!.after);
    h.approve(pr, 'alice');
    const sha = h.mergeCommit(pr, 'alice');
    const applied = await h.tick();
    expect(applied.main.map((m) => [m.sha, m.outcome]), says(applied)).toEqual([[sha, 'applied']]);
    expect(h.trusted).toBe(sha);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, TICKS);

afterAll(async () => {
  await g?.close();
  if (down) {
    down.closeAllConnections();
    await new Promise<void>((resolve) => down.close(() => resolve()));
  }
});

afterEach(() => {
  expect(h.gh.takeViolations()).toEqual([]);
});

describe('the scale phase of the tick', () => {
  let first = 0;

  it('(a) busy CPU opens exactly one resize PR, labelled fleetspec:scale, setting machineType: to scaleUpTo in place; report, reason and recorded tick say opened', async () => {
    cpu(BUSY);
    const mainBefore = h.main();
    const report = await h.tick({ engine: engine() });
    expect(report.errors, says(report)).toEqual([]);
    expect(report.state).toBe('DONE');
    expect(report.scale, says(report)).toEqual([{ vm: VM, branch: BRANCH, pr: expect.any(Number), action: 'opened' }]);
    first = report.scale![0]!.pr!;
    expect(BRANCH).toBe('fleetspec/finding/scale-supervisor-vm');

    expect(scalePulls().map((p) => p.number)).toEqual([first]);
    const pr = h.gh.repo().pulls.get(first)!;
    expect(pr).toMatchObject({ state: 'open', author: BOT, title: `Resize ${VM} from n1-standard-2 to n1-standard-4`, base: { ref: 'main' }, labels: [SCALE_LABEL.name] });
    expect(pr.body).toContain('average 77.6% &gt; 70% and max 92% &gt; 85%');
    // The diff: only the spec file, machineType set in place, every comment and the rest kept byte for byte.
    expect(h.git('diff', '--name-only', 'main', BRANCH)).toBe(VM_PATH);
    const text = h.git('show', `${BRANCH}:${VM_PATH}`);
    expect(text).toBe(vmText.replace('machineType: n1-standard-2', 'machineType: n1-standard-4').trimEnd());
    expect(text).toContain('# Seed 003: checked hourly;');
    expect(h.git('rev-parse', `${BRANCH}~1`), 'one commit on the trusted commit').toBe(h.trusted);
    expect(h.main(), 'nothing is resized or merged by the rule').toBe(mainBefore);
    expect(g.instance('vm-host', 'us-central1-a', VM)!.machineType).toBe('n1-standard-2');

    expect(report.reason).toContain(`scale: ${VM} #${first} opened`);
    const run = (await lastTick(h.db, REPO_KEY))!;
    expect(run.id).toBe(report.run);
    expect(run.reason).toContain(`scale: ${VM} #${first} opened`);
    expect(run.report!.scale).toEqual([{ vm: VM, branch: BRANCH, pr: first, action: 'opened' }]);
    // The live plan the rule judged is the one the run recorded: the rule's warning on the VM.
    expect(run.report!.live?.findings).toContainEqual(expect.objectContaining({ kind: 'vms', name: VM, code: 'policy.vm-scale', severity: 'warning' }));
  }, TICKS);

  it('(b) busy again: the PR is kept, no second one; the reason does not repeat it', async () => {
    const pushed = h.pushes.length;
    const report = await h.tick({ engine: engine() });
    expect(report.errors, says(report)).toEqual([]);
    expect(report.scale, says(report)).toEqual([{ vm: VM, branch: BRANCH, pr: first, action: 'kept' }]);
    expect(scalePulls().map((p) => [p.number, p.state])).toEqual([[first, 'open']]);
    expect(report.reason).not.toContain('scale:');
    expect((await lastTick(h.db, REPO_KEY))!.report!.scale).toEqual([{ vm: VM, branch: BRANCH, pr: first, action: 'kept' }]);
    // The branches phase planned the PR and committed the stack its spec implies, as on any branch; the scale phase wrote nothing.
    expect(report.branches.find((b) => b.pr === first), says(report)).toMatchObject({ branch: BRANCH, status: 'success' });
    const commits = h.pushes.slice(pushed).filter((p) => p.branch === BRANCH);
    expect(commits).toEqual([expect.objectContaining({ actor: BOT, type: 'push', after: branchTip() })]);
    expect(h.git('log', '-1', '--format=%s', BRANCH)).toMatch(/^fleetspec: synthesise the vms stack/);
    expect(h.git('show', `${BRANCH}:stacks/vms/cdk.tf.json`)).toContain('n1-standard-4');
    expect(h.git('show', `${BRANCH}:${VM_PATH}`)).toBe(vmText.replace('machineType: n1-standard-2', 'machineType: n1-standard-4').trimEnd());
  }, TICKS);

  it('(c) Google failing, or the key missing: the rule is not judged and nothing changes', async () => {
    // The CPU is still busy: read, the rule would hold (and the PR be kept); unread, it is not judged at all.
    const before = () => ({ pulls: [...h.gh.repo().pulls.values()].map((p) => [p.number, p.state, p.labels.join(',')]), tip: branchTip(), comments: h.commentsOn(first) });
    const was = before();
    const calls = downCalls;
    const failing = await h.tick({ engine: engine({ google: downUrl }) });
    expect(downCalls, 'Google was asked, and answered 503').toBeGreaterThan(calls);
    expect(failing.errors, says(failing)).toEqual([]);
    expect(failing.state).toBe('DONE');
    expect(failing.scale).toBeUndefined();
    expect(failing.reason).not.toContain('scale:');
    const run = (await lastTick(h.db, REPO_KEY))!.report!;
    expect(run.scale).toBeUndefined();
    expect(run.live, 'the drift phase ran: the scale phase had a live plan, without the VM in it').toBeDefined();
    expect(run.live!.findings.filter((f) => f.code === 'policy.vm-scale')).toEqual([]);
    expect(before()).toEqual(was);

    const noKey = await h.tick({ engine: engine({ noKey: true }) });
    expect(noKey.errors, says(noKey)).toEqual([]);
    expect(noKey.scale).toBeUndefined();
    expect(before()).toEqual(was);
    expect(openScalePulls().map((p) => p.number)).toEqual([first]);
  }, TICKS);

  it('(d) idle CPU: the PR is closed with a Withdrawn comment and its branch deleted; the reason says withdrawn', async () => {
    cpu(IDLE);
    const report = await h.tick({ engine: engine() });
    expect(report.errors, says(report)).toEqual([]);
    expect(report.scale, says(report)).toEqual([{ vm: VM, branch: BRANCH, pr: first, action: 'withdrawn' }]);
    expect(h.gh.repo().pulls.get(first)!.state).toBe('closed');
    expect(h.gh.repo().pulls.get(first)!.merged).toBe(false);
    const withdrawn = h.commentsOn(first).filter((c) => c.startsWith('Withdrawn:'));
    expect(withdrawn).toHaveLength(1);
    expect(withdrawn[0]).toMatch(/^Withdrawn: the scale rule no longer holds: CPU over the last 120 minutes: average 20%, max 20% \(main at [0-9a-f]{7}\)/);
    expect(branchTip()).toBe('');
    expect(report.reason).toContain(`scale: ${VM} #${first} withdrawn`);
    expect((await lastTick(h.db, REPO_KEY))!.report!.scale).toEqual([{ vm: VM, branch: BRANCH, pr: first, action: 'withdrawn' }]);

    // Idle again: nothing more to do.
    const again = await h.tick({ engine: engine() });
    expect(again.scale).toBeUndefined();
    expect(openScalePulls()).toEqual([]);
  }, TICKS);

  it('(e) a scale PR is the bot’s: alice alone approves it, and its merge is applied', async () => {
    cpu(BUSY);
    h.syncFromGit();
    const opened = await h.tick({ engine: engine() });
    expect(opened.scale, says(opened)).toEqual([{ vm: VM, branch: BRANCH, pr: expect.any(Number), action: 'opened' }]);
    const pr = opened.scale![0]!.pr!;
    expect(pr).not.toBe(first);
    // Planned by the next tick. Without the key here, so that its plan (VM not read) is the one the
    // apply makes: an apply plans with the stock drivers (default-branch.ts), which get no key in this suite.
    const planned = await h.tick({ engine: engine({ noKey: true }) });
    const row = planned.branches.find((b) => b.pr === pr);
    expect(row, says(planned)).toMatchObject({ branch: BRANCH, status: 'success' });
    expect(planned.scale).toBeUndefined();
    expect(openScalePulls().map((p) => p.number)).toEqual([pr]);
    // Every commit on the branch is the bot's: nobody made the change, so one approver suffices.
    expect(h.pushes.filter((p) => p.branch === BRANCH && p.type !== 'branch_deletion').every((p) => p.actor === BOT)).toBe(true);

    h.approve(pr, 'alice');
    const sha = h.mergeCommit(pr, 'alice');
    const applied = await h.tick();
    expect(applied.main.map((m) => [m.sha, m.outcome, m.pr]), says(applied)).toEqual([[sha, 'applied', pr]]);
    expect(applied.applied).toMatchObject({ sha, pr, status: 'applied' });
    expect(h.trusted).toBe(sha);
    expect(h.git('show', `main:${VM_PATH}`)).toContain('machineType: n1-standard-4');
  }, TICKS);
});
