// SSH to the fleet: pinned host keys, one connection per target, a bound on work in flight.
import { setMaxListeners } from 'node:events';
import type { ClientRequestArgs } from 'node:http';
import { constants as osConstants } from 'node:os';
import { Readable, type Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import pLimit, { type LimitFunction } from 'p-limit';
import { fingerprintOf, formatPublicKey, keyTypeOf, parsePublicKey, SshError, type PublicKey, type SshErrorCode } from './keys.js';
import ssh2, { type Client, type ClientChannel, type ConnectConfig } from 'ssh2';

export interface SshTarget {
  /** What messages print, e.g. "hosts/ai" or "roles/manager". */
  label: string;
  /** Address to connect to. */
  host: string;
  port: number;
  user: string;
  /** Pinned public host key, "ssh-ed25519 AAAA..." (type and base64, no host name). */
  hostKey?: string;
  /** Where the key is pinned, for messages, e.g. "specs/hosts/ai.yaml:40:3". */
  where?: string;
}

export interface SshPoolOptions {
  /** Client private key contents (OpenSSH format, unencrypted). */
  privateKey: string | Buffer;
  /** Most operations in flight across all targets; default 8. */
  concurrency?: number;
  /** TCP connect plus SSH handshake and authentication; default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Per exec, unless the call says otherwise; default 30 000 ms. */
  commandTimeoutMs?: number;
  /** Accept a target that has no pinned hostKey (never a key other than the pinned one); default false. */
  trustOnFirstUse?: boolean;
}

export { fingerprint, SshError, type SshErrorCode } from './keys.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; 128 + the signal number when the remote command was killed by a signal. */
  code: number;
}

export interface SshSession {
  target: SshTarget;
  /** The host key the server presented, "ssh-ed25519 AAAA..." (to print a key to pin after trust on first use). */
  presentedHostKey: string;
  /**
   * Runs one command through the remote login shell; stdin is written then closed. A non-zero
   * exit is not an error: it is returned as `code`. Rejects with SshError 'timeout' after
   * timeoutMs and kills the remote command.
   */
  exec(command: string, options?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ExecResult>;
  /** A duplex stream to host:port as seen from the remote machine (ssh2 forwardOut); see forwardedConnection. */
  forward(host: string, port: number): Promise<Duplex>;
}

const DEFAULT_CONCURRENCY = 8;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
// Notices a dead peer (a rebooted host, a dropped NAT entry) within about a minute.
const KEEPALIVE_INTERVAL_MS = 15_000;
// With backoff from 20 to 250 ms, about a second of waiting for a free session on a busy connection.
const SESSION_OPEN_ATTEMPTS = 8;

interface Connection {
  ssh: NodeSSH;
  client: Client;
  presentedHostKey: string;
  /** Set once the connection is gone; later calls fail with 'closed'. */
  lost?: string;
}

export class SshPool {
  private readonly privateKey: string;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly trustOnFirstUse: boolean;
  private readonly limit: LimitFunction;
  /** host:port:user → the connection, or its failure (kept so a dead host is tried once per pool). */
  private readonly connections = new Map<string, Promise<Connection>>();
  /** host:port → the host key seen first, so trust on first use cannot accept two different keys in one run. */
  private readonly seenHostKeys = new Map<string, string>();
  private opened = 0;
  private closed = false;
  /** Aborted by cancel(): connecting and running commands stop, with the reason. */
  private readonly cancelled = new AbortController();
  /** prefetch()'s results not taken yet, by target and command. */
  private readonly prefetched = new Map<string, Promise<ExecResult>>();

