// The user's own fleet in specs/ must validate clean, carry the seeds' facts,
// and name the committed schema of its kind for editors.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { renderSchema, schemaFileName } from '../reconciler/commands/schema.js';
import { KINDS } from '../reconciler/kinds/index.js';
import type { Host } from '../reconciler/kinds/hosts/index.js';
import type { PortRange } from '../reconciler/kinds/ports/index.js';
import type { Role } from '../reconciler/kinds/roles/index.js';
import { loadSpecs } from '../reconciler/specs/load.js';

const ROOT = resolve(import.meta.dirname, '..');
const SPECS = join(ROOT, 'specs');

describe('specs/ (the user\'s fleet)', async () => {
  const loaded = await loadSpecs(SPECS);
  const count = (folder: string) => loaded.index.all(folder).length;

  it('validates with no problem at all', () => {
    expect(loaded.diagnostics).toEqual([]);
  });

  it('holds every kind from the seeds', () => {
    expect(count('hosts')).toBe(3);
    expect(count('models')).toBe(11);
    expect(count('roles')).toBe(7);
    expect(count('tickets')).toBe(7);
    expect(count('ports')).toBe(6);
    expect(count('dns')).toBe(1);
    expect(count('vms')).toBe(1);
    expect(count('instructions')).toBe(8);
  });

  it('keeps the seeds\' facts', () => {
    const east = loaded.index.get('hosts', 'linux-home')!.value as Host;
    expect(east.address).toBe('192.168.86.51');
    expect(east.monitoring).toContainEqual({ metric: 'disk.usage', mount: '/', target: '<80%', alert: '>90%' });
    expect(east.observed?.disks).toEqual([{ mount: '/', usedPercent: 97 }]);
    const consilio = loaded.index.get('ports', 'consilio')!.value as PortRange;
    expect(consilio.range).toEqual({ start: 4000, end: 4999 });
    expect(consilio.allocations).toEqual([{ service: 'api', port: 4001 }]);
    const developer = loaded.index.get('roles', 'developer')!.value as Role;
    expect(developer.ssh).toEqual({ user: 'developer', port: 2200 });
    expect(developer.denied).toEqual(['deploy.production', 'ssh.bastions', 'docker.socket']);
    expect(loaded.index.get('models', 'qwen2.5:7b@ai')).toBeDefined();
    expect(loaded.index.get('tickets', 'T-0001')!.value).toMatchObject({ priority: 'critical', hosts: ['linux-home'] });
  });

  it('names its kind\'s schema on the first line of every file', async () => {
    for (const file of loaded.files) {
      const first = (await readFile(file, 'utf8')).split('\n')[0];
      const kind = KINDS.find((k) => k.folder === basename(dirname(file)))!;
      expect(first, file).toBe(`# yaml-language-server: $schema=../schemas/${schemaFileName(kind.folder)}`);
    }
  });

  it('has committed schemas identical to what `fleetspec schema` generates', async () => {
    for (const kind of KINDS) {
      const committed = await readFile(join(SPECS, 'schemas', schemaFileName(kind.folder)), 'utf8');
      expect(committed, `${kind.folder}: run \`fleetspec schema --out specs/schemas\``).toBe(renderSchema(kind.schema));
    }
  });
});

