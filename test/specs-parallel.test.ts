// Loading a large fleet in two threads (reconciler/specs/load.ts, parse-worker.ts): from 400 spec
// files on, the built CLI parses half of them in a worker thread and builds their syntax trees
// again only when a position is asked for. Run from the TypeScript sources (as here) the loader has
// no built worker and reads everything itself, so each test compares the built CLI, through the
// worker, with the in-thread load of the same folder: same problems at the same file:line:col,
// same positions in a plan, the same unreadable-file error.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleet } from '../bench/fleet.js';
import { hostTarget } from '../reconciler/kinds/hosts/driver.js';
import type { Host } from '../reconciler/kinds/hosts/index.js';
import type { Resource } from '../reconciler/kinds/kind.js';
import { findSpecFiles, loadSpecs } from '../reconciler/specs/load.js';
import { clientKey } from './ssh/sshd.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

function cli(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [...nodeArgs, BIN, ...args], { env: { ...process.env, NO_COLOR: '1', DATABASE_URL: '', ...env }, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
    );
  });
}

describe('a fleet of more than 400 spec files, half parsed in a worker thread', () => {
  let dir: string;
  let specs: string;
  let files: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-parallel-'));
    specs = join(dir, 'specs');
    await mkdir(specs);
    await mkdir(join(dir, 'no-policies')); // no policies: only the loader's own problems
    // 125 projects: 501 files (dns, hosts, ports, tickets, zones), sorted; the worker takes the second half.
    await generateFleet(specs, 125 * 18);
    files = (await findSpecFiles(specs)).files;
    expect(files.length).toBeGreaterThanOrEqual(400);
    const late = (name: string) => {
      const file = files.find((f) => f.endsWith(name))!;
      expect(files.indexOf(file), `${name} is in the worker's half`).toBeGreaterThanOrEqual(Math.ceil(files.length / 2));
      return file;
    };
    // Problems in files of the worker's half: a schema error, a YAML error, and a reference error.
    await writeFile(late('/tickets/T-0100.yaml'), 'kind: Ticket\nid: T-0100\ntitle: Broken\nstatus: open\nhosts: [host99]\nsurprise: field\n');
    await writeFile(late('/ports/project120.yaml'), (await readFile(late('/ports/project120.yaml'), 'utf8')).replace('allocations:', 'allocations: [oops\n'));
    await writeFile(late('/tickets/T-0110.yaml'), 'kind: Ticket\nid: T-0110\ntitle: Nowhere\nstatus: open\nhosts: [no-such-host]\n');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('validate reports the same problems at the same places as an in-thread load', async () => {
    const expected = (await loadSpecs(specs)).diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.code}`);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    // Node writes one CPU profile per thread: two, one of them the worker's, show it took part.
    const profiles = join(dir, 'profiles');
    const run = await cli(['validate', specs, '--format', 'json', '--policies', join(dir, 'no-policies')], {}, ['--cpu-prof', `--cpu-prof-dir=${profiles}`]);
    expect(run.code, run.stderr).toBe(1);
    const written = await readdir(profiles);
    expect(written).toHaveLength(2);
    const texts = await Promise.all(written.map((f) => readFile(join(profiles, f), 'utf8')));
    expect(texts.filter((t) => t.includes('parse-worker.js'))).toHaveLength(1);
    const reported = (JSON.parse(run.stdout) as { diagnostics: { file: string; line: number; col: number; code: string }[] }).diagnostics;
    expect(reported.map((d) => `${d.file}:${d.line}:${d.col} ${d.code}`)).toEqual(expected);
  });

  it("a live plan's positions (a host without ssh settings) are the in-thread ones", async () => {
    // Valid specs again: the plan needs them.
    const broken = files.filter((f) => /(tickets\/T-0100|tickets\/T-0110|ports\/project120)\.yaml$/.test(f));
    await Promise.all(broken.map((f) => rm(f)));
    const loaded = await loadSpecs(specs);
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const expected = new Map(loaded.index.all('hosts').map((h) => [h.name, hostTarget(h as Resource<Host>) as string]));
    const key = join(dir, 'id_ed25519');
    await writeFile(key, clientKey().privateKey, { mode: 0o600 });
    // Hosts without ssh settings are never contacted: their reason names where the spec is.
    const run = await cli(['plan', specs, '--live', '--ssh-key', key, '--format', 'json', '--policies', join(dir, 'no-policies')], { FLEETSPEC_STATE_DIR: join(dir, 'state') });
    expect([0, 2], run.stderr).toContain(run.code);
    const unknown = (JSON.parse(run.stdout) as { unknown: { kind: string; name: string; reason: string }[] }).unknown.filter((u) => u.kind === 'hosts');
    expect(unknown).toHaveLength(expected.size);
    for (const u of unknown) expect(u.reason).toBe(expected.get(u.name));
    expect(unknown[0]!.reason).toMatch(/^no ssh settings in .*host\d+\.yaml:\d+:\d+$/);
  });

  it.skipIf(userInfo().uid === 0)('a file the worker cannot read is the same error as in-thread', async () => {
    const file = files.at(-2)!;
    await chmod(file, 0o000);
    try {
      const inThread = await loadSpecs(specs).then(() => 'loaded', (err: Error) => err.message);
      const run = await cli(['validate', specs]);
      expect(inThread).toMatch(/EACCES/);
      expect(run.stderr).toContain(inThread);
    } finally {
      await chmod(file, 0o644);
    }
  });
});