  constructor(options: SshPoolOptions) {
    this.privateKey = typeof options.privateKey === 'string' ? options.privateKey : options.privateKey.toString('utf8');
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`SshPool concurrency must be a positive integer, got ${concurrency}`);
    }
    this.limit = pLimit(concurrency);
    // One listener per connect or command in flight, each removed when it ends: up to
    // `concurrency` at once is expected, not the leak Node warns about past 10 (0: no limit).
    setMaxListeners(0, this.cancelled.signal);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.trustOnFirstUse = options.trustOnFirstUse ?? false;
  }

  /** Number of SSH connections actually opened (handshake and authentication done). */
  get connectionsOpened(): number {
    return this.opened;
  }

  /**
   * Runs fn with the target's session under the concurrency limit. One connection per
   * host:port:user, opened lazily and reused; a failed connect is remembered and re-thrown for
   * that target. Do not call run from inside fn: with every slot taken it would wait forever.
   */
  run<T>(target: SshTarget, fn: (session: SshSession) => Promise<T>): Promise<T> {
    return this.limit(async () => {
      const connection = await this.connection(target);
      return fn(this.session(target, connection));
    });
  }

  /**
   * Runs a read-only `command` on `target` now, under the concurrency limit, for the first
   * session.exec of the same command on that target (no stdin, default timeout) to take instead
   * of running it again: `plan --live` reads the hosts' facts while the store opens. Only for
   * commands that change nothing: the result is used a moment after it was read, or not at all.
   * Never rejects here; a failure is what that exec, or the run's connect, reports.
   */
  prefetch(target: SshTarget, command: string): void {
    const key = `${connectionKey(target)}\n${command}`;
    if (this.prefetched.has(key) || this.closed) return;
    // An explicit timeout: this exec runs the command, it does not wait for its own prefetch.
    const result = this.run(target, (session) => session.exec(command, { timeoutMs: this.commandTimeoutMs }));
    result.catch(() => {});
    this.prefetched.set(key, result);
  }

  /**
   * Stops everything in flight and closes the pool: a connect or command under way rejects at once
   * (SshError 'closed', naming `reason`), a remote command is killed. For a run told to stop (its
   * tick's budget, SIGTERM) while it reads live; never called during an apply.
   */
  cancel(reason: string): Promise<void> {
    if (!this.cancelled.signal.aborted) this.cancelled.abort(reason);
    return this.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.connections.values()];
    this.connections.clear();
    for (const settled of await Promise.allSettled(pending)) {
      if (settled.status === 'fulfilled') {
        settled.value.lost ??= 'the pool was closed';
        settled.value.ssh.dispose();
      }
    }
  }

  private connection(target: SshTarget): Promise<Connection> {
    if (this.cancelled.signal.aborted) return Promise.reject(cancelledError(target, this.cancelled.signal));
    if (this.closed) return Promise.reject(new SshError('closed', target.label, 'the SSH pool is already closed'));
    const key = connectionKey(target);
    let connection = this.connections.get(key);
    if (!connection) {
      connection = this.connect(target);
      // Rejections are handled by whoever awaits; this only keeps an unawaited one from crashing the process.
      connection.catch(() => {});
      this.connections.set(key, connection);
      connection.then((open) => {
        open.client.once('close', () => {
          if (this.connections.get(key) === connection) this.connections.delete(key);
        });
      }, () => {});
    }
    // Targets sharing host:port:user share the connection, but each one's own pin is still checked.
    return connection.then((open) => {
      this.checkSharedHostKey(target, open.presentedHostKey);
      return open;
    });
  }

  private checkSharedHostKey(target: SshTarget, presented: string): void {
    if (target.hostKey === undefined) {
      if (!this.trustOnFirstUse) throw unknownHostKey(target, parsePublicKey(presented));
      return;
    }
    const pinned = pinnedKey(target);
    if (!pinned.blob.equals(parsePublicKey(presented).blob)) throw hostKeyMismatch(target, pinned, parsePublicKey(presented));
  }

  private async connect(target: SshTarget): Promise<Connection> {
    const pinned = target.hostKey === undefined ? undefined : pinnedKey(target);
    const hostPort = `${target.host}:${target.port}`;
    let offered: PublicKey | undefined;
    let refusal: SshError | undefined;
    let tcpConnected = false;

    const hostVerifier = (blob: Buffer): boolean => {
      offered = { type: keyTypeOf(blob), blob };
      const seen = this.seenHostKeys.get(hostPort);
      if (pinned) {
        if (!pinned.blob.equals(blob)) refusal = hostKeyMismatch(target, pinned, offered);
      } else if (!this.trustOnFirstUse) {
        refusal = unknownHostKey(target, offered);
      } else if (seen !== undefined && seen !== formatPublicKey(offered)) {
        refusal = hostKeyMismatch(target, parsePublicKey(seen), offered, 'the key this run accepted earlier for the same address');
      }
      if (refusal) return false;
      if (seen === undefined) this.seenHostKeys.set(hostPort, formatPublicKey(offered));
      return true;
    };

    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: this.connectTimeoutMs,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      hostVerifier,
      // Ask for the pinned key's type, or a server with several host keys may offer another one.
      ...(pinned && hostKeyAlgorithms(pinned.type) ? { algorithms: { serverHostKey: hostKeyAlgorithms(pinned.type) } } : {}),
    };
    const ssh = new NodeSSH();
    const connecting = ssh.connect({ ...config, privateKey: this.privateKey });
    // node-ssh creates the ssh2 client synchronously inside connect().
    const client = ssh.connection;
    client?.once('connect', () => {
      tcpConnected = true;
    });
    // Errors after the handshake (a reset, a keepalive timeout) must not crash the process.
    client?.on('error', () => {});
    const stop = this.cancelled.signal;
    let onStop: (() => void) | undefined;
    const stopped = new Promise<never>((_resolve, reject) => {
      onStop = () => reject(cancelledError(target, stop));
      if (stop.aborted) onStop();
      else stop.addEventListener('abort', onStop, { once: true });
    });
    stopped.catch(() => {});
    try {
      await Promise.race([connecting, stopped]);
    } catch (error) {
      ssh.dispose();
      if (error instanceof SshError && stop.aborted) throw error;
      throw refusal ?? connectError(target, error, { tcpConnected, pinned, timeoutMs: this.connectTimeoutMs });
    } finally {
      stop.removeEventListener('abort', onStop!);
    }
    if (!offered || !ssh.connection) {
      ssh.dispose();
      throw new SshError('closed', target.label, `${hostPort} closed the connection right after the handshake`, 'run again; if it persists, look at the host\'s sshd log');
    }
    if (this.closed) {
      ssh.dispose();
      throw new SshError('closed', target.label, 'the SSH pool was closed while connecting');
    }
    this.opened++;
    const open: Connection = { ssh, client: ssh.connection, presentedHostKey: formatPublicKey(offered) };
    open.client.on('error', (error: Error) => {
      open.lost ??= error.message;
    });
    open.client.once('close', () => {
      open.lost ??= 'the server closed the connection';
    });
    return open;
  }

  /** prefetch()'s result for this command on this target, once; undefined when there is none (or it is this very exec). */
  private takePrefetched(target: SshTarget, command: string): Promise<ExecResult> | undefined {
    const key = `${connectionKey(target)}\n${command}`;
    const early = this.prefetched.get(key);
    if (!early) return undefined;
    this.prefetched.delete(key);
    return early;
  }

  private session(target: SshTarget, connection: Connection): SshSession {
    const commandTimeoutMs = this.commandTimeoutMs;
    const ensureOpen = (): NodeSSH => {
      if (connection.lost !== undefined || !connection.ssh.isConnected()) {
        throw new SshError('closed', target.label, `the SSH connection is gone (${connection.lost ?? 'closed'})`, 'run again; the next run opens a new connection');
      }
      return connection.ssh;
    };
    return {
      target,
      presentedHostKey: connection.presentedHostKey,
      exec: async (command, options = {}) => {
        const early = options.stdin === undefined && options.timeoutMs === undefined ? this.takePrefetched(target, command) : undefined;
        return early ?? exec(target, ensureOpen(), command, options.stdin, options.timeoutMs ?? commandTimeoutMs, this.cancelled.signal);
      },
      forward: async (host, port) => forward(target, ensureOpen(), host, port, commandTimeoutMs),
    };
  }
}

