// Shared by the benchmarks: a generated fleet of specs, and the table they print.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { loadSpecs } from '../reconciler/specs/load.js';
import { synthesiseAll } from '../reconciler/stacks/files.js';

/** Writes a valid fleet of about `resources` resources into `dir`; returns the number of files. */
export async function generateFleet(dir: string, resources: number): Promise<number> {
  // Per project: one PortRange with 8 allocations, 8 DNS records, one host, one ticket: 18 resources
  // (plus one zone with the tunnel for all records).
  const projects = Math.ceil(resources / 18);
  for (const folder of ['hosts', 'ports', 'dns', 'tickets', 'zones']) await mkdir(join(dir, folder));
  await writeFile(
    join(dir, 'zones', 'example.org.yaml'),
    'kind: DnsZone\nname: example.org\nprovider: cloudflare\napiToken: secret:meta/cloudflare/api_token\ntunnel:\n  name: bench\n  hostname: tunnel.example.org\n',
  );
  for (let p = 0; p < projects; p++) {
    const start = 10_000 + p * 10; // ten ports per project keeps 65535 reachable for ~5,500 projects
    const allocations = Array.from({ length: 8 }, (_, i) => `  - service: svc${i}\n    port: ${start + i}\n    host: host${p}`).join('\n');
    await writeFile(join(dir, 'hosts', `host${p}.yaml`), `kind: Host\nname: host${p}\naddress: 10.0.${p >> 8}.${p & 255}\nservices:\n  - name: ssh\n    port: 22\n`);
    await writeFile(join(dir, 'ports', `project${p}.yaml`), `kind: PortRange\nname: project${p}\nrange: {start: ${start}, end: ${start + 9}}\nallocations:\n${allocations}\n`);
    const records = Array.from(
      { length: 8 },
      (_, i) => `kind: DnsRecord\nname: svc${i}.project${p}.example.org\nzone: example.org\ntype: CNAME\ntarget: tunnel.example.org\nroute: project${p}/svc${i}\n`,
    ).join('---\n');
    await writeFile(join(dir, 'dns', `project${p}.yaml`), records);
    await writeFile(join(dir, 'tickets', `T-${String(p + 1).padStart(4, '0')}.yaml`), `kind: Ticket\nid: T-${String(p + 1).padStart(4, '0')}\ntitle: Check project ${p}\nstatus: open\nhosts: [host${p}]\n`);
  }
  return projects * 4 + 1;
}

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '| ' + r.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
  console.log(fmt(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(fmt(r));
}

/**
 * A spec repository's files for a generated fleet of `resources` (generateFleet), with its stacks
 * synthesised: path → content, as a test git server's createBare takes them. Written under `seed`.
 */
export async function fleetRepoFiles(seed: string, resources: number): Promise<Record<string, string>> {
  await mkdir(join(seed, 'specs'), { recursive: true });
  await generateFleet(join(seed, 'specs'), resources);
  await synthesiseAll((await loadSpecs(join(seed, 'specs'))).index, join(seed, 'stacks'));
  const files: Record<string, string> = {};
  for (const name of await readdir(seed, { recursive: true })) {
    if (/\.(ya?ml|json)$/.test(name)) files[relative(seed, join(seed, name))] = await readFile(join(seed, name), 'utf8');
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// Run as a program (`npm run build && node dist/bench/fleet.js`): the cost of the live reads
// issue 26 added, with the real components the tests use, all on loopback. Imported by the other
// benchmarks and tests for the helpers above, it runs nothing: the modules below are loaded only
// when it is the program.
//   1. host checks: one host over a real OpenSSH sshd on 127.0.0.x (test/ssh/sshd.ts), 3 HTTP
//      health probes against loopback servers and 2 backup folders of 8 dated directories: the
//      checks' exec+parse (readHostChecks) per round, the facts alone (readHostFacts), the
//      driver's whole read (facts then checks), and parseChecks alone;
//   2. Windows facts: parseWindowsFacts of a recorded output (26 drives, 200 listening ports)
//      and of the largest output it accepts;
//   3. VMs: instances.get + timeSeries.list of a 120-minute window at 60 s against the Google
//      stand-in (test/gcp/server.ts), with the token fetched first or cached, and the vms
//      driver's readLive of 1 and 10 VMs;
//   4. instructions: assembly and merge of 10 layers into a 50 KB live file, and a live plan of
//      5 targets over sshd;
//   5. DNS: synthesis of the dns stack for 500 names with 3 records each.
//   BENCH_ROUNDS (default 20) sets the rounds of the network reads.
import type { LiveContext as BenchLiveContext } from '../reconciler/kinds/driver.js';

async function fleetReads(): Promise<void> {
  const { createServer } = await import('node:http');
  const { mkdtemp, rm, utimes } = await import('node:fs/promises');
  const { tmpdir, cpus, loadavg } = await import('node:os');
  const { stringify } = await import('yaml');
  const { checkFindings, checkSpecs, checksCommand, checksScript, parseChecks, readHostChecks } = await import('../reconciler/kinds/hosts/checks.js');
  const { hostTarget, hostsDriver, readHostFacts } = await import('../reconciler/kinds/hosts/driver.js');
  const { parseWindowsFacts } = await import('../reconciler/kinds/hosts/windows.js');
  const { GcpClient } = await import('../reconciler/gcp/client.js');
  const { vmsDriverWith } = await import('../reconciler/kinds/vms/driver.js');
  const { assembleSection, mergeInstructions } = await import('../reconciler/kinds/instructions/assemble.js');
  const { instructionsDriver } = await import('../reconciler/kinds/instructions/driver.js');
  const { applyPlan, planFleet } = await import('../reconciler/plan/engine.js');
  const { SshPool } = await import('../reconciler/ssh/pool.js');
  const { clientKey, startSshd } = await import('../test/ssh/sshd.js');
  const { startGcpServer } = await import('../test/gcp/server.js');
  type Host = import('../reconciler/kinds/hosts/index.js').Host;
  type Resource<T> = import('../reconciler/kinds/kind.js').Resource<T>;
  type Layer = import('../reconciler/kinds/instructions/assemble.js').Layer;

  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
  const started = performance.now();
  const rows: string[][] = [];
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const median = (xs: number[]) => {
    const s = sorted(xs);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const p95 = (xs: number[]) => sorted(xs)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)]!;
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const us = (x: number) => (x * 1000 >= 100 ? (x * 1000).toFixed(0) : (x * 1000).toFixed(1));
  /** Wall ms of each of `n` runs of fn (awaited one after another). */
  const sample = async (n: number, fn: () => unknown): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await fn();
      out.push(performance.now() - t0);
    }
    return out;
  };
  /** A row in ms: median and p95 over the samples. */
  const msRow = (part: string, what: string, xs: number[], note = '') => rows.push([part, what, String(xs.length), `${ms(median(xs))} ms`, `${ms(p95(xs))} ms`, note]);
  /** A row in µs, for synchronous work timed per call. */
  const usRow = (part: string, what: string, xs: number[], note = '') => rows.push([part, what, String(xs.length), `${us(median(xs))} µs`, `${us(p95(xs))} µs`, note]);
  const work = await mkdtemp(join(tmpdir(), 'fleetspec-bench-fleet-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  const key = clientKey().privateKey;
  try {
    // 1. Host checks over real sshd.
    {
      const sshd = await startSshd();
      cleanups.push(() => sshd.stop());
      const servers = await Promise.all(
        [0, 1, 2].map(
          () =>
            new Promise<{ port: number; close(): Promise<unknown> }>((resolve) => {
              const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
              server.listen(0, '127.0.0.1', () =>
                resolve({ port: (server.address() as { port: number }).port, close: () => new Promise((done) => (server.closeAllConnections(), server.close(done))) }),
              );
            }),
        ),
      );
      for (const s of servers) cleanups.push(() => s.close());
      const backups = join(work, 'backups');
      const now = Date.now() / 1000;
      for (const name of ['postgres', 'chromadb']) {
        for (let day = 0; day < 8; day++) {
          const dir = join(backups, name, `202611${String(20 + day).padStart(2, '0')}`);
          await mkdir(dir, { recursive: true });
          const file = join(dir, name === 'postgres' ? 'postgres.sql' : 'chromadb.tar.gz');
          await writeFile(file, 'backup');
          const age = now - (day * 86400 + 3 * 3600);
          await utimes(file, age, age);
          await utimes(dir, age, age);
        }
      }
      const specs = join(work, 'hosts-specs');
      await mkdir(join(specs, 'hosts'), { recursive: true });
      const host = {
        kind: 'Host',
        name: 'ai',
        address: sshd.host,
        ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey },
        services: [
          { name: 'ollama', port: servers[0]!.port, health: { http: '/api/tags', expect: 200 } },
          { name: 'voice-assistant', port: servers[1]!.port, health: { http: '/health' } },
          { name: 'netdata', port: servers[2]!.port, health: { http: '/api/v1/info' } },
        ],
        backups: [
          { name: 'postgres', path: join(backups, 'postgres'), pattern: '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]', file: 'postgres.sql', maxAge: '26h', keep: 8 },
          { name: 'chromadb', path: join(backups, 'chromadb'), pattern: '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]', file: 'chromadb.tar.gz', maxAge: '26h', keep: 8 },
        ],
      };
      await writeFile(join(specs, 'hosts', 'ai.yaml'), stringify(host));
      const loaded = await loadSpecs(specs);
      const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
      if (errors.length) throw new Error(`host spec invalid: ${errors.map((d) => d.message).join('; ')}`);
      const resource = loaded.index.all('hosts')[0] as Resource<Host>;
      const target = hostTarget(resource);
      if (typeof target === 'string') throw new Error(target);
      const pool = new SshPool({ privateKey: key, connectTimeoutMs: 5000, commandTimeoutMs: 20_000 });
      cleanups.push(() => pool.close());
      const ctx = { mode: 'live', index: loaded.index, ssh: pool, noSsh: 'offline', progress: () => {} } as unknown as BenchLiveContext;
      // Warm-up: the connection (handshake, auth) and JIT; then every check must pass.
      const connect0 = performance.now();
      const facts0 = await readHostFacts(resource, ctx);
      const connectMs = performance.now() - connect0;
      if (!('facts' in facts0)) throw new Error(`facts not read: ${facts0.unknown}`);
      const checks0 = await readHostChecks(resource, target, ctx);
      const bad = checkFindings(resource, checks0);
      if (bad.length || checks0!.probes.length !== 3 || checks0!.backups.length !== 2) throw new Error(`checks did not pass: ${bad.map((f) => f.message).join('; ')}`);
      msRow('1 host checks', 'first facts read: SSH connect + auth + facts exec', [connectMs], 'one sample');
      // The four reads interleaved round by round, so load from elsewhere on the machine falls on
      // each alike. The exec of `true` is the floor: a session channel and a process, doing nothing.
      const reads = {
        checks: () => readHostChecks(resource, target, ctx),
        facts: () => readHostFacts(resource, ctx),
        readLive: () => hostsDriver.readLive([resource], ctx),
        true: () => pool.run(target, (s) => s.exec('true')),
      };
      const times: Record<keyof typeof reads, number[]> = { checks: [], facts: [], readLive: [], true: [] };
      for (let i = 0; i < ROUNDS; i++) {
        for (const [name, fn] of Object.entries(reads) as [keyof typeof reads, () => Promise<unknown>][]) times[name].push(...(await sample(1, fn)));
      }
      msRow('1 host checks', 'checks exec+parse (3 probes, 2 backups × 8 dirs)', times.checks, 'readHostChecks, connection reused');
      msRow('1 host checks', 'facts alone (exec+parse)', times.facts, 'readHostFacts, connection reused');
      msRow('1 host checks', 'hosts driver readLive (facts, then checks)', times.readLive, 'what a live plan pays per host');
      msRow('1 host checks', 'SSH exec of `true` (channel round trip floor)', times.true);
      // Where the checks' time goes: the same script run by a local sh without SSH (its processes:
      // date, 3 curl, a stat per dated directory), and its parts.
      const checkSpecsOf = checkSpecs(resource.value);
      const { execFile } = await import('node:child_process');
      const localSh = (script: string) => new Promise((done, fail) => execFile('sh', ['-c', script], (err, out) => (err ? fail(err) : done(out))));
      const localScript = checksScript(checkSpecsOf, 'e'.repeat(32));
      msRow('1 host checks', 'the checks script by a local sh, no SSH', await sample(ROUNDS, () => localSh(localScript)), 'the script alone');
      msRow('1 host checks', '… probes only, local sh', await sample(ROUNDS, () => localSh(checksScript({ probes: checkSpecsOf.probes, backups: [] }, 'e'.repeat(32)))));
      msRow('1 host checks', '… backups only (16 entries), local sh', await sample(ROUNDS, () => localSh(checksScript({ probes: [], backups: checkSpecsOf.backups }, 'e'.repeat(32)))), 'one stat for the folder');
      // How the backup check grows: one folder of 100 dated entries.
      const hundred = join(backups, 'hundred');
      for (let day = 0; day < 100; day++) {
        const dir = join(hundred, `2026${String(1 + Math.floor(day / 28)).padStart(2, '0')}${String(1 + (day % 28)).padStart(2, '0')}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'postgres.sql'), 'backup');
      }
      const big = { ...checkSpecsOf.backups[0]!, name: 'hundred', path: hundred, keep: 100 };
      msRow('1 host checks', '… one backup folder of 100 entries, local sh', await sample(5, () => localSh(checksScript({ probes: [], backups: [big] }, 'e'.repeat(32)))));
      const marker = 'f'.repeat(32);
      const raw = await pool.run(target, (s) => s.exec(checksCommand(checkSpecsOf, marker)));
      const parseTimes: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const t0 = performance.now();
        parseChecks(raw.stdout, checkSpecsOf, marker);
        parseTimes.push(performance.now() - t0);
      }
      usRow('1 host checks', `parseChecks alone (${raw.stdout.length} B of output)`, parseTimes);
      if (pool.connectionsOpened !== 1) throw new Error(`${pool.connectionsOpened} SSH connections opened, expected 1`);
    }

    // 2. Windows facts parse.
    {
      const doc = (drives: number, ports: number, extra: { cpus?: number; gpus?: number; name?: number } = {}) => ({
        fleetspec: 1,
        os: { Caption: 'Microsoft Windows 11 Pro', Version: '10.0.22631', CSName: 'DESKTOP-LIBOQV5', TotalVisibleMemorySize: 16645600, FreePhysicalMemory: 6512344, SystemDrive: 'C:' },
        cpu: Array.from({ length: extra.cpus ?? 1 }, () => ({ NumberOfLogicalProcessors: 6, LoadPercentage: 12 })),
        disk: Array.from({ length: drives }, (_, i) => ({ DeviceID: `${String.fromCharCode(65 + ((i + 2) % 26))}:`, FileSystem: 'NTFS', Size: 2000381014016, FreeSpace: 1500000000000 - i })),
        gpu: Array.from({ length: extra.gpus ?? 2 }, (_, i) => ({ Name: extra.name ? `Radeon RX 550 Series ${i} `.padEnd(extra.name, 'x') : 'Radeon RX 550 Series', AdapterRAM: 4293918720, DriverVersion: '31.0.21921.1000' })),
        tcp: Array.from({ length: ports }, (_, i) => 1024 + i * 7),
      });
      const output = (json: string) => Buffer.from(json).toString('base64') + '\r\n';
      const perCall = (text: string, n: number) => {
        const facts = parseWindowsFacts(text); // accepted, or this throws
        const times: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          parseWindowsFacts(text);
          times.push(performance.now() - t0);
        }
        return { times, facts };
      };
      const recorded = output(JSON.stringify(doc(26, 200)));
      const r = perCall(recorded, 5000);
      if (r.facts.disks.length !== 26 || r.facts.listening.length !== 200) throw new Error('recorded output misread');
      usRow('2 windows facts', `parse: 26 drives, 200 ports (${(recorded.length / 1024).toFixed(1)} KB base64)`, r.times);
      // The largest lists it reads (64 CPUs, 26 distinct drive letters, 16 GPUs with 256-character
      // names, 4096 ports), then padded with JSON whitespace to the 1 MiB it reads at most.
      const maxLists = JSON.stringify(doc(26, 4096, { cpus: 64, gpus: 16, name: 256 }));
      const compact = perCall(output(maxLists), 500);
      usRow('2 windows facts', `parse: largest lists, compact (${(output(maxLists).length / 1024).toFixed(0)} KB)`, compact.times);
      const MAX = 1024 * 1024;
      const jsonBytes = ((MAX - 2) >> 2) * 3; // base64 of this many bytes plus CRLF is the bound or just under
      const padded = output(maxLists.slice(0, -1) + ' '.repeat(jsonBytes - maxLists.length) + '}');
      if (padded.length > MAX) throw new Error('padded output past the bound');
      let refused = false;
      try {
        parseWindowsFacts(padded + 'AAAA');
      } catch {
        refused = true;
      }
      if (!refused) throw new Error('the bound is not 1 MiB: the largest accepted output is wrong');
      const largest = perCall(padded, 100);
      usRow('2 windows facts', `parse: largest accepted output (${padded.length} chars, the 1 MiB bound)`, largest.times, '4 more chars are refused');
    }

    // 5 (measured before the VMs, so the first synth pays cdktf's load as `fleetspec stacks synth` does).
    {
      const specs = join(work, 'dns-specs');
      await mkdir(join(specs, 'dns'), { recursive: true });
      await mkdir(join(specs, 'zones'));
      await writeFile(join(specs, 'zones', 'example.org.yaml'), 'kind: DnsZone\nname: example.org\nprovider: cloudflare\napiToken: secret:meta/cloudflare/api_token\ntunnel:\n  name: bench\n  hostname: tunnel.example.org\n');
      for (let f = 0; f < 10; f++) {
        const docs = Array.from({ length: 50 }, (_, j) => {
          const n = f * 50 + j;
          return [
            'kind: DnsRecord',
            `name: n${n}.example.org`,
            'zone: example.org',
            'records:',
            `  - {type: A, content: 192.0.${n >> 8}.${n & 255}}`,
            `  - {type: AAAA, content: "2001:db8::${n.toString(16)}"}`,
            `  - {type: TXT, content: "v=spf1 ip4:192.0.${n >> 8}.${n & 255} -all"}`,
            '',
          ].join('\n');
        });
        await writeFile(join(specs, 'dns', `names${f}.yaml`), docs.join('---\n'));
      }
      const loaded = await loadSpecs(specs);
      const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
      if (errors.length) throw new Error(`dns specs invalid: ${errors[0]!.message}`);
      const names = loaded.index.all('dns').length;
      if (names !== 500) throw new Error(`${names} dns names loaded, expected 500`);
      const out = join(work, 'dns-stacks');
      const t0 = performance.now();
      await synthesiseAll(loaded.index, out, { only: ['dns'] });
      const first = performance.now() - t0;
      const { stackFile } = await import('../reconciler/stacks/files.js');
      const json = JSON.parse(await readFile(stackFile(out, 'dns'), 'utf8')) as { resource?: Record<string, Record<string, unknown>> };
      const records = Object.values(json.resource ?? {}).reduce((n, group) => n + Object.keys(group).length, 0);
      rows.push(['5 dns', `synth dns stack, 500 names × 3 records, first (cdktf load included)`, '1', `${ms(first)} ms`, '', `${records} resources in cdk.tf.json`]);
      msRow('5 dns', 'synth dns stack, 500 names × 3 records, forced (cdktf loaded)', await sample(5, () => synthesiseAll(loaded.index, out, { only: ['dns'], force: true })));
      msRow('5 dns', 'synth dns stack again, input hash unchanged', await sample(5, () => synthesiseAll(loaded.index, out, { only: ['dns'] })));
    }

    // 3. VMs against the Google stand-in.
    {
      // One clock for the stand-in and the client, as the tests have it: the window holds exactly 120 samples.
      const NOW = Math.floor(Date.now() / 1000);
      const now = () => NOW;
      const g = await startGcpServer({ now });
      cleanups.push(() => g.close());
      const opts = { computeUrl: g.computeUrl, monitoringUrl: g.monitoringUrl, timeoutMs: 30_000, backoffMs: 1, now };
      for (let i = 0; i < 10; i++) g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: `vm${i}`, machineType: 'n1-standard-2', cpu: Array.from({ length: 130 }, (_, m) => 0.3 + (m % 10) / 100) });
      const ref = { project: 'vm-host', zone: 'us-central1-a', name: 'vm0' };
      const readOne = async (client: InstanceType<typeof GcpClient>) => {
        const instance = await client.getInstance(ref);
        const cpu = await client.cpuUtilization(ref.project, instance.id, 120);
        if (cpu.points.length !== 120) throw new Error(`${cpu.points.length} CPU samples, expected 120`);
      };
      // Warm-up (JIT, undici's connections): the first rounds run several times slower.
      for (let i = 0; i < ROUNDS; i++) await readOne(new GcpClient(g.keyJson, 'secret:bench/gcp', opts));
      const tokens0 = g.tokens.length;
      msRow('3 vms', 'one VM, token first: token + instances.get + timeSeries.list', await sample(ROUNDS, () => readOne(new GcpClient(g.keyJson, 'secret:bench/gcp', opts))), 'RS256 assertion signed each time');
      if (g.tokens.length - tokens0 !== ROUNDS) throw new Error('a token per first read expected');
      const client = new GcpClient(g.keyJson, 'secret:bench/gcp', opts);
      await readOne(client);
      msRow('3 vms', 'one VM, token cached: instances.get + timeSeries.list (120 min at 60 s)', await sample(ROUNDS, () => readOne(client)));

      const KEY = 'secret:meta/gcloud/vm_host_key';
      for (const count of [1, 10]) {
        const dir = join(work, `vms-${count}`);
        await mkdir(join(dir, 'specs', 'vms'), { recursive: true });
        for (let i = 0; i < count; i++) {
          await writeFile(
            join(dir, 'specs', 'vms', `vm${i}.yaml`),
            ['kind: VirtualMachine', `name: vm${i}`, 'provider: gcp', 'project: vm-host', 'zone: us-central1-a', 'machineType: n1-standard-2', `credentials: ${KEY}`, 'autoscale:', '  scaleUpTo: n1-standard-4', '  when: {windowMinutes: 120, cpuAvgAbove: 70, cpuMaxAbove: 85}', ''].join('\n'),
          );
        }
        const loaded = await loadSpecs(join(dir, 'specs'));
        const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
        if (errors.length) throw new Error(`vm specs invalid: ${errors[0]!.message}`);
        const stacks = join(dir, 'stacks');
        await synthesiseAll(loaded.index, stacks, { only: ['vms'] });
        const ctx = {
          mode: 'live',
          db: {},
          index: loaded.index,
          noSsh: 'no ssh',
          secret: async (ref: string) => (ref === KEY ? g.keyJson : undefined),
          progress: () => {},
          stacks: { dir: stacks, workDir: join(dir, 'work'), noTerraform: 'no terraform in this benchmark' },
        } as unknown as BenchLiveContext;
        const driver = vmsDriverWith(opts);
        const desired = loaded.index.all('vms');
        const read = async () => {
          const plan = driver.diff(desired, await driver.readLive(desired, ctx), ctx);
          if (plan.unknown.length || (plan.facts?.size ?? 0) !== count) throw new Error(`vms not read: ${plan.unknown.map((u) => u.reason).join('; ')}`);
        };
        await read();
        const tokens = g.tokens.length;
        const times = await sample(ROUNDS, read);
        const perRead = (g.tokens.length - tokens) / ROUNDS;
        msRow('3 vms', `vms driver readLive + diff, ${count} VM${count > 1 ? 's (in parallel)' : ''}`, times, `${perRead} token fetches per read; ${ms(median(times) / count)} ms per VM`);
      }
    }

    // 4. Instructions.
    {
      const para = (tag: string, bytes: number) => {
        const line = `- ${tag}: keep ports inside the project's range and ask the meta-supervisor for one.\n`;
        return `# ${tag}\n\n` + line.repeat(Math.ceil(bytes / line.length));
      };
      const kinds: Layer['layer'][] = ['core', 'core', 'core', 'meta', 'meta', 'project', 'project', 'project', 'project', 'project'];
      const layers: Layer[] = kinds.map((layer, i) => ({ name: `layer-${i}`, layer, order: (i % 3) * 10, text: para(`Layer ${i}`, 2000) }));
      const section = assembleSection(layers);
      // A 50 KB live file: the project's own text around an older section.
      const own = para('Project notes', 20_000);
      const older = assembleSection(layers.slice(0, 9));
      const live = own + '\n' + older + '\n\n' + para('Local', 50 * 1024 - own.length - older.length - 3);
      const merged = mergeInstructions(live, layers);
      if ('conflict' in merged) throw new Error(`merge conflict: ${merged.conflict}`);
      const times = (fn: () => unknown, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const t0 = performance.now();
          fn();
          out.push(performance.now() - t0);
        }
        return out;
      };
      usRow('4 instructions', `assemble 10 layers (${(section.length / 1024).toFixed(0)} KB section)`, times(() => assembleSection(layers), 2000));
      usRow('4 instructions', `assemble + merge into a ${(live.length / 1024).toFixed(0)} KB live file`, times(() => mergeInstructions(live, layers), 2000), `${(merged.content.length / 1024).toFixed(0)} KB written`);

      const sshd = await startSshd();
      cleanups.push(() => sshd.stop());
      const pool = new SshPool({ privateKey: key, connectTimeoutMs: 5000 });
      cleanups.push(() => pool.close());
      const specs = join(work, 'instructions-specs');
      const write = async (name: string, docs: object[]) => {
        await mkdir(join(specs, name, '..'), { recursive: true });
        await writeFile(join(specs, name), docs.map((d) => stringify(d)).join('---\n'));
      };
      await write('hosts/box.yaml', [{ kind: 'Host', name: 'box', hostname: 'box', address: sshd.host }]);
      await write('roles/roles.yaml', [{ kind: 'Role', name: 'manager', type: 'role', host: 'box', ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey }, capabilities: [] }]);
      await write('instructions/core.yaml', [{ kind: 'Instructions', name: 'core-behaviors', layer: 'core', order: 10, text: para('Core', 4000) }]);
      for (let p = 0; p < 5; p++) {
        await write(`ports/project${p}.yaml`, [{ kind: 'PortRange', name: `project${p}`, range: { start: 4000 + p * 1000, end: 4999 + p * 1000 } }]);
        await write(`instructions/project${p}.yaml`, [{ kind: 'Instructions', name: `project${p}`, layer: 'project', project: `project${p}`, text: para(`Project ${p}`, 1000), targets: [{ role: 'manager', dir: `project${p}` }] }]);
      }
      const options = { specs, mode: 'live' as const, db: {} as never, ssh: pool, noSsh: 'no ssh', secret: async () => undefined, progress: () => {}, drivers: [instructionsDriver] };
      const plan = async () => {
        const { plan, diagnostics } = await planFleet(options);
        const errors = diagnostics.filter((d) => d.severity === 'error');
        if (errors.length || !plan) throw new Error(`instructions plan failed: ${errors.map((d) => d.message).join('; ')}`);
        return plan;
      };
      const first = await plan();
      const created = first.changes.filter((c) => c.kind === 'instructions' && c.action === 'create').length;
      if (created !== 5 || first.unknown.length) throw new Error(`expected 5 creates, got ${created}: ${first.unknown.map((u) => u.reason).join('; ')}`);
      const applied = await applyPlan(first, options);
      if (applied.status !== 'applied') throw new Error(`apply: ${applied.status}`);
      const steady = await sample(Math.max(5, ROUNDS >> 1), async () => {
        const p = await plan();
        if (p.changes.some((c) => c.kind === 'instructions' && c.action !== 'no-op') || p.unknown.length) throw new Error('steady plan is not all no-op');
      });
      msRow('4 instructions', 'live plan, 5 targets × CLAUDE.md+AGENTS.md over sshd, all no-op', steady, 'planFleet: spec load + reads, connection reused');
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }

  const order = (r: string[]) => Number(r[0]!.slice(0, 1));
  rows.sort((a, b) => order(a) - order(b));
  printTable(['part', 'what', 'n', 'median', 'p95', 'note'], rows);
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}; ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) await fleetReads();
