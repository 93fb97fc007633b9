// The SSH kinds end to end against real sshd processes on 127.0.0.x and a local server that
// follows the Ollama API: live plan, apply, idempotence, a failure half-way with rollback,
// unreachable hosts and wrong host keys, and values full of shell metacharacters.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../../reconciler/kinds/roles/files.js';
import { applyPlan, planFleet, prefetchLive, type EngineOptions } from '../../reconciler/plan/engine.js';
import { FACTS_SCRIPT } from '../../reconciler/kinds/hosts/facts.js';
import type { Host } from '../../reconciler/kinds/hosts/index.js';
import { UNTRUSTED_READ } from '../../reconciler/kinds/driver.js';
import { bufferOutput } from '../../reconciler/commands/output.js';
import { run } from '../../reconciler/program.js';
import { createServer, type AddressInfo } from 'node:net';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { loadPolicies, type PolicyContext } from '../../reconciler/policies/index.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { SshPool } from '../../reconciler/ssh/pool.js';
import { openDb, type Db } from '../../reconciler/state/db.js';
import { generateKey, getSecret, parseKey, setSecret } from '../../reconciler/state/secrets.js';
import { startOllamaServer, type OllamaTestServer } from '../ollama/server.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
const HOSTILE_MODEL = `it's "quoted"; $(touch pwned) \`touch pwned2\`\nSECOND=line`;
const API_KEY = 'sk-or-v1-0123456789abcdef';

