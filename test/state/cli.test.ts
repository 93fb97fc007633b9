// The store commands through the built binary, on each engine: exit codes, stdin-only
// secrets, and specs/ports reconciled into the store only through diff and apply.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../reconciler/state/secrets.js';
import { ENGINES, type Engine } from './engines.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

describe.each(ENGINES)('store commands on $name', (engine: Engine) => {
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;
  const key = generateKey();
  const fleetspec = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });

  beforeAll(async () => {
    const fresh = await engine.fresh();
    cleanup = fresh.cleanup;
    const { DATABASE_URL: _, ...rest } = process.env;
    env = {
      ...rest,
      NO_COLOR: '1',
      FLEETSPEC_SECRET_KEY: key,
      FLEETSPEC_ACTOR: 'ci',
      ...(fresh.options.databaseUrl ? { DATABASE_URL: fresh.options.databaseUrl } : { FLEETSPEC_STATE_DIR: fresh.options.stateDir! }),
    };
  });
  afterAll(() => cleanup());

  it('reconciles specs/ports only through diff (exit 2) and apply, then reports no changes (exit 0)', async () => {
    const diff = await fleetspec(['ports', 'diff', 'specs', '--format', 'json']);
    expect(diff.code).toBe(2);
    const { changes } = JSON.parse(diff.stdout);
    expect(changes).toContainEqual({
      kind: 'ports',
      name: 'consilio/api',
      action: 'create',
      before: null,
      after: { port: 4001 },
      reason: 'port pinned in specs, not allocated',
    });
    expect(changes).toHaveLength(7);
    expect((await fleetspec(['ports', 'list', '--format', 'json'])).stdout).toContain('"ranges": []');
    expect((await fleetspec(['ports', 'apply', 'specs'])).code).toBe(0);
    expect((await fleetspec(['ports', 'diff', 'specs'])).code).toBe(0);
    expect((await fleetspec(['ports', 'get', 'consilio', 'api'])).stdout).toBe('4001\n');
  });

  it('allocates idempotently and explains an unknown project with exit 1', async () => {
    const first = await fleetspec(['ports', 'allocate', 'odin', 'grafana']);
    expect(first).toMatchObject({ code: 0, stdout: '7000\n' });
    expect((await fleetspec(['ports', 'allocate', 'odin', 'grafana'])).stdout).toBe('7000\n');
    const unknown = await fleetspec(['ports', 'allocate', 'nope', 'api']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('fleetspec ports allocate: allocate nope/api: unknown project nope');
    expect((await fleetspec(['ports', 'get', 'odin', 'loki'])).code).toBe(1);
  });

  it('sets a secret from stdin only, gets it back, and never lists its value', async () => {
    const set = await fleetspec(['secrets', 'set', 'meta/cloudflare/api_token'], 'cf-secret-value\n');
    expect(set.code).toBe(0);
    expect(set.stderr + set.stdout).not.toContain('cf-secret-value');
    expect(await fleetspec(['secrets', 'get', 'meta/cloudflare/api_token'])).toMatchObject({ code: 0, stdout: 'cf-secret-value\n' });
    const list = await fleetspec(['secrets', 'list', '--format', 'json']);
    expect(JSON.parse(list.stdout).map((s: { path: string }) => s.path)).toEqual(['meta/cloudflare/api_token']);
    expect(list.stdout).not.toContain('cf-secret-value');
    // There is no way to pass the value as an argument.
    expect((await fleetspec(['secrets', 'set', 'meta/x/y', 'value-on-argv'])).code).toBe(1);
  });

  it('names a missing or malformed key instead of failing obscurely', async () => {
    const saved = env.FLEETSPEC_SECRET_KEY;
    delete env.FLEETSPEC_SECRET_KEY;
    const missing = await fleetspec(['secrets', 'get', 'meta/cloudflare/api_token']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('FLEETSPEC_SECRET_KEY is not set');
    env.FLEETSPEC_SECRET_KEY = generateKey();
    const wrong = await fleetspec(['secrets', 'get', 'meta/cloudflare/api_token']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/was sealed with key [0-9a-f]{16}, and FLEETSPEC_SECRET_KEY is key [0-9a-f]{16}/);
    env.FLEETSPEC_SECRET_KEY = saved;
  });

  it('rotates the key and then reads with the new one', async () => {
    const next = generateKey();
    const rotate = await fleetspec(['secrets', 'rotate']);
    expect(rotate.code, 'no new key given').toBe(1);
    env.FLEETSPEC_NEW_SECRET_KEY = next;
    expect((await fleetspec(['secrets', 'rotate'])).code).toBe(0);
    env.FLEETSPEC_SECRET_KEY = next;
    expect((await fleetspec(['secrets', 'get', 'meta/cloudflare/api_token'])).stdout).toBe('cf-secret-value\n');
  });
});

describe('store connection errors', () => {
  it('exits 3 when PostgreSQL cannot be reached, without printing the password', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((done) =>
      execFile(process.execPath, [BIN, 'ports', 'list'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/x' } }, (err, _o, stderr) =>
        done({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
      ),
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cannot connect to PostgreSQL at postgres://u:***@127.0.0.1:1/x');
    expect(r.stderr).not.toContain('hunter2');
  });

  it('does not print a password given as a query parameter either, and still names the host', async () => {
    for (const [url, shown] of [
      ['postgres://u@127.0.0.1:1/db?password=hunter2', 'postgres://u@127.0.0.1:1/db?password=***'],
      ['postgresql://u@127.0.0.1:1/db?sslmode=disable&password=hunter2&application_name=x', 'postgresql://u@127.0.0.1:1/db?sslmode=disable&password=***&application_name=x'],
    ]) {
      const r = await new Promise<{ code: number; stderr: string }>((done) =>
        execFile(process.execPath, [BIN, 'ports', 'list'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: url } }, (err, _o, stderr) =>
          done({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
        ),
      );
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`cannot connect to PostgreSQL at ${shown}: `);
      expect(r.stderr).toContain('127.0.0.1:1');
      expect(r.stderr).not.toContain('hunter2');
    }
  });
});
