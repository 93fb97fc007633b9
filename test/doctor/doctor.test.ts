// `fleetspec doctor` through run(), against the OpenAPI-checked GitHub stand-in, on both stores:
// a good setup passes every check, and each broken part is one FAIL line with what to fix.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { bufferOutput } from '../../reconciler/commands/output.js';
import { run } from '../../reconciler/program.js';
import { openDb } from '../../reconciler/state/db.js';
import { generateKey, parseKey, setSecret } from '../../reconciler/state/secrets.js';
import { startGitHubServer, type BranchProtectionRecord, type GitHubTestServer, type RouteHandler } from '../github/server.js';
import { ENGINES, type Engine } from '../state/engines.js';

// Several doctor runs per test, each opening the store: slow on a loaded machine.
vi.setConfig({ testTimeout: 120_000 });

const GOOD_PROTECTION: BranchProtectionRecord = {
  reviews: { count: 1, dismissStale: true },
  statusChecks: { contexts: ['fleetspec/plan'], strict: true },
  enforceAdmins: true,
};
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHXkTHWyP4qB0bq2Qn6J9zFq0mYQk2Y3t8cQvOeQm7cN';

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix: string | null;
}

/** The GitHub stand-in with GET /user answering with extra headers (scopes, a Date of another clock). */
function userHeaders(gh: GitHubTestServer, headers: () => Record<string, string>): void {
  const original = gh.routes.get('GET /user')!;
  const wrapped: RouteHandler = (ctx) => {
    const reply = original(ctx);
    return { ...reply, headers: { ...reply.headers, ...headers() } };
  };
  gh.route('GET /user', wrapped);
}

async function doctor(args: string[] = []): Promise<{ code: number; text: string; checks: Check[] }> {
  const out = bufferOutput();
  const code = await run(['doctor', ...args], out);
  const json = bufferOutput();
  const again = await run(['doctor', '--format', 'json', ...args], json);
  expect(again).toBe(code);
  const checks = (JSON.parse(json.out.join('\n')) as { checks: Check[] }).checks;
  return { code, text: [...out.out, ...out.err].join('\n'), checks };
}

const byName = (checks: Check[], name: string) => checks.find((c) => c.name === name);