/** Targets that share a connection: the same host, port and user. */
const connectionKey = (target: SshTarget) => `${target.host}:${target.port}:${target.user}`;

async function forward(target: SshTarget, ssh: NodeSSH, host: string, port: number, timeoutMs: number): Promise<Duplex> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const opening = ssh.forwardOut('127.0.0.1', 0, host, port);
  // sshd answers a forward to a silent address only when its own TCP connect gives up, minutes later.
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new SshError('timeout', target.label, `no connection to ${host}:${port} from the host within ${timeoutMs} ms`,
        `check that ${host}:${port} is reachable from ${target.host} (a firewall may drop the traffic)`));
    }, timeoutMs);
  });
  opening.then((channel) => timedOut && channel.close(), () => {});
  try {
    return await Promise.race([opening, deadline]);
  } catch (error) {
    if (error instanceof SshError) throw error;
    throw new SshError('unreachable', target.label, `cannot open ${host}:${port} from the host: ${messageOf(error)}`,
      `check that something listens on ${host}:${port} as seen from ${target.host}, and that its sshd allows TCP forwarding (AllowTcpForwarding)`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * http.request's createConnection for a service reached through the target:
 * `http.request({ host: 'localhost', port, path, createConnection: forwardedConnection(session, 'localhost', port) })`.
 * Uses Node's asynchronous form (call back, return nothing), since the SSH channel opens asynchronously.
 */
export function forwardedConnection(
  session: SshSession,
  host: string,
  port: number,
): NonNullable<ClientRequestArgs['createConnection']> {
  return (_options, onCreate) => {
    session.forward(host, port).then(
      (stream) => onCreate(null, stream),
      // Node's callback takes (error) alone on failure; its type insists on a socket.
      (error: Error) => onCreate(error, undefined as unknown as Duplex),
    );
    return undefined;
  };
}

/** The most a command may print (stdout and stderr together) before it is killed. */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

async function exec(
  target: SshTarget,
  ssh: NodeSSH,
  command: string,
  stdin: string | Buffer | undefined,
  timeoutMs: number,
  stop: AbortSignal,
): Promise<ExecResult> {
  let channel: ClientChannel | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let onStop: (() => void) | undefined;
  let end: (error: SshError) => void = () => {};
  // The command's deadline, the pool's cancellation or too much output, whichever comes first: each kills it remotely.
  const deadline = new Promise<never>((_resolve, reject) => {
    end = (error: SshError) => {
      if (timedOut) return;
      timedOut = true;
      if (channel) killRemote(channel);
      reject(error);
    };
    timer = setTimeout(() => end(new SshError('timeout', target.label, `command did not finish within ${timeoutMs} ms and was killed: ${shorten(command)}`,
      'raise the command timeout if the work is legitimately slow, or look at the host (load, a hung mount)')), timeoutMs);
    onStop = () => end(cancelledError(target, stop, command));
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
  });
  deadline.catch(() => {});
  try {
    for (let attempt = 1; ; attempt++) {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      // A host is not trusted to print a bounded amount: past the cap the command is killed, nothing more is kept.
      let printed = 0;
      const keep = (into: Buffer[]) => (chunk: Buffer) => {
        printed += chunk.length;
        if (printed > MAX_OUTPUT_BYTES) {
          end(new SshError('command', target.label, `the command printed more than ${MAX_OUTPUT_BYTES / 1024 / 1024} MiB and was killed: ${shorten(command)}`,
            'fleetspec expects a few kilobytes here: look at what the host runs for this command (a login script, a replaced binary)'));
          return;
        }
        into.push(chunk);
      };
      const running = ssh.execCommand(command, {
        // Buffers are joined before decoding: a chunk may end inside a multi-byte character.
        onStdout: keep(stdout),
        onStderr: keep(stderr),
        onChannel: (opened) => {
          channel = opened;
          if (timedOut) killRemote(opened);
        },
        noTrim: true,
        ...(stdin === undefined ? {} : { stdin: typeof stdin === 'string' ? stdin : Readable.from([stdin]) }),
      });
      // After a timeout the channel still closes later; nothing waits for it.
      running.catch(() => {});
      try {
        const result = await Promise.race([running, deadline]);
        const code = result.code ?? signalExitCode(result.signal);
        if (code === undefined) {
          throw new SshError('closed', target.label, `the connection dropped before the command finished: ${shorten(command)}`,
            'run again; the next run opens a new connection');
        }
        return { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), code };
      } catch (error) {
        if (error instanceof SshError) throw error;
        // sshd frees a finished session a moment after the client sees it close, so a busy
        // connection can be at MaxSessions for an instant; the command has not started, so retrying is safe.
        if (/channel open failure/i.test(messageOf(error)) && attempt < SESSION_OPEN_ATTEMPTS) {
          await Promise.race([new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** (attempt - 1), 250))), deadline]);
          continue;
        }
        throw new SshError('command', target.label, `could not start the command (${messageOf(error)}): ${shorten(command)}`,
          'the server refused a new session; check MaxSessions in its sshd_config, or lower the concurrency');
      }
    }
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', onStop!);
  }
}

