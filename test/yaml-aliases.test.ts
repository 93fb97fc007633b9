// Hostile aliases (issue 19): a circular alias and alias floods are errors at the alias's
// file:line:col, reported before any code builds or walks the value; the files live in
// test/fixtures/hostile/yaml/.
import { execFile } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicies } from '../reconciler/policies/load.js';
import { loadSpecs } from '../reconciler/specs/load.js';
import { LIMITS, parseSpecText } from '../reconciler/specs/source.js';
import { line } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '..');
const HOSTILE = join(import.meta.dirname, 'fixtures', 'hostile', 'yaml');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

const located = (text: string) => parseSpecText('x.yaml', text).diagnostics.map((d) => `${d.line}:${d.col} ${d.code}`);

describe('circular aliases', () => {
  it('reports each shape at the alias, without building a value', () => {
    expect(located('kind: Host\nname: x\nnotes: &x [*x]\n')).toEqual(['3:12 yaml.alias-circular']);
    expect(located('a: &m\n  b: *m\n')).toEqual(['2:6 yaml.alias-circular']);
    expect(located('&r\n- *r\n')).toEqual(['2:3 yaml.alias-circular']);
    // Deep inside, as a merge key's value, and as a mapping key.
    expect(located('a: &x {b: [1, {c: *x}]}\n')).toEqual(['1:19 yaml.alias-circular']);
    expect(located('ssh: &s\n  user: u\n  <<: *s\n')).toEqual(['3:7 yaml.alias-circular']);
    expect(located('a: &k\n  ? *k\n  : 1\n')).toEqual(['2:5 yaml.alias-circular']);
    // An anchor name used again: the alias names the latest anchor before it, here its own container.
    expect(located('a: &x [1]\nb: &x [*x]\n')).toEqual(['2:8 yaml.alias-circular']);
    const { documents, diagnostics } = parseSpecText('x.yaml', 'kind: Host\nname: x\nnotes: &x [*x]\n');
    expect(documents).toEqual([]);
    expect(diagnostics[0]).toMatchObject({
      severity: 'error',
      message: 'alias *x is inside the node its anchor &x names: the value would contain itself',
      hint: expect.stringContaining('write the value out'),
    });
  });

  it('leaves aliases that only look circular alone', () => {
    // The inner &x is the latest anchor named x before the alias: a sibling, not a container.
    const shadowed = parseSpecText('x.yaml', 'a: &x [1]\nb: [&x [2], *x]\n');
    expect(shadowed.diagnostics).toEqual([]);
    expect(shadowed.documents[0]!.value).toEqual({ a: [1], b: [[2], [2]] });
    // The same node aliased twice side by side is a DAG, not a cycle.
    const shared = parseSpecText('x.yaml', 'base: &b {user: u}\none: *b\ntwo: {inner: *b}\n');
    expect(shared.diagnostics).toEqual([]);
    expect(shared.documents[0]!.value).toEqual({ base: { user: 'u' }, one: { user: 'u' }, two: { inner: { user: 'u' } } });
  });

  it('reports the alias in a later document at its place in the file, and keeps the clean documents', () => {
    const { documents, diagnostics } = parseSpecText('x.yaml', 'kind: Host\nname: a\n---\nkind: Host\nname: b\nnotes: &n [*n]\n');
    expect(documents.map((d) => d.value)).toEqual([{ kind: 'Host', name: 'a' }]);
    expect(diagnostics.map((d) => `${d.line}:${d.col} ${d.code}`)).toEqual(['6:12 yaml.alias-circular']);
  });

  it.each([
    ['circular-seq', 'hosts/x.yaml:4:12: alias *x is inside the node its anchor &x names: the value would contain itself'],
    ['circular-map', 'hosts/x.yaml:7:9: alias *b is inside the node its anchor &b names: the value would contain itself'],
    ['circular-merge', 'hosts/x.yaml:7:7: alias *s is inside the node its anchor &s names: the value would contain itself'],
  ])('%s: the loader reports exactly the alias, and nothing walks the value', async (name, expected) => {
    const dir = join(HOSTILE, name);
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.map((d) => line(d, dir))).toEqual([expected]);
    expect(loaded.resources).toEqual([]);
  });

  it('is an error in a policy file too, at the alias', async () => {
    const dir = join(HOSTILE, 'circular-policy');
    const loaded = await loadPolicies(dir);
    expect(loaded.diagnostics.map((d) => `${relative(dir, d.file)}:${d.line}:${d.col} ${d.code}`)).toEqual(['loop.yaml:6:10 yaml.alias-circular']);
    expect(loaded.set.policies).toEqual([]);
  });
});

describe('alias floods', () => {
  it('billion laughs: a located error, not a hang', async () => {
    const dir = join(HOSTILE, 'billion-laughs');
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.map((d) => line(d, dir))).toEqual([
      `hosts/x.yaml:6:9: aliases expand past the limit of ${LIMITS.maxAliasCount} (Excessive alias count indicates a resource exhaustion attack)`,
    ]);
  });

  it(`refuses more than ${LIMITS.maxAliasCount} aliases in a document, at the first one past the limit`, async () => {
    // Aliases of an empty list expand to nothing, so yaml's own count never stops them.
    const dir = join(HOSTILE, 'many-aliases');
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.map((d) => line(d, dir))).toEqual([`hosts/x.yaml:5:${9 + 4 * LIMITS.maxAliasCount}: more than ${LIMITS.maxAliasCount} aliases in one document`]);
    expect(loaded.diagnostics[0]!.code).toBe('yaml.alias-limit');
  });

  it('answers 256 KiB of aliases within the test timeout (yaml alone takes about a minute)', () => {
    const text = 'kind: Host\nempty: &e []\nnotes: [' + '*e, '.repeat(64 * 1024 - 10) + '*e]\n';
    expect(text.length).toBeLessThanOrEqual(256 * 1024);
    expect(located(text)).toEqual([`3:${9 + 4 * LIMITS.maxAliasCount} yaml.alias-limit`]);
  });
});

describe('fleetspec validate on hostile aliases', () => {
  const fleetspec = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FLEETSPEC_DEBUG: '' } }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      ),
    );

  it('exits 1 with the alias at file:line:col and no stack trace', async () => {
    const r = await fleetspec('validate', 'test/fixtures/hostile/yaml/circular-seq');
    expect(r.stdout).toBe(
      'test/fixtures/hostile/yaml/circular-seq/hosts/x.yaml:4:12: error alias *x is inside the node its anchor &x names: the value would contain itself\n' +
        '  hint: spec values are trees: write the value out, or anchor a node that does not hold the alias\n',
    );
    expect(r.stderr).toBe('test/fixtures/hostile/yaml/circular-seq: 1 file, 0 resources, 0 policies checked, 1 error, 0 warnings\n');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toMatch(/Maximum call stack|internal error|\n\s+at /);
  });
});
