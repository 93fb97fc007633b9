// Health probes and backup checks, read from the host itself: a real sshd on 127.0.0.x runs the
// generated script, local HTTP servers on loopback stand in for the services (200, 500, a hang
// past the timeout, a redirect that must not be followed, a body full of fake markers), and
// backup directories are aged with utimes. Then the hostile cases: values that would inject
// shell (refused by the schema, and still inert when rendered without it), and host output that
// is huge, holds control characters or forges another check's result.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFindings, checkSpecs, checksScript, ChecksError, formatAge, parseAge, parseChecks, readHostChecks, renderScript, type HostCheckSpecs } from '../../reconciler/kinds/hosts/checks.js';
import { hostsDriver } from '../../reconciler/kinds/hosts/driver.js';
import type { Host } from '../../reconciler/kinds/hosts/index.js';
import { UNTRUSTED_READ, type LiveContext } from '../../reconciler/kinds/driver.js';
import type { Resource } from '../../reconciler/kinds/kind.js';
import type { PlanFinding } from '../../reconciler/plan/plan.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { SshPool } from '../../reconciler/ssh/pool.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';

const run = promisify(execFile);
const MARKER = '0123456789abcdef0123456789abcdef';
const HOUR = 3600;
const DAY = 86400;
const DATED = '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]';

/** A loopback HTTP server answering every request with `answer`, counting the paths asked for. */
async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

