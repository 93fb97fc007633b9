// Windows hosts and llama.cpp models end to end: a real OpenSSH sshd on 127.0.0.x whose forced
// command (authorized_keys command=, as a login shell would) stands in for OpenSSH for Windows
// with cmd.exe: it accepts only `powershell -NoProfile -NonInteractive -EncodedCommand <b64>`,
// checks that the base64 decodes (UTF-16LE) to fleetspec's facts script, and answers with
// recorded ConvertTo-Json output of the CIM classes (base64 of UTF-8, as the script prints it).
// The same sshd forwards to a local llama.cpp-API stand-in, as the workstation's sshd would to
// llama-server on its loopback.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNTRUSTED_READ } from '../../reconciler/kinds/driver.js';
import { hostsDriver, readHostFacts } from '../../reconciler/kinds/hosts/driver.js';
import type { Host } from '../../reconciler/kinds/hosts/index.js';
import type { Resource } from '../../reconciler/kinds/kind.js';
import {
  WINDOWS_FACTS_COMMAND,
  WINDOWS_FACTS_SCRIPT,
  compareGpus,
  gpuMatches,
  isWindowsHost,
  parseWindowsFacts,
  powershellErrorLine,
} from '../../reconciler/kinds/hosts/windows.js';
import { modelsDriver } from '../../reconciler/kinds/models/driver.js';
import { applyPlan, planFleet, type EngineOptions } from '../../reconciler/plan/engine.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { renderMarkdown, renderText } from '../../reconciler/plan/render.js';
import { loadPolicies, type PolicyContext } from '../../reconciler/policies/index.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { SshPool } from '../../reconciler/ssh/pool.js';
import type { Queryable } from '../../reconciler/state/db.js';
import { startLlamaCppServer, type LlamaCppTestServer } from '../llamacpp/server.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';

/** What powershell.exe prints for the facts script on a workstation like seed 004's (Windows PowerShell 5.1, ConvertTo-Json -Compress). */
function recorded(listening: number[]) {
  return {
    fleetspec: 1,
    os: { Caption: 'Microsoft Windows 11 Pro', Version: '10.0.22631', CSName: 'DESKTOP-LIBOQV5', TotalVisibleMemorySize: 16645600, FreePhysicalMemory: 6512344, SystemDrive: 'C:' },
    cpu: [{ NumberOfLogicalProcessors: 6, LoadPercentage: 12 }],
    disk: [
      { DeviceID: 'C:', FileSystem: 'NTFS', Size: 511262150656, FreeSpace: 187654321152 },
      { DeviceID: 'D:', FileSystem: 'NTFS', Size: 2000381014016, FreeSpace: 1500000000000 },
      { DeviceID: 'E:', FileSystem: 'exFAT', Size: 3000592498688, FreeSpace: 2900000000000 },
    ],
    gpu: [
      // AdapterRAM is a uint32: the RX 550's 4 GB reads as 0xFFF00000.
      { Name: 'Radeon RX 550 Series', AdapterRAM: 4293918720, DriverVersion: '31.0.21921.1000' },
      { Name: 'Intel(R) UHD Graphics 630', AdapterRAM: 1073741824, DriverVersion: '31.0.101.2111' },
    ],
    tcp: listening,
  };
}

/** The same machine as ConvertTo-Json writes single instances (objects, not one-element arrays), and PowerShell 5.1's {value, Count} array wrapper. */
function singleShapes(listening: number) {
  const r = recorded([listening]);
  return { ...r, cpu: r.cpu[0], disk: r.disk[0], gpu: { value: [r.gpu[0]], Count: 1 }, tcp: listening };
}

