// A loopback TCP proxy for fault tests: put it between fleetspec and a server (PostgreSQL, git
// http-backend, the GitHub stand-in) and switch, at any moment, what the network does:
//
//   pass       forward both ways.
//   refuse     new connections are reset as soon as they are accepted (the client sees
//              ECONNRESET); live ones go on as they were.
//   blackhole  accept, and swallow every byte both ways without ever answering: a remote host
//              that lost power. A connection that lost bytes to the hole stays silent for good
//              (its byte stream is broken), even after the mode is back to pass; new ones work.
//   slow       forward each chunk after `delayMs`, both ways, in order.
//   dropReply  forward the request, then drop the answer when it comes and close both ends:
//              the server did the work, the client never hears of it.
//   cut()      not a mode but an act: destroy every live connection now (both ends reset).
//   silence()  an act too: every live connection goes silent for good, as when a NAT or firewall on
//              the way loses its state; new connections work.
//
// A connection whose client goes away is closed towards the server too, whatever the mode, so a
// test never leaks server sessions (and what they hold, such as PostgreSQL advisory locks).
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';

export type FaultMode = 'pass' | 'refuse' | 'blackhole' | 'slow' | 'dropReply';

export interface FaultProxy {
  /** 127.0.0.1 */
  readonly host: string;
  readonly port: number;
  /** The mode new chunks and connections meet; `delayMs` for slow (default 200). */
  set(mode: FaultMode, options?: { delayMs?: number }): void;
  readonly mode: FaultMode;
  /** Connections accepted since start (refused ones included). */
  readonly connections: number;
  /** Connections open now. */
  readonly live: number;
  /** Connections reset by refuse, cut or dropReply. */
  readonly dropped: number;
  /** Bytes forwarded to the server and to the client, and swallowed by blackhole or dropReply. */
  readonly bytes: { up: number; down: number; swallowed: number };
  /** Destroys every live connection now, both ends. */
  cut(): number;
  /** Every live connection swallows whatever it is sent from now on, never closing; returns how many. */
  silence(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  /** Bytes were swallowed on this connection: it never forwards again. */
  poisoned: boolean;
  /** Writes in flight in slow mode, per direction, to keep order. */
  queue: { up: Promise<void>; down: Promise<void> };
}

export async function startFaultProxy(target: { host?: string; port: number }, initial: FaultMode = 'pass'): Promise<FaultProxy> {
  let mode: FaultMode = initial;
  let delayMs = 200;
  let connections = 0;
  let dropped = 0;
  const bytes = { up: 0, down: 0, swallowed: 0 };
  const pairs = new Set<Pair>();

  /** A reset, not a polite FIN: the peer learns at once (as from a router that lost the route). */
  const reset = (s: Socket) => {
    if (s.destroyed) return;
    try {
      s.resetAndDestroy();
    } catch {
      s.destroy();
    }
  };
  const kill = (pair: Pair) => {
    pairs.delete(pair);
    reset(pair.client);
    reset(pair.server);
  };

  const forward = (pair: Pair, direction: 'up' | 'down', chunk: Buffer) => {
    const to = direction === 'up' ? pair.server : pair.client;
    if (pair.poisoned || mode === 'blackhole') {
      pair.poisoned = true;
      bytes.swallowed += chunk.length;
      return;
    }
    if (direction === 'down' && mode === 'dropReply') {
      bytes.swallowed += chunk.length;
      dropped++;
      kill(pair);
      return;
    }
    const write = () => {
      if (to.destroyed || pair.poisoned) return;
      bytes[direction] += chunk.length;
      to.write(chunk);
    };
    if (mode === 'slow') {
      const from = direction === 'up' ? pair.client : pair.server;
      const wait = delayMs;
      from.pause();
      pair.queue[direction] = pair.queue[direction].then(
        () =>
          new Promise<void>((done) =>
            setTimeout(() => {
              write();
              if (!from.destroyed) from.resume();
              done();
            }, wait),
          ),
      );
    } else {
      // Behind any slow chunks still queued, so bytes never overtake each other.
      pair.queue[direction] = pair.queue[direction].then(write);
    }
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    connections++;
    if (mode === 'refuse') {
      dropped++;
      client.on('error', () => {});
      reset(client);
      return;
    }
    const upstream = new Socket();
    const pair: Pair = { client, server: upstream, poisoned: mode === 'blackhole', queue: { up: Promise.resolve(), down: Promise.resolve() } };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => forward(pair, 'up', chunk));
    upstream.on('data', (chunk: Buffer) => forward(pair, 'down', chunk));
    // One end gone: the other goes too, except that a silent connection never tells its client.
    const end = (from: Socket) => () => {
      if (from === upstream && pair.poisoned && !client.destroyed) return;
      pairs.delete(pair);
      for (const s of [client, upstream]) if (!s.destroyed) s.destroy();
    };
    client.on('close', end(client));
    upstream.on('close', end(upstream));
    client.on('error', () => {});
    upstream.on('error', () => {});
    if (pair.poisoned) {
      // The far side never answered, so there is no server to talk to at all.
      upstream.destroy();
      client.resume();
      return;
    }
    upstream.connect(target.port, target.host ?? '127.0.0.1', () => client.resume());
  });
  server.on('error', () => {});
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    get mode() {
      return mode;
    },
    set(next, options = {}) {
      mode = next;
      if (options.delayMs !== undefined) delayMs = options.delayMs;
    },
    get connections() {
      return connections;
    },
    get live() {
      return pairs.size;
    },
    get dropped() {
      return dropped;
    },
    bytes,
    cut() {
      const n = pairs.size;
      for (const pair of [...pairs]) kill(pair);
      dropped += n;
      return n;
    },
    silence() {
      for (const pair of pairs) pair.poisoned = true;
      return pairs.size;
    },
    async close() {
      const closed = new Promise<void>((done) => server.close(() => done()));
      for (const pair of [...pairs]) kill(pair);
      await closed;
    },
  };
}
