// Benchmark (issue 21, item 9): reading the facts of 20 hosts, side by side in one run, as a
// user would otherwise do it. Each host is a real OpenSSH sshd on its own loopback address.
//   - raw OpenSSH: 20 `ssh` clients started at once from a shell, each running fleetspec's facts
//     script on its host (the floor: no parsing, no plan);
//   - `fleetspec plan --live` of the same hosts, as a whole process (node start, the store, the
//     SSH handshakes in JavaScript, the plan), on PGlite and on PostgreSQL;
//   - Ansible's fact gathering, `ansible all -m setup -f 20` (Debian's ansible), with its default
//     SSH multiplexing, its control sockets new for each run.
// Goals: fleetspec within 1.2x of raw OpenSSH, and at least 10x faster than Ansible.
//
//   npm run build && node dist/bench/facts.js [--runs N] [--hosts N]
//
// Each row is the median wall time of N runs (default 5), with its user+system CPU seconds and
// peak RSS (GNU time, the process and its children), and the CPU seconds the 20 sshd servers
// spent serving it (the same for every client: the servers share these 2 cores). Needs /usr/sbin/sshd, ssh and /usr/bin/time;
// the Ansible row needs `ansible` (apt-get install ansible) and is skipped without it. The
// PostgreSQL row needs TEST_DATABASE_URL (or DATABASE_URL).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { FACTS_SCRIPT } from '../reconciler/kinds/hosts/facts.js';
import { shellQuote } from '../reconciler/ssh/quote.js';
import { clientKey, startSshd, type TestSshd } from '../test/ssh/sshd.js';
import { printTable } from './fleet.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const RUNS = option('--runs', 5);
const HOSTS = option('--hosts', 20);
const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const TIME = '/usr/bin/time';
for (const [path, install] of [[TIME, 'time'], ['/usr/sbin/sshd', 'openssh-server'], ['/usr/bin/ssh', 'openssh-client']] as const) {
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install ${install}`);
}
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: npm run build first`);
const ansible = spawnSync('ansible', ['--version'], { encoding: 'utf8' });
const ansibleVersion = ansible.status === 0 ? ansible.stdout.split('\n')[0]!.trim() : undefined;
const databaseUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

