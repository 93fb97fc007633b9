// The release (issue 21, item 1): `npm run release` (build, then pack-release) packs what the east server installs, and only
// that: the built code, the embedded store's template, the deployment files and the exact
// dependency tree as npm-shrinkwrap.json (so `npm ci --omit=dev` there installs what was tested).
// No network: the packing is local; installing it (bench/footprint.ts) fetches from the registry.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
let dir: string;
let entries: string[];
let shrinkwrap: { packages: Record<string, { dev?: boolean; version?: string; dependencies?: Record<string, string> }> };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-release-'));
  // The build's second step (the first, tsc, ran before the suite: rebuilding dist/ now would pull it
  // from under the tests that run the CLI), then the packing `npm run release` does after it.
  const template = spawnSync(process.execPath, [join(ROOT, 'dist', 'reconciler', 'state', 'make-template.js')], { cwd: ROOT, encoding: 'utf8' });
  if (template.status !== 0) throw new Error(`make-template failed (${template.status}): ${template.stderr}`);
  const packed = spawnSync('npm', ['run', '--silent', 'pack-release'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RELEASE_DIR: dir } });
  if (packed.status !== 0) throw new Error(`npm run release failed (${packed.status}): ${packed.stderr}`);
  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const tarball = join(dir, `fleetspec-${version}.tgz`);
  entries = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
  execFileSync('tar', ['xzf', tarball, '-C', dir, 'package/npm-shrinkwrap.json']);
  shrinkwrap = JSON.parse(await readFile(join(dir, 'package', 'npm-shrinkwrap.json'), 'utf8'));
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run release', () => {
  it('holds the built CLI, the store template with its stamp, the units and the shrinkwrap', () => {
    for (const file of [
      'package/package.json',
      'package/npm-shrinkwrap.json',
      'package/dist/reconciler/cli.js',
      'package/dist/reconciler/state/store-template.tar.gz',
      'package/dist/reconciler/state/store-template.tar.gz.json',
      'package/docs/deploy/fleetspec.service',
      'package/docs/deploy/fleetspec-reconcile.service',
      'package/docs/deploy/fleetspec-reconcile.timer',
      'package/docs/deploy/fleetspec.env.example',
      // The guides travel with the release (the units' Documentation= names them there).
      'package/docs/getting-started.md',
      'package/docs/running-the-loop.md',
      'package/docs/security.md',
      'package/docs/reference.md',
    ]) {
      expect(entries, file).toContain(file);
    }
  });

  it('holds nothing of the development tree: no tests, benchmarks, sources, specs or node_modules', () => {
    const stray = entries.filter((e) => /^package\/(test|bench|specs|stacks|policies|node_modules|\.github|\.ci|dist\/test|dist\/bench)\//.test(e) || /\.ts$/.test(e));
    expect(stray).toEqual([]);
  });

  it('pins the production tree: the shrinkwrap is the lockfile, and the prebuilt cdktf providers are development only', async () => {
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as typeof shrinkwrap;
    expect(shrinkwrap.packages).toEqual(lock.packages);
    for (const [path, entry] of Object.entries(shrinkwrap.packages)) {
      if (path.includes('@cdktf/provider-')) expect(entry.dev, path).toBe(true);
    }
    // The repository keeps its lockfile only: the shrinkwrap exists in the tarball alone.
    expect(existsSync(join(ROOT, 'npm-shrinkwrap.json'))).toBe(false);
  });
});
