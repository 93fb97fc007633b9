import { afterEach, describe, expect, it, vi } from 'vitest';
import { inventedResources, narrate, narrativePrompt, type NarrativeConfig } from '../../reconciler/narrative/index.js';
import { MAX_PROMPT_CHARS } from '../../reconciler/narrative/narrate.js';
import { buildPlan, type Plan, type ResourceChange } from '../../reconciler/plan/plan.js';
import { planDataOf, startLlmServer, type LlmServerOptions, type LlmTestServer } from './server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

async function llm(options: LlmServerOptions = {}): Promise<LlmTestServer> {
  const server = await startLlmServer(options);
  cleanups.push(() => server.close());
  return server;
}

const KEY = 'sk-test-0123456789abcdefghijklmnop';
const MODEL = 'fleetspec-test';
/** Planted where a `secret:` reference belongs; neither may reach the LLM. */
const LEAKED_KEY = `sk-or-v1-${'a1b2c3d4'.repeat(8)}`;
const LEAKED_PASSWORD = 'correct-horse-battery-staple';

const config = (server: LlmTestServer, extra: Partial<NarrativeConfig> = {}): NarrativeConfig => ({ baseUrl: server.baseUrl, model: MODEL, apiKey: KEY, ...extra });

function samplePlan(): Plan {
  const changes: ResourceChange[] = [
    { kind: 'hosts', name: 'ai', action: 'update', before: { ollama: '0.12.5' }, after: { ollama: '0.12.6' }, reason: 'ollama is older than the spec asks', actions: ['upgrade ollama'] },
    { kind: 'models', name: 'qwen2.5:7b@ai', action: 'create', before: null, after: { model: 'qwen2.5:7b', host: 'ai' }, reason: 'not installed on ai: pull it' },
    { kind: 'dns', name: 'api.consilio.153.se', action: 'create', before: null, after: { zone: '153.se', type: 'CNAME', target: 'tunnel.153.se' }, reason: 'no such record' },
    {
      kind: 'roles',
      name: 'developer',
      action: 'update',
      before: { env: { OPENROUTER_API_KEY: 'secret:roles/developer/openrouter_api_key' } },
      after: { env: { OPENROUTER_API_KEY: LEAKED_KEY }, password: LEAKED_PASSWORD },
      reason: 'env differs',
      actions: ['write ~/.env'],
    },
    { kind: 'ports', name: 'consilio', action: 'no-op', before: { from: 8100 }, after: { from: 8100 }, reason: 'store matches specs' },
  ];
  return buildPlan(changes, {
    unknown: [{ kind: 'vms', name: 'build', reason: 'no connection settings' }],
    findings: [{ kind: 'hosts', name: 'ai', code: 'threshold.disk', severity: 'warning', message: 'disk 91% used (alert 90%)', hint: 'prune images' }],
  });
}

interface SentBody {
  model: string;
  temperature: number;
  max_tokens: number;
  messages: { role: string; content: string }[];
}

