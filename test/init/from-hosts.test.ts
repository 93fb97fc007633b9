// init --from-hosts: a host read over SSH from a real OpenSSH sshd on loopback becomes a host
// spec with its key pinned only once confirmed; and, from crafted facts, what a hostile host
// says (its hostname, OS, mount points) stays data: a safe file name and YAML that parses back
// to exactly the values given.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { initCommand, type InitPrompt } from '../../reconciler/commands/init.js';
import { bufferOutput } from '../../reconciler/commands/output.js';
import { terminal } from '../../reconciler/escape.js';
import type { HostFacts } from '../../reconciler/kinds/hosts/facts.js';
import { hosts } from '../../reconciler/kinds/hosts/index.js';
import { hostFileName, hostSpecFromFacts, hostSpecName, hostSpecText, parseHostTarget, type HostTarget } from '../../reconciler/init/hosts.js';
import { fingerprint } from '../../reconciler/ssh/keys.js';
import { checkAgainst } from '../../reconciler/specs/schema.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  os: 'Debian GNU/Linux 12 (bookworm)',
  kernel: 'Linux 6.1.0',
  hostname: 'web1',
  cpus: 4,
  load: [0.1, 0.2, 0.3],
  memory: { totalBytes: 16 * 1024 ** 3 - 300 * 1024 ** 2, availableBytes: 8 * 1024 ** 3 },
  disks: [{ mount: '/', filesystem: '/dev/sda1', sizeBytes: 500 * 1024 ** 3, usedBytes: 100 * 1024 ** 3, usedPercent: 20 }],
  listening: [22, 5432, 40123],
  ...over,
});
const target = parseHostTarget('admin@192.0.2.7:2222') as HostTarget;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFy3HfV3bHdWd3VqmE6sCiN4b5pGnq0y3U1Qk0Yl7rZ8';