const FAKE_SHELL = `
import { appendFileSync, readFileSync, writeSync } from 'node:fs';
const dir = process.argv[2];
const cmd = process.env.SSH_ORIGINAL_COMMAND ?? '';
appendFileSync(dir + '/commands.log', JSON.stringify(cmd) + '\\n');
const m = /^powershell -NoProfile -NonInteractive -EncodedCommand ([A-Za-z0-9+\\/]+={0,2})$/.exec(cmd);
if (!m) {
  process.stderr.write("'" + cmd.split(' ')[0] + "' is not recognized as an internal or external command,\\r\\noperable program or batch file.\\r\\n");
  process.exit(1);
}
if (Buffer.from(m[1], 'base64').toString('utf16le') !== readFileSync(dir + '/expected.ps1', 'utf8')) {
  process.stderr.write('not the facts script\\r\\n');
  process.exit(2);
}
const reply = JSON.parse(readFileSync(dir + '/reply.json', 'utf8'));
// Synchronous writes: process.exit does not wait for a pipe to drain.
if (reply.stderr) writeSync(2, reply.stderr);
if (reply.json !== undefined) writeSync(1, Buffer.from(JSON.stringify(reply.json)).toString('base64') + '\\r\\n');
if (reply.stdout) writeSync(1, reply.stdout);
process.exit(reply.code ?? 0);
`;

