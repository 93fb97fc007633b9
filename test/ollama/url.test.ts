// hosts.ollama.url names the host itself or its loopback, nothing else (issue 19 item 4), a
// loopback URL is reached through the SSH forward to the host, and whatever Ollama answers enters
// a plan only as a short, escaped, code-quoted excerpt. The live part runs a real sshd on
// 127.0.0.x and the Ollama stand-in on 127.0.0.1; the other addresses below are documentation
// ranges (RFC 5737) that are validated, never contacted.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOllamaUrl, isLoopback } from '../../reconciler/kinds/hosts/ollama-url.js';
import { modelsDriver } from '../../reconciler/kinds/models/driver.js';
import { planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { renderJson, renderMarkdown, renderText } from '../../reconciler/plan/render.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { SshPool, type SshSession, type SshTarget } from '../../reconciler/ssh/pool.js';
import type { Queryable } from '../../reconciler/state/db.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';
import { startOllamaServer, type OllamaTestServer } from './server.js';

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function specsDir(files: Record<string, object[]>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-ollama-url-'));
  tempDirs.push(dir);
  for (const [file, docs] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), docs.map((d) => stringify(d)).join('---\n'));
  }
  return dir;
}

/** The diagnostics of one host file whose ollama.url is `url`, as "line:col code: message". */
async function urlProblems(url: string, host: object = {}): Promise<{ lines: string[]; hints: (string | undefined)[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-ollama-url-'));
  tempDirs.push(dir);
  mkdirSync(join(dir, 'hosts'));
  // url is on line 5, its value at column 8.
  const text = stringify({ kind: 'Host', name: 'ai', address: '192.0.2.10', ollama: { url }, ...host });
  expect(text.split('\n')[4]).toMatch(/^ {2}url: /);
  writeFileSync(join(dir, 'hosts', 'ai.yaml'), text);
  const { diagnostics } = await loadSpecs(dir);
  return { lines: diagnostics.map((d) => `${d.line}:${d.col} ${d.code}: ${d.message}`), hints: diagnostics.map((d) => d.hint) };
}

describe('hosts.ollama.url validation', () => {
  it('refuses an address that is not the host, at the field, with a hint', async () => {
    const { lines, hints } = await urlProblems('http://203.0.113.9:11434');
    expect(lines).toEqual(['5:8 ref.ollama-url-elsewhere: ollama.url points at "203.0.113.9", which is not this host: not its address "192.0.2.10", nor loopback']);
    expect(hints[0]).toBe('use loopback, such as http://127.0.0.1:11434 (reached through the SSH connection to the host), or this host\'s own address (http://192.0.2.10:11434); or leave url out and set ollama.port');
  });

  it("accepts the host's own address or hostname, and loopback in its usual spellings", async () => {
    for (const url of ['http://192.0.2.10:11434', 'http://192.0.2.10:11434/', 'http://127.0.0.1:11434', 'http://127.8.9.10:11434', 'http://localhost:11434', 'http://[::1]:11434']) {
      expect((await urlProblems(url)).lines, url).toEqual([]);
    }
    expect((await urlProblems('http://AI-Box.lan:11434', { hostname: 'ai-box' })).lines).toHaveLength(1);
    expect((await urlProblems('http://ai-box:11434', { hostname: 'ai-box' })).lines).toEqual([]);
    expect((await urlProblems('http://[2001:db8::5]:11434', { address: '2001:db8:0::5' })).lines).toEqual([]);
  });

  it('refuses credentials, other schemes, paths, queries and fragments, each with a hint', async () => {
    const cases: Record<string, string> = {
      'http://u:p@127.0.0.1:11434': 'ollama.url holds a user name or password (the part before "@")',
      'http://u@192.0.2.10:11434': 'ollama.url holds a user name or password (the part before "@")',
      'https://127.0.0.1:11434': 'ollama.url uses https://; fleetspec speaks plain HTTP to Ollama',
      'ftp://127.0.0.1/': 'ollama.url uses ftp://; fleetspec speaks plain HTTP to Ollama',
      'http://127.0.0.1:11434/api': "ollama.url has a path; fleetspec calls Ollama's /api/... at the root",
      'http://127.0.0.1:11434//': "ollama.url has a path; fleetspec calls Ollama's /api/... at the root",
      'http://127.0.0.1:11434/?x=1': 'ollama.url has a query string (?...)',
      'http://127.0.0.1:11434?': 'ollama.url has a query string (?...)',
      'http://127.0.0.1:11434#top': 'ollama.url has a fragment (#...)',
      'http://127.0.0.1:99999': 'ollama.url "http://127.0.0.1:99999" is not a valid URL',
      'http://127.0.0.1\\@203.0.113.9': 'ollama.url holds a user name or password (the part before "@")',
      'http://127.0.0.1\\evil': 'ollama.url "http://127.0.0.1\\\\evil" is read as more than http://host:port',
    };
    for (const [url, message] of Object.entries(cases)) {
      const { lines, hints } = await urlProblems(url);
      // A URL with a password is also a secret in a spec, reported by the secrets check.
      const ours = lines.filter((l) => l.includes('ref.ollama-url'));
      expect(ours, url).toEqual([`5:8 ref.ollama-url-form: ${message}`]);
      expect(hints[lines.indexOf(ours[0]!)], url).toBeTruthy();
    }
  });

  it('reads loopback in every form URL parsing normalises to it, and nothing else', () => {
    for (const name of ['127.0.0.1', '127.1', '2130706433', '0x7f.1', 'LOCALHOST', 'localhost.', '::1', '[0:0:0:0:0:0:0:1]']) expect(isLoopback(name), name).toBe(true);
    for (const name of ['0.0.0.0', '128.0.0.1', '::ffff:127.0.0.1', 'localhost.evil.test', 'evil.localhost', '::']) expect(isLoopback(name), name).toBe(false);
    // A decimal spelling of a foreign address is that address.
    expect(checkOllamaUrl('http://3405803785:11434', { address: '192.0.2.10' })).toMatchObject({ ok: false, code: 'ref.ollama-url-elsewhere' });
    expect(checkOllamaUrl('http://0x7f.1:11434', { address: '192.0.2.10' })).toEqual({ ok: true, origin: 'http://127.0.0.1:11434', hostname: '127.0.0.1', port: 11434, loopback: true });
    expect(checkOllamaUrl('http://192.0.2.10', { address: '192.0.2.10' })).toEqual({ ok: true, origin: 'http://192.0.2.10', hostname: '192.0.2.10', port: 80, loopback: false });
  });
});

/** An SshPool that records every forward its sessions open. */
class RecordingPool extends SshPool {
  readonly forwards: string[] = [];
  override run<T>(target: SshTarget, fn: (session: SshSession) => Promise<T>): Promise<T> {
    return super.run(target, (session) =>
      fn({
        ...session,
        forward: (host, port) => {
          this.forwards.push(`${host}:${port}`);
          return session.forward(host, port);
        },
      }),
    );
  }
}

describe('a live models read through ollama.url', () => {
  const PAGE = '<!-- [click](http://evil) @someone # Heading\n'.repeat(120);
  let sshd: TestSshd;
  let hostile: OllamaTestServer;
  let healthy: OllamaTestServer;
  let pool: RecordingPool;

  beforeAll(async () => {
    expect(PAGE.length).toBeGreaterThan(5000);
    sshd = await startSshd();
    [hostile, healthy] = await Promise.all([
      startOllamaServer({ failWith: { status: 500, body: PAGE, contentType: 'text/markdown' } }),
      startOllamaServer({ models: [{ name: 'qwen2.5:3b' }] }),
    ]);
    pool = new RecordingPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 2000, commandTimeoutMs: 5000 });
  }, 30_000);

  afterAll(async () => {
    await pool?.close();
    await Promise.all([sshd?.stop(), hostile?.close(), healthy?.close()]);
  });

  const host = (name: string, ollama: object, rest: object = {}) => ({
    kind: 'Host',
    name,
    address: sshd.host,
    ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey },
    ollama,
    ...rest,
  });
  const model = (hostName: string) => ({ kind: 'Model', name: 'qwen2.5:3b', host: hostName, runtime: 'ollama' });
  const plan = async (specs: string, extra: Partial<EngineOptions> = {}): Promise<Plan> => {
    const { plan, diagnostics } = await planFleet({
      specs,
      mode: 'live',
      db: {} as Queryable,
      ssh: pool,
      noSsh: 'no ssh',
      secret: async () => undefined,
      progress: () => {},
      drivers: [modelsDriver],
      ...extra,
    });
    expect(diagnostics.filter((d) => d.severity === 'error'), JSON.stringify(diagnostics)).toEqual([]);
    return plan!;
  };

  it('reaches a loopback URL through the SSH forward, and plans with no more of a 5 kB Markdown error than a short excerpt', async () => {
    const specs = await specsDir({
      'hosts/web.yaml': [host('web', { url: `http://127.0.0.1:${hostile.port}` })],
      'models/web.yaml': [model('web')],
    });
    pool.forwards.length = 0;
    const p = await plan(specs);
    expect(pool.forwards).toEqual([`127.0.0.1:${hostile.port}`]);
    expect(hostile.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/tags']);

    expect(p.unknown).toHaveLength(1);
    const [unread] = p.unknown;
    expect(unread).toMatchObject({ kind: 'models', name: 'qwen2.5:3b@web' });
    expect(unread!.remote!.length).toBeLessThanOrEqual(200);
    expect(unread!.remote).toMatch(/^`\\u003c!-- \[click\]\(http:\/\/evil\) @someone # Heading .*…`$/);
    expect(unread!.reason).toBe(`GET /api/tags: HTTP 500: ${unread!.remote} (see the Ollama log on that host (journalctl -u ollama))`);

    const heading = (text: string) => text.split('Heading').length - 1;
    const outputs = { text: renderText(p), json: renderJson(p), markdown: renderMarkdown(p) };
    for (const [format, out] of Object.entries(outputs)) {
      // One excerpt holds four copies of the 45-character line; the 5 kB page holds 120.
      expect(heading(out), format).toBeLessThanOrEqual(4 * (format === 'json' ? 2 : 1));
      expect(out.length, format).toBeLessThan(2000);
      expect(out, format).not.toContain('<!--');
      expect(out, format).not.toContain('\n#');
    }
    expect(outputs.markdown).toContain(unread!.remote!.replace(/\|/g, '\\|'));
  });

  it('reads a healthy Ollama through the same forward', async () => {
    const specs = await specsDir({
      'hosts/web.yaml': [host('web', { url: `http://localhost:${healthy.port}/` })],
      'models/web.yaml': [model('web')],
    });
    pool.forwards.length = 0;
    const p = await plan(specs);
    expect(pool.forwards).toEqual([`localhost:${healthy.port}`, `localhost:${healthy.port}`]);
    expect(p.unknown).toEqual([]);
    expect(p.changes).toEqual([expect.objectContaining({ kind: 'models', name: 'qwen2.5:3b@web', action: 'no-op' })]);
  });

  it('never falls back to a direct connection: no SSH key, a host without ssh settings or one that is down leaves it unread', async () => {
    const before = healthy.requests.length;
    const url = `http://127.0.0.1:${healthy.port}`;
    const specs = await specsDir({
      'hosts/web.yaml': [
        // Addresses are loopback here (tests use loopback only), which alone would mark the host as this machine; its ssh settings say it is reached over SSH.
        host('web', { url }),
        host('down', { url }, { ssh: { user: sshd.user, port: 1, hostKey: sshd.hostKey } }),
        { kind: 'Host', name: 'nossh', address: '192.0.2.10', ollama: { url } },
      ],
      'models/web.yaml': [model('web'), model('down'), model('nossh')],
    });
    const offline = await plan(specs, { mode: 'offline', ssh: undefined, noSsh: 'offline (plan with --live to read it)' });
    expect(offline.unknown.map((u) => u.reason)).toEqual(Array(3).fill('offline (plan with --live to read it)'));
    const noKey = await plan(specs, { ssh: undefined, noSsh: 'no SSH key' });
    expect(noKey.unknown.map((u) => `${u.name}: ${u.reason}`)).toEqual(['qwen2.5:3b@down: no SSH key', 'qwen2.5:3b@nossh: no SSH key', 'qwen2.5:3b@web: no SSH key']);
    pool.forwards.length = 0;
    const live = await plan(specs);
    const reasons = Object.fromEntries(live.unknown.map((u) => [u.name, u.reason]));
    expect(reasons['qwen2.5:3b@nossh']).toMatch(/^no ssh settings in /);
    expect(reasons['qwen2.5:3b@down']).toMatch(/hosts\/down/);
    expect(live.changes.map((c) => c.name)).toEqual(['qwen2.5:3b@web']);
    expect(pool.forwards).toEqual([`127.0.0.1:${healthy.port}`, `127.0.0.1:${healthy.port}`]);
    // Only web's two reads (tags, ps), through its forward, reached the server.
    expect(healthy.requests.length - before).toBe(2);
  });

  it('reads directly only a host that is this machine (loopback address, no ssh settings)', async () => {
    const specs = await specsDir({
      'hosts/self.yaml': [{ kind: 'Host', name: 'self', address: '127.0.0.1', ollama: { url: `http://127.0.0.1:${healthy.port}` } }],
      'models/self.yaml': [model('self')],
    });
    pool.forwards.length = 0;
    const p = await plan(specs, { ssh: undefined, noSsh: 'no SSH key' });
    expect(p.unknown).toEqual([]);
    expect(p.changes).toEqual([expect.objectContaining({ name: 'qwen2.5:3b@self', action: 'no-op' })]);
    expect(pool.forwards).toEqual([]);
  });

  it('does not contact a URL that validation refuses, if a driver is handed one anyway', async () => {
    const specs = await specsDir({
      'hosts/web.yaml': [host('web', { url: 'http://203.0.113.9:11434' })],
      'models/web.yaml': [model('web')],
    });
    const loaded = await loadSpecs(specs);
    expect(loaded.diagnostics.map((d) => d.code)).toEqual(['ref.ollama-url-elsewhere']);
    pool.forwards.length = 0;
    const ctx = { mode: 'live' as const, db: {} as Queryable, index: loaded.index, ssh: pool, noSsh: 'no ssh', secret: async () => undefined, progress: () => {}, stacks: { dir: specs, workDir: specs, noTerraform: 'none' } };
    const live = await modelsDriver.readLive(loaded.index.all('models'), ctx);
    expect(live.get('web')).toEqual({ unknown: expect.stringMatching(/^ollama\.url points at "203\.0\.113\.9", which is not this host: .*\(.*hosts\/web\.yaml:\d+:\d+\)$/) });
    expect(pool.forwards).toEqual([]);
  });
});