describe('a host spec from facts', () => {
  it('names the host, its address, OS, CPUs, memory, disks, services and SSH settings, and validates', () => {
    const spec = hostSpecFromFacts(facts(), target, KEY, new Date('2025-01-02T03:04:05Z'));
    expect(spec).toMatchObject({
      kind: 'Host',
      name: 'web1',
      hostname: 'web1',
      address: '192.0.2.7',
      os: 'Debian GNU/Linux 12 (bookworm)',
      cpu: { threads: 4 },
      memory: { size: '15.7GB' },
      disks: [{ size: '500GB', mount: '/' }],
      services: [
        { name: 'ssh', port: 22 },
        { name: 'postgres', port: 5432 },
        { name: 'port-40123', port: 40123 },
      ],
      ssh: { user: 'admin', port: 2222, hostKey: KEY },
      observed: { disks: [{ mount: '/', usedPercent: 20 }] },
    });
    expect(checkAgainst(hosts.schema, spec)).toEqual([]);
  });

  const hostile = [
    '../../x',
    '../../etc/passwd',
    '/etc/cron.d/evil',
    'a\nb: c',
    '${HOME}$(id)`id`',
    '- [a, b]: {c: d} # e',
    '*alias &anchor !!python/object',
    "'\"\\",
    'x\u001b]0;title\u0007\u202eevil',
    '....',
    '',
    '-',
    'a'.repeat(300),
  ];

  it.each(hostile)('hostname %j: a safe file name, and data-only YAML that validates', async (hostname) => {
    const os = `${hostname}\nOS: injected`;
    const spec = hostSpecFromFacts(
      facts({ hostname, os, disks: [{ mount: `/mnt/${hostname}`, filesystem: '/dev/x', sizeBytes: 1024 ** 3, usedBytes: 0, usedPercent: 0 }] }),
      target,
      KEY,
      new Date(),
    );
    expect(spec.name).toMatch(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/);
    const file = hostFileName(spec.name);
    const specsHosts = resolve('/repo/specs/hosts');
    expect(dirname(resolve('/repo', file))).toBe(specsHosts);

    const text = hostSpecText(spec, fingerprint(KEY));
    const docs = parseAllDocuments(text);
    expect(docs).toHaveLength(1);
    expect(docs[0]!.errors).toEqual([]);
    // The file holds exactly the values, nothing the host said became structure.
    expect(docs[0]!.toJS()).toEqual(JSON.parse(JSON.stringify(spec)));
    expect(spec.os).toBe(os.trim().slice(0, 200));
    expect(Object.keys(parse(text) as object).sort()).toEqual(Object.keys(spec).sort());
    expect(checkAgainst(hosts.schema, spec)).toEqual([]);
    // And it loads as a spec: no aliases, tags or extra documents.
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-init-hostile-'));
    try {
      await writeFile(join(dir, 'x.yaml'), text);
      const { mkdir, rename } = await import('node:fs/promises');
      await mkdir(join(dir, 'specs', 'hosts'), { recursive: true });
      await rename(join(dir, 'x.yaml'), join(dir, file));
      const loaded = await loadSpecs(join(dir, 'specs'));
      expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(loaded.resources.map((r) => r.name)).toEqual([spec.name]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names a host from its first label, else from its address', () => {
    expect(hostSpecName('web1.example.com', '192.0.2.1')).toBe('web1');
    expect(hostSpecName('../../x', '192.0.2.1')).toBe('x');
    expect(hostSpecName('', '192.0.2.1')).toBe('host-192-0-2-1');
    expect(hostSpecName('...', '2001:db8::1')).toBe('host-2001-db8-1');
    expect(() => hostFileName('../x')).toThrow(/not a host name/);
  });

  it('parses user@address[:port] and refuses anything else', () => {
    expect(parseHostTarget('root@192.0.2.1')).toMatchObject({ user: 'root', address: '192.0.2.1', port: 22 });
    expect(parseHostTarget('ops@[2001:db8::1]:2200')).toMatchObject({ user: 'ops', address: '2001:db8::1', port: 2200 });
    expect(parseHostTarget('ops@host.example.com:22')).toMatchObject({ address: 'host.example.com' });
    for (const bad of ['192.0.2.1', 'root@', 'root@-oProxyCommand=x', 'Root@192.0.2.1', 'root@192.0.2.1:0', 'root@192.0.2.1:99999', 'a b@192.0.2.1', 'root@../../x']) {
      expect(parseHostTarget(bad), bad).toHaveProperty('error');
    }
  });
});

describe('init --from-hosts against a real sshd', () => {
  let sshd: TestSshd;
  let temp: string;
  let keyFile: string;
  let env: NodeJS.ProcessEnv;
  const fleetspec = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
      );
      child.stdin!.end();
    });
  const hostFiles = (repo: string) => readdirSync(join(repo, 'specs', 'hosts')).sort();
  const spec = () => `${sshd.user}@${sshd.host}:${sshd.port}`;

  beforeAll(async () => {
    sshd = await startSshd();
    temp = await mkdtemp(join(tmpdir(), 'fleetspec-init-ssh-'));
    keyFile = join(temp, 'id_ed25519');
    await writeFile(keyFile, clientKey().privateKey, { mode: 0o600 });
    const { DATABASE_URL: _, ...rest } = process.env;
    env = { ...Object.fromEntries(Object.entries(rest).filter(([n]) => !n.startsWith('FLEETSPEC_'))), NO_COLOR: '1', FLEETSPEC_STATE_DIR: join(temp, 'state') };
  });
  afterAll(async () => {
    await sshd?.stop();
    await rm(temp, { recursive: true, force: true });
  });

  it('without --yes and without a terminal: shows the fingerprint, refuses, writes nothing for the host (exit 1)', async () => {
    const repo = join(temp, 'refused');
    const result = await fleetspec(['init', repo, '--from-hosts', spec(), '--ssh-key', keyFile]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(fingerprint(sshd.hostKey));
    expect(result.stderr).toMatch(/re-run with --yes/);
    expect(hostFiles(repo)).toEqual(['example-host.yaml']);
    expect(result.stdout).not.toMatch(/specs\/hosts\/(?!example-host)/);
  });

  it('with --yes: writes the host with the sshd\'s key pinned, and the repository validates', async () => {
    const repo = join(temp, 'yes');
    const result = await fleetspec(['init', repo, '--from-hosts', spec(), '--ssh-key', keyFile, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(fingerprint(sshd.hostKey));
    const written = hostFiles(repo).filter((f) => f !== 'example-host.yaml');
    expect(written).toHaveLength(1);
    expect(result.stdout).toContain(`written specs/hosts/${written[0]}`);
    const text = await readFile(join(repo, 'specs', 'hosts', written[0]!), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/hosts.schema.json');
    const host = parse(text) as { name: string; address: string; ssh: { user: string; port: number; hostKey: string }; cpu: { threads: number } };
    expect(host.ssh).toEqual({ user: sshd.user, port: sshd.port, hostKey: sshd.hostKey });
    expect(host.address).toBe(sshd.host);
    expect(`${host.name}.yaml`).toBe(written[0]);
    expect(host.cpu.threads).toBeGreaterThan(0);

    const validate = await fleetspec(['validate', join(repo, 'specs')]);
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
    expect(validate.stdout + validate.stderr).toMatch(/0 errors/);

    // Again: the host's file is kept, not rewritten.
    const again = await fleetspec(['init', repo, '--from-hosts', spec(), '--ssh-key', keyFile, '--yes', '--format', 'json']);
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout) as { hosts: { status: string; file: string; hostKey: string; fingerprint: string }[] };
    expect(report.hosts).toEqual([{ target: spec(), status: 'kept', name: host.name, file: `specs/hosts/${written[0]}`, hostKey: sshd.hostKey, fingerprint: fingerprint(sshd.hostKey) }]);
    expect(await readFile(join(repo, 'specs', 'hosts', written[0]!), 'utf8')).toBe(text);
  }, 60_000);

  it('on a terminal: pins after "y", refuses after anything else', async () => {
    const asked: string[] = [];
    const prompt = (answer: string | undefined): InitPrompt => ({
      interactive: true,
      ask: async (question) => {
        asked.push(question);
        return answer;
      },
      close: () => {},
    });
    const no = join(temp, 'tty-no');
    const outNo = bufferOutput();
    expect(await initCommand(no, { fromHosts: [spec()], sshKey: keyFile, format: 'text' }, outNo, prompt('n'))).toBe(1);
    expect(hostFiles(no)).toEqual(['example-host.yaml']);
    expect(await initCommand(join(temp, 'tty-eof'), { fromHosts: [spec()], sshKey: keyFile, format: 'text' }, bufferOutput(), prompt(undefined))).toBe(1);

    const yes = join(temp, 'tty-yes');
    const outYes = bufferOutput();
    expect(await initCommand(yes, { fromHosts: [spec()], sshKey: keyFile, format: 'text' }, outYes, prompt('y'))).toBe(0);
    expect(hostFiles(yes)).toHaveLength(2);
    expect(asked).toHaveLength(3);
    expect(asked[0]).toContain(spec());
    expect(asked.every((q) => q === terminal(q) && !q.includes('\n'))).toBe(true);
  }, 60_000);

  it('a host that cannot be reached: the rest is written, the host is reported (exit 3)', async () => {
    const port = await new Promise<number>((done) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => done(port));
      });
    });
    const repo = join(temp, 'unreachable');
    const out = bufferOutput();
    expect(await initCommand(repo, { fromHosts: [`nobody@127.0.0.1:${port}`], sshKey: keyFile, connectTimeout: 5, format: 'text' }, out, { interactive: false, ask: async () => undefined, close: () => {} })).toBe(3);
    expect(out.err.join('\n')).toMatch(/could not read nobody@127\.0\.0\.1/);
    expect(existsSync(join(repo, 'README.md'))).toBe(true);
  });

  it('a missing key is a bad argument: nothing written (exit 1)', async () => {
    const repo = join(temp, 'no-key');
    const out = bufferOutput();
    expect(await initCommand(repo, { fromHosts: [spec()], sshKey: join(temp, 'missing'), format: 'text' }, out)).toBe(1);
    expect(out.err.join('\n')).toMatch(/no SSH key for --from-hosts/);
    expect(existsSync(repo)).toBe(false);
  });
});