describe('health probes and backup checks over real sshd', () => {
  let sshd: TestSshd;
  let pool: SshPool;
  let work: string;
  let specs: string;
  let backups: string;
  const servers: Awaited<ReturnType<typeof serve>>[] = [];
  let ok: Awaited<ReturnType<typeof serve>>;
  let failing: Awaited<ReturnType<typeof serve>>;
  let hanging: Awaited<ReturnType<typeof serve>>;
  let redirecting: Awaited<ReturnType<typeof serve>>;
  let noisy: Awaited<ReturnType<typeof serve>>;
  let closedPort: number;
  let findings: PlanFinding[];
  let change: { action: string; before: Record<string, unknown>; after: Record<string, unknown>; reason: string };

  /** A backup directory `name` with dated entries at these ages (seconds), each holding postgres.sql of `size` bytes unless 0. */
  async function dated(name: string, ages: number[], sizes: number[] = []) {
    const dir = join(backups, name);
    await mkdir(dir, { recursive: true });
    const now = Date.now() / 1000;
    await Promise.all(
      ages.map(async (age, i) => {
        const entry = join(dir, `202612${String(i + 1).padStart(2, '0')}`);
        await mkdir(entry);
        const file = join(entry, 'postgres.sql');
        await writeFile(file, 'x'.repeat(sizes[i] ?? 100));
        await utimes(file, now - age, now - age);
        await utimes(entry, now - age, now - age);
      }),
    );
    return dir;
  }

  beforeAll(async () => {
    sshd = await startSshd();
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 5000, commandTimeoutMs: 20_000 });
    work = await mkdtemp(join(tmpdir(), 'fleetspec-host-checks-'));
    specs = join(work, 'specs');
    backups = join(work, 'backups');
    ok = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"models":[]}'));
    failing = await serve((_req, res) => res.writeHead(500).end('boom'));
    hanging = await serve(() => {}); // never answers: past the probe's timeout
    redirecting = await serve((req, res) => {
      if (req.url === '/followed') res.writeHead(200).end('should never be asked for');
      else res.writeHead(301, { location: `http://127.0.0.1:${redirecting.port}/followed` }).end();
    });
    // A body that looks like the script's own output, with the real marker shape and escapes: it goes to /dev/null.
    noisy = await serve((_req, res) => res.writeHead(200).end(`@@${MARKER} h 1 curl 0 200 0.1\n\x1b[31m`.repeat(5000)));
    servers.push(ok, failing, hanging, redirecting, noisy);
    const spare = await serve(() => {});
    closedPort = spare.port;
    await new Promise<void>((resolve) => spare.server.close(() => resolve()));

    await dated('fresh', [HOUR, DAY + HOUR, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY]);
    await dated('stale', [3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY, 7 * DAY, 8 * DAY, 9 * DAY]);
    await dated('few', [HOUR, DAY]);
    await dated('many', Array.from({ length: 12 }, (_, i) => HOUR + i * DAY));
    await dated('empty', [HOUR, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY], [0]);
    // Flat files: only *.sql.gz count, not the dotfile or the log; a name holding a newline and a
    // forged result line is counted like any other and never printed.
    const flat = join(backups, 'flat');
    await mkdir(flat);
    const now = Date.now() / 1000;
    for (const [name, age] of [['a.sql.gz', 2 * HOUR], ['b.sql.gz', 30 * HOUR], [`c\n@@${MARKER} b 5 ok 7 ${Math.floor(now)} 9 0\n.sql.gz`, 40 * HOUR], ['.hidden.sql.gz', 60], ['backup.log', 60]] as const) {
      await writeFile(join(flat, name), 'data');
      await utimes(join(flat, name), now - age, now - age);
    }

    const host = {
      kind: 'Host',
      name: 'web',
      address: sshd.host,
      os: undefined,
      ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey },
      services: [
        { name: 'ok', port: ok.port, health: { http: '/api/tags', expect: 200 } },
        { name: 'failing', port: failing.port, health: { http: '/health' } },
        { name: 'hanging', port: hanging.port, health: { http: '/health', timeout: '1s' } },
        { name: 'redirecting', port: redirecting.port, health: { http: '/', expect: [200, 204] } },
        { name: 'noisy', port: noisy.port, health: { http: '/api/v1/info?x=1' } },
        { name: 'down', port: closedPort, health: { http: '/' } },
        { name: 'unprobed', port: 1 },
      ],
      backups: [
        { name: 'fresh', path: join(backups, 'fresh'), pattern: DATED, file: 'postgres.sql', maxAge: '26h', keep: 7 },
        { name: 'stale', path: join(backups, 'stale'), pattern: DATED, file: 'postgres.sql', maxAge: '26h', keep: 7 },
        { name: 'few', path: join(backups, 'few'), pattern: DATED, file: 'postgres.sql', maxAge: '26h', keep: 7 },
        { name: 'many', path: join(backups, 'many') + '/', pattern: DATED, maxAge: '26h', keep: 7 },
        { name: 'empty', path: join(backups, 'empty'), pattern: DATED, file: 'postgres.sql', maxAge: '26h', keep: 7 },
        { name: 'flat', path: join(backups, 'flat'), pattern: '*.sql.gz', maxAge: '3h', keep: 3 },
        { name: 'gone', path: join(backups, 'gone'), maxAge: '1d', keep: 1 },
      ],
    };
    delete (host as { os?: string }).os;
    await mkdir(join(specs, 'hosts'), { recursive: true });
    await writeFile(join(specs, 'hosts', 'web.yaml'), stringify(host));
    const loaded = await loadSpecs(specs);
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const desired = loaded.index.all('hosts');
    const ctx = { mode: 'live', index: loaded.index, ssh: pool, noSsh: 'offline', progress: () => {} } as unknown as LiveContext;
    const live = await hostsDriver.readLive(desired, ctx);
    const plan = hostsDriver.diff(desired, live, ctx);
    expect(plan.unknown).toEqual([]);
    findings = plan.findings;
    change = plan.changes[0] as typeof change;
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) s.server.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.server.close(resolve))));
    await pool?.close();
    await sshd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const about = (subject: string) => findings.filter((f) => f.subject === subject);

  it('probes each service from the host: a 200 passes, a 500, a hang past the timeout and a refused port are findings', () => {
    expect(about('health ok')).toEqual([]);
    expect(about('health noisy')).toEqual([]);
    expect(about('health unprobed')).toEqual([]);
    expect(ok.paths).toEqual(['/api/tags']);
    expect(noisy.paths).toEqual(['/api/v1/info?x=1']);
    expect(about('health failing')).toEqual([
      {
        kind: 'hosts',
        name: 'web',
        code: 'hosts.health-failed',
        severity: 'warning',
        subject: 'health failing',
        message: `failing on web: GET http://127.0.0.1:${failing.port}/health answered 500, expected 200`,
        hint: 'look at failing on web (its logs, systemctl status or docker ps)',
        where: expect.stringMatching(/hosts\/web\.yaml:\d+:\d+$/),
      },
    ]);
    expect(about('health hanging')[0]!.message).toBe(`hanging on web: GET http://127.0.0.1:${hanging.port}/health failed: no answer within 1s`);
    expect(about('health down')[0]).toMatchObject({ code: 'hosts.health-failed', message: expect.stringContaining(`nothing accepted a connection on 127.0.0.1:${closedPort}`), hint: 'start down on web, or correct its port' });
  });

  it("planning a branch, makes only the checks the trusted specs make: a probe or backup the change adds is not read and no request is sent", async () => {
    const text = await readFile(join(specs, 'hosts', 'web.yaml'), 'utf8');
    const branchHost = parse(text) as Host;
    // The trusted commit knows the ok probe and the fresh backup only; the branch adds the rest.
    const trustedHost: Host = { ...branchHost, services: branchHost.services!.map((svc) => (svc.name === 'ok' ? svc : { name: svc.name, port: svc.port })), backups: branchHost.backups!.filter((b) => b.name === 'fresh') };
    const trustedDir = join(work, 'trusted-specs');
    await mkdir(join(trustedDir, 'hosts'), { recursive: true });
    await writeFile(join(trustedDir, 'hosts', 'web.yaml'), stringify(trustedHost));
    const [branch, trusted] = await Promise.all([loadSpecs(specs), loadSpecs(trustedDir)]);
    const resource = branch.index.get('hosts', 'web') as Resource<Host>;
    const asked = { ok: ok.paths.length, failing: failing.paths.length, redirecting: redirecting.paths.length };
    const ctx = { mode: 'live', index: branch.index, trusted: trusted.index, ssh: pool, noSsh: 'offline', progress: () => {} } as unknown as LiveContext;
    const checks = (await readHostChecks(resource, { label: 'hosts/web', host: sshd.host, port: sshd.port, user: sshd.user, hostKey: sshd.hostKey }, ctx))!;
    const outcome = (name: string) => checks.probes.find((p) => p.spec.service === name)!.outcome;
    expect(outcome('ok')).toMatchObject({ status: 200 });
    expect(outcome('failing')).toEqual({ notRead: UNTRUSTED_READ });
    expect(outcome('redirecting')).toEqual({ notRead: UNTRUSTED_READ });
    expect(checks.backups.find((b) => b.spec.name === 'fresh')!.outcome).toMatchObject({ count: 7 });
    expect(checks.backups.find((b) => b.spec.name === 'stale')!.outcome).toEqual({ notRead: UNTRUSTED_READ });
    // The trusted probe was sent once more; the branch's own were never sent.
    expect({ ok: ok.paths.length, failing: failing.paths.length, redirecting: redirecting.paths.length }).toEqual({ ...asked, ok: asked.ok + 1 });
    const said = checkFindings(resource, checks).filter((f) => f.code === 'hosts.check-not-read');
    expect(said.length).toBeGreaterThan(0);
    expect(said[0]!.hint).toContain('checked from the first plan after this change is merged');
  });

  it('reports a redirect as it is and never follows it', () => {
    expect(about('health redirecting')[0]).toMatchObject({ message: expect.stringContaining('answered 301 (a redirect; not followed), expected 200 or 204') });
    expect(redirecting.paths).toEqual(['/']);
  });

  it('reads backups: fresh passes; stale, too few, too many, an empty newest file and a missing directory are findings', () => {
    expect(about('backup fresh')).toEqual([]);
    expect(about('backup stale')[0]).toMatchObject({ code: 'hosts.backup-stale', message: expect.stringMatching(/: the newest is 3d( 0h)? old \(at most 1d 2h\)$/) });
    expect(about('backup few')[0]).toMatchObject({ code: 'hosts.backup-count', message: expect.stringContaining('only 2 kept (keep 7)') });
    expect(about('backup many')[0]).toMatchObject({ code: 'hosts.backup-count', message: expect.stringContaining('12 kept, more than 7'), hint: expect.stringContaining('rotation') });
    expect(about('backup empty')[0]).toMatchObject({ code: 'hosts.backup-empty', message: expect.stringContaining('the newest is an empty file') });
    expect(about('backup gone')[0]).toMatchObject({ code: 'hosts.backup-missing', message: `backup gone on web: there is no directory ${join(backups, 'gone')}` });
  });

  it('counts only the entries the pattern names; a file name holding a forged result line is counted, never read as output', () => {
    // a, b and the forged name match *.sql.gz; the dotfile and the log do not. The newest is 2h old, under 3h: only the count is off.
    expect(about('backup flat')).toEqual([]);
    expect(findings.filter((f) => f.code === 'hosts.check-not-read')).toEqual([]);
  });

  it("keeps the checks out of the host's change (a plan's hash covers changes; a flapping probe must not make approvals stale)", () => {
    expect(Object.keys(change.before)).not.toContain('health');
    expect(Object.keys(change.after)).not.toContain('backups');
    expect(change.reason).not.toMatch(/health|backup/);
  });
});

