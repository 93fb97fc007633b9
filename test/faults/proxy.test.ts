// The fault proxy against a tiny echo server: each mode does what the fault tests rely on, it can
// be switched while connections are live, it counts, and it closes cleanly.
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './proxy.js';
import { until } from './wait.js';

interface Echo {
  port: number;
  /** Bytes the server received. */
  received: () => number;
  /** Server-side sockets open now. */
  open: () => number;
  close(): Promise<void>;
}

async function startEcho(): Promise<Echo> {
  let received = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('data', (chunk) => {
      received += chunk.length;
      s.write(chunk);
    });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

interface Client {
  socket: Socket;
  text: () => string;
  closed: boolean;
  error?: NodeJS.ErrnoException;
}

function connect(port: number): Client {
  const socket = new Socket();
  let data = '';
  const c: Client = { socket, text: () => data, closed: false };
  socket.on('data', (chunk) => (data += chunk.toString()));
  socket.on('error', (err) => (c.error = err));
  socket.on('close', () => (c.closed = true));
  socket.connect(port, '127.0.0.1');
  return c;
}

const BUDGET = 5000;

describe('fault proxy', () => {
  let echo: Echo;
  let proxy: FaultProxy;
  const clients: Client[] = [];
  const open = () => {
    const c = connect(proxy.port);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    echo = await startEcho();
  });
  afterAll(() => echo.close());
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await proxy?.close();
  });

  it('pass: forwards both ways and counts connections; a client that leaves closes its server side too', async () => {
    proxy = await startFaultProxy({ port: echo.port });
    const a = open();
    a.socket.write('hello');
    await until('the echo of "hello"', () => a.text() === 'hello', BUDGET);
    expect(proxy).toMatchObject({ connections: 1, live: 1, mode: 'pass' });
    expect(proxy.bytes).toEqual({ up: 5, down: 5, swallowed: 0 });
    a.socket.end();
    await until('the proxy to drop the closed connection', () => proxy.live === 0, BUDGET);
    await until('the echo server to see its side closed', () => echo.open() === 0, BUDGET);
  });

  it('refuse: new connections are reset at once, a live one goes on', async () => {
    proxy = await startFaultProxy({ port: echo.port });
    const live = open();
    live.socket.write('a');
    await until('the echo of "a"', () => live.text() === 'a', BUDGET);
    proxy.set('refuse');
    const refused = open();
    await until('the refused connection to close', () => refused.closed, BUDGET);
    expect(refused.error?.code).toBe('ECONNRESET');
    expect(refused.text()).toBe('');
    live.socket.write('b');
    await until('the live connection to echo "b"', () => live.text() === 'ab', BUDGET);
    expect(proxy).toMatchObject({ connections: 2, live: 1, dropped: 1 });
  });

  it('blackhole: swallows both ways and never answers; a connection that lost bytes stays silent after pass, new ones work', async () => {
    proxy = await startFaultProxy({ port: echo.port });
    const before = echo.received();
    const live = open();
    live.socket.write('x');
    await until('the echo of "x"', () => live.text() === 'x', BUDGET);
    proxy.set('blackhole');
    live.socket.write('lost');
    const fresh = open();
    fresh.socket.write('also lost');
    await until('both writes to be swallowed', () => proxy.bytes.swallowed === 'lost'.length + 'also lost'.length, BUDGET);
    // Accepted, not refused: the client's connect succeeded and nothing closed it.
    expect(fresh.socket.remoteAddress).toBe('127.0.0.1');
    expect([live.closed, fresh.closed, fresh.error]).toEqual([false, false, undefined]);
    expect(echo.received() - before).toBe(1);
    expect(live.text() + fresh.text()).toBe('x');

    proxy.set('pass');
    live.socket.write('still lost');
    await until('the old connection to swallow again', () => proxy.bytes.swallowed === 'lostalso lost'.length + 'still lost'.length, BUDGET);
    const healed = open();
    healed.socket.write('back');
    await until('a new connection to echo "back"', () => healed.text() === 'back', BUDGET);
    expect(live.text()).toBe('x');
    expect(proxy).toMatchObject({ connections: 3, live: 3 });
  });

  it('slow: delays each chunk in each direction, in order', async () => {
    proxy = await startFaultProxy({ port: echo.port });
    const c = open();
    c.socket.write('warm');
    await until('the echo of "warm"', () => c.text() === 'warm', BUDGET);
    proxy.set('slow', { delayMs: 150 });
    const started = Date.now();
    c.socket.write('1');
    await until('the slow echo of "1"', () => c.text() === 'warm1', BUDGET);
    // One delay up, one down.
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    c.socket.write('2');
    c.socket.write('3');
    proxy.set('pass');
    c.socket.write('4');
    await until('the echo of 2, 3 and 4', () => c.text().length === 'warm1234'.length, BUDGET);
    expect(c.text()).toBe('warm1234');
  });

  it('cut: resets every live connection now; new ones work', async () => {
    proxy = await startFaultProxy({ port: echo.port });
    const [a, b] = [open(), open()];
    a.socket.write('a');
    b.socket.write('b');
    await until('both echoes', () => a.text() === 'a' && b.text() === 'b', BUDGET);
    expect(proxy.cut()).toBe(2);
    await until('both clients to see the cut', () => a.closed && b.closed, BUDGET);
    expect(a.error?.code).toBe('ECONNRESET');
    await until('the echo server to see both closed', () => echo.open() === 0, BUDGET);
    expect(proxy.live).toBe(0);
    const c = open();
    c.socket.write('c');
    await until('a new connection to echo "c"', () => c.text() === 'c', BUDGET);
  });

  it('dropReply: the request reaches the server, the answer is dropped and the connection closed', async () => {
    proxy = await startFaultProxy({ port: echo.port }, 'dropReply');
    const before = echo.received();
    const c = open();
    c.socket.write('do it once');
    await until('the client to see its connection closed', () => c.closed, BUDGET);
    expect(echo.received() - before).toBe('do it once'.length);
    expect(c.text()).toBe('');
    expect(proxy).toMatchObject({ dropped: 1, live: 0 });
    expect(proxy.bytes).toMatchObject({ up: 'do it once'.length, down: 0, swallowed: 'do it once'.length });
  });

  it('closes cleanly: live connections are reset, the port refuses afterwards', async () => {
    proxy = await startFaultProxy({ port: echo.port });
    const c = open();
    c.socket.write('bye');
    await until('the echo of "bye"', () => c.text() === 'bye', BUDGET);
    await proxy.close();
    await until('the client to see the proxy gone', () => c.closed, BUDGET);
    const after = connect(proxy.port);
    await until('a connection to the closed port to fail', () => after.closed, BUDGET);
    expect(after.error?.code).toBe('ECONNREFUSED');
  });
});
