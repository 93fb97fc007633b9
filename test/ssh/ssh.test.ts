// The SSH layer against real OpenSSH servers (test/ssh/sshd.ts): host key pinning, quoting,
// timeouts, connection reuse, the concurrency bound and port forwarding.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rejectionOf } from '../helpers.js';
import { MAX_OUTPUT_BYTES, SshError, SshPool, fingerprint, forwardedConnection, type SshPoolOptions, type SshTarget } from '../../reconciler/ssh/pool.js';
import { sh, shellQuote } from '../../reconciler/ssh/quote.js';
import { clientKey, otherLoginUser, startSshd, type TestSshd } from './sshd.js';

let servers: TestSshd[] = [];
let main: TestSshd;
const pools: SshPool[] = [];

beforeAll(async () => {
  servers = await Promise.all(Array.from({ length: 6 }, () => startSshd()));
  main = servers[0]!;
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
  await Promise.all(servers.map((server) => server.stop()));
});

/** A pool closed after the suite, so a failing test cannot leave connections open. */
function newPool(options: Partial<SshPoolOptions> = {}): SshPool {
  const pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 3_000, ...options });
  pools.push(pool);
  return pool;
}

/** The SshError a promise rejects with (fails the test if it resolves or rejects with something else). */
const sshError = (promise: Promise<unknown>) => rejectionOf(promise, SshError);

/** A key pair no test server knows. ssh2's generator writes a malformed private key about once in 300 (seen in CI): retry those. */
function strangerPair(type: 'ed25519' | 'ecdsa' = 'ed25519'): { private: string; public: string } {
  for (;;) {
    const pair = type === 'ecdsa' ? utils.generateKeyPairSync('ecdsa', { bits: 256 }) : utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
  }
}

/** A public key of the given type that no test server has. */
function strangerKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): string {
  return strangerPair(type).public.split(' ').slice(0, 2).join(' ');
}

async function freeLoopbackPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('exec', () => {
  test('returns stdout, stderr and the exit code; a non-zero exit is returned, not thrown', async () => {
    const pool = newPool();
    const result = await pool.run(main.target(), (session) => session.exec('echo out; echo err >&2; exit 3'));
    expect(result).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3 });
    const ok = await pool.run(main.target(), (session) => session.exec('true'));
    expect(ok).toEqual({ stdout: '', stderr: '', code: 0 });
  });

  test('stdin is delivered and closed, as a string or a Buffer, byte for byte', async () => {
    const pool = newPool();
    const text = await pool.run(main.target(), (session) => session.exec('cat; echo "[eof]"', { stdin: 'line 1\nline 2' }));
    expect(text.stdout).toBe('line 1\nline 2[eof]\n');
    // Larger than one SSH packet and made of 2-byte characters, so chunks split characters.
    const big = 'é'.repeat(300_000);
    const echoed = await pool.run(main.target(), (session) => session.exec('cat', { stdin: Buffer.from(big, 'utf8') }));
    expect(echoed.stdout.length).toBe(big.length);
    expect(echoed.stdout === big).toBe(true);
    const counted = await pool.run(main.target(), (session) => session.exec('wc -c', { stdin: Buffer.from([0, 255, 10, 13]) }));
    expect(counted.stdout.trim()).toBe('4');
  });

  test('sh`` quoting round-trips hostile values and runs none of them', async () => {
    const values = [
      'two words', "it's", 'say "hi"', '$(touch pwned)', '`touch pwned`', 'a; touch pwned', 'a | touch pwned',
      'a && touch pwned &', '*', '\\', 'back\\slash\\n', 'line 1\nline 2\n', '\ttab\t', 'ünïcødé ✓ 😀', '',
      '-n', '--', "'", '"', "'\"'\"'", '$HOME', '~', '!', '!!', '#not a comment', '{a,b}', '%s %d', '\r\n', ' ',
      "$'\\x41'", '>pwned', '<(touch pwned)',
    ];
    const pool = newPool();
    await pool.run(main.target(), async (session) => {
      for (const value of values) {
        const result = await session.exec(sh`cd "$HOME" && printf %s ${value}`);
        expect({ value, stdout: result.stdout, code: result.code }).toEqual({ value, stdout: value, code: 0 });
      }
    });
    expect(readdirSync(main.home).sort()).toEqual(['.ssh']);
  });

  test('sh`` rejects values that cannot be one shell word', () => {
    expect(sh`sleep ${5} && kill -${9} ${'a b'}`).toBe("sleep 5 && kill -9 'a b'");
    expect(() => sh`sleep ${1.5}`).toThrow(/not an integer/);
    expect(() => sh`sleep ${Number.NaN}`).toThrow(/not an integer/);
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
    expect(shellQuote('')).toBe("''");
  });
});

