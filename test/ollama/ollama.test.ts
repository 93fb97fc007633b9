import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rejectionOf } from '../helpers.js';
import { normalizeModelName, ollamaClient, OllamaError, type PullProgress } from '../../reconciler/kinds/models/ollama.js';
import { OLLAMA_TEST_VERSION, startOllamaServer, type OllamaTestServer } from './server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

async function ollama(options: Parameters<typeof startOllamaServer>[0] = {}): Promise<OllamaTestServer> {
  const server = await startOllamaServer(options);
  cleanups.push(() => server.close());
  return server;
}

/** A bare HTTP server for answers real Ollama would not give; returns its base URL. */
async function rawServer(handler: (path: string, res: ServerResponse) => void): Promise<string> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req.url ?? '/', res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, OllamaError);

describe('normalizeModelName', () => {
  it('adds :latest to a name without a tag and leaves tags and prefixes alone', () => {
    expect(normalizeModelName('nomic-embed-text')).toBe('nomic-embed-text:latest');
    expect(normalizeModelName('qwen2.5:7b')).toBe('qwen2.5:7b');
    expect(normalizeModelName('library/llama3')).toBe('library/llama3:latest');
    expect(normalizeModelName('hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M')).toBe('hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M');
    // a port belongs to the host segment, not the tag
    expect(normalizeModelName('registry.local:5000/team/coder')).toBe('registry.local:5000/team/coder:latest');
    expect(() => normalizeModelName('  ')).toThrow(OllamaError);
  });
});