interface Sample {
  wall: number;
  cpu: number;
  rss: number;
  /** CPU seconds the sshd servers spent on the run (their reaped children's user+system time). */
  server?: number;
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU seconds used so far by the finished children of this process's sshd servers (/proc/PID/stat cutime+cstime). */
function serverCpu(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state ppid ...; utime stime cutime cstime are fields 14-17 of the whole line.
    if (comm === 'sshd' && Number(fields[1]) === process.pid) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return ticks / CLOCK_TICKS;
}

/** One whole command under GNU time: wall ms, user+system CPU s and peak RSS MB (its largest process). */
function measure(command: string, commandArgs: string[], env: NodeJS.ProcessEnv, accept: (code: number | null, out: string) => string | undefined): Promise<Sample> {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn(TIME, ['-f', '@@time %U %S %M', command, ...commandArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', fail);
    child.once('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e6;
      const timing = /@@time ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      const problem = accept(code, stdout + stderr.replace(/@@time.*\n?/, ''));
      if (problem || !timing) {
        fail(new Error(`${command} ${commandArgs.join(' ')}: ${problem ?? 'no timing'} (exit ${code})\n${(stdout + stderr).slice(-3000)}`));
        return;
      }
      done({ wall, cpu: Number(timing[1]) + Number(timing[2]), rss: Number(timing[3]) / 1024 });
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const work = await mkdtemp(join(tmpdir(), 'fleetspec-bench-facts-'));
const servers: TestSshd[] = [];
const rows: string[][] = [];
const results = new Map<string, Sample>();

async function row(label: string, note: string, run: () => Promise<Sample>): Promise<void> {
  process.stderr.write(`${label}: `);
  const samples: Sample[] = [];
  await run(); // warm-up: the page cache, sshd's first fork
  for (let i = 0; i < RUNS; i++) {
    const before = serverCpu();
    const sample = await run();
    // sshd reaps its session processes a moment after the client sees the end.
    await new Promise((r) => setTimeout(r, 200));
    samples.push({ ...sample, server: serverCpu() - before });
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  const m = { wall: median(samples.map((s) => s.wall)), cpu: median(samples.map((s) => s.cpu)), rss: Math.max(...samples.map((s) => s.rss)), server: median(samples.map((s) => s.server!)) };
  results.set(label, m);
  rows.push([label, (m.wall / 1000).toFixed(2), `${(Math.min(...samples.map((s) => s.wall)) / 1000).toFixed(2)}–${(Math.max(...samples.map((s) => s.wall)) / 1000).toFixed(2)}`, m.cpu.toFixed(2), m.server.toFixed(2), m.rss.toFixed(0), note]);
}

try {
  process.stderr.write(`starting ${HOSTS} sshd on loopback\n`);
  for (let i = 0; i < HOSTS; i++) servers.push(await startSshd());
  const key = join(work, 'id_ed25519');
  await writeFile(key, clientKey().privateKey, { mode: 0o600 });
  const knownHosts = join(work, 'known_hosts');
  await writeFile(knownHosts, servers.map((s) => `[${s.host}]:${s.port} ${s.hostKey}\n`).join(''));
  const sshOptions = ['-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR'];

  // 1. Raw OpenSSH: all clients at once from one shell, waiting for all.
  const script = [
    'set -u; pids=',
    ...servers.map((s, i) => `ssh ${sshOptions.map(shellQuote).join(' ')} -p ${s.port} ${shellQuote(`${s.user}@${s.host}`)} ${shellQuote(FACTS_SCRIPT)} > ${shellQuote(join(work, `raw-${i}.out`))} & pids="$pids $!"`),
    'fail=0; for pid in $pids; do wait "$pid" || fail=1; done; exit $fail',
  ].join('\n');
  await writeFile(join(work, 'raw.sh'), script);
  const rawLabel = `raw OpenSSH, ${HOSTS} ssh at once`;
  await row(rawLabel, 'facts script, output unparsed', () => measure('/bin/sh', [join(work, 'raw.sh')], process.env, (code) => (code === 0 ? undefined : 'an ssh failed')));

  // 2. fleetspec plan --live of the hosts.
  const specs = join(work, 'specs');
  await mkdir(join(specs, 'hosts'), { recursive: true });
  for (const [i, s] of servers.entries()) {
    await writeFile(join(specs, 'hosts', `h${i}.yaml`), stringify({ kind: 'Host', name: `h${i}`, address: s.host, ssh: { user: s.user, port: s.port, hostKey: s.hostKey } }));
  }
  const planArgs = [BIN, 'plan', specs, '--live', '--ssh-key', key, '--concurrency', String(HOSTS), '--format', 'json'];
  const readAll = (code: number | null, out: string): string | undefined => {
    if (code !== 0 && code !== 2) return 'plan failed';
    const json = out.slice(out.indexOf('{'));
    const plan = JSON.parse(json.slice(0, json.lastIndexOf('}') + 1)) as { unknown?: { reason: string }[] };
    return plan.unknown?.length ? `${plan.unknown.length} hosts not read: ${plan.unknown[0]!.reason}` : undefined;
  };
  const stores: [string, NodeJS.ProcessEnv][] = [['PGlite', { DATABASE_URL: '', FLEETSPEC_STATE_DIR: join(work, 'state') }]];
  if (databaseUrl) stores.push(['PostgreSQL', { DATABASE_URL: databaseUrl }]);
  for (const [store, env] of stores) {
    await row(`fleetspec plan --live, ${store}`, `--concurrency ${HOSTS}, store warm`, () => measure(process.execPath, planArgs, { ...process.env, NO_COLOR: '1', ...env }, readAll));
  }

  // 3. Ansible's fact gathering.
  if (ansibleVersion) {
    const inventory = servers.map((s, i) => `h${i} ansible_host=${s.host} ansible_port=${s.port} ansible_user=${s.user}`).join('\n');
    await writeFile(join(work, 'inventory'), `[all]\n${inventory}\n`);
    let round = 0;
    await row(`ansible all -m setup -f ${HOSTS}`, ansibleVersion, async () => {
      // New control sockets each run, so no run reuses the previous run's connections.
      const controlDir = join(work, `cp-${round++}`);
      await mkdir(controlDir);
      const env = {
        ...process.env,
        ANSIBLE_INVENTORY: join(work, 'inventory'),
        ANSIBLE_PRIVATE_KEY_FILE: key,
        ANSIBLE_SSH_COMMON_ARGS: `-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes`,
        ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
        ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
        ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'),
        ANSIBLE_NOCOLOR: '1',
      };
      try {
        return await measure('ansible', ['all', '-m', 'setup', '-f', String(HOSTS)], env, (code, out) => (code === 0 ? undefined : `ansible failed: ${out.split('\n').find((l) => /UNREACHABLE|FAILED/.test(l)) ?? ''}`));
      } finally {
        // Ansible leaves its ControlPersist masters running for 60 s: end them so they cost the next row nothing.
        spawnSync('pkill', ['-f', controlDir]);
      }
    });
  } else {
    rows.push([`ansible all -m setup -f ${HOSTS}`, '', '', '', '', '', 'skipped: ansible is not installed (apt-get install ansible)']);
  }

  printTable(['what', 'wall s (median)', 'range', 'CPU s', 'sshd CPU s', 'peak RSS MB', 'note'], rows);
  const raw = results.get(rawLabel)!;
  const ansibleRow = [...results.entries()].find(([label]) => label.startsWith('ansible'))?.[1];
  for (const [label, sample] of results) {
    if (!label.startsWith('fleetspec')) continue;
    const vsRaw = sample.wall / raw.wall;
    let line = `${label}: ${vsRaw.toFixed(2)}x raw OpenSSH (goal ≤ 1.2x)`;
    if (ansibleRow) line += `, ${(ansibleRow.wall / sample.wall).toFixed(1)}x faster than Ansible (goal ≥ 10x)`;
    console.log(line);
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  await rm(work, { recursive: true, force: true });
}