describe('the checks script', () => {
  const hostile = [`$(touch pwned)`, '`touch pwned`', "'; touch pwned; '", '"; touch pwned; "', 'a\ntouch pwned', '*', '|| touch pwned'];

  it('refuses, in the schema, spec values that would reach a shell as anything but data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-host-checks-schema-'));
    try {
      await mkdir(join(dir, 'hosts'));
      const bad = [
        { services: [{ name: 'a', port: 80, health: { http: '/x$(touch pwned)' } }] },
        { services: [{ name: 'a', port: 80, health: { http: "/x'; touch pwned; '" } }] },
        { services: [{ name: 'a', port: 80, health: { http: 'x' } }] },
        { services: [{ name: 'a', port: 80, health: { http: '/../etc/passwd' } }] },
        { services: [{ name: 'a', port: 80, health: { http: '/a b' } }] },
        { services: [{ name: 'a', port: 80, health: { http: '/a', timeout: '600s' } }] },
        { services: [{ name: 'a', port: 80, health: { http: '/a', expect: 999 } }] },
        { backups: [{ name: 'b', path: '/data/`touch pwned`', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: 'data/backups', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: '/data/../etc', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: '/data', pattern: '*; touch pwned', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: '/data', pattern: 'a/b', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: '/data', file: '$(id)', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: '/data', file: '..', maxAge: '26h', keep: 7 }] },
        { backups: [{ name: 'b', path: '/data', maxAge: '26 hours', keep: 7 }] },
      ];
      await Promise.all(bad.map((extra, i) => writeFile(join(dir, 'hosts', `h${i}.yaml`), stringify({ kind: 'Host', name: `h${i}`, address: '127.0.0.1', ...extra }))));
      const loaded = await loadSpecs(dir);
      const refused = new Set(loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => d.file));
      expect([...refused].sort()).toEqual(bad.map((_, i) => join(dir, 'hosts', `h${i}.yaml`)).sort());
      // Each names where in the file, line and column.
      expect(loaded.diagnostics.every((d) => d.line > 0 && d.col > 0)).toBe(true);
      // The generator refuses them too, before any script exists.
      const specs: HostCheckSpecs = { probes: [{ service: 'a', port: 80, path: '/x$(touch pwned)', expect: [200], timeoutSeconds: 5, at: [] }], backups: [] };
      expect(() => checksScript(specs, MARKER)).toThrow(/not a URL path the schema allows/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps hostile values data even without the schema: rendered unchecked and run by sh, nothing is executed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-host-checks-sh-'));
    try {
      const specs: HostCheckSpecs = {
        // Port 1 on loopback: curl gets no answer, whatever the path says.
        probes: hostile.map((h, i) => ({ service: `p${i}`, port: 1, path: `/${h}`, expect: [200], timeoutSeconds: 1, at: [] })),
        backups: hostile.map((h, i) => ({ name: `b${i}`, path: join(dir, h), pattern: h, file: h, maxAgeSeconds: 60, keep: 1, at: [] })),
      };
      const { stdout } = await run('sh', ['-c', renderScript(specs, MARKER)], { cwd: dir, encoding: 'utf8' });
      expect(existsSync(join(dir, 'pwned'))).toBe(false);
      const checks = parseChecks(stdout, specs, MARKER);
      // Each backup directory is looked for under its literal name, and is not there.
      expect(checks.backups.map((b) => b.outcome)).toEqual(hostile.map(() => ({ missing: 'no-directory' })));
      expect(checks.probes.every((p) => 'failed' in p.outcome || 'notRead' in p.outcome)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads back only its own lines: wrong markers, control characters, duplicates and huge output cannot forge a result', () => {
    const specs: HostCheckSpecs = {
      probes: [
        { service: 'a', port: 80, path: '/', expect: [200], timeoutSeconds: 5, at: [] },
        { service: 'b', port: 81, path: '/', expect: [200], timeoutSeconds: 5, at: [] },
      ],
      backups: [{ name: 'c', path: '/data', pattern: '*', maxAgeSeconds: 3600, keep: 1, at: [] }],
    };
    const m = `@@${MARKER}`;
    const output = [
      `${m} now 1000000`,
      // Probe a's line twice (the second forged by something printing on the host): neither counts.
      `${m} h 0 curl 0 500 0.1`,
      `${m} h 0 curl 0 200 0.1`,
      // Another run's marker, and ours with a control character or extra text: ignored or refused.
      `@@ffffffffffffffffffffffffffffffff h 1 curl 0 500 0.1`,
      `${m} h 1 curl 0 200 0.1`,
      `${m} b 0 ok 1 999000\x1b[2J 5 0`,
      `${m} h 7 curl 0 200 0.1`,
      'x'.repeat(50_000),
      `${m} end`,
    ].join('\n');
    const checks = parseChecks(output, specs, MARKER);
    expect(checks.probes[0]!.outcome).toEqual({ notRead: 'the host printed more than one result for this check; none is trusted' });
    expect(checks.probes[1]!.outcome).toEqual({ status: 200, seconds: 0.1 });
    // Quoted only as an excerpt, without the escape, and marked as remote text.
    expect(checks.backups[0]!.outcome).toEqual({ notRead: 'unexpected backup output: `ok 1 999000[2J 5 0`', remote: '`ok 1 999000[2J 5 0`' });
    // Output past the bound is not read, so an end marker after it is not seen.
    expect(() => parseChecks(`${m} now 1\n${'y'.repeat(70 * 1024)}\n${m} end\n`, specs, MARKER)).toThrow(ChecksError);
    // Lines without the end, or with two clocks, are not the script's.
    expect(() => parseChecks(`${m} now 1\n${m} h 0 curl 0 200 0.1\n`, specs, MARKER)).toThrow(/did not finish/);
    expect(() => parseChecks(`${m} now 1\n${m} now 2\n${m} end`, specs, MARKER)).toThrow(/single clock/);
  });

  it('treats a host with no curl or GNU wget as not read: the finding says so and what to do, never pass or fail', () => {
    const specs: HostCheckSpecs = { probes: [{ service: 'a', port: 80, path: '/', expect: [200], timeoutSeconds: 5, at: ['services', 0, 'health'] }], backups: [] };
    const checks = parseChecks(`@@${MARKER} now 5\n@@${MARKER} h 0 none\n@@${MARKER} end\n`, specs, MARKER);
    expect(checks.probes[0]!.outcome).toEqual({ notRead: 'no curl, nor a GNU wget (which can refuse redirects), on the host' });
    const resource = { name: 'web', value: { kind: 'Host', name: 'web', address: 'x' }, doc: fakeDoc() } as unknown as Resource<Host>;
    expect(checkFindings(resource, checks)).toEqual([expect.objectContaining({ code: 'hosts.check-not-read', subject: 'health a', hint: 'install curl on web, or remove the health probe' })]);
  });

  it('parses ages as the spec writes them', () => {
    expect(parseAge('26h')).toBe(26 * HOUR);
    expect(parseAge('90m')).toBe(90 * 60);
    expect(parseAge('2d')).toBe(2 * DAY);
    expect(formatAge(26 * HOUR)).toBe('1d 2h');
    expect(formatAge(59)).toBe('59s');
    expect(checkSpecs({ kind: 'Host', name: 'x', address: 'x', backups: [{ name: 'b', path: '/data/backups/', maxAge: '26h', keep: 7 }] }).backups[0]).toMatchObject({ path: '/data/backups', pattern: '*' });
  });
});

