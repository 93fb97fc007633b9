// The Instructions kind end to end against real sshd processes on 127.0.0.x (issue 26, item 5):
// one core change is one plan that updates CLAUDE.md and AGENTS.md of two targets (the
// meta-supervisor's and a project's, each in another role's home), the project's own text
// outside the markers survives byte for byte, a second plan is a no-op, a failure half-way
// rolls back, doubtful markers and symbolic links are left alone, and the spec checks refuse
// marker text, secrets, unknown roles and files listed twice with file:line:col.
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BEGIN_MARKER, END_MARKER } from '../../reconciler/kinds/instructions/assemble.js';
import { instructionsDriver, MAX_LIVE_BYTES } from '../../reconciler/kinds/instructions/driver.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { repositoryFiles } from '../../reconciler/init/files.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { SshPool } from '../../reconciler/ssh/pool.js';
import type { Queryable } from '../../reconciler/state/db.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';

const CORE_V1 = '# Core behaviors\n\nAnswer briefly.\n';
const CORE_V2 = '# Core behaviors\n\nBe proactive: propose the next step.\n';
/** What the project wrote itself, around fleetspec's section: CRLF, trailing spaces, no final newline. */
const PROJECT_HEAD = '# Consilio notes  \r\n\r\nOur own rule: run `npm test` first.\t\r\n';
const PROJECT_TAIL = '\r\n## Local\r\nkeep this  ';