describe.each(ENGINES)('fleetspec doctor on $name', (engine: Engine) => {
  let dir: string;
  let gh: GitHubTestServer;
  let cleanup: () => Promise<void>;
  let storeEnv: Record<string, string>;
  let stateDir: string | undefined;
  let key: string;
  let scopes: string | undefined;
  let clockOffsetMs = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-doctor-'));
    const fresh = await engine.fresh();
    cleanup = fresh.cleanup;
    stateDir = fresh.options.stateDir;
    storeEnv = fresh.options.databaseUrl ? { DATABASE_URL: fresh.options.databaseUrl, FLEETSPEC_STATE_DIR: join(dir, 'unused-state') } : { FLEETSPEC_STATE_DIR: stateDir! };
    // A migrated store holding one secret sealed with the key.
    key = generateKey();
    const db = await openDb(fresh.options);
    await setSecret(db, parseKey(key), 'meta/cloudflare/api_token', Buffer.from('cf-canary-value'), 'test', ['zones/example.org']);
    await db.close();
    await mkdir(join(dir, 'specs', 'hosts'), { recursive: true });
    await writeFile(join(dir, 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
    gh = await startGitHubServer({ login: 'fleet-bot', owner: 'acme', repo: 'fleet' });
    gh.setCollaborators([{ login: 'fleet-bot', permission: 'write' }]);
    userHeaders(gh, () => ({
      ...(scopes === undefined ? {} : { 'x-oauth-scopes': scopes }),
      ...(clockOffsetMs ? { date: new Date(Date.now() + clockOffsetMs).toUTCString() } : {}),
    }));
  }, 120_000);

  afterAll(async () => {
    await gh?.close();
    await cleanup?.();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    scopes = 'repo, read:org';
    clockOffsetMs = 0;
    gh.repo().protection = new Map([['main', structuredClone(GOOD_PROTECTION)]]);
    await writeFile(join(dir, 'specs', 'hosts', 'box.yaml'), `kind: Host\nname: box\naddress: 192.0.2.10\nssh:\n  user: fleetspec\n  port: 22\n  hostKey: ${HOST_KEY}\n`);
    await chmod(join(dir, 'id_ed25519'), 0o600);
    if (stateDir) await chmod(stateDir, 0o700);
    for (const [name, value] of Object.entries({
      ...storeEnv,
      DATABASE_URL: storeEnv.DATABASE_URL ?? '',
      FLEETSPEC_SECRET_KEY: key,
      FLEETSPEC_GITHUB_TOKEN: gh.token,
      GITHUB_TOKEN: '',
      FLEETSPEC_GITHUB_REPO: gh.fullName,
      FLEETSPEC_GITHUB_API: gh.url,
      FLEETSPEC_BRANCH: '',
      FLEETSPEC_TERRAFORM: '',
      FLEETSPEC_DOCTOR_TIMEOUT: '20s',
    })) {
      vi.stubEnv(name, value);
    }
  });

  afterEach(() => {
    vi.unstubAllEnvs();
    expect(gh.takeViolations()).toEqual([]);
  });

  const args = () => ['--specs', join(dir, 'specs'), '--ssh-key', join(dir, 'id_ed25519')];

  it('passes a good setup: every check ok or a warning, exit 0, no secret in the output', async () => {
    const { code, text, checks } = await doctor(args());
    expect(checks.filter((c) => c.status === 'fail'), text).toEqual([]);
    expect(code, text).toBe(0);
    for (const name of ['node', 'store', 'store.migrations', 'key', 'key.secrets', 'github.token', 'github.user', 'github.clock', 'github.scopes', 'github.repository', 'github.protection', 'terraform', 'ssh.key', 'ssh.hostkeys', 'disk']) {
      expect(byName(checks, name), `${name} in ${text}`).toBeDefined();
    }
    expect(byName(checks, 'store.migrations')!.status).toBe('ok');
    expect(byName(checks, 'github.user')!.detail).toContain('@fleet-bot');
    expect(byName(checks, 'github.repository')!.detail).toContain('can push');
    if (stateDir) expect(byName(checks, 'store.folder')!.status).toBe('ok');
    for (const secret of [key, gh.token, 'cf-canary-value']) expect(text).not.toContain(secret);
    expect(text).toMatch(/^ok {4}github\.protection: /m);
  });

  it('says a fine-grained token sends no scopes, and judges it by the repository', async () => {
    scopes = undefined;
    const { code, checks } = await doctor(args());
    expect(code).toBe(0);
    expect(byName(checks, 'github.scopes')!.detail).toMatch(/fine-grained/);
  });

  it('fails a missing key, and a key that is no key, with how to make one', async () => {
    vi.stubEnv('FLEETSPEC_SECRET_KEY', '');
    let r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}key: FLEETSPEC_SECRET_KEY is not set\n {6}fix: .*fleetspec secrets keygen/m);
    vi.stubEnv('FLEETSPEC_SECRET_KEY', 'not-a-key');
    r = await doctor(args());
    expect(r.code).toBe(1);
    expect(byName(r.checks, 'key')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/not a 256-bit key/) });
    expect(r.text).not.toContain('not-a-key');
  });

  it('fails a key that does not open the stored secrets', async () => {
    vi.stubEnv('FLEETSPEC_SECRET_KEY', generateKey());
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(byName(r.checks, 'key')!.status).toBe('ok');
    expect(byName(r.checks, 'key.secrets')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/sealed with key/) });
    expect(r.text).not.toContain('cf-canary-value');
  });

  it('fails a token GitHub rejects (401), without printing it', async () => {
    const wrong = 'ghp_wrongwrongwrongwrongwrongwrong1234';
    vi.stubEnv('FLEETSPEC_GITHUB_TOKEN', wrong);
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}github\.user: GitHub rejected the token \(401: Bad credentials\)\n {6}fix: .*make a new one/m);
    expect(r.text).not.toContain(wrong);
  });

  it('fails an unprotected default branch (404) and one without the required review', async () => {
    gh.repo().protection = new Map();
    let r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}github\.protection: main is not protected\n {6}fix: .*Settings → Branches → main/m);
    gh.repo().protection = new Map([['main', { ...GOOD_PROTECTION, reviews: undefined } as BranchProtectionRecord]]);
    r = await doctor(args());
    expect(r.code).toBe(1);
    expect(byName(r.checks, 'github.protection')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/no pull request required/) });
    gh.repo().protection = new Map([['main', { ...GOOD_PROTECTION, statusChecks: { contexts: ['ci'], strict: false }, enforceAdmins: false }]]);
    r = await doctor(args());
    expect(byName(r.checks, 'github.protection')!.detail).toMatch(/fleetspec\/plan is not required.*up to date.*bypass/);
  });

  it('fails a clock five minutes off GitHub\'s', async () => {
    clockOffsetMs = 5 * 60_000;
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}github\.clock: this machine's clock is (29|30)\d s behind GitHub's.*\n {6}fix: synchronise the clock/m);
  });

  it('fails a PATH without terraform or tofu', async () => {
    const empty = join(dir, 'empty-bin');
    await mkdir(empty, { recursive: true });
    vi.stubEnv('PATH', empty);
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}terraform: neither terraform nor tofu is on PATH\n {6}fix: install terraform/m);
  });

  it('fails a host spec that pins no host key, naming the file, without connecting', async () => {
    await writeFile(join(dir, 'specs', 'hosts', 'box.yaml'), 'kind: Host\nname: box\naddress: 192.0.2.10\nssh:\n  user: fleetspec\n  port: 22\n');
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}ssh\.hostkeys: 1 of 1 SSH endpoint\(s\) pin no host key: hosts\/box \(.*box\.yaml:4:1\)\n {6}fix: .*ssh\.hostKey/m);
  });

  it('fails a group-readable SSH key', async () => {
    await chmod(join(dir, 'id_ed25519'), 0o640);
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}ssh\.key: .*mode 0640.*\n {6}fix: chmod 600 /m);
    expect(r.text).not.toContain('not-a-real-key');
  });

  it.runIf(engine.name === 'pglite')('fails a store folder others can write (0777), and leaves it as it is', async () => {
    await chmod(stateDir!, 0o777);
    const r = await doctor(args());
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^FAIL {2}store\.folder: .* lets its group and all users read and write it \(mode 0777\)\n {6}fix: .*chmod -R go-rwx/m);
    const { stat } = await import('node:fs/promises');
    expect((await stat(stateDir!)).mode & 0o777).toBe(0o777);
  });

  it('fails the GitHub checks of a GitHub that never answers within their deadline, and checks the rest', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      vi.stubEnv('FLEETSPEC_GITHUB_API', `http://127.0.0.1:${(silent.address() as { port: number }).port}`);
      vi.stubEnv('FLEETSPEC_DOCTOR_TIMEOUT', '1s');
      const r = await doctor(args());
      expect(r.code).toBe(1);
      expect(byName(r.checks, 'github.user')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/no answer within 1 s/) });
      expect(byName(r.checks, 'terraform')!.status).toBe('ok');
      expect(byName(r.checks, 'disk')).toBeDefined();
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