describe('host keys', () => {
  test('fingerprint() matches ssh-keygen -lf', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetspec-fp-'));
    try {
      writeFileSync(join(dir, 'key.pub'), `${main.hostKey} comment\n`);
      const keygen = execFileSync('ssh-keygen', ['-lf', join(dir, 'key.pub')], { encoding: 'utf8' });
      expect(keygen.split(' ')[1]).toBe(fingerprint(main.hostKey));
      expect(fingerprint(main.hostKey.split(' ')[1]!)).toBe(fingerprint(main.hostKey));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a different pinned key is refused with both fingerprints', async () => {
    const pinned = strangerKey();
    const error = await sshError(newPool().run({ ...main.target('hosts/ai'), hostKey: pinned, where: 'specs/hosts/ai.yaml:40:3' }, async () => 'ran'));
    expect(error.code).toBe('host-key-mismatch');
    expect(error.target).toBe('hosts/ai');
    expect(error.message).toBe(`hosts/ai: host key mismatch: pinned ${fingerprint(pinned)}, offered ${fingerprint(main.hostKey)}`);
    expect(error.hint).toContain('specs/hosts/ai.yaml:40:3');
  });

  test('no pinned key and no trust on first use: refused, naming the offered fingerprint', async () => {
    const { hostKey: _omitted, ...unpinned } = main.target('hosts/ai');
    const error = await sshError(newPool().run(unpinned, async () => 'ran'));
    expect(error.code).toBe('host-key-unknown');
    expect(error.message).toContain(`the server offered ssh-ed25519 ${fingerprint(main.hostKey)}`);
    expect(error.hint).toContain(`ssh.hostKey: "${main.hostKey}"`);
  });

  test('trust on first use accepts an unpinned host and reports the key it saw', async () => {
    const { hostKey: _omitted, ...unpinned } = main.target();
    const presented = await newPool({ trustOnFirstUse: true }).run(unpinned, async (session) => session.presentedHostKey);
    expect(presented).toBe(main.hostKey);
  });

  test('trust on first use still refuses a key other than the pinned one', async () => {
    const error = await sshError(newPool({ trustOnFirstUse: true }).run({ ...main.target(), hostKey: strangerKey() }, async () => 'ran'));
    expect(error.code).toBe('host-key-mismatch');
  });

  test('a pinned key of a type the server lacks is a mismatch, not a silent switch to another key', async () => {
    const pinned = strangerKey('ecdsa');
    const error = await sshError(newPool().run({ ...main.target(), hostKey: pinned }, async () => 'ran'));
    expect(error.code).toBe('host-key-mismatch');
    expect(error.message).toContain(`offers no ecdsa-sha2-nistp256 host key; pinned ${fingerprint(pinned)}`);
  });

  test('a pinned key pasted with its host name is explained', async () => {
    const error = await sshError(newPool().run({ ...main.target(), hostKey: `${main.host} ${main.hostKey}` }, async () => 'ran'));
    expect(error.code).toBe('host-key-unknown');
    expect(error.message).toMatch(/is not a public key like "ssh-ed25519 AAAA\.\.\."/);
    expect(error.hint).toContain('without the host name');
  });

  test('targets sharing a connection each have their own pin checked', async () => {
    const pool = newPool();
    await pool.run(main.target('roles/manager'), (session) => session.exec('true'));
    const error = await sshError(pool.run({ ...main.target('roles/developer'), hostKey: strangerKey() }, async () => 'ran'));
    expect(error.code).toBe('host-key-mismatch');
    expect(error.target).toBe('roles/developer');
    expect(pool.connectionsOpened).toBe(1);
  });
});