describe('hosts, models and roles over real sshd', () => {
  let hostSshd: TestSshd;
  let manager: TestSshd;
  let developer: TestSshd;
  let ollama: OllamaTestServer;
  let specs: string;
  let stateDir: string;
  let db: Db;
  let pool: SshPool;
  const progress: string[] = [];
  const key = parseKey(generateKey());

  const write = (file: string, docs: object[]) => {
    mkdirSync(join(specs, file, '..'), { recursive: true });
    writeFileSync(join(specs, file), docs.map((d) => stringify(d)).join('---\n'));
  };
  let policy: PolicyContext;
  const options = (extra: Partial<EngineOptions> = {}): EngineOptions => ({
    specs,
    mode: 'live',
    db,
    ssh: pool,
    noSsh: 'no ssh',
    secret: async (ref) => (await getSecret(db, key, ref.replace(/^secret:/, ''), 'test'))?.toString('utf8'),
    progress: (m) => void progress.push(m),
    sshPublicKey: clientKey().publicKey,
    policy,
    ...extra,
  });
  const plan = async (extra: Partial<EngineOptions> = {}): Promise<Plan> => {
    const { plan, diagnostics } = await planFleet(options(extra));
    expect(diagnostics.filter((d) => d.severity === 'error'), JSON.stringify(diagnostics)).toEqual([]);
    return plan!;
  };
  const change = (p: Plan, id: string) => p.changes.find((c) => `${c.kind}/${c.name}` === id);
  const home = (s: TestSshd, file: string) => join(s.home, file);

  beforeAll(async () => {
    // The repository's host-thresholds and model-memory policies, the latter as a warning so the applies below go ahead.
    const { set } = await loadPolicies(join(import.meta.dirname, '..', '..', 'policies'));
    const wanted = set.policies.filter((p) => p.name === 'host-thresholds' || p.name === 'model-memory');
    policy = { set: { policies: wanted.map((p) => ({ ...p, severity: 'warning' as const })) } };
    hostSshd = await startSshd();
    // Role endpoints answer on the host's address, each on its own port (seed 000: ssh-manager on 2202...).
    [manager, developer] = await Promise.all([startSshd({ address: hostSshd.host }), startSshd({ address: hostSshd.host })]);
    ollama = await startOllamaServer({
      models: [{ name: 'qwen2.5:3b' }, { name: 'stale-model' }],
      registry: { 'qwen2.5:3b': 1_900_000_000, 'qwen2.5:7b': 4_700_000_000 },
    });
    specs = await mkdtemp(join(tmpdir(), 'fleetspec-live-specs-'));
    stateDir = await mkdtemp(join(tmpdir(), 'fleetspec-live-state-'));
    db = await openDb({ stateDir });
    await setSecret(db, key, 'roles/manager/openrouter_api_key', Buffer.from(API_KEY), 'test');
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 2000, commandTimeoutMs: 5000 });

    write('hosts/web.yaml', [
      {
        kind: 'Host',
        name: 'web',
        address: hostSshd.host,
        cpu: { threads: 999 },
        ssh: { user: hostSshd.user, port: hostSshd.port, hostKey: hostSshd.hostKey },
        services: [{ name: 'ollama', port: ollama.port }],
        ollama: { prune: true },
        budget: [{ component: 'Ollama', ram: '8GB' }],
        monitoring: [{ metric: 'disk.usage', mount: '/', alert: '>0%' }],
      },
      // Nothing listens on port 1 of this address: unreachable, so its models are unknown, not deleted.
      { kind: 'Host', name: 'down', address: hostSshd.host, ssh: { user: hostSshd.user, port: 1, hostKey: hostSshd.hostKey } },
    ]);
    write('models/web.yaml', [
      { kind: 'Model', name: 'qwen2.5:3b', host: 'web', runtime: 'ollama', memory: { ram: '3GB' } },
      { kind: 'Model', name: 'qwen2.5:7b', host: 'web', runtime: 'ollama', memory: { ram: '6GB' } },
      { kind: 'Model', name: 'llama3', host: 'down', runtime: 'ollama' },
    ]);
    const role = (name: string, s: TestSshd, rest: object) => ({
      kind: 'Role',
      name,
      type: 'role',
      host: 'web',
      ssh: { user: s.user, port: s.port, hostKey: s.hostKey },
      capabilities: ['tickets.work'],
      ...rest,
    });
    write('roles/roles.yaml', [
      role('manager', manager, {
        authorizedKeys: [clientKey().publicKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl o'brien; rm -rf ~ $(id)"],
        llm: { provider: 'openrouter', model: 'anthropic/claude-sonnet-4', apiKey: 'secret:roles/manager/openrouter_api_key' },
      }),
      role('developer', developer, { llm: { provider: 'ollama', model: HOSTILE_MODEL, baseUrl: 'http://127.0.0.1:11434/v1', envFile: 'app/.env' } }),
    ]);
    mkdirSync(home(developer, 'app'));
    writeFileSync(home(developer, 'app/.env'), '# the app\nPORT=8080\nLLM_MODEL=old\n');
  }, 30_000);

  afterAll(async () => {
    await pool?.close();
    await db?.close();
    await Promise.all([hostSshd, manager, developer].map((s) => s?.stop()));
    await ollama?.close();
    await Promise.all([specs, stateDir].map((d) => d && rm(d, { recursive: true, force: true })));
  });

  it('plans live: host drift and thresholds, models to pull and prune, role files to write; unreachable is unknown', async () => {
    const p = await plan();
    expect(change(p, 'hosts/web')).toMatchObject({ action: 'drift', after: { cpus: 999 }, reason: expect.stringContaining('cpus') });
    expect((change(p, 'hosts/web')!.before as { services: Record<string, unknown> }).services).toEqual({ ollama: ollama.port });
    expect(p.findings).toContainEqual(expect.objectContaining({ kind: 'hosts', name: 'web', code: 'policy.host-thresholds', message: expect.stringMatching(/^disk \/ at \d+% \(alert >0%; live\)$/) }));
    expect(p.findings).toContainEqual(expect.objectContaining({ kind: 'models', code: 'policy.model-memory', message: expect.stringContaining('over the Ollama budget of web (8GB)') }));
    expect(p.verdict.policies).toEqual(['host-thresholds', 'model-memory']);
    expect(change(p, 'models/qwen2.5:3b@web')?.action).toBe('no-op');
    expect(change(p, 'models/qwen2.5:7b@web')).toMatchObject({ action: 'create', after: { model: 'qwen2.5:7b', host: 'web' } });
    expect(change(p, 'models/stale-model:latest@web')).toMatchObject({ action: 'delete' });
    // The harness's authorized_keys is there already; the .env is not.
    expect(change(p, 'roles/manager')).toMatchObject({ action: 'update', before: { env: null, authorizedKeys: [expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}/)] } });
    expect(change(p, 'roles/developer')).toMatchObject({ action: 'update', before: { env: { file: 'app/.env', LLM_MODEL: 'old' } } });
    // The unreachable host and its model are unknown; nothing of theirs is planned for deletion.
    expect(p.unknown.map((u) => `${u.kind}/${u.name}`).sort()).toEqual(['hosts/down', 'models/llama3@down']);
    expect(p.unknown[0]!.reason).toMatch(/hosts\/down/);
    expect(p.changes.some((c) => c.name.endsWith('@down'))).toBe(false);
    // The plan names the secret, never its value.
    expect(JSON.stringify(p)).not.toContain(API_KEY);
    expect(change(p, 'roles/manager')!.after).toMatchObject({ env: { OPENROUTER_API_KEY: 'secret:roles/manager/openrouter_api_key' } });
  });

  it("planning a branch, asks Ollama only where the trusted specs do: a moved port is not read until merged, and nothing is sent there", async () => {
    const trustedDir = await mkdtemp(join(tmpdir(), 'fleetspec-live-trusted-'));
    try {
      const branch = await loadSpecs(specs);
      const web = branch.index.get('hosts', 'web')!.value as Host;
      mkdirSync(join(trustedDir, 'hosts'), { recursive: true });
      // The trusted commit had Ollama on another port: the branch's port is one nobody approved yet.
      writeFileSync(join(trustedDir, 'hosts', 'web.yaml'), stringify({ ...web, services: [{ name: 'ollama', port: 11434 }] }));
      const trusted = await loadSpecs(trustedDir);
      const before = ollama.requests.length;
      const p = await plan({ trusted: trusted.index });
      expect(p.unknown.filter((u) => u.kind === 'models' && u.name.endsWith('@web')).map((u) => u.reason)).toEqual([UNTRUSTED_READ, UNTRUSTED_READ]);
      expect(ollama.requests.length).toBe(before);
      // Where the trusted specs ask already, a branch's plan reads as the default branch's does.
      const same = await plan({ trusted: branch.index });
      expect(change(same, 'models/qwen2.5:3b@web')?.action).toBe('no-op');
      expect(ollama.requests.length).toBeGreaterThan(before);
    } finally {
      await rm(trustedDir, { recursive: true, force: true });
    }
  });

  it('applies: pulls with progress, prunes, writes role files atomically with a backup; a second plan is empty', async () => {
    const p = await plan();
    const report = await applyPlan(p, options());
    expect(report.status, JSON.stringify(report.failed)).toBe('applied');
    expect(report.done.map((c) => `${c.kind}/${c.name}`)).toEqual(['models/qwen2.5:7b@web', 'models/stale-model:latest@web', 'roles/developer', 'roles/manager']);
    expect(ollama.models()).toEqual(['qwen2.5:3b', 'qwen2.5:7b']);
    expect(progress.some((l) => /models\/qwen2\.5:7b@web: pulling \w+ \d+%/.test(l))).toBe(true);
    expect(progress).toContain('models/qwen2.5:7b@web: success');

    const managerEnv = parseEnv(readFileSync(home(manager, '.env'), 'utf8'));
    expect(managerEnv.get('OPENROUTER_API_KEY')).toBe(API_KEY);
    expect(managerEnv.get('LLM_MODEL')).toBe('anthropic/claude-sonnet-4');
    const keys = readFileSync(home(manager, '.ssh/authorized_keys'), 'utf8');
    expect(keys).toContain("o'brien; rm -rf ~ $(id)");
    expect(keys).toContain(clientKey().publicKey);

    const devEnvText = readFileSync(home(developer, 'app/.env'), 'utf8');
    expect(devEnvText.startsWith('# the app\nPORT=8080\n')).toBe(true);
    expect(parseEnv(devEnvText).get('LLM_MODEL')).toBe(HOSTILE_MODEL);
    expect(parseEnv(devEnvText).get('SECOND')).toBeUndefined();
    expect(readFileSync(home(developer, 'app/.env.fleetspec-prev'), 'utf8')).toBe('# the app\nPORT=8080\nLLM_MODEL=old\n');
    for (const s of [developer, manager]) {
      for (const f of ['pwned', 'pwned2']) expect(existsSync(home(s, f)) || existsSync(join('/root', f))).toBe(false);
    }

    const again = await plan();
    expect(again.changes.filter((c) => c.action !== 'no-op' && c.action !== 'drift')).toEqual([]);
    expect(change(again, 'roles/manager')?.action).toBe('no-op');
  });

  it('plans --live through the binary with --ssh-key, and says so when the key is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-live-cli-'));
    try {
      const keyFile = join(dir, 'id_ed25519');
      writeFileSync(keyFile, clientKey().privateKey, { mode: 0o600 });
      // No GitHub settings either: a --live plan would read the issues of a configured repository.
      const env = { ...process.env, NO_COLOR: '1', FLEETSPEC_STATE_DIR: join(dir, 'state'), DATABASE_URL: '', FLEETSPEC_SECRET_KEY: '', FLEETSPEC_GITHUB_REPO: '' };
      const run = (args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
          execFile(process.execPath, [BIN, 'plan', specs, '--format', 'json', ...args], { env }, (err, stdout, stderr) =>
            done({ code: err ? Number((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
          ),
        );
      const live = await run(['--live', '--ssh-key', keyFile, '--connect-timeout', '2']);
      expect(live.code, live.stderr).toBe(2);
      const p = JSON.parse(live.stdout) as Plan;
      expect(p.mode).toBe('live');
      expect(change(p, 'hosts/web')?.action).toBe('drift');
      expect(change(p, 'roles/manager')?.action).toBe('no-op');
      // Without FLEETSPEC_SECRET_KEY the API key cannot be compared: a warning, not a change.
      expect(p.findings).toContainEqual(expect.objectContaining({ name: 'manager', code: 'secret.unavailable' }));
      const noKey = await run(['--live', '--ssh-key', join(dir, 'missing')]);
      const q = JSON.parse(noKey.stdout) as Plan;
      expect(q.unknown.find((u) => u.name === 'web')?.reason).toBe(`no SSH key (${join(dir, 'missing')}: not found; pass --ssh-key or set FLEETSPEC_SSH_KEY)`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to apply when live changed since the plan', async () => {
    writeFileSync(home(developer, 'app/.env'), 'LLM_MODEL=edited-by-hand\n');
    const p = await plan();
    writeFileSync(home(developer, 'app/.env'), 'LLM_MODEL=edited-again\n');
    const report = await applyPlan(p, options());
    expect(report.status).toBe('stale');
    expect(readFileSync(home(developer, 'app/.env'), 'utf8')).toBe('LLM_MODEL=edited-again\n');
  });

  it('stops at the first failure and rolls back what it did from the saved versions', async () => {
    // developer's .env changes (applied first), manager's cannot be written: .env is a directory now.
    writeFileSync(home(developer, 'app/.env'), 'LLM_MODEL=before-the-failure\n');
    rmSync(home(manager, '.env'));
    mkdirSync(home(manager, '.env'));
    writeFileSync(join(home(manager, '.env'), 'keep'), 'x');
    const keysBefore = readFileSync(home(manager, '.ssh/authorized_keys'), 'utf8');
    const p = await plan();
    expect(change(p, 'roles/developer')?.action).toBe('update');
    const report = await applyPlan(p, options());
    expect(report.status).toBe('failed');
    expect(report.done.map((c) => c.name)).toEqual(['developer']);
    expect(report.failed?.change.name).toBe('manager');
    expect(report.failed?.error).toMatch(/writing ~\/\.env failed/);
    expect(report.rolledBack).toEqual([expect.stringContaining('restored ~/app/.env on roles/developer')]);
    expect(readFileSync(home(developer, 'app/.env'), 'utf8')).toBe('LLM_MODEL=before-the-failure\n');
    // manager's own first write (authorized_keys) was undone by the driver before it threw.
    expect(readFileSync(home(manager, '.ssh/authorized_keys'), 'utf8')).toBe(keysBefore);
    expect(existsSync(home(manager, '.ssh/authorized_keys.fleetspec-tmp'))).toBe(false);
    rmSync(home(manager, '.env'), { recursive: true });
  });

  it('blocks an authorized_keys that would lock fleetspec out of the role', async () => {
    const roles = readFileSync(join(specs, 'roles/roles.yaml'), 'utf8');
    try {
      const docs = parseAllDocuments(roles).map((d) => d.toJS() as { name: string; authorizedKeys?: string[] });
      docs.find((d) => d.name === 'manager')!.authorizedKeys = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0000000000000000000000000000000000000000000 someone'];
      write('roles/roles.yaml', docs);
      const keysBefore = readFileSync(home(manager, '.ssh/authorized_keys'), 'utf8');
      const p = await plan();
      expect(p.findings).toContainEqual(expect.objectContaining({ kind: 'roles', name: 'manager', code: 'roles.lockout', severity: 'error' }));
      const report = await applyPlan(p, options());
      expect(report.status).toBe('blocked');
      expect(report.done).toEqual([]);
      expect(readFileSync(home(manager, '.ssh/authorized_keys'), 'utf8')).toBe(keysBefore);
    } finally {
      writeFileSync(join(specs, 'roles/roles.yaml'), roles);
    }
  });

  it('reports a wrong host key and a missing SSH key as unknown, with what to do', async () => {
    const other = await startSshd();
    try {
      write('hosts/web.yaml', [
        {
          kind: 'Host',
          name: 'web',
          address: hostSshd.host,
          ssh: { user: hostSshd.user, port: hostSshd.port, hostKey: other.hostKey },
          services: [{ name: 'ollama', port: ollama.port }],
        },
        { kind: 'Host', name: 'down', address: hostSshd.host, ssh: { user: hostSshd.user, port: 1, hostKey: hostSshd.hostKey } },
      ]);
      const fresh = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 2000 });
      try {
        const p = await plan({ ssh: fresh });
        const web = p.unknown.find((u) => u.name === 'web');
        expect(web?.reason).toMatch(/host key mismatch: pinned SHA256:\S+, offered SHA256:\S+/);
        expect(p.unknown.find((u) => u.name === 'qwen2.5:7b@web')?.reason).toMatch(/host key mismatch/);
      } finally {
        await fresh.close();
      }
      const offline = await plan({ ssh: undefined, noSsh: 'no SSH key (/nope: not found; pass --ssh-key or set FLEETSPEC_SSH_KEY)' });
      expect(offline.unknown.find((u) => u.name === 'manager')?.reason).toContain('pass --ssh-key');
      expect(offline.changes.filter((c) => c.kind !== 'ports')).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('refuses a host without a pinned key unless trust on first use is asked, and then asks to pin it', async () => {
    write('hosts/web.yaml', [
      { kind: 'Host', name: 'web', address: hostSshd.host, ssh: { user: hostSshd.user, port: hostSshd.port } },
      { kind: 'Host', name: 'down', address: hostSshd.host },
    ]);
    write('models/web.yaml', [{ kind: 'Model', name: 'qwen2.5:3b', host: 'web', runtime: 'ollama' }]);
    for (const trustOnFirstUse of [false, true]) {
      const fresh = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 2000, trustOnFirstUse });
      try {
        const p = await plan({ ssh: fresh });
        if (!trustOnFirstUse) {
          expect(p.unknown.find((u) => u.name === 'web')?.reason).toMatch(/no pinned host key/);
          expect(p.unknown.find((u) => u.name === 'down')?.reason).toMatch(/^no ssh settings in .*hosts\/web\.yaml:\d+:\d+$/);
        } else {
          // Read now; its only drift is the machine's hostname, which is not "web".
          expect(change(p, 'hosts/web')).toMatchObject({ action: 'drift', after: { hostname: 'web' }, reason: expect.stringContaining('in hostname;') });
          const pin = p.findings.find((f) => f.code === 'ssh.unpinned-host-key');
          expect(pin).toMatchObject({ kind: 'hosts', name: 'web', severity: 'warning' });
          expect(pin?.hint).toContain(`hostKey: ${hostSshd.hostKey}`);
        }
      } finally {
        await fresh.close();
      }
    }
  });
});

describe('prefetchLive', () => {
  it("starts each host's facts command before the plan, and nothing while the specs are invalid", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-prefetch-'));
    try {
      mkdirSync(join(dir, 'hosts'));
      writeFileSync(join(dir, 'hosts', 'a.yaml'), stringify({ kind: 'Host', name: 'a', address: '127.0.0.9', ssh: { user: 'ops', port: 2222 } }));
      writeFileSync(join(dir, 'hosts', 'b.yaml'), stringify({ kind: 'Host', name: 'b', address: '127.0.0.10' })); // no ssh settings: never contacted
      const asked: string[] = [];
      const recorder = { prefetch: (target: { host: string; port: number; user: string }, command: string) => asked.push(`${target.user}@${target.host}:${target.port} ${command}`) } as unknown as SshPool;
      prefetchLive(await loadSpecs(dir), recorder);
      expect(asked).toEqual([`ops@127.0.0.9:2222 ${FACTS_SCRIPT}`]);
      asked.length = 0;
      writeFileSync(join(dir, 'hosts', 'c.yaml'), 'kind: Host\nname: c\naddress: [not, an, address]\n');
      prefetchLive(await loadSpecs(dir), recorder);
      expect(asked).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a live plan that ends before planning (invalid policies) does not wait for a host still connecting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-prefetch-'));
    // Accepts TCP and never says a word of SSH: a connect to it ends only at the connect timeout.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      mkdirSync(join(dir, 'specs', 'hosts'), { recursive: true });
      mkdirSync(join(dir, 'policies'));
      const port = (silent.address() as AddressInfo).port;
      writeFileSync(join(dir, 'specs', 'hosts', 'quiet.yaml'), stringify({ kind: 'Host', name: 'quiet', address: '127.0.0.1', ssh: { user: 'ops', port, hostKey: clientKey().publicKey } }));
      writeFileSync(join(dir, 'policies', 'broken.yaml'), 'kind: Policy\nname: [unclosed\n');
      writeFileSync(join(dir, 'id_ed25519'), clientKey().privateKey, { mode: 0o600 });
      const connected = new Promise<void>((resolve) => silent.once('connection', () => resolve()));
      const out = bufferOutput();
      const started = Date.now();
      process.env.FLEETSPEC_STATE_DIR = join(dir, 'state');
      const code = run(['plan', join(dir, 'specs'), '--live', '--ssh-key', join(dir, 'id_ed25519'), '--connect-timeout', '60', '--policies', join(dir, 'policies')], out);
      await connected; // the prefetch reached the host
      expect(await code).toBe(1);
      expect(out.err.join('\n')).toContain('the policies are invalid');
      // Well inside the 60 s connect timeout it would otherwise wait for.
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      delete process.env.FLEETSPEC_STATE_DIR;
      silent.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 45_000);
});

