// The llama.cpp client against a local server that follows llama-server's documented /v1/models
// and /props, and the rule that decides whether the server serves a spec's model. The end-to-end
// read through a real SSH forward is in test/kinds/windows.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaCppError, llamaCppClient, llamaCppModelName, servesModel } from '../../reconciler/kinds/models/llamacpp.js';
import { startLlamaCppServer, type LlamaCppTestServer } from './server.js';

describe('llama.cpp client', () => {
  let server: LlamaCppTestServer;
  const client = () => llamaCppClient({ baseUrl: server.url, timeoutMs: 10_000 });

  beforeAll(async () => {
    server = await startLlamaCppServer({ modelPath: 'C:\\models\\qwen2.5-1.5b-instruct-q4_k_m.gguf' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reads the model a server was started with, by path and by alias, and its props', async () => {
    server.set({ alias: undefined, loading: false, failWith: undefined, modelsBody: undefined });
    const models = await client().models();
    expect(models).toEqual([{ id: 'C:\\models\\qwen2.5-1.5b-instruct-q4_k_m.gguf', loading: false, sizeBytes: 1065000000 }]);
    const props = await client().props();
    expect(props).toEqual({ modelPath: 'C:\\models\\qwen2.5-1.5b-instruct-q4_k_m.gguf', totalSlots: 1, contextSize: 4096, buildInfo: 'b6550-1a2b3c4d' });
    expect(servesModel('qwen2.5-1.5b-instruct-q4_k_m', models, props)).toBe(true);
    expect(servesModel('qwen2.5-1.5b-q4_k_m', models, props)).toBe(false);

    server.set({ alias: 'qwen2.5-1.5b-q4_k_m' });
    const aliased = await client().models();
    expect(aliased.map((m) => m.id)).toEqual(['qwen2.5-1.5b-q4_k_m']);
    expect(servesModel('qwen2.5-1.5b-q4_k_m', aliased, await client().props())).toBe(true);
    expect(server.requests.every((r) => r.method === 'GET' && (r.path === '/v1/models' || r.path === '/props'))).toBe(true);
  });

  it('names a model by its file: no directories of either slash, no .gguf, no split suffix, lower-case', () => {
    expect(llamaCppModelName('C:\\models\\Qwen2.5-1.5B-Q4_K_M.gguf')).toBe('qwen2.5-1.5b-q4_k_m');
    expect(llamaCppModelName('../models/big-model-q8_0-00001-of-00003.gguf')).toBe('big-model-q8_0');
    expect(llamaCppModelName('qwen2.5-1.5b-q4_k_m')).toBe('qwen2.5-1.5b-q4_k_m');
  });

  it('reports a model still loading (meta null) and a 503 with its message as an excerpt and a hint', async () => {
    server.set({ alias: undefined, loading: true, failWith: undefined });
    expect(await client().models()).toEqual([{ id: 'C:\\models\\qwen2.5-1.5b-instruct-q4_k_m.gguf', loading: true }]);
    server.set({ failWith: { status: 503, body: JSON.stringify({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } }), contentType: 'application/json' } });
    const err = await client().models().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlamaCppError);
    expect((err as LlamaCppError).message).toMatch(/GET \/v1\/models: HTTP 503: `Loading model`$/);
    expect((err as LlamaCppError).hint).toMatch(/still loading/);
  });

  it('refuses what is not llama.cpp: HTML, a body without data, a huge body; the far end is quoted only as an escaped excerpt', async () => {
    server.set({ loading: false, failWith: { status: 200, body: '<html><script>alert(1)</script>\u001b[31m' + 'x'.repeat(5000), contentType: 'text/html' } });
    const html = (await client().models().catch((e: unknown) => e)) as LlamaCppError;
    expect(html.message).toMatch(/not JSON/);
    expect(html.remote).toBeDefined();
    expect(html.remote!.length).toBeLessThanOrEqual(120);
    expect(html.message).not.toMatch(/<script>|\u001b/);

    server.set({ failWith: undefined, modelsBody: { object: 'list', models: [] } });
    expect(((await client().models().catch((e: unknown) => e)) as Error).message).toMatch(/without a "data" list/);

    server.set({ modelsBody: { object: 'list', data: Array.from({ length: 300 }, (_, i) => ({ id: `m${i}` })) } });
    expect(((await client().models().catch((e: unknown) => e)) as Error).message).toMatch(/listed 300 models \(at most 256 are read\)/);

    server.set({ modelsBody: undefined, failWith: { status: 200, body: JSON.stringify({ object: 'list', data: [{ id: 'x'.repeat(3 * 1024 * 1024) }] }), contentType: 'application/json' } });
    expect(((await client().models().catch((e: unknown) => e)) as Error).message).toMatch(/more than 2097152 bytes/);
    server.set({ failWith: undefined });
  });

  it('has nothing but reads: the client offers no call that changes the server', () => {
    expect(Object.keys(client()).sort()).toEqual(['models', 'props']);
  });
});