function cancelledError(target: SshTarget, stop: AbortSignal, command?: string): SshError {
  const why = typeof stop.reason === 'string' ? stop.reason : stop.reason instanceof Error ? stop.reason.message : 'the run stopped';
  return new SshError('closed', target.label, `${command ? `command cancelled and killed (${shorten(command)})` : 'connection cancelled'}: ${why}`);
}

/**
 * Sends KILL to the remote command and closes its channel. ssh2's Channel.signal() does nothing
 * once stdin is closed, which exec always does first, though the protocol allows a signal until
 * the channel closes; so this calls the protocol layer under it. sshd sends the signal to the
 * session's process group, but only for non-root logins: for root it refuses (no privilege
 * separation after login) and the command runs on, detached from the closed channel.
 */
function killRemote(channel: ClientChannel): void {
  const internals = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal?(id: number, signal: string): void } };
  };
  const outgoing = internals.outgoing;
  try {
    if (outgoing && (outgoing.state === 'open' || outgoing.state === 'eof')) internals._client?._protocol?.signal?.(outgoing.id, 'KILL');
    channel.close();
  } catch {
    // The channel closed meanwhile: nothing is left to kill.
  }
}

/** What a shell reports for a command killed by a signal: 128 + its number. */
function signalExitCode(signal: string | null): number | undefined {
  if (!signal) return undefined;
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as keyof typeof osConstants.signals;
  const number = osConstants.signals[name];
  return number === undefined ? 128 : 128 + number;
}