describe('Windows hosts over OpenSSH for Windows, and llama.cpp models', () => {
  let sshd: TestSshd;
  let llama: LlamaCppTestServer;
  let pool: SshPool;
  let specs: string;
  let shellDir: string;
  let policy: PolicyContext;

  const reply = (r: { json?: unknown; stdout?: string; stderr?: string; code?: number }) => writeFileSync(join(shellDir, 'reply.json'), JSON.stringify(r));
  const commands = () => readFileSync(join(shellDir, 'commands.log'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string);
  const write = (file: string, docs: object[]) => {
    mkdirSync(join(specs, file, '..'), { recursive: true });
    writeFileSync(join(specs, file), docs.map((d) => stringify(d)).join('---\n'));
  };
  const options = (extra: Partial<EngineOptions> = {}): EngineOptions => ({
    specs,
    mode: 'live',
    db: {} as Queryable,
    ssh: pool,
    noSsh: 'offline',
    secret: async () => undefined,
    progress: () => {},
    drivers: [hostsDriver, modelsDriver],
    policy,
    ...extra,
  });
  const plan = async (extra: Partial<EngineOptions> = {}): Promise<Plan> => {
    const { plan, diagnostics } = await planFleet(options(extra));
    expect(diagnostics.filter((d) => d.severity === 'error'), JSON.stringify(diagnostics)).toEqual([]);
    return plan!;
  };
  /** The facts the hosts driver reads (as the policies get them), or undefined when not read. */
  const readFacts = async () => {
    const loaded = await loadSpecs(specs);
    const read = await readHostFacts(loaded.index.get('hosts', 'desk') as Resource<Host>, { mode: 'live', db: {} as Queryable, index: loaded.index, ssh: pool, noSsh: 'offline', secret: async () => undefined, progress: () => {}, stacks: { dir: specs, workDir: specs, noTerraform: 'none' } });
    return 'facts' in read ? read.facts : undefined;
  };
  const change = (p: Plan, id: string) => p.changes.find((c) => `${c.kind}/${c.name}` === id);
  const MODEL = 'models/qwen2.5-1.5b-q4_k_m@desk';

  beforeAll(async () => {
    const { set } = await loadPolicies(join(import.meta.dirname, '..', '..', 'policies'));
    policy = { set: { policies: set.policies.filter((p) => p.name === 'host-thresholds').map((p) => ({ ...p, severity: 'warning' as const })) } };
    [sshd, llama] = await Promise.all([startSshd(), startLlamaCppServer({ modelPath: 'C:\\models\\qwen2.5-1.5b-q4_k_m.gguf' })]);
    shellDir = await mkdtemp(join(tmpdir(), 'fleetspec-winshell-'));
    writeFileSync(join(shellDir, 'shell.mjs'), FAKE_SHELL);
    writeFileSync(join(shellDir, 'expected.ps1'), WINDOWS_FACTS_SCRIPT);
    writeFileSync(join(shellDir, 'commands.log'), '');
    // The forced command runs for every session of this key; forwards still go through.
    writeFileSync(join(sshd.home, '.ssh', 'authorized_keys'), `command="${process.execPath} ${join(shellDir, 'shell.mjs')} ${shellDir}" ${clientKey().publicKey}\n`);
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 10_000, commandTimeoutMs: 20_000 });
    specs = await mkdtemp(join(tmpdir(), 'fleetspec-windows-specs-'));
    write('hosts/desk.yaml', [
      {
        kind: 'Host',
        name: 'desk',
        hostname: 'DESKTOP-LIBOQV5',
        address: sshd.host,
        os: 'Windows 11 Pro',
        cpu: { cores: 6, threads: 6 },
        memory: { size: '16GB' },
        gpus: [{ model: 'AMD Radeon RX 550', vram: '4GB' }, { model: 'Intel UHD 630' }],
        ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey },
        services: [
          { name: 'ssh', port: 22 },
          { name: 'rdp', port: 3389 },
          { name: 'llama-cpp', port: llama.port },
        ],
        monitoring: [{ metric: 'disk.usage', mount: '/', alert: '>60%' }],
      },
    ]);
    write('models/desk.yaml', [{ kind: 'Model', name: 'qwen2.5-1.5b-q4_k_m', host: 'desk', runtime: 'llama.cpp' }]);
  }, 60_000);

  afterAll(async () => {
    await pool?.close();
    await sshd?.stop();
    await llama?.close();
    await Promise.all([specs, shellDir].map((d) => d && rm(d, { recursive: true, force: true })));
  });

  it('reads the workstation with one PowerShell -EncodedCommand: OS, CPUs, memory, drives, ports, GPUs; no drift; C: is "/" for thresholds', async () => {
    reply({ json: recorded([22, 135, 445, 3389, 5040, llama.port, 49664]) });
    const before = commands().length;
    const loaded = await loadSpecs(specs);
    hostsDriver.prefetch!(loaded.index.all('hosts'), pool);
    const p = await plan();
    const sent = commands().slice(before);
    // The prefetched read is the one the plan takes: one command, exactly the encoded script.
    expect(sent).toEqual([WINDOWS_FACTS_COMMAND]);
    const b64 = /-EncodedCommand (\S+)$/.exec(sent[0]!)![1]!;
    expect(Buffer.from(b64, 'base64').toString('utf16le')).toBe(WINDOWS_FACTS_SCRIPT);

    expect(change(p, 'hosts/desk')).toMatchObject({
      action: 'no-op',
      before: { hostname: 'DESKTOP-LIBOQV5', os: 'Windows 11 Pro', cpus: 6, memory: '16GB', services: { ssh: 22, rdp: 3389, 'llama-cpp': llama.port }, gpus: ['Radeon RX 550 Series', 'Intel(R) UHD Graphics 630'] },
    });
    const facts = await readFacts();
    expect(facts).toMatchObject({ platform: 'windows', kernel: 'Windows 10.0.22631', systemDrive: 'C:', cpuLoadPercent: 12 });
    expect(p.findings).toContainEqual(expect.objectContaining({ kind: 'hosts', name: 'desk', code: 'policy.host-thresholds', message: 'disk C: at 64% (alert >60%; live)' }));
    // The llama.cpp model, through the SSH forward: served, so no-op.
    expect(change(p, MODEL)).toMatchObject({ action: 'no-op', reason: 'llama.cpp on desk serves it' });
    expect(llama.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/models', 'GET /props']);
  });

  it('reads single instances as objects and the {value, Count} wrapper of Windows PowerShell 5.1', async () => {
    reply({ json: singleShapes(22) });
    const p = await plan();
    const facts = (await readFacts()) as ReturnType<typeof parseWindowsFacts>;
    expect(facts.disks).toEqual([{ mount: 'C:', filesystem: 'NTFS', sizeBytes: 511262150656, usedBytes: 323607829504, usedPercent: 64 }]);
    expect(facts.listening).toEqual([22]);
    expect(facts.gpus.map((g) => g.name)).toEqual(['Radeon RX 550 Series']);
    // The Intel GPU and two services are missing now: drift, read-only.
    expect(change(p, 'hosts/desk')).toMatchObject({
      action: 'drift',
      before: { gpus: ['Radeon RX 550 Series', 'not found'], services: { ssh: 22, rdp: 'not listening', 'llama-cpp': 'not listening' } },
      reason: expect.stringMatching(/live differs from the spec in services, gpus; hosts are read-only/),
    });
  });

  it('reports a different model as drift with what to do, and an apply never calls llama.cpp beyond reading it', async () => {
    reply({ json: recorded([22, 3389, llama.port]) });
    llama.set({ modelPath: 'C:\\models\\qwen2.5-3b-instruct-q4_k_m.gguf' });
    try {
      llama.requests.length = 0;
      const p = await plan();
      const drift = change(p, MODEL)!;
      expect(drift).toMatchObject({ action: 'drift', after: { model: 'qwen2.5-1.5b-q4_k_m', host: 'desk' } });
      expect(drift.reason).toContain('serves `C:\\\\models\\\\qwen2.5-3b-instruct-q4_k_m.gguf`, not qwen2.5-1.5b-q4_k_m');
      expect(drift.reason).toContain('start llama-server with -m');
      // Drift has no steps: nothing for apply to carry out.
      expect(drift.actions).toBeUndefined();
      const report = await applyPlan(p, options());
      expect(report.status, JSON.stringify(report)).toBe('applied');
      expect(report.rolledBack).toEqual([]);
      expect(llama.requests.every((r) => r.method === 'GET' && ['/v1/models', '/props'].includes(r.path)), JSON.stringify(llama.requests)).toBe(true);
    } finally {
      llama.set({ modelPath: 'C:\\models\\qwen2.5-1.5b-q4_k_m.gguf' });
    }
  });

  it("planning a branch, asks llama-server only at the port the trusted specs give it", async () => {
    reply({ json: recorded([22, 3389, llama.port]) });
    const branch = await loadSpecs(specs);
    // The trusted commit had llama-server elsewhere: the branch moved it, so nothing is asked before approval.
    const trustedDir = await mkdtemp(join(tmpdir(), 'fleetspec-windows-trusted-'));
    try {
      mkdirSync(join(trustedDir, 'hosts'), { recursive: true });
      const host = branch.index.get('hosts', 'desk')!.value as Host;
      writeFileSync(join(trustedDir, 'hosts', 'desk.yaml'), stringify({ ...host, services: host.services!.map((svc) => (svc.name === 'llama-cpp' ? { ...svc, port: 18080 } : svc)) }));
      const moved = await loadSpecs(trustedDir);
      llama.requests.length = 0;
      const p = await plan({ trusted: moved.index });
      expect(p.unknown.find((u) => `${u.kind}/${u.name}` === MODEL)).toMatchObject({ reason: UNTRUSTED_READ });
      expect(llama.requests).toEqual([]);
      // The same port in the trusted specs: read as on the default branch.
      const same = await plan({ trusted: branch.index });
      expect(change(same, MODEL)).toMatchObject({ action: 'no-op' });
      expect(llama.requests.length).toBeGreaterThan(0);
    } finally {
      rmSync(trustedDir, { recursive: true, force: true });
    }
  });

  it('reads a server without /props (404) from /v1/models alone', async () => {
    reply({ json: recorded([22, 3389, llama.port]) });
    llama.set({ noProps: true });
    try {
      const p = await plan();
      expect(change(p, MODEL)).toMatchObject({ action: 'no-op' });
    } finally {
      llama.set({ noProps: false });
    }
  });

  it('shows a hostile model id from the server only escaped: no terminal escape, no Markdown, no HTML', async () => {
    reply({ json: recorded([22, 3389, llama.port]) });
    const hostile = '\u001b]8;;http://evil.example\u0007click\u001b[2J](http://evil.example) <img src=x onerror=alert(1)> `code` **bold**';
    llama.set({ alias: hostile, modelPath: `C:\\models\\${hostile}.gguf` });
    try {
      const p = await plan();
      const drift = change(p, MODEL)!;
      expect(drift.action).toBe('drift');
      for (const out of [renderText(p), renderMarkdown(p), JSON.stringify(drift)]) {
        expect(out).not.toMatch(/\u001b|\u0007/);
        expect(out).not.toContain('<img');
        expect(out).not.toContain('](http://evil.example)`');
      }
      expect(drift.reason).toMatch(/serves `[^`]*\\u003cimg[^`]*`/);
    } finally {
      llama.set({ alias: undefined, modelPath: 'C:\\models\\qwen2.5-1.5b-q4_k_m.gguf' });
    }
  });

  it('refuses hostile or broken replies with a clear not-read reason, quoting the host only as an escaped excerpt', async () => {
    const cases: { reply: Parameters<typeof reply>[0]; reason: RegExp }[] = [
      { reply: { json: { ...recorded([22]), os: { ...recorded([]).os, Caption: 'Microsoft Windows\u001b[31m 11 Pro' } } }, reason: /^the Windows facts command answered with control characters in os\.Caption; facts not read: `Microsoft Windows\[31m 11 Pro`$/ },
      { reply: { json: { ...recorded([22]), disk: [{ DeviceID: 'C:', Size: '511262150656', FreeSpace: 1 }] } }, reason: /disk\[0\]\.Size that is not a whole number/ },
      { reply: { json: { ...recorded([22]), disk: Array.from({ length: 10_000 }, (_, i) => ({ DeviceID: 'C:', Size: i, FreeSpace: 0 })) } }, reason: /10000 entries in disk \(at most 64 are read\)/ },
      { reply: { json: { ...recorded([22]), tcp: [22, 70000] } }, reason: /tcp\[1\] that is not a whole number from 0 to 65535/ },
      { reply: { json: { ...recorded([22]), os: { ...recorded([]).os, CSName: 'DESKTOP; rm -rf /' } } }, reason: /an unexpected os\.CSName/ },
      { reply: { stdout: '<h1>*not* base64</h1>\r\n' }, reason: /output that is not the base64 it prints .*: `\\u003ch1\\u003e\*not\* base64\\u003c\/h1\\u003e`$/ },
      {
        reply: { code: 1, stderr: '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">Get-CimInstance : Access denied _x000D__x000A_</S><S S="Error">At line:3 char:5_x000D__x000A_</S></Objs>' },
        reason: /^facts command exited 1: `Get-CimInstance : Access denied`$/,
      },
    ];
    for (const c of cases) {
      reply(c.reply);
      const p = await plan();
      const unread = p.unknown.find((u) => u.kind === 'hosts' && u.name === 'desk');
      expect(unread?.reason, JSON.stringify(p.unknown)).toMatch(c.reason);
      expect(unread!.reason).not.toMatch(/\u001b/);
      expect(change(p, 'hosts/desk')).toBeUndefined();
      expect(await readFacts()).toBeUndefined();
    }
  });

  it('is offline without --live and never contacted without ssh settings', async () => {
    const offline = await plan({ mode: 'offline', ssh: undefined, noSsh: 'offline (plan with --live to read it)' });
    expect(offline.unknown).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'hosts', name: 'desk', reason: 'offline (plan with --live to read it)' }),
        expect.objectContaining({ kind: 'models', name: 'qwen2.5-1.5b-q4_k_m@desk', reason: 'offline (plan with --live to read it)' }),
      ]),
    );
  });
});