/** A parsed YAML document good enough for specLocation: a one-line file. */
function fakeDoc() {
  return { source: { file: 'specs/hosts/web.yaml', text: 'kind: Host\n', lineCounter: { linePos: (n: number) => ({ line: 1, col: n + 1 }) } }, doc: { contents: null } };
}

describe('the checks script on this machine, without SSH', () => {
  let work: string;
  let ok: Awaited<ReturnType<typeof serve>>;
  let failing: Awaited<ReturnType<typeof serve>>;
  let redirecting: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetspec-host-checks-local-'));
    ok = await serve((_req, res) => res.writeHead(200).end('ok'));
    failing = await serve((_req, res) => res.writeHead(503).end('down'));
    redirecting = await serve((req, res) => {
      if (req.url === '/followed') res.writeHead(200).end();
      else res.writeHead(302, { location: `http://127.0.0.1:${redirecting.port}/followed` }).end();
    });
  });

  afterAll(async () => {
    await Promise.all([ok, failing, redirecting].map((s) => s && new Promise((resolve) => s.server.close(resolve))));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('falls back to GNU wget when the host has no curl, and still never follows a redirect', async () => {
    // A PATH holding what the script uses, without curl.
    const bin = join(work, 'bin');
    await mkdir(bin);
    const { stdout: which } = await run('sh', ['-c', 'for t in sh wget grep sed head stat date; do command -v $t; done'], { encoding: 'utf8' });
    const tools = which.trim().split('\n');
    expect(tools, 'this machine needs sh, wget, grep, sed, head, stat and date').toHaveLength(7);
    await Promise.all(tools.map((t) => run('ln', ['-s', t, join(bin, t.split('/').pop()!)])));
    const probe = (service: string, port: number, expect: number[] = [200]) => ({ service, port, path: '/health', expect, timeoutSeconds: 5, at: [] });
    const specs: HostCheckSpecs = { probes: [probe('ok', ok.port), probe('failing', failing.port), probe('redirecting', redirecting.port)], backups: [] };
    const { stdout } = await run(join(bin, 'sh'), ['-c', checksScript(specs, MARKER)], { encoding: 'utf8', env: { PATH: bin } });
    const checks = parseChecks(stdout, specs, MARKER);
    expect(checks.probes.map((p) => p.outcome)).toEqual([{ status: 200 }, { status: 503 }, { status: 302 }]);
    expect(redirecting.paths).toEqual(['/health']);
    // And without wget either: not read, with the reason.
    await rm(join(bin, 'wget'));
    const none = await run(join(bin, 'sh'), ['-c', checksScript(specs, MARKER)], { encoding: 'utf8', env: { PATH: bin } });
    expect(parseChecks(none.stdout, specs, MARKER).probes.map((p) => p.outcome)).toEqual(specs.probes.map(() => ({ notRead: 'no curl, nor a GNU wget (which can refuse redirects), on the host' })));
  });

  it("verifies seed 004's backup layout as specs/hosts/ai.yaml declares it: dated directories holding postgres.sql and chromadb.tar.gz, 8 days after the cleanup", async () => {
    const loaded = await loadSpecs(join(import.meta.dirname, '..', '..', 'specs'));
    const ai = loaded.index.all('hosts').find((r) => r.name === 'ai') as Resource<Host>;
    expect(checkSpecs(ai.value).probes.map((p) => `${p.service} ${p.port}${p.path} ${p.expect.join('|')}`)).toEqual(['ollama 11434/api/tags 200', 'voice-assistant 7860/health 200']);
    // The same layout under a temporary root: the backup script's `find -mtime +7 -exec rm -rf` leaves eight days.
    const root = join(work, 'data-backups');
    const now = Date.now() / 1000;
    for (let day = 0; day < 8; day++) {
      const dir = join(root, `202611${String(20 + day).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      for (const file of ['postgres.sql', 'chromadb.tar.gz']) {
        await writeFile(join(dir, file), 'backup');
        await utimes(join(dir, file), now - (day * DAY + 3 * HOUR), now - (day * DAY + 3 * HOUR));
      }
    }
    const local = { ...ai, value: { ...ai.value, backups: ai.value.backups!.map((b) => ({ ...b, path: root })) } } as Resource<Host>;
    const specs = { probes: [], backups: checkSpecs(local.value).backups };
    const read = async () => parseChecks((await run('sh', ['-c', checksScript(specs, MARKER)], { encoding: 'utf8' })).stdout, specs, MARKER);
    expect(checkFindings(local, await read())).toEqual([]);
    // Last night the dump failed (its redirect still made postgres.sql, empty) and the snapshot was never written.
    const last = join(root, '20261120');
    await writeFile(join(last, 'postgres.sql'), '');
    await rm(join(last, 'chromadb.tar.gz'));
    const bad = checkFindings(local, await read());
    expect(bad.map((f) => [f.subject, f.code, f.message.replace(/^.*\): /, '')])).toEqual([
      ['backup postgres', 'hosts.backup-empty', 'the newest is an empty file'],
      ['backup chromadb', 'hosts.backup-stale', 'the newest is 1d 3h old (at most 1d 2h)'],
    ]);
    expect(bad[0]!.where).toMatch(/specs\/hosts\/ai\.yaml:\d+:\d+$/);
  });

  it('skips a Windows host with a note, without contacting it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-host-checks-win-'));
    try {
      await mkdir(join(dir, 'hosts'));
      const host = { kind: 'Host', name: 'desk', address: '127.0.0.1', os: 'Windows 11 Pro', ssh: { user: 'ops', port: 1 }, backups: [{ name: 'b', path: '/data', maxAge: '1d', keep: 1 }] };
      await writeFile(join(dir, 'hosts', 'desk.yaml'), stringify(host));
      const loaded = await loadSpecs(dir);
      const desk = loaded.index.all('hosts')[0] as Resource<Host>;
      const ssh = { run: () => Promise.reject(new Error('must not be contacted')) };
      const checks = await readHostChecks(desk, { label: 'hosts/desk', host: '127.0.0.1', port: 1, user: 'ops' }, { ssh, noSsh: 'offline' } as unknown as LiveContext);
      expect(checks!.backups[0]!.outcome).toEqual({ notRead: 'health probes and backup checks run in POSIX sh; not run on a Windows host' });
      expect(checkFindings(desk, checks)).toEqual([
        expect.objectContaining({ code: 'hosts.check-not-read', subject: 'backup b', severity: 'warning', hint: expect.stringContaining('POSIX hosts only') }),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