describe('instructions over real sshd', () => {
  let meta: TestSshd;
  let consilio: TestSshd;
  let pool: SshPool;
  let specs: string;
  const progress: string[] = [];
  const file = (s: TestSshd, f: string) => join(s.home, f);

  const core = (text: string) => ({ kind: 'Instructions', name: 'core-behaviors', layer: 'core', order: 10, text });
  const write = (name: string, docs: object[]) => {
    mkdirSync(join(specs, name, '..'), { recursive: true });
    writeFileSync(join(specs, name), docs.map((d) => stringify(d)).join('---\n'));
  };
  const options = (): EngineOptions => ({
    specs,
    mode: 'live',
    // The instructions driver never touches the state store.
    db: {} as Queryable,
    ssh: pool,
    noSsh: 'no ssh',
    secret: async () => undefined,
    progress: (m) => void progress.push(m),
    drivers: [instructionsDriver],
  });
  const plan = async (): Promise<Plan> => {
    const { plan, diagnostics } = await planFleet(options());
    expect(diagnostics.filter((d) => d.severity === 'error'), JSON.stringify(diagnostics)).toEqual([]);
    return plan!;
  };
  const change = (p: Plan, name: string) => p.changes.find((c) => c.kind === 'instructions' && c.name === name);

  beforeAll(async () => {
    meta = await startSshd();
    consilio = await startSshd({ address: meta.host });
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 5_000 });
    specs = await mkdtemp(join(tmpdir(), 'fleetspec-instructions-specs-'));
    write('hosts/box.yaml', [{ kind: 'Host', name: 'box', hostname: 'box', address: meta.host }]);
    const role = (name: string, s: TestSshd) => ({ kind: 'Role', name, type: 'role', host: 'box', ssh: { user: s.user, port: s.port, hostKey: s.hostKey }, capabilities: [] });
    write('roles/roles.yaml', [role('meta', meta), role('consilio', consilio)]);
    write('ports/consilio.yaml', [{ kind: 'PortRange', name: 'consilio', range: { start: 4000, end: 4999 } }]);
    write('instructions/core.yaml', [core(CORE_V1)]);
    write('instructions/meta.yaml', [{ kind: 'Instructions', name: 'meta-specific', layer: 'meta', text: 'You supervise every supervisor.\n', targets: [{ role: 'meta', dir: 'supervisor' }] }]);
    write('instructions/consilio.yaml', [
      { kind: 'Instructions', name: 'consilio', layer: 'project', project: 'consilio', text: 'Consilio uses ports 4000-4999.\n', targets: [{ role: 'consilio', dir: 'supervisor/consilio' }] },
    ]);
    // The project's own CLAUDE.md, without markers yet.
    mkdirSync(file(consilio, 'supervisor/consilio'), { recursive: true });
    writeFileSync(file(consilio, 'supervisor/consilio/CLAUDE.md'), PROJECT_HEAD + PROJECT_TAIL);
  }, 60_000);

  afterAll(async () => {
    await pool?.close();
    await Promise.all([meta?.stop(), consilio?.stop()]);
    if (specs) await rm(specs, { recursive: true, force: true });
  });

  it('creates the files, then one core change is one plan updating both targets; the project text survives; again is a no-op', async () => {
    const first = await plan();
    expect(change(first, 'meta-specific')).toMatchObject({ action: 'create', before: null });
    // CLAUDE.md exists in consilio's folder: an update (its section is new), AGENTS.md is created.
    expect(change(first, 'consilio')).toMatchObject({
      action: 'update',
      after: { layers: ['core/core-behaviors', 'project/consilio'], files: [expect.objectContaining({ file: 'supervisor/consilio/CLAUDE.md', change: 'update' }), expect.objectContaining({ file: 'supervisor/consilio/AGENTS.md', change: 'create' })] },
    });
    // The core layer owns no files: it is no change of its own.
    expect(change(first, 'core-behaviors')).toBeUndefined();
    expect(change(first, 'meta-specific')!.actions).toEqual([
      expect.stringMatching(/^write fleetspec's section of ~\/supervisor\/CLAUDE\.md on roles\/meta/),
      expect.stringMatching(/^write fleetspec's section of ~\/supervisor\/AGENTS\.md on roles\/meta/),
    ]);
    const applied = await applyPlan(first, options());
    expect(applied.status, JSON.stringify(applied.failed)).toBe('applied');

    const claude = readFileSync(file(consilio, 'supervisor/consilio/CLAUDE.md'), 'utf8');
    // No markers before: the section goes first (in the file's CRLF), then a blank line, then the file as it was.
    expect(claude.startsWith(BEGIN_MARKER + '\r\n')).toBe(true);
    expect(claude.endsWith('\r\n\r\n' + PROJECT_HEAD + PROJECT_TAIL)).toBe(true);
    expect(claude).toContain('Answer briefly.');
    expect(claude).toContain('Consilio uses ports 4000-4999.');
    expect(claude).not.toContain('You supervise every supervisor.');
    const metaClaude = readFileSync(file(meta, 'supervisor/CLAUDE.md'), 'utf8');
    expect(metaClaude).toContain('You supervise every supervisor.');
    expect(metaClaude).not.toContain('Consilio');
    expect(readFileSync(file(meta, 'supervisor/AGENTS.md'), 'utf8')).toBe(metaClaude);

    // The project edits its own text outside the section between plans; the core layer changes.
    const edited = claude.replace('keep this  ', 'keep this too  ');
    writeFileSync(file(consilio, 'supervisor/consilio/CLAUDE.md'), edited);
    write('instructions/core.yaml', [core(CORE_V2)]);
    const second = await plan();
    const updates = second.changes.filter((c) => c.action !== 'no-op');
    expect(updates.map((c) => `${c.name} ${c.action}`).sort()).toEqual(['consilio update', 'meta-specific update']);
    for (const c of updates) {
      expect((c.after as { files: { change: string; diff: string }[] }).files.map((f) => [f.change, f.diff])).toEqual([
        ['update', '+1 -1 lines'],
        ['update', '+1 -1 lines'],
      ]);
    }
    const again = await applyPlan(second, options());
    expect(again.status, JSON.stringify(again.failed)).toBe('applied');
    for (const [s, dir] of [[meta, 'supervisor'], [consilio, 'supervisor/consilio']] as const) {
      for (const name of ['CLAUDE.md', 'AGENTS.md']) {
        const text = readFileSync(file(s, `${dir}/${name}`), 'utf8');
        expect(text, `${dir}/${name}`).toContain('Be proactive');
        expect(text).not.toContain('Answer briefly.');
      }
    }
    const claude2 = readFileSync(file(consilio, 'supervisor/consilio/CLAUDE.md'), 'utf8');
    expect(claude2.endsWith('\r\n\r\n' + PROJECT_HEAD + PROJECT_TAIL.replace('keep this  ', 'keep this too  '))).toBe(true);

    const third = await plan();
    expect(third.changes.map((c) => `${c.name} ${c.action}`).sort()).toEqual(['consilio no-op', 'meta-specific no-op']);
  });

  it('rolls back: a failure on the second target restores the first one as it was; a rollback restores the previous content', async () => {
    const read = (s: TestSshd, f: string) => readFileSync(file(s, f), 'utf8');
    const before = { claude: read(consilio, 'supervisor/consilio/CLAUDE.md'), agents: read(consilio, 'supervisor/consilio/AGENTS.md'), meta: read(meta, 'supervisor/CLAUDE.md') };
    write('instructions/core.yaml', [core('# Core behaviors\n\nVersion three.\n')]);
    const p = await plan();
    expect(p.changes.filter((c) => c.action === 'update').map((c) => c.name)).toEqual(['consilio', 'meta-specific']);
    // After the plan was checked and before the first change, meta's AGENTS.md becomes a folder:
    // consilio (first in plan order) is written, then meta-specific fails and consilio is rolled back.
    const agents = file(meta, 'supervisor/AGENTS.md');
    const agentsText = readFileSync(agents, 'utf8');
    try {
      const report = await applyPlan(p, { ...options(), beforeApply: async () => (rmSync(agents), mkdirSync(agents)) });
      expect(report.status).toBe('failed');
      expect(report.done.map((c) => c.name)).toEqual(['consilio']);
      expect(report.failed).toMatchObject({ change: { name: 'meta-specific' }, error: expect.stringMatching(/AGENTS\.md of roles\/meta is not a regular file/) });
      expect(report.rolledBack).toEqual([expect.stringMatching(/^restored ~\/supervisor\/consilio\/CLAUDE\.md on roles\/consilio, ~\/supervisor\/consilio\/AGENTS\.md on roles\/consilio/)]);
      expect(report.rollbackFailed).toEqual([]);
      expect(read(consilio, 'supervisor/consilio/CLAUDE.md')).toBe(before.claude);
      expect(read(consilio, 'supervisor/consilio/AGENTS.md')).toBe(before.agents);
      expect(read(meta, 'supervisor/CLAUDE.md')).toBe(before.meta);
    } finally {
      rmSync(agents, { recursive: true, force: true });
      writeFileSync(agents, agentsText);
    }
    // A successful apply's rollback (what the engine runs when a later kind fails) puts the previous content back.
    const planned = await planFleet(options());
    const rollback = await instructionsDriver.apply(change(planned.plan!, 'meta-specific')!, planned.context!);
    expect(read(meta, 'supervisor/CLAUDE.md')).toContain('Version three.');
    await rollback!.run();
    expect(read(meta, 'supervisor/CLAUDE.md')).toBe(before.meta);
    expect(read(meta, 'supervisor/AGENTS.md')).toBe(agentsText);
    for (const [s, dir] of [[meta, 'supervisor'], [consilio, 'supervisor/consilio']] as const) {
      expect(existsSync(file(s, `${dir}/CLAUDE.md.fleetspec-tmp`)), 'no temp file is left').toBe(false);
    }
    write('instructions/core.yaml', [core(CORE_V2)]);
  });

  it('leaves alone a file with two begin markers, a symbolic link, a file too large and one not UTF-8, and says why', async () => {
    const claude = file(consilio, 'supervisor/consilio/CLAUDE.md');
    const good = readFileSync(claude, 'utf8');
    const doubtful = `${BEGIN_MARKER}\nmine?\n${BEGIN_MARKER}\nyours?\n${END_MARKER}\n`;
    writeFileSync(claude, doubtful);
    try {
      const p = await plan();
      expect(change(p, 'consilio')).toBeUndefined();
      expect(p.unknown).toContainEqual(expect.objectContaining({ kind: 'instructions', name: 'consilio', reason: expect.stringMatching(/CLAUDE\.md of roles\/consilio has 2 fleetspec begin markers \(lines 1, 3\)/) }));
      expect(change(p, 'meta-specific')?.action).toBe('no-op');
      expect(readFileSync(claude, 'utf8')).toBe(doubtful);

      // A link to a file elsewhere (here: a private key) is neither read nor written through.
      writeFileSync(file(consilio, 'secret-key'), 'PRIVATE\n');
      rmSync(claude);
      symlinkSync(file(consilio, 'secret-key'), claude);
      const q = await plan();
      expect(q.unknown).toContainEqual(expect.objectContaining({ name: 'consilio', reason: expect.stringMatching(/is a symbolic link/) }));
      expect(JSON.stringify(q)).not.toContain('PRIVATE');
      expect(lstatSync(claude).isSymbolicLink()).toBe(true);
      rmSync(claude);

      // Remote content is bounded and must be text: a file over 256 KiB, or one that is not UTF-8, is not rewritten.
      const huge = 'x'.repeat(MAX_LIVE_BYTES) + '\n';
      writeFileSync(claude, huge);
      const r = await plan();
      expect(r.unknown).toContainEqual(expect.objectContaining({ name: 'consilio', reason: expect.stringMatching(/CLAUDE\.md of roles\/consilio is larger than 256 KiB/) }));
      expect(JSON.stringify(r).length).toBeLessThan(20_000);
      const latin1 = Buffer.from('caf\xe9 notes\n', 'latin1');
      writeFileSync(claude, latin1);
      const t = await plan();
      expect(t.unknown).toContainEqual(expect.objectContaining({ name: 'consilio', reason: expect.stringMatching(/is not UTF-8 text/) }));
      expect(readFileSync(claude)).toEqual(latin1);
    } finally {
      rmSync(claude, { force: true });
      writeFileSync(claude, good);
    }
  });

  it('refuses marker text, a secret, an unknown role, a core layer with targets and a file listed twice, at file:line:col', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'fleetspec-instructions-bad-'));
    try {
      mkdirSync(join(bad, 'roles'));
      mkdirSync(join(bad, 'instructions'));
      writeFileSync(join(bad, 'roles', 'r.yaml'), stringify({ kind: 'Role', name: 'meta', type: 'role', ssh: { user: 'meta', port: 2202 }, capabilities: [] }));
      writeFileSync(
        join(bad, 'instructions', 'bad.yaml'),
        [
          { kind: 'Instructions', name: 'core-a', layer: 'core', text: `hello\n${END_MARKER}\nescaped\n`, targets: [{ role: 'meta', dir: 'core-dir' }] },
          { kind: 'Instructions', name: 'core-b', layer: 'core', text: 'use OPENROUTER_API_KEY=sk-or-v1-abcdefghijklmnopqrstuvwxyz0123 for tests\n' },
          { kind: 'Instructions', name: 'meta-a', layer: 'meta', text: 'x', targets: [{ role: 'nobody' }, { role: 'meta', files: ['CLAUDE.md'] }] },
          { kind: 'Instructions', name: 'meta-b', layer: 'meta', text: 'y', targets: [{ role: 'meta', files: ['CLAUDE.md', 'GEMINI.md'] }] },
          { kind: 'Instructions', name: 'proj', layer: 'project', text: 'z', targets: [{ role: 'meta', dir: '../escape', files: ['../x.md'] }] },
        ]
          .map((d) => stringify(d))
          .join('---\n'),
      );
      const { diagnostics } = await loadSpecs(bad);
      const at = (code: string) => diagnostics.filter((d) => d.code === code).map((d) => `${d.resource} ${d.line}:${d.col}`);
      expect(at('instructions.marker')).toEqual(['instructions/core-a 4:7']);
      expect(diagnostics.find((d) => d.code === 'instructions.marker')!.message).toMatch(/on line 2 of the text/);
      expect(at('instructions.core-targets')).toEqual(['instructions/core-a 8:1']);
      expect(at('secret.literal')).toEqual(['instructions/core-b 15:7']);
      expect(at('ref.unknown-role')).toEqual(['instructions/meta-a 23:11']);
      expect(at('instructions.target-twice')).toEqual(['instructions/meta-b 33:5']);
      // The path checks are the schema's: no .., no folder in a file name.
      const schema = diagnostics.filter((d) => d.resource === 'instructions/proj' && d.code.startsWith('schema'));
      expect(schema.length, JSON.stringify(diagnostics)).toBeGreaterThanOrEqual(2);
      expect(diagnostics.every((d) => d.file.endsWith('bad.yaml') || d.file.endsWith('r.yaml'))).toBe(true);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it("fleetspec init's example specs hold an instructions example that validates with the others, without warnings", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-instructions-init-'));
    try {
      const files = repositoryFiles('0.0.0').filter((f) => f.path.startsWith('specs/'));
      expect(files.map((f) => f.path)).toContain('specs/instructions/example-app.yaml');
      for (const f of files) {
        mkdirSync(join(dir, f.path, '..'), { recursive: true });
        writeFileSync(join(dir, f.path), f.text);
      }
      const loaded = await loadSpecs(join(dir, 'specs'));
      expect(loaded.diagnostics).toEqual([]);
      expect(loaded.index.all('instructions').map((r) => r.name)).toEqual(['core-behaviors', 'example-app']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