describe('the fleetspec binary', () => {
  const bin = join(ROOT, 'dist', 'reconciler', 'cli.js');
  const fleetspec = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('validates specs/ and exits 0', async () => {
    const r = await fleetspec('validate', 'specs');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^specs: 34 files, 45 resources, 9 policies checked, 0 errors, 9 warnings: valid/m);
  });

  it('exits 1 with file:line:col on a broken spec', async () => {
    const r = await fleetspec('validate', 'test/fixtures/broken/unknown-field');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      'test/fixtures/broken/unknown-field/hosts/ai.yaml:3:1 hosts/ai: error unknown field "adress"\n  hint: did you mean "address"?\n',
    );
  });

  it('checks one file against the tree it belongs to, and reports only that file', async () => {
    const r = await fleetspec('validate', 'specs/models/ai.yaml');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^specs\/models\/ai.yaml: 1 file, 3 resources, \d+ polic(y|ies) checked, 0 errors/m);
    // The overlap is a policy (port-ranges, from the repository's policies/), reported on the later range.
    const fixture = 'test/fixtures/policies/port-ranges/fail-overlap/ports';
    const broken = await fleetspec('validate', `${fixture}/consilio.yaml`, '--policies', 'policies');
    expect(broken.code, 'the overlap is reported on odin.yaml, not on this file').toBe(0);
    const other = await fleetspec('validate', `${fixture}/odin.yaml`, '--policies', 'policies');
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/^test\/fixtures\/policies\/port-ranges\/fail-overlap\/ports\/odin.yaml:3:8 ports\/odin: error range 4500-5499 overlaps ports\/consilio \(4000-4999\) \(policy port-ranges\)/);
  });

  it('runs every check it can while schema errors remain, and says which it skipped and why', async () => {
    // A copy of specs/ with one host broken and two port ranges overlapping: the schema error and
    // the overlap (port-ranges reads only specs/ports) are both reported in one run; the policies
    // that read specs/hosts are skipped, by name, with the reason.
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-validate-all-'));
    try {
      await cp(SPECS, join(dir, 'specs'), { recursive: true });
      await cp(join(ROOT, 'policies'), join(dir, 'policies'), { recursive: true });
      const host = join(dir, 'specs', 'hosts', 'ai.yaml');
      await writeFile(host, (await readFile(host, 'utf8')).replace('address: 192.168.86.56', 'adress: 192.168.86.56'));
      const odin = join(dir, 'specs', 'ports', 'odin.yaml');
      await writeFile(odin, (await readFile(odin, 'utf8')).replace('start: 7000', 'start: 6900'));
      const r = await fleetspec('validate', join(dir, 'specs'), '--format', 'json');
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as { diagnostics: { code: string; file: string }[]; skipped: { check: string; reason: string }[] };
      expect(report.diagnostics.map((d) => d.code)).toEqual(expect.arrayContaining(['schema.unknown-field', 'policy.port-ranges']));
      const skipped = report.skipped.map((s) => s.check);
      expect(skipped).toEqual(expect.arrayContaining(['policy host-thresholds', 'policy port-listeners', 'policy model-memory']));
      expect(skipped).not.toContain('policy port-ranges');
      expect(report.skipped.find((s) => s.check === 'policy host-thresholds')?.reason).toBe('it reads specs/hosts, which has errors: fix them and validate again');
      const text = await fleetspec('validate', join(dir, 'specs'));
      expect(text.stderr).toContain('skipped policy port-listeners: it reads specs/hosts, which has errors');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints machine-readable diagnostics with --format json', async () => {
    const r = await fleetspec('validate', 'test/fixtures/broken/bad-enum', '--format', 'json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: false, files: 1, resources: 0, errors: 1, warnings: 0 });
    expect(report.diagnostics[0]).toEqual({
      severity: 'error',
      code: 'schema.not-allowed',
      file: 'test/fixtures/broken/bad-enum/models/m.yaml',
      line: 3,
      col: 10,
      resource: 'models/qwen2.5:7b',
      message: '"olama" is not one of: ollama, llama.cpp, api',
      hint: 'did you mean "ollama"?',
    });
  });

  it('has --help on every command and exits 0', async () => {
    for (const args of [['--help'], ['validate', '--help'], ['schema', '--help']]) {
      const r = await fleetspec(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: fleetspec/);
    }
  });

  it('treats a usage mistake as invalid input (exit 1)', async () => {
    const r = await fleetspec('validate', '--format', 'yaml');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("argument 'yaml' is invalid");
    expect((await fleetspec('no-such-command')).code).toBe(1);
  });
});