describe('connection failures', () => {
  test('a port with nothing listening is unreachable, quickly', async () => {
    const port = await freeLoopbackPort();
    const started = Date.now();
    const error = await sshError(newPool().run({ ...main.target(), host: '127.0.0.1', port }, async () => 'ran'));
    expect(error.code).toBe('unreachable');
    expect(error.message).toContain(`cannot connect to 127.0.0.1:${port}: connection refused`);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test('a server that accepts and never speaks fails within connectTimeoutMs, once per pool', async () => {
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const pool = newPool({ connectTimeoutMs: 500 });
      const target: SshTarget = { ...main.target(), host: '127.0.0.1', port };
      const started = Date.now();
      const error = await sshError(pool.run(target, async () => 'ran'));
      const elapsed = Date.now() - started;
      expect(['unreachable', 'timeout']).toContain(error.code);
      expect(error.message).toContain('within 500 ms');
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(2_000);
      // The failure is remembered: no second connection attempt, same error at once.
      const again = Date.now();
      expect(await sshError(pool.run(target, async () => 'ran'))).toBe(error);
      expect(Date.now() - again).toBeLessThan(100);
      expect(sockets.length).toBe(1);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a client key the server does not know is an auth failure that does not echo the key', async () => {
    const stranger = strangerPair();
    const error = await sshError(newPool({ privateKey: stranger.private }).run(main.target(), async () => 'ran'));
    expect(error.code).toBe('auth');
    expect(error.hint).toContain('authorized_keys');
    const body = stranger.private.split('\n')[1]!;
    expect(`${error.message} ${error.hint} ${error.stack}`).not.toContain(body.slice(0, 20));
  });
});

describe('command timeout', () => {
  test('a slow command rejects with timeout quickly and the session stays usable', async () => {
    const pool = newPool();
    const pidFile = `${main.home}/timeout-root.pid`;
    try {
      await pool.run(main.target(), async (session) => {
        const started = Date.now();
        const error = await sshError(session.exec(sh`echo $$ > ${pidFile}; exec sleep 30`, { timeoutMs: 300 }));
        expect(error.code).toBe('timeout');
        expect(error.message).toContain('within 300 ms');
        expect(Date.now() - started).toBeLessThan(1_500);
        expect(await session.exec('echo still here')).toEqual({ stdout: 'still here\n', stderr: '', code: 0 });
      });
      expect(pool.connectionsOpened).toBe(1);
    } finally {
      // OpenSSH refuses session signals for root logins (no privilege separation after login),
      // so for root the command may still run: end it here by its process group.
      await pool.run(main.target(), (session) => session.exec(sh`kill -KILL -- -$(cat ${pidFile}) 2>/dev/null; true`));
    }
  });

  test('a host that prints without end is cut off past the cap, not kept in memory, and the session stays usable', async () => {
    const pool = newPool();
    await pool.run(main.target(), async (session) => {
      const error = await sshError(session.exec('yes fleetspec', { timeoutMs: 60_000 }));
      expect(error.code).toBe('command');
      expect(error.message).toContain(`printed more than ${MAX_OUTPUT_BYTES / 1024 / 1024} MiB and was killed`);
      expect(await session.exec('echo still here')).toEqual({ stdout: 'still here\n', stderr: '', code: 0 });
    });
  });

  const nonRoot = otherLoginUser();
  test.skipIf(!nonRoot)('for a non-root login the timed-out command and its children are killed', async () => {
    const server = await startSshd({ user: nonRoot! });
    servers.push(server);
    const pool = newPool();
    await pool.run(server.target(), async (session) => {
      try {
        // A compound command, so the shell forks `sleep` instead of exec'ing it.
        const error = await sshError(session.exec('echo $$ > "$HOME/shell.pid"; sleep 30; true', { timeoutMs: 300 }));
        expect(error.code).toBe('timeout');
        let alive = '';
        for (let attempt = 0; attempt < 100; attempt++) {
          alive = (await session.exec('kill -0 -- -$(cat "$HOME/shell.pid") 2>/dev/null && echo alive || echo gone')).stdout.trim();
          if (alive === 'gone') break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(alive).toBe('gone');
      } finally {
        await session.exec('kill -KILL -- -$(cat "$HOME/shell.pid") 2>/dev/null; true');
      }
    });
  });
});

describe('cancel', () => {
  test('ends a running command and a connect in progress at once, naming the reason, and the pool takes nothing more', async () => {
    // A peer that accepts TCP and never speaks: the handshake would wait for the connect timeout.
    const silent = createTcpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const pidFile = `${main.home}/cancel-root.pid`;
    try {
      const pool = newPool({ connectTimeoutMs: 20_000, commandTimeoutMs: 30_000 });
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      const command = sshError(pool.run(main.target(), (session) => (started(), session.exec(sh`echo $$ > ${pidFile}; exec sleep 30`))));
      const connecting = sshError(pool.run({ ...main.target(), host: '127.0.0.1', port, label: 'silent' }, (session) => session.exec('true')));
      await running;
      await new Promise((resolve) => setTimeout(resolve, 200)); // the command is under way, the handshake waits
      const at = Date.now();
      await pool.cancel('the tick stopped (stop requested)');
      const [c, k] = await Promise.all([command, connecting]);
      expect(Date.now() - at).toBeLessThan(1_500);
      expect(c.code).toBe('closed');
      expect(c.message).toMatch(/command cancelled and killed \(.*sleep 30\): the tick stopped \(stop requested\)$/);
      expect(k.message).toBe('silent: connection cancelled: the tick stopped (stop requested)');
      const after = await sshError(pool.run(main.target(), (session) => session.exec('true')));
      expect(after.message).toMatch(/connection cancelled: the tick stopped/);
    } finally {
      silent.close();
      const cleanup = newPool();
      await cleanup.run(main.target(), (session) => session.exec(sh`kill -KILL -- -$(cat ${pidFile}) 2>/dev/null; true`));
    }
  });
});

describe('pool', () => {
  test('one connection per target, reused across runs', async () => {
    const pool = newPool();
    await Promise.all(Array.from({ length: 12 }, () => pool.run(main.target(), (session) => session.exec('true'))));
    await pool.run(main.target(), (session) => session.exec('true'));
    expect(pool.connectionsOpened).toBe(1);
    const two = newPool();
    await Promise.all([main, servers[1]!, main, servers[1]!].map((server) => two.run(server.target(), (session) => session.exec('true'))));
    expect(two.connectionsOpened).toBe(2);
  });

  test('no more than `concurrency` operations are in flight', async () => {
    const pool = newPool({ concurrency: 2 });
    let inFlight = 0;
    let maxInFlight = 0;
    const started = Date.now();
    await Promise.all(
      servers.slice(0, 6).map((server) =>
        pool.run(server.target(), async (session) => {
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          try {
            return await session.exec('sleep 0.3');
          } finally {
            inFlight--;
          }
        }),
      ),
    );
    expect(maxInFlight).toBe(2);
    // Six sleeps two at a time take at least three rounds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(pool.connectionsOpened).toBe(6);
  });

  test('more than ten operations in flight at once are not reported as a listener leak', async () => {
    // `plan --live --concurrency 20` printed MaxListenersExceededWarning: one abort listener per
    // command in flight on the pool's cancel signal, each removed when it ends.
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      // Two commands on each of the six servers: twelve in flight, at most two per connection.
      const pool = newPool({ concurrency: 12 });
      await Promise.all([...servers, ...servers].map((server) => pool.run(server.target(), (session) => session.exec('sleep 0.2'))));
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => `${w.name}: ${w.message} ${w.stack}`)).toEqual([]);
  });

  test('a prefetched command runs once: the first exec of it takes the result, later ones run it again', async () => {
    const pool = newPool();
    const target = servers[2]!.target();
    // Each run of `mark` adds a line to a file of the server's home; `runs` counts them.
    const mark = 'echo run >> "$HOME/prefetch-runs"; echo marked';
    const runs = async () => Number((await pool.run(target, (session) => session.exec('wc -l < "$HOME/prefetch-runs"'))).stdout.trim());
    pool.prefetch(target, mark);
    pool.prefetch(target, mark); // asked twice before it was taken: still one run
    expect((await pool.run(target, (session) => session.exec(mark))).stdout).toBe('marked\n');
    expect(await runs()).toBe(1);
    await pool.run(target, (session) => session.exec(mark));
    expect(await runs()).toBe(2);
    // With its own timeout (or stdin) an exec is never served from a prefetch; the prefetch
    // stays for the next plain exec.
    pool.prefetch(target, mark);
    await pool.run(target, (session) => session.exec(mark, { timeoutMs: 5_000 }));
    await pool.run(target, (session) => session.exec(mark));
    expect(await runs()).toBe(4);
    expect(pool.connectionsOpened).toBe(1);
  });

  test('a prefetch that cannot connect is what the later run reports, without a second attempt', async () => {
    const pool = newPool();
    const wrongKey = { ...servers[3]!.target(), hostKey: strangerKey() };
    pool.prefetch(wrongKey, 'echo never');
    const error = await sshError(pool.run(wrongKey, (session) => session.exec('echo never')));
    expect(error.code).toBe('host-key-mismatch');
    expect(pool.connectionsOpened).toBe(0);
    await pool.close();
    pool.prefetch(servers[3]!.target(), 'echo late'); // a closed pool starts nothing
    expect(pool.connectionsOpened).toBe(0);
  });

  test('a dropped connection fails the command in flight with closed, and the next run reconnects', async () => {
    const pool = newPool();
    // The shell's parent is the sshd process serving this connection.
    const error = await sshError(pool.run(main.target(), (session) => session.exec('kill -KILL $PPID')));
    expect(error.code).toBe('closed');
    const result = await pool.run(main.target(), (session) => session.exec('echo back'));
    expect(result.stdout).toBe('back\n');
    expect(pool.connectionsOpened).toBe(2);
  });

  test('a closed pool refuses new work', async () => {
    const pool = newPool();
    const kept = await pool.run(main.target(), async (session) => session);
    await pool.close();
    const error = await sshError(pool.run(main.target(), async () => 'ran'));
    expect(error.code).toBe('closed');
    expect((await sshError(kept.exec('true'))).code).toBe('closed');
  });
});

describe('forward', () => {
  let http: HttpServer;
  let httpPort: number;

  beforeAll(async () => {
    http = createHttpServer((req, res) => res.end(`hello from ${req.url} via ${req.socket.remoteAddress}`));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpPort = (http.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => http.close(resolve));
  });

  test('an HTTP request reaches a service through the target', async () => {
    const body = await newPool().run(main.target(), (session) =>
      new Promise<string>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: httpPort, path: '/api/tags', createConnection: forwardedConnection(session, '127.0.0.1', httpPort) },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve(`${res.statusCode} ${text}`));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      }),
    );
    expect(body).toBe('200 hello from /api/tags via 127.0.0.1');
  });

  test('a port nothing listens on is reported as unreachable from the host', async () => {
    const port = await freeLoopbackPort();
    const error = await sshError(newPool().run(main.target(), (session) => session.forward('127.0.0.1', port)));
    expect(error.code).toBe('unreachable');
    expect(error.message).toContain(`cannot open 127.0.0.1:${port} from the host`);
    // Through http.request the same error arrives as the request's 'error'.
    const viaHttp = await sshError(
      newPool().run(main.target(), (session) =>
        new Promise((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, createConnection: forwardedConnection(session, '127.0.0.1', port) }, resolve);
          req.on('error', reject);
          req.end();
        }),
      ),
    );
    expect(viaHttp.code).toBe('unreachable');
  });
});
