// `fleetspec diagrams` through the built binary: it writes docs/diagrams/src/*.mmd from the
// specs, rewrites a file only when its bytes change, --check reports stale files without
// writing, invalid specs write nothing, and files it did not generate are left alone.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIAGRAMS } from '../../reconciler/diagrams/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

let dir: string;
const fleetspec = (args: string[], cwd = ROOT) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
    );
    child.stdin!.end();
  });

/** A scratch repository: a copy of specs/ and of the committed diagrams. */
async function scratch(name: string): Promise<string> {
  const repo = join(dir, name);
  await cp(join(ROOT, 'specs'), join(repo, 'specs'), { recursive: true });
  await cp(join(ROOT, 'docs', 'diagrams', 'src'), join(repo, 'docs', 'diagrams', 'src'), { recursive: true });
  return repo;
}

const mtimes = async (folder: string) => Object.fromEntries(await Promise.all((await readdir(folder)).sort().map(async (f) => [f, (await stat(join(folder, f))).mtimeMs] as const)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-diagrams-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fleetspec diagrams', () => {
  it('the committed docs/diagrams/src is up to date with specs/ (as the validate workflow checks)', async () => {
    const r = await fleetspec(['diagrams', 'specs', '--check', '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { check: boolean; files: { name: string; status: string }[] };
    expect(out.check).toBe(true);
    expect(out.files.map((f) => [f.name, f.status])).toEqual(DIAGRAMS.map((d) => [d.name, 'unchanged']));
  });

  it('writes every diagram into a new folder, then leaves the files untouched when nothing changed', async () => {
    const out = join(dir, 'fresh');
    const first = await fleetspec(['diagrams', 'specs', '--out', out]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^topology +\S+topology\.mmd +written +\d+$/m);
    expect((await readdir(out)).sort()).toEqual(['flow.mmd', 'roles.mmd', 'states.mmd', 'topology.mmd']);
    // Same bytes as the committed files: the output depends on the specs only.
    for (const d of DIAGRAMS) expect(await readFile(join(out, `${d.name}.mmd`), 'utf8')).toBe(await readFile(join(ROOT, 'docs', 'diagrams', 'src', `${d.name}.mmd`), 'utf8'));
    const before = await mtimes(out);
    await new Promise((r) => setTimeout(r, 20));
    const second = await fleetspec(['diagrams', 'specs', '--out', out]);
    expect(second.code).toBe(0);
    expect(second.stdout.match(/ unchanged /g)).toHaveLength(4);
    expect(await mtimes(out)).toEqual(before);
  });

  it('does not depend on file names or order in specs/', async () => {
    const repo = await scratch('renamed');
    await rename(join(repo, 'specs', 'hosts', 'ai.yaml'), join(repo, 'specs', 'hosts', 'zz-ai.yaml'));
    await rename(join(repo, 'specs', 'roles', 'developer.yaml'), join(repo, 'specs', 'roles', 'a-developer.yaml'));
    const r = await fleetspec(['diagrams', join(repo, 'specs'), '--check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('--check names what a spec change made stale and writes nothing; without it, only that file is rewritten', async () => {
    const repo = await scratch('changed');
    const host = join(repo, 'specs', 'hosts', 'linux-home.yaml');
    await writeFile(host, (await readFile(host, 'utf8')).replace('port: 19999', 'port: 19998'));
    const src = join(repo, 'docs', 'diagrams', 'src');
    const before = await readFile(join(src, 'topology.mmd'), 'utf8');
    const check = await fleetspec(['diagrams', join(repo, 'specs'), '--check', '--format', 'json']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('fleetspec diagrams --check: topology out of date with the specs; run fleetspec diagrams and commit');
    expect(JSON.parse(check.stdout).files.find((f: { name: string }) => f.name === 'topology').status).toBe('stale');
    expect(await readFile(join(src, 'topology.mmd'), 'utf8')).toBe(before);

    const write = await fleetspec(['diagrams', join(repo, 'specs'), '--format', 'json']);
    expect(write.code).toBe(0);
    expect(JSON.parse(write.stdout).files.map((f: { name: string; status: string }) => `${f.name} ${f.status}`)).toEqual(['topology written', 'roles unchanged', 'states unchanged', 'flow unchanged']);
    const after = await readFile(join(src, 'topology.mmd'), 'utf8');
    expect(after).toContain('netdata :19998');
    expect(after).not.toContain('netdata :19999');
  });

  it('writes nothing for invalid specs, and says why with file:line:col', async () => {
    const repo = await scratch('invalid');
    const role = join(repo, 'specs', 'roles', 'developer.yaml');
    await writeFile(role, (await readFile(role, 'utf8')).replace('  port: 2200', '  port: 99999'));
    await rm(join(repo, 'docs'), { recursive: true });
    const r = await fleetspec(['diagrams', join(repo, 'specs')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/roles\/developer\.yaml:\d+:\d+ roles\/developer: /);
    expect(r.stderr).toContain('fleetspec diagrams: the specs are invalid; no diagram was written');
    await expect(stat(join(repo, 'docs'))).rejects.toThrow(/ENOENT/);
  });

  it('removes a generated file no diagram makes any more, and never touches an operator\'s own .mmd', async () => {
    const repo = await scratch('leftovers');
    const src = join(repo, 'docs', 'diagrams', 'src');
    const generated = (await readFile(join(src, 'states.mmd'), 'utf8')).replace('Run state machine', 'An older diagram');
    await writeFile(join(src, 'old.mmd'), generated);
    const own = 'flowchart LR\n  a --> b\n';
    await mkdir(join(src, 'mine'), { recursive: true });
    await writeFile(join(src, 'notes.mmd'), own);
    const check = await fleetspec(['diagrams', join(repo, 'specs'), '--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^old +\S+old\.mmd +stale \(to remove\)/m);
    const r = await fleetspec(['diagrams', join(repo, 'specs')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^old +\S+old\.mmd +removed/m);
    expect((await readdir(src)).sort()).toEqual(['flow.mmd', 'mine', 'notes.mmd', 'roles.mmd', 'states.mmd', 'topology.mmd']);
    expect(await readFile(join(src, 'notes.mmd'), 'utf8')).toBe(own);
  });

  it('--only writes the named diagrams; an unknown name is refused with the list', async () => {
    const out = join(dir, 'only');
    const r = await fleetspec(['diagrams', 'specs', '--out', out, '--only', 'roles', 'states']);
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['roles.mmd', 'states.mmd']);
    const bad = await fleetspec(['diagrams', 'specs', '--out', out, '--only', 'network']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('fleetspec diagrams: no diagram named "network"; diagrams: topology, roles, states, flow\n');
  });
});