describe("the repository's workstation and its llama.cpp model", () => {
  it('validate, and plan as not read with the reason and the place to fix it (the seeds give no SSH user)', async () => {
    const repo = join(import.meta.dirname, '..', '..', 'specs');
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-windows-repo-'));
    try {
      for (const file of ['hosts/desktop-liboqv5.yaml', 'models/desktop-liboqv5.yaml']) {
        mkdirSync(join(dir, file, '..'), { recursive: true });
        writeFileSync(join(dir, file), readFileSync(join(repo, file)));
      }
      const base = { specs: dir, db: {} as Queryable, secret: async () => undefined, progress: () => {}, drivers: [hostsDriver, modelsDriver] };
      const offline = await planFleet({ ...base, mode: 'offline', noSsh: 'offline (plan with --live to read it)' });
      expect(offline.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(offline.plan!.unknown.map((u) => `${u.kind}/${u.name}: ${u.reason}`)).toEqual([
        'hosts/DESKTOP-LIBOQV5: offline (plan with --live to read it)',
        'models/qwen2.5-1.5b-q4_k_m@DESKTOP-LIBOQV5: offline (plan with --live to read it)',
      ]);
      const pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 1000 });
      try {
        const live = await planFleet({ ...base, mode: 'live', ssh: pool, noSsh: 'no ssh' });
        expect(live.plan!.unknown.map((u) => u.reason)).toEqual([
          expect.stringMatching(/^no ssh settings in .*hosts\/desktop-liboqv5\.yaml:\d+:\d+$/),
          expect.stringMatching(/^no ssh settings in .*hosts\/desktop-liboqv5\.yaml:\d+:\d+$/),
        ]);
        expect(live.plan!.changes).toEqual([]);
      } finally {
        await pool.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Windows facts, parsed', () => {
  it('tells Windows hosts by their os and builds one cmd.exe-safe command line', () => {
    expect([isWindowsHost({ os: 'Windows 11 Pro' }), isWindowsHost({ os: 'windows' }), isWindowsHost({ os: 'Ubuntu 24.04' }), isWindowsHost({})]).toEqual([true, true, false, false]);
    // Nothing cmd.exe or PowerShell would read as syntax: letters, digits, spaces, dashes and base64.
    expect(WINDOWS_FACTS_COMMAND).toMatch(/^powershell -NoProfile -NonInteractive -EncodedCommand [A-Za-z0-9+/]+={0,2}$/);
    // cmd.exe takes at most 8191 characters.
    expect(WINDOWS_FACTS_COMMAND.length).toBeLessThan(8191);
  });

  it('reads memory in KB, sizes in bytes, a null LoadPercentage as unknown, a locked drive (no Size) as unmeasured, and a UTF-8 BOM', () => {
    const doc = recorded([22]);
    const facts = parseWindowsFacts('\uFEFF' + Buffer.from(JSON.stringify({ ...doc, disk: [...doc.disk, { DeviceID: 'F:', FileSystem: null, Size: null, FreeSpace: null }], cpu: [{ NumberOfLogicalProcessors: 4, LoadPercentage: null }, { NumberOfLogicalProcessors: 4, LoadPercentage: null }] })).toString('base64') + '\r\n');
    expect(facts.memory).toEqual({ totalBytes: 16645600 * 1024, availableBytes: 6512344 * 1024 });
    expect(facts.cpus).toBe(8);
    expect(facts.cpuLoadPercent).toBeNull();
    expect(facts.disks.map((d) => `${d.mount} ${d.usedPercent}%`)).toEqual(['C: 64%', 'D: 26%', 'E: 4%']);
    expect(facts.gpus[0]).toEqual({ name: 'Radeon RX 550 Series', adapterRamBytes: 4293918720, driverVersion: '31.0.21921.1000' });
  });

  it('matches GPUs by the words of the spec model, vendor names aside', () => {
    expect(gpuMatches('AMD Radeon RX 550', 'Radeon RX 550 Series')).toBe(true);
    expect(gpuMatches('Intel UHD 630', 'Intel(R) UHD Graphics 630')).toBe(true);
    expect(gpuMatches('AMD Radeon RX 550', 'Radeon RX 5500 XT')).toBe(false);
    expect(compareGpus([{ model: 'NVIDIA RTX 3060' }], [{ name: 'Intel(R) UHD Graphics 630', adapterRamBytes: null, driverVersion: null }])).toEqual({ want: ['NVIDIA RTX 3060'], have: ['not found'], same: false });
  });

  it('reads the error text out of CLIXML, and plain stderr as its first line', () => {
    expect(powershellErrorLine('#< CLIXML\r\n<Objs><S S="Error">Access is denied. &lt;x&gt;_x000D__x000A_</S></Objs>')).toBe('Access is denied. <x>');
    expect(powershellErrorLine("'powershell' is not recognized as an internal or external command,\r\nmore")).toBe("'powershell' is not recognized as an internal or external command,\r");
  });
});