function connectError(
  target: SshTarget,
  error: unknown,
  context: { tcpConnected: boolean; pinned: PublicKey | undefined; timeoutMs: number },
): SshError {
  const where = `${target.host}:${target.port}`;
  const message = messageOf(error);
  const level = (error as { level?: string } | null)?.level;
  const code = (error as { code?: string } | null)?.code;
  const checkHost = `check that the host is up and that sshd listens on ${where} (ssh.port)`;
  if (level === 'client-authentication' || /authentication methods failed/i.test(message)) {
    return new SshError('auth', target.label, `${target.user}@${where} refused the client key (publickey authentication failed)`,
      `add the fleetspec public key to ~${target.user}/.ssh/authorized_keys on the host, or check ssh.user`);
  }
  if (/privateKey|private key|passphrase/i.test(message)) {
    // ssh2's messages about the key name the problem, never the key material.
    return new SshError('auth', target.label, `the client private key cannot be used: ${message}`,
      'give an unencrypted OpenSSH private key (ssh-keygen -t ed25519 -N "")');
  }
  if (level === 'client-timeout') {
    return context.tcpConnected
      ? new SshError('timeout', target.label, `${where} accepted the connection but the SSH handshake did not finish within ${context.timeoutMs} ms`,
        'check that an SSH server (not another service) listens on that port and that the host is not overloaded')
      : new SshError('unreachable', target.label, `no answer from ${where} within ${context.timeoutMs} ms`, checkHost + ', and that no firewall drops the traffic');
  }
  if (context.pinned && /no matching host key format/i.test(message)) {
    return new SshError('host-key-mismatch', target.label,
      `the server offers no ${context.pinned.type} host key; pinned ${fingerprintOf(context.pinned.blob)}`, mismatchHint(target));
  }
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    EHOSTUNREACH: 'no route to host',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
    ECONNRESET: 'connection reset',
    EPIPE: 'connection reset',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed (temporarily)',
  };
  if (level === 'client-dns' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new SshError('unreachable', target.label, `cannot resolve ${target.host}: ${reasons[code ?? ''] ?? message}`, 'check ssh.host (or the host\'s address) and DNS');
  }
  if (code && reasons[code]) {
    return new SshError('unreachable', target.label, `cannot connect to ${where}: ${reasons[code]}`, checkHost);
  }
  if (level === 'client-socket' || /No response from server/i.test(message)) {
    return new SshError('unreachable', target.label, `cannot connect to ${where}: ${message}`, checkHost);
  }
  return new SshError('unreachable', target.label, `SSH handshake with ${where} failed: ${message}`,
    'check that an SSH server listens there and supports current algorithms (ed25519 or ecdsa host keys, curve25519 key exchange)');
}