describe('ollama client against the contract server', () => {
  it('reads the version', async () => {
    const server = await ollama();
    expect(await ollamaClient({ baseUrl: server.url }).version()).toBe(OLLAMA_TEST_VERSION);
  });

  it('lists installed models with normalized names, sizes and digests', async () => {
    const server = await ollama({ models: [{ name: 'nomic-embed-text', size: 274_302_450 }, { name: 'qwen2.5:7b', size: 4_683_087_332 }] });
    const tags = await ollamaClient({ baseUrl: server.url }).tags();
    expect(tags.map((t) => t.name)).toEqual(['nomic-embed-text:latest', 'qwen2.5:7b']);
    expect(tags[0]!.size).toBe(274_302_450);
    expect(tags[0]!.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Number.isNaN(Date.parse(tags[0]!.modifiedAt))).toBe(false);
    expect(server.requests).toEqual([{ method: 'GET', path: '/api/tags', body: undefined }]);
  });

  it('lists loaded models from /api/ps, and none when nothing is loaded', async () => {
    const server = await ollama({ models: [{ name: 'qwen2.5:7b', size: 4_000 }, { name: 'llama3' }], loaded: ['qwen2.5:7b'] });
    expect(await ollamaClient({ baseUrl: server.url }).ps()).toEqual([{ name: 'qwen2.5:7b', size: 4_000, sizeVram: 4_000 }]);
    const idle = await ollama({ models: [{ name: 'llama3' }] });
    expect(await ollamaClient({ baseUrl: idle.url }).ps()).toEqual([]);
  });

  it('pulls a registry model with rising progress, then lists it', async () => {
    const server = await ollama({ registry: { 'nomic-embed-text': 274_302_450 }, pullDelayMs: 2 });
    const client = ollamaClient({ baseUrl: server.url });
    const progress: PullProgress[] = [];
    await client.pull('nomic-embed-text', (p) => progress.push(p));

    expect(progress[0]).toEqual({ status: 'pulling manifest' });
    expect(progress.at(-1)).toEqual({ status: 'success' });
    const layer = progress.filter((p) => p.completed !== undefined);
    expect(layer.length).toBeGreaterThanOrEqual(4);
    const first = layer[0]!;
    const sameDigest = layer.filter((p) => p.digest === first.digest).map((p) => p.completed!);
    expect(sameDigest.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < sameDigest.length; i++) expect(sameDigest[i]!).toBeGreaterThan(sameDigest[i - 1]!);
    expect(sameDigest.at(-1)).toBe(first.total);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(progress.map((p) => p.status)).toEqual(expect.arrayContaining(['verifying sha256 digest', 'writing manifest']));

    expect((await client.tags()).map((t) => t.name)).toEqual(['nomic-embed-text:latest']);
    expect(server.requests.find((r) => r.path === '/api/pull')?.body).toEqual({ model: 'nomic-embed-text:latest', stream: true });
  });

  it("rejects a pull of an unknown model with Ollama's own error text", async () => {
    const server = await ollama({ registry: { llama3: 10_000 } });
    const client = ollamaClient({ baseUrl: server.url });
    const statuses: string[] = [];
    const error = await rejection(client.pull('no-such-model:1b', (p) => statuses.push(p.status)));
    expect(error.message).toContain('pull model manifest: file does not exist');
    expect(error.hint).toMatch(/model name/);
    expect(statuses).toEqual(['pulling manifest']);
    expect(server.models()).toEqual([]);
  });

  it('rejects a pull that the server is told to fail, even for a registry model', async () => {
    const server = await ollama({ registry: { llama3: 10_000 }, failPullOf: ['llama3'] });
    const error = await rejection(ollamaClient({ baseUrl: server.url }).pull('llama3'));
    expect(error.message).toContain('pull model manifest: file does not exist');
    expect(server.models()).toEqual([]);
  });

  it('removes a model, then answers 404 for the same model', async () => {
    const server = await ollama({ models: [{ name: 'llama3' }, { name: 'qwen2.5:7b' }] });
    const client = ollamaClient({ baseUrl: server.url });
    await client.remove('llama3');
    expect(server.models()).toEqual(['qwen2.5:7b']);
    const error = await rejection(client.remove('llama3'));
    expect(error.status).toBe(404);
    expect(error.message).toContain("model 'llama3:latest' not found");
    expect(error.hint).toMatch(/not installed/);
    expect(server.requests.filter((r) => r.method === 'DELETE').map((r) => r.body)).toEqual([{ model: 'llama3:latest' }, { model: 'llama3:latest' }]);
  });

  it('sends every request over a stream from createConnection', async () => {
    const server = await ollama({ models: [{ name: 'llama3' }], registry: { 'qwen2.5:7b': 5_000 } });
    let opened = 0;
    // The host does not resolve, so the request can only arrive through the stream.
    const client = ollamaClient({
      baseUrl: 'http://ollama.invalid:11434',
      createConnection: () => {
        opened++;
        return netConnect(server.port, server.host);
      },
    });
    expect((await client.tags()).map((t) => t.name)).toEqual(['llama3:latest']);
    await client.pull('qwen2.5:7b');
    expect(server.models()).toEqual(['llama3:latest', 'qwen2.5:7b']);
    expect(opened).toBe(2);
  });

  it('awaits an async connect factory and keeps the base path as a prefix', async () => {
    const server = await ollama({ models: [{ name: 'llama3' }] });
    const client = ollamaClient({
      baseUrl: 'http://ollama.invalid:11434',
      connect: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return netConnect(server.port, server.host);
      },
    });
    expect(await client.version()).toBe(OLLAMA_TEST_VERSION);

    const prefixed = ollamaClient({ baseUrl: `${server.url}/proxy/`, createConnection: () => netConnect(server.port, server.host) });
    const error = await rejection(prefixed.tags());
    expect(error.status).toBe(404);
    expect(error.hint).toMatch(/path prefix/);
    expect(server.requests.at(-1)?.path).toBe('/proxy/api/tags');
  });

  it('reports a failing connect factory as an OllamaError about the forward', async () => {
    const client = ollamaClient({ baseUrl: 'http://gpu-box:11434', connect: () => Promise.reject(new Error('ssh: connect to host gpu-box port 22: No route to host')) });
    const error = await rejection(client.tags());
    expect(error.message).toContain('No route to host');
    expect(error.hint).toMatch(/SSH forward/);
  });

  it('times out a connect factory that never opens, and closes the stream if it opens late', async () => {
    const server = await ollama();
    let late: import('node:net').Socket | undefined;
    const client = ollamaClient({
      baseUrl: 'http://gpu-box:11434',
      timeoutMs: 100,
      connect: () =>
        new Promise((resolve) =>
          setTimeout(() => {
            late = netConnect(server.port, server.host);
            resolve(late);
          }, 250),
        ),
    });
    const error = await rejection(client.version());
    expect(error.message).toMatch(/did not open within 100 ms/);
    expect(error.hint).toMatch(/SSH forward/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(late?.destroyed).toBe(true);
    expect(server.requests).toEqual([]);
  });

  it('turns connection refused into an OllamaError with a hint', async () => {
    const port = await freePort();
    const error = await rejection(ollamaClient({ baseUrl: `http://127.0.0.1:${port}` }).tags());
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.hint).toMatch(/is Ollama running on 127\.0\.0\.1:\d+/);
  });

  it('times out on a server that accepts but never answers', async () => {
    const silent = createNetServer(() => {
      // accept the connection and say nothing
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sockets: import('node:net').Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    cleanups.push(() => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      silent.close(() => resolve());
    }));
    const started = Date.now();
    const error = await rejection(ollamaClient({ baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeoutMs: 150 }).version());
    const elapsed = Date.now() - started;
    expect(error.message).toMatch(/sent nothing for 150 ms/);
    expect(error.hint).toMatch(/is Ollama running/);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('times out a pull whose progress stops, though the stream started', async () => {
    const url = await rawServer((_path, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write('{"status":"pulling manifest"}\n');
    });
    const statuses: string[] = [];
    const error = await rejection(ollamaClient({ baseUrl: url, timeoutMs: 150 }).pull('llama3', (p) => statuses.push(p.status)));
    expect(statuses).toEqual(['pulling manifest']);
    expect(error.message).toMatch(/sent nothing for 150 ms during POST \/api\/pull/);
  });

  it('stops a pull that keeps making progress but never finishes, at its total limit', async () => {
    let writes = 0;
    const url = await rawServer((_path, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write('{"status":"pulling manifest"}\n');
      // A trickle: a progress line every 50 ms, so the silence timeout never fires.
      const every = setInterval(() => {
        writes++;
        res.write(`{"status":"pulling 6a0746a1ec1a","digest":"sha256:${'6a0746a1ec1a'.padEnd(64, '0')}","total":4000000000,"completed":${writes}}\n`);
      }, 50);
      res.on('close', () => clearInterval(every));
    });
    const started = Date.now();
    const error = await rejection(ollamaClient({ baseUrl: url, timeoutMs: 300, pullLimitMs: 600 }).pull('llama3'));
    expect(writes).toBeGreaterThan(3);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error.message).toMatch(/^pull llama3:latest: not finished within 600 ms on 127\.0\.0\.1:\d+; stopped$/);
    expect((error as { hint?: string }).hint).toMatch(/resumes a cancelled pull/);
  });

  it('parses NDJSON lines split across TCP chunks, a multi-byte character included', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const line = JSON.stringify({ status: 'pulling aaaaaaaaaaaa — ünïcode', digest, total: 100, completed: 50 });
    const bytes = Buffer.from(`{"status":"pulling manifest"}\n${line}\n{"status":"success"}\n`);
    const cut = bytes.indexOf(Buffer.from('—')) + 1; // inside the three bytes of the dash
    const url = await rawServer((_path, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write(bytes.subarray(0, cut));
      setTimeout(() => res.end(bytes.subarray(cut)), 60);
    });
    const progress: PullProgress[] = [];
    await ollamaClient({ baseUrl: url }).pull('llama3', (p) => progress.push(p));
    expect(progress).toEqual([
      { status: 'pulling manifest' },
      { status: 'pulling aaaaaaaaaaaa — ünïcode', digest, total: 100, completed: 50 },
      { status: 'success' },
    ]);
  });

  it('rejects a pull stream that ends without success', async () => {
    const url = await rawServer((_path, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.end('{"status":"pulling manifest"}\n{"status":"writing manifest"}');
    });
    const error = await rejection(ollamaClient({ baseUrl: url }).pull('llama3'));
    expect(error.message).toMatch(/ended before "success"/);
  });

  it('refuses a JSON body over 16 MiB, declared or streamed', async () => {
    const limit = 16 * 1024 * 1024;
    const url = await rawServer((path, res) => {
      if (path === '/declared/api/tags') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': limit + 1 });
        res.write('{"models":[');
        return; // never sends the rest: the client must refuse on the header alone
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      res.write('{"models":[');
      let sent = 0;
      const more = () => {
        while (sent < 17 && !res.destroyed) {
          sent++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end(']}');
      };
      more();
    });
    const streamed = await rejection(ollamaClient({ baseUrl: url }).tags());
    expect(streamed.message).toMatch(/more than 16777216 bytes/);
    const declared = await rejection(ollamaClient({ baseUrl: `${url}/declared`, timeoutMs: 2_000 }).tags());
    expect(declared.message).toMatch(/more than 16777216 bytes/);
  });

  it("passes on Ollama's error text for a non-2xx answer", async () => {
    const url = await rawServer((_path, res) => {
      res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"error":"mkdir /usr/share/ollama/.ollama/models: permission denied"}');
    });
    const error = await rejection(ollamaClient({ baseUrl: url }).pull('llama3'));
    expect(error.status).toBe(500);
    expect(error.message).toBe('pull llama3:latest: HTTP 500: `mkdir /usr/share/ollama/.ollama/models: permission denied`');
    expect(error.remote).toBe('`mkdir /usr/share/ollama/.ollama/models: permission denied`');
    expect(error.hint).toMatch(/journalctl -u ollama/);
  });

  it('quotes a long Markdown error body, or a pull error line, only as a short escaped excerpt', async () => {
    const page = '<!-- [click](http://evil) @someone # Heading\n'.repeat(120);
    const server = await ollama({ failWith: { status: 502, body: page, contentType: 'text/markdown' } });
    const error = await rejection(ollamaClient({ baseUrl: server.url }).tags());
    expect(error.status).toBe(502);
    expect(error.remote!.length).toBeLessThanOrEqual(200);
    expect(error.message).toBe(`GET /api/tags: HTTP 502: ${error.remote}`);
    expect(error.remote).toMatch(/^`\\u003c!-- \[click\]\(http:\/\/evil\) @someone # Heading \\u003c!--.*…`$/);
    expect(error.message).not.toContain('<');
    expect(error.message).not.toContain('\n');

    const url = await rawServer((_path, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.end(`{"status":"pulling manifest"}\n${JSON.stringify({ error: `\u001b[31mred\u001b[0m ${'`'.repeat(3)}${'x'.repeat(5000)}` })}\n`);
    });
    const pull = await rejection(ollamaClient({ baseUrl: url }).pull('llama3'));
    expect(pull.remote!.length).toBeLessThanOrEqual(200);
    expect(pull.message).toBe(`pull llama3:latest: ${pull.remote}`);
    expect(pull.remote).toMatch(/^`\[31mred\[0m \\u0060\\u0060\\u0060x+…`$/);
  });
});

describe('contract server', () => {
  async function send(server: OllamaTestServer, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
    const res = await fetch(server.url + path, { method, ...(body === undefined ? {} : { body }) });
    return { status: res.status, text: await res.text() };
  }

  it('answers unknown routes and methods with 404 as gin does', async () => {
    const server = await ollama();
    expect(await send(server, 'GET', '/api/nope')).toEqual({ status: 404, text: '404 page not found' });
    expect(await send(server, 'POST', '/api/tags', '{}')).toEqual({ status: 404, text: '404 page not found' });
    expect(await send(server, 'GET', '/api/pull')).toEqual({ status: 404, text: '404 page not found' });
  });

  it('refuses missing, malformed, unknown and mistyped body fields with 400', async () => {
    const server = await ollama({ registry: { llama3: 1_000 } });
    expect(await send(server, 'POST', '/api/pull')).toEqual({ status: 400, text: '{"error":"missing request body"}' });
    expect((await send(server, 'POST', '/api/pull', '{"model":')).status).toBe(400);
    expect(await send(server, 'POST', '/api/pull', '{"model":"llama3","force":true}')).toEqual({ status: 400, text: '{"error":"json: unknown field \\"force\\""}' });
    expect((await send(server, 'POST', '/api/pull', '{"model":"llama3","stream":"yes"}')).status).toBe(400);
    expect(await send(server, 'POST', '/api/pull', '{}')).toEqual({ status: 400, text: '{"error":"invalid model name"}' });
    expect((await send(server, 'DELETE', '/api/delete', '{}')).status).toBe(400);
    expect(server.models()).toEqual([]);
  });

  it('accepts the deprecated "name" field and answers stream:false with one object', async () => {
    const server = await ollama({ registry: { llama3: 1_000 } });
    expect(await send(server, 'POST', '/api/pull', '{"name":"llama3","stream":false}')).toEqual({ status: 200, text: '{"status":"success"}' });
    expect(server.models()).toEqual(['llama3:latest']);
    expect(await send(server, 'POST', '/api/pull', '{"model":"missing","stream":false}')).toEqual({ status: 500, text: '{"error":"pull model manifest: file does not exist"}' });
    expect(await send(server, 'DELETE', '/api/delete', '{"name":"llama3"}')).toEqual({ status: 200, text: '' });
    expect(await send(server, 'DELETE', '/api/delete', '{"model":"llama3"}')).toEqual({ status: 404, text: `{"error":"model 'llama3' not found"}` });
  });
});

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
