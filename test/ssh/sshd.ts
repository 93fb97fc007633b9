// Real OpenSSH servers for the SSH tests: each one on its own loopback address and port, with
// its own host key and home directory, logging in as the user running the tests.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { SshTarget } from '../../reconciler/ssh/pool.js';

const SSHD = '/usr/sbin/sshd';
const START_TIMEOUT_MS = 5_000;
const BIND_ATTEMPTS = 4;

export interface TestSshd {
  host: string;
  port: number;
  /** The login user: whoever runs the tests, unless startSshd was given another. */
  user: string;
  /** This server's public host key, "ssh-ed25519 AAAA...". */
  hostKey: string;
  /** HOME for sessions on this server (sshd's SetEnv); the working directory stays the user's real home. */
  home: string;
  /** A target for this server with its host key pinned. */
  target(label?: string): SshTarget;
  stop(): Promise<void>;
}

let addressCounter = 0;
let clientKeyPair: { privateKey: string; publicKey: string } | undefined;
const running = new Set<{ child: ChildProcess; dir: string }>();

// A crashed or interrupted test run must not leave sshd processes and key directories behind.
process.once('exit', () => {
  for (const server of running) {
    server.child.kill('SIGKILL');
    rmSync(server.dir, { recursive: true, force: true });
  }
});

/** The ed25519 client key pair of this test process, made once with ssh-keygen. */
export function clientKey(): { privateKey: string; publicKey: string } {
  if (!clientKeyPair) {
    const dir = mkdtempSync(join(tmpdir(), 'fleetspec-ssh-client-'));
    try {
      clientKeyPair = keygen(join(dir, 'id_ed25519'), 'fleetspec-test-client');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return clientKeyPair;
}

/**
 * Starts an sshd on 127.0.0.2, 127.0.0.3, ... (one address per call) unless `address` is given.
 * `user` (default: the user running the tests) logs in with clientKey(); another user needs root.
 */
export async function startSshd(options: { address?: string; user?: string } = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install openssh-server (apt-get install openssh-server)`);
  const host = options.address ?? `127.0.0.${2 + (addressCounter++ % 250)}`;
  const me = userInfo();
  const user = options.user ?? me.username;
  const account = user === me.username ? undefined : passwdEntry(user);
  const dir = mkdtempSync(join(tmpdir(), 'fleetspec-sshd-'));
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'authorized_keys'), clientKey().publicKey + '\n', { mode: 0o644 });
  if (account) {
    // sshd reads authorized_keys as the user, and the session writes to its home.
    chmodSync(dir, 0o755);
    for (const path of [home, join(home, '.ssh'), join(home, '.ssh', 'authorized_keys')]) chownSync(path, account.uid, account.gid);
  }
  const hostKeyFile = join(dir, 'ssh_host_ed25519_key');
  const hostKey = keygen(hostKeyFile, 'fleetspec-test-host').publicKey;
  // sshd refuses to start without its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  let lastFailure = '';
  for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
    const port = await freePort(host);
    const config = join(dir, 'sshd_config');
    writeFileSync(config, sshdConfig({ host, port, hostKeyFile, home, pidFile: join(dir, 'sshd.pid'), usePam: account !== undefined }));
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const server = { child, dir };
    running.add(server);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const started = await waitForPort(host, port, child);
    if (started) {
      return {
        host,
        port,
        user,
        hostKey,
        home,
        target: (label = `hosts/test-${host}`) => ({ label, host, port, user, hostKey, where: `test sshd ${host}:${port}` }),
        async stop() {
          await stopProcess(child);
          running.delete(server);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await stopProcess(child);
    await closed; // all of sshd's stderr has been read
    running.delete(server);
    lastFailure = stderr.trim() || `sshd exited with ${child.exitCode ?? child.signalCode} and said nothing`;
    // Another process took the port between our probe and sshd's bind: try a new one.
    if (!/address already in use|bind/i.test(lastFailure)) break;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`test sshd on ${host} did not start: ${lastFailure}`);
}

function sshdConfig(o: { host: string; port: number; hostKeyFile: string; home: string; pidFile: string; usePam: boolean }): string {
  return [
    `ListenAddress ${o.host}`,
    `Port ${o.port}`,
    `HostKey ${o.hostKeyFile}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${join(o.home, '.ssh', 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // Without PAM, sshd refuses accounts whose password is locked ("!" in /etc/shadow), as system users' are.
    `UsePAM ${o.usePam ? 'yes' : 'no'}`,
    // Temp directories are not owned the way sshd's strict checks want.
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    // Overrides the account's HOME, so each test server has a home of its own for the same user.
    `SetEnv HOME=${o.home}`,
    'AllowTcpForwarding yes',
    'PrintMotd no',
    'LogLevel ERROR',
    '',
  ].join('\n');
}

/** uid and gid of a local account, from /etc/passwd. */
function passwdEntry(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error(`test sshd: no local user ${user} in /etc/passwd`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** A local account other than the current one with a login shell, for tests that need a non-root login; undefined if none or not root. */
export function otherLoginUser(): string | undefined {
  if (userInfo().uid !== 0) return undefined;
  const shells = new Set(readFileSync('/etc/shells', 'utf8').split('\n').filter((line) => line.startsWith('/')));
  for (const entry of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid, , , home, shell] = entry.split(':');
    if (name && uid !== '0' && home && shell && shells.has(shell)) return name;
  }
  return undefined;
}

function keygen(file: string, comment: string): { privateKey: string; publicKey: string } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const [type, base64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
  return { privateKey: readFileSync(file, 'utf8'), publicKey: `${type} ${base64}` };
}

/** A port nothing listens on at `host` right now (the kernel's pick for port 0). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls until host:port accepts TCP; false if sshd exits first or the start timeout passes. */
async function waitForPort(host: string, port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
