// fleetspec import --only ports models against a real sshd on loopback and the Ollama stand-in:
// listening ports in a project's range become allocations (recorded in the store), ports outside
// every range are flagged, allocated ports are not duplicated, unseen models become Model specs;
// the result validates, the offline and live plans after it are empty, a second import adds nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../reconciler/plan/plan.js';
import { assign, listAllocations, setRange } from '../../reconciler/state/ports.js';
import { startOllamaServer, type OllamaTestServer } from '../ollama/server.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';
import { workspace, type Workspace } from './harness.js';

const RANGE = { start: 23400, end: 23499 };

/** A listener on 127.0.0.1 at a free port between from and to. */
async function listenIn(from: number, to: number, taken: Set<number>): Promise<{ server: Server; port: number }> {
  for (let port = from; port <= to; port++) {
    if (taken.has(port)) continue;
    const server = createServer();
    const ok = await new Promise<boolean>((done) => {
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => done(true));
    });
    if (ok) {
      taken.add(port);
      return { server, port };
    }
  }
  throw new Error(`no free port in ${from}-${to}`);
}

describe('fleetspec import: ports and models', () => {
  let ws: Workspace;
  let sshd: TestSshd;
  let ollama: OllamaTestServer;
  const servers: Server[] = [];
  const ports = { api: 0, bare: 0, pinned: 0, runtime: 0, outside: 0 };
  let keyFile: string;
  let rangeFile: string;
  let rangeText: string;
  let modelsText: string;

  beforeAll(async () => {
    ws = await workspace('ports');
    [sshd, ollama] = await Promise.all([startSshd(), startOllamaServer({ models: [{ name: 'qwen2.5:3b', size: 1_900_000_000 }, { name: 'llama3', size: 4_700_000_000 }] })]);
    const taken = new Set<number>();
    for (const k of ['api', 'bare', 'pinned', 'runtime'] as const) {
      const l = await listenIn(RANGE.start, RANGE.end, taken);
      servers.push(l.server);
      ports[k] = l.port;
    }
    const outside = await listenIn(RANGE.end + 101, RANGE.end + 200, taken);
    servers.push(outside.server);
    ports.outside = outside.port;
    keyFile = join(ws.dir, 'id_ed25519');
    writeFileSync(keyFile, clientKey().privateKey, { mode: 0o600 });

    ws.write('hosts/web.yaml', [
      {
        kind: 'Host',
        name: 'web',
        // The machine's own name, so the live plan of the host is not drift.
        hostname: hostname(),
        address: sshd.host,
        ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey },
        services: [
          { name: 'ollama', port: ollama.port },
          { name: 'api', port: ports.api },
        ],
      },
      // Nothing listens on port 1: not read, and the others go on.
      { kind: 'Host', name: 'down', address: sshd.host, ssh: { user: sshd.user, port: 1, hostKey: sshd.hostKey }, ollama: {} },
    ]);
    rangeFile = ws.write(
      'ports/alpha.yaml',
      [{ kind: 'PortRange', name: 'alpha', description: 'Alpha', range: RANGE, allocations: [{ service: 'pinned', port: ports.pinned, host: 'web' }] }],
      '# Hand-written: the alpha project owns this range.\n',
    );
    rangeText = readFileSync(rangeFile, 'utf8');
    ws.write('models/web.yaml', [{ kind: 'Model', name: 'qwen2.5:3b', host: 'web', runtime: 'ollama' }], '# Hand-written models of web.\n');
    modelsText = readFileSync(join(ws.specs, 'models/web.yaml'), 'utf8');
    // As after `fleetspec ports apply`, plus an allocation made at run time (`fleetspec ports allocate`).
    await ws.withDb(async (db) => {
      await setRange(db, { project: 'alpha', ...RANGE });
      await assign(db, { project: 'alpha', service: 'pinned', port: ports.pinned });
      await assign(db, { project: 'alpha', service: 'runtime', port: ports.runtime });
    });
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) s.close();
    await Promise.all([sshd?.stop(), ollama?.close()]);
    await ws?.close();
  });

  const importArgs = (extra: string[] = []) => ['import', ws.specs, '--only', 'ports', 'models', '--ssh-key', keyFile, '--connect-timeout', '3', ...extra];

  it('--dry-run prints what it would write and writes nothing', async () => {
    const r = await ws.fleetspec(importArgs(['--dry-run']));
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toContain(`+ ports/alpha/api`);
    expect(r.stdout).toMatch(/--- .*ports\/alpha\.yaml \(would update\)/);
    expect(r.stderr).toContain('would record allocation alpha/api');
    expect(readFileSync(rangeFile, 'utf8')).toBe(rangeText);
    expect(readFileSync(join(ws.specs, 'models/web.yaml'), 'utf8')).toBe(modelsText);
    const stored = await ws.withDb((db) => listAllocations(db, 'alpha'));
    expect(stored.map((a) => a.service).sort()).toEqual(['pinned', 'runtime']);
  });

  it('imports: allocations in range (service names from the host, the store, else host-port), flags the rest, models appended', async () => {
    const r = await ws.fleetspec(importArgs());
    // The unreachable host is not read: exit 3 at the end, after the others were imported.
    expect(r.code, r.stderr).toBe(3);
    const lines = r.stdout.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\+ ports/alpha/api  .*ports/alpha\\.yaml  \\(port ${ports.api} listening on web\\)$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\+ ports/alpha/web-${ports.bare} `)));
    expect(lines).toContainEqual(expect.stringMatching(/^\+ ports\/alpha\/runtime .*allocated in the state store as runtime/));
    expect(lines).toContainEqual(expect.stringMatching(/^\+ models\/llama3:latest@web  .*models\/web\.yaml  \(Ollama on web\)$/));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^! ports/web:${ports.outside}  listening on web, outside every project's port range: not written$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^! ports/web:${sshd.port}  listening on web \\(its ssh port\\)`)));
    expect(lines).toContainEqual(expect.stringMatching(/^\? hosts\/down  not read: /));
    expect(lines).toContainEqual(expect.stringMatching(/^\? models@down  not read: /));
    // Already allocated in specs: not added again.
    expect(r.stdout).not.toContain(`pinned`);
    expect(r.stdout).not.toMatch(/^\+ models\/qwen2\.5:3b/m);
    expect(r.stderr).toMatch(/fleetspec import: 4 resources added, \d+ flagged items?, 2 not read \(sources: ports, models\)/);

    // The hand-written file keeps its comment and allocation; the new ones are list items with a comment.
    const text = readFileSync(rangeFile, 'utf8');
    expect(text.startsWith('# Hand-written: the alpha project owns this range.\n')).toBe(true);
    expect(text).toMatch(/# Imported by fleetspec import on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ from port \d+ listening on web/);
    const [doc] = parseAllDocuments(text) as unknown as { toJS(): { allocations: { service: string; port: number; host?: string }[] } }[];
    const allocations = doc!.toJS().allocations;
    expect(allocations[0]).toEqual({ service: 'pinned', port: ports.pinned, host: 'web' });
    expect(allocations).toHaveLength(4);
    expect(allocations).toContainEqual({ service: 'api', port: ports.api, host: 'web' });
    expect(allocations).toContainEqual({ service: `web-${ports.bare}`, port: ports.bare, host: 'web' });
    expect(allocations.filter((a) => a.port === ports.pinned)).toHaveLength(1);
    expect(allocations.some((a) => a.port === ports.outside)).toBe(false);
    // Models: the hand-written document kept byte for byte, the new one appended.
    const models = readFileSync(join(ws.specs, 'models/web.yaml'), 'utf8');
    expect(models.startsWith(modelsText)).toBe(true);
    expect(models.slice(modelsText.length)).toMatch(/^# Imported by fleetspec import on .* from Ollama on web\.\n---\nkind: Model\nname: llama3:latest\nhost: web\nruntime: ollama\nsize: 4\.4GB\n$/);

    // Adopted allocations are in the store; the runtime one was there already.
    const stored = await ws.withDb((db) => listAllocations(db, 'alpha'));
    expect(stored.map((a) => `${a.service}:${a.port}`).sort()).toEqual([`api:${ports.api}`, `pinned:${ports.pinned}`, `runtime:${ports.runtime}`, `web-${ports.bare}:${ports.bare}`].sort());
  });

  it('the result validates, and the offline and live plans after it are empty', async () => {
    const valid = await ws.fleetspec(['validate', ws.specs]);
    expect(valid.code, valid.stdout + valid.stderr).toBe(0);
    const offline = await ws.fleetspec(['plan', ws.specs, '--format', 'json']);
    expect(offline.code, offline.stderr).toBe(0);
    const p = JSON.parse(offline.stdout) as Plan;
    expect(p.changes.filter((c) => c.action !== 'no-op')).toEqual([]);
    expect(p.changes.filter((c) => c.kind === 'ports').map((c) => c.name).sort()).toEqual(['alpha', 'alpha/api', 'alpha/pinned', 'alpha/runtime', `alpha/web-${ports.bare}`]);

    const live = await ws.fleetspec(['plan', ws.specs, '--live', '--format', 'json', '--ssh-key', keyFile, '--connect-timeout', '3', '--policies', join(import.meta.dirname, '..', '..', 'policies')]);
    const q = JSON.parse(live.stdout) as Plan;
    expect(q.changes.filter((c) => c.action !== 'no-op'), live.stderr).toEqual([]);
    expect(q.changes.find((c) => c.kind === 'models' && c.name === 'llama3:latest@web')?.action).toBe('no-op');
    expect(q.changes.find((c) => c.kind === 'models' && c.name === 'qwen2.5:3b@web')?.action).toBe('no-op');
    // The port-listeners policy finds no port of alpha's range served without an allocation.
    expect(q.findings.filter((f) => f.code === 'policy.port-listeners' && f.message.includes(String(RANGE.start).slice(0, 3)))).toEqual([]);
    expect(q.unknown.map((u) => `${u.kind}/${u.name}`)).toContain('hosts/down');
    expect(live.code, JSON.stringify(q.changes.filter((c) => c.action !== 'no-op'))).toBe(0);
  });

  it('a second import adds nothing', async () => {
    const before = readFileSync(rangeFile, 'utf8');
    const r = await ws.fleetspec(importArgs(['--format', 'json']));
    const report = JSON.parse(r.stdout) as { added: unknown[]; files: unknown[]; notRead: { target: string }[] };
    expect(report.added).toEqual([]);
    expect(report.files).toEqual([]);
    expect(report.notRead.map((n) => n.target).sort()).toEqual(['hosts/down', 'models@down']);
    expect(readFileSync(rangeFile, 'utf8')).toBe(before);
  });
});