function mismatchHint(target: SshTarget): string {
  return `if the host was reinstalled, update ssh.hostKey${target.where ? ` in ${target.where}` : ''} after checking the new key out of band; otherwise someone may be intercepting the connection`;
}

function unknownHostKey(target: SshTarget, offered: PublicKey): SshError {
  const where = target.where ? ` (${target.where})` : '';
  return new SshError('host-key-unknown', target.label,
    `no pinned host key${where}; the server offered ${offered.type} ${fingerprintOf(offered.blob)}`,
    `pin it with ssh.hostKey: "${formatPublicKey(offered)}" after checking it out of band (ssh-keyscan, or ssh-keygen -lf on the host), or pass --trust-on-first-use`);
}

function hostKeyMismatch(target: SshTarget, pinned: PublicKey, offered: PublicKey, pinnedAs = 'pinned'): SshError {
  return new SshError('host-key-mismatch', target.label,
    `host key mismatch: ${pinnedAs} ${fingerprintOf(pinned.blob)}, offered ${fingerprintOf(offered.blob)}`, mismatchHint(target));
}

/** The pinned key of a target, or a clear error when ssh.hostKey is not "type base64". */
function pinnedKey(target: SshTarget): PublicKey {
  try {
    return parsePublicKey(target.hostKey ?? '');
  } catch (error) {
    throw new SshError('host-key-unknown', target.label,
      `ssh.hostKey${target.where ? ` (${target.where})` : ''} is not a public key like "ssh-ed25519 AAAA...": ${messageOf(error)}`,
      'copy the key type and base64 from ssh-keyscan\'s output, without the host name');
  }
}

type HostKeyAlgorithms = NonNullable<NonNullable<ConnectConfig['algorithms']>['serverHostKey']>;

function hostKeyAlgorithms(type: string): HostKeyAlgorithms | undefined {
  switch (type) {
    case 'ssh-ed25519':
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
      return [type];
    case 'ssh-rsa':
      // One RSA key signs with any of these; OpenSSH servers refuse plain ssh-rsa (SHA-1) nowadays.
      return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
    default:
      return undefined;
  }
}

/** The public half of a private key, "ssh-ed25519 AAAA...", or undefined when the key cannot be read. */
export function publicKeyOf(privateKey: string | Buffer): string | undefined {
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) return undefined;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key ? `${key.type} ${key.getPublicSSH().toString('base64')}` : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function shorten(command: string): string {
  const oneLine = command.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}