describe('narrate against an OpenAI-compatible contract server', () => {
  it('returns the narrative and the model for a good answer, from one request in the documented shape', async () => {
    const server = await llm({ apiKey: KEY });
    const result = await narrate(samplePlan(), config(server));

    expect(result).toMatchObject({ status: 'ok', model: MODEL });
    if (result.status !== 'ok') return;
    for (const label of ['hosts/ai', 'models/qwen2.5:7b@ai', 'dns/api.consilio.153.se', 'roles/developer', 'vms/build']) expect(result.text).toContain(`\`${label}\``);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions', bearer: 'matched' });
    expect(request!.headers['content-type']).toContain('application/json');
    expect(request!.headers).not.toHaveProperty('authorization');
    const body = request!.body as SentBody;
    expect(body).toMatchObject({ model: MODEL, temperature: 0, max_tokens: 800 });
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('sends the plan resources, leaves no-ops out, and never a secret value', async () => {
    const server = await llm({ apiKey: KEY });
    await narrate(samplePlan(), config(server));

    const sent = JSON.stringify(server.requests[0]!.body);
    expect(sent).not.toContain(LEAKED_KEY);
    expect(sent).not.toContain(LEAKED_KEY.slice(0, 24));
    expect(sent).not.toContain(LEAKED_PASSWORD);
    expect(sent).not.toContain(KEY);
    const [system, user] = (server.requests[0]!.body as SentBody).messages;
    expect(system!.content).toMatch(/as kind\/name/);
    expect(system!.content).toMatch(/plain text only, not Markdown and not HTML/);
    const data = planDataOf(user!.content) as { mode: string; changes: { kind: string; name: string; after: unknown }[]; unknown: unknown[]; findings: unknown[] };
    expect(data.mode).toBe('offline');
    expect(data.changes.map((c) => `${c.kind}/${c.name}`)).toEqual(['hosts/ai', 'models/qwen2.5:7b@ai', 'roles/developer', 'dns/api.consilio.153.se']);
    expect(data.changes.find((c) => c.kind === 'roles')!.after).toEqual({ env: { OPENROUTER_API_KEY: '[redacted]' }, password: '[redacted]' });
    expect(data.unknown).toEqual([{ kind: 'vms', name: 'build', reason: 'no connection settings' }]);
    expect(data.findings).toHaveLength(1);
    // The same payload narrativePrompt shows, when no API key is involved.
    expect(narrativePrompt(samplePlan()).user).toBe(user!.content);
  });

  it('strips a wrapping code fence from the reply', async () => {
    const server = await llm({ mode: 'good-fenced' });
    const result = await narrate(samplePlan(), config(server, { apiKey: undefined }));
    expect(result.status).toBe('ok');
    if (result.status === 'ok') expect(result.text).toMatch(/^This offline plan[\s\S]*\.$/);
  });

  it('withholds a narrative that names a resource the plan does not hold, and says which', async () => {
    const server = await llm({ apiKey: KEY, mode: 'invent' });
    const result = await narrate(samplePlan(), config(server));
    expect(result).toEqual({ status: 'withheld', reason: 'the narrative mentioned dns/evil.153.se, which is not in this plan', invented: ['dns/evil.153.se'] });
  });

  it.each(['timeout', 'timeout-body'] as const)('withholds within the bound when the server is silent (%s)', async (mode) => {
    const server = await llm({ apiKey: KEY, mode });
    const started = Date.now();
    const result = await narrate(samplePlan(), config(server, { timeoutMs: 300 }));
    const elapsed = Date.now() - started;
    expect(result).toEqual({ status: 'withheld', reason: 'the LLM did not answer within 0.3 s', timedOut: true });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2_000);
    expect(server.requests).toHaveLength(1);
  });

  it('stops when the caller cancels', async () => {
    const server = await llm({ apiKey: KEY, mode: 'timeout' });
    const started = Date.now();
    const result = await narrate(samplePlan(), config(server), { signal: AbortSignal.timeout(100) });
    expect(result).toEqual({ status: 'withheld', reason: 'the narrative was cancelled' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it.each(['garbage-json', 'garbage-empty', 'garbage-html', 'garbage-page'] as const)('withholds a reply that is not usable text (%s)', async (mode) => {
    const server = await llm({ apiKey: KEY, mode });
    expect(await narrate(samplePlan(), config(server))).toEqual({ status: 'withheld', reason: "the LLM's reply was not usable text" });
  });

  it('withholds on a server error without retrying', async () => {
    const server = await llm({ apiKey: KEY, mode: 'error500' });
    const result = await narrate(samplePlan(), config(server));
    expect(result).toEqual({ status: 'withheld', reason: `the LLM endpoint at 127.0.0.1:${server.port} failed (HTTP 500)` });
    expect(server.requests).toHaveLength(1);
  });

  it('withholds for a model the endpoint does not have', async () => {
    const server = await llm({ apiKey: KEY });
    const result = await narrate(samplePlan(), config(server, { model: 'gpt-nonexistent' }));
    expect(result.status).toBe('withheld');
    if (result.status === 'withheld') expect(result.reason).toMatch(/no model "gpt-nonexistent".*HTTP 404/);
  });

  it('withholds when nothing is configured, and says how to configure it', async () => {
    const result = await narrate(samplePlan(), undefined);
    expect(result.status).toBe('withheld');
    if (result.status === 'withheld') expect(result.reason).toMatch(/^no LLM configured \(set FLEETSPEC_LLM_/);
  });

  it('withholds without any network call when a remote endpoint has no key', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const result = await narrate(samplePlan(), { baseUrl: 'https://openrouter.ai/api/v1', model: 'anthropic/claude-sonnet-4' });
    expect(result).toEqual({ status: 'withheld', reason: 'no LLM key configured (set FLEETSPEC_LLM_API_KEY or the secret meta/llm/api_key)' });
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('sends a placeholder key to a loopback endpoint configured without one, as Ollama expects', async () => {
    const server = await llm();
    const result = await narrate(samplePlan(), config(server, { apiKey: undefined }));
    expect(result.status).toBe('ok');
    expect(server.requests[0]!.bearer).toBe('present');
    const localhost = await narrate(samplePlan(), config(server, { apiKey: undefined, baseUrl: server.baseUrl.replace('127.0.0.1', 'localhost') }));
    expect(localhost.status).toBe('ok');
  });

  it('withholds on a wrong key and keeps the key out of the reason', async () => {
    const server = await llm({ apiKey: KEY });
    const wrongKey = 'sk-wrong-9876543210zyxwvutsrqponmlk';
    const result = await narrate(samplePlan(), config(server, { apiKey: wrongKey }));
    expect(result).toEqual({ status: 'withheld', reason: `the LLM endpoint at 127.0.0.1:${server.port} refused the API key (HTTP 401)` });
    expect(JSON.stringify(result)).not.toContain(wrongKey.slice(-4));
    expect(server.requests[0]!.bearer).toBe('wrong');
  });

  it('cuts a large plan to the prompt limit and says how many changes were left out', async () => {
    const changes: ResourceChange[] = Array.from({ length: 600 }, (_, i) => ({
      kind: 'tickets',
      name: `T-${String(i).padStart(4, '0')}`,
      action: 'create',
      before: null,
      after: { title: `ticket number ${i} with a long enough title to take some room in the prompt` },
      reason: 'new ticket',
    }));
    const plan = buildPlan(changes);
    const server = await llm({ apiKey: KEY });
    const result = await narrate(plan, config(server));

    const user = (server.requests[0]!.body as SentBody).messages[1]!.content;
    expect(user.length).toBeLessThanOrEqual(MAX_PROMPT_CHARS);
    const data = planDataOf(user) as { changes: unknown[]; leftOut: { changes: number } };
    expect(data.changes.length).toBeGreaterThan(100);
    expect(data.changes.length + data.leftOut.changes).toBe(600);
    expect(result.status).toBe('ok');
  });
});

describe('the contract server itself', () => {
  it('refuses unknown fields, mistyped fields and missing keys in OpenAI error shape, and lists its models', async () => {
    const server = await llm({ apiKey: KEY });
    const post = (body: unknown, key: string | null = KEY) =>
      fetch(`${server.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      });
    const messages = [{ role: 'user', content: 'hi' }];

    const unknown = await post({ model: MODEL, messages, top_k: 3 });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ error: { message: 'Unrecognized request argument supplied: top_k', type: 'invalid_request_error', param: null, code: null } });
    const mistyped = await post({ model: MODEL, messages, temperature: 'cold' });
    expect(mistyped.status).toBe(400);
    expect(await mistyped.json()).toMatchObject({ error: { param: 'temperature', code: 'invalid_type' } });
    const parts = await post({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] });
    expect(parts.status).toBe(400);
    const anonymous = await post({ model: MODEL, messages }, null);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { type: 'invalid_request_error' } });

    const listed = await fetch(`${server.baseUrl}/models`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(await listed.json()).toEqual({ object: 'list', data: [{ id: MODEL, object: 'model', created: expect.any(Number), owned_by: 'fleetspec-test' }] });
  });
});

describe('inventedResources', () => {
  const plan = samplePlan();

  it('passes resources the plan holds, with trailing punctuation and in backticks', () => {
    expect(inventedResources('`hosts/ai` upgrades Ollama; see hosts/ai. Then `models/qwen2.5:7b@ai`, and `vms/build`: not read.', plan)).toEqual([]);
    expect(inventedResources('`ports/consilio` is unchanged.', plan)).toEqual([]);
  });

  it('ignores slashes between words that are not kind folders, and kinds named together', () => {
    expect(inventedResources('Review and/or approve; the hosts/vms split is unchanged; read specs/hosts/ai.yaml.', plan)).toEqual([]);
  });

  it('passes domain names that are plan names, parts of values, or their parent zones', () => {
    expect(inventedResources('`dns/api.consilio.153.se` points at tunnel.153.se in the 153.se zone.', plan)).toEqual([]);
  });

  it('lists invented resources and domain names, sorted, once each', () => {
    const text = '`hosts/ghost` and `dns/evil.153.se` move to files.example.com; `hosts/ghost` again, and dns/evil.153.se.';
    expect(inventedResources(text, plan)).toEqual(['dns/evil.153.se', 'files.example.com', 'hosts/ghost']);
  });

  it('does not accept a longer name that starts with a planned one', () => {
    expect(inventedResources('`models/qwen2.5:7b@ai2` and `dns/api.consilio.153.se.evil.net`', plan)).toEqual(['dns/api.consilio.153.se.evil.net', 'models/qwen2.5:7b@ai2']);
  });

  it('passes a kind/name the plan quotes in a reason or message', () => {
    const withDependency = buildPlan([{ kind: 'dns', name: 'web.153.se', action: 'create', before: null, after: {}, reason: 'routes to ports/consilio' }]);
    expect(inventedResources('`dns/web.153.se` routes to `ports/consilio`.', withDependency)).toEqual([]);
    expect(inventedResources('`dns/web.153.se` routes to `ports/other`.', withDependency)).toEqual(['ports/other']);
    const quoting = buildPlan([{ kind: 'ports', name: 'consilio', action: 'update', before: null, after: {}, reason: 'serves dns/web.153.se' }]);
    expect(inventedResources('`ports/consilio` serves `dns/web.153.se`.', quoting)).toEqual([]);
    expect(inventedResources('`ports/consilio` serves `dns/web`.', quoting)).toEqual(['dns/web']);
  });
});
