// A local server that answers like an OpenAI-compatible API for POST /v1/chat/completions and
// GET /v1/models, and nothing else. Shapes: the OpenAI API reference, "Create chat completion"
// (request body, the chat.completion object) and "List models"; error bodies are
// {error: {message, type, param, code}} with the texts api.openai.com sends ("Unrecognized request
// argument supplied: x", "Incorrect API key provided: sk-ab***1234", code model_not_found).
// Stricter than the reference on purpose: only the fields fleetspec may send are accepted, streaming
// is refused, and message content must be a string, so the client cannot drift unnoticed.
// `mode` decides the answer and can change between calls: a narrative built from the prompt's JSON,
// an invented resource, a scripted reply, silence, a stalled body, garbage, or a 500. `holding`
// keeps chat completions waiting until the test releases them, and the server counts how many
// wait at once, so a test can see a client's concurrency without timing it.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KINDS } from '../../reconciler/kinds/index.js';
import { PLAN_DATA_BEGIN, PLAN_DATA_END } from '../../reconciler/narrative/narrate.js';
import { readBody } from '../http-body.js';

export type LlmMode =
  /** A narrative naming exactly the resources in the prompt's JSON as `kind/name`. */
  | 'good'
  /** The good narrative wrapped in a ```markdown fence, as some models answer. */
  | 'good-fenced'
  /** The good narrative plus `dns/evil.153.se`, which no plan holds. */
  | 'invent'
  /** Reads the request and never answers. */
  | 'timeout'
  /** Sends 200 and the headers and the first bytes of the body, then stalls. */
  | 'timeout-body'
  /** 200 application/json whose body is not JSON. */
  | 'garbage-json'
  /** A well-formed completion whose message content is null. */
  | 'garbage-empty'
  /** A well-formed completion whose message content is an HTML page. */
  | 'garbage-html'
  /** 200 text/html: a captive portal or proxy page instead of the API. */
  | 'garbage-page'
  /** OpenAI's 500 server_error. */
  | 'error500'
  /** Whatever `reply` says: a fixed text, or one made from the request (and the good narrative). */
  | 'scripted';

/** What a scripted reply sees of the request. */
export interface ScriptContext {
  system: string;
  user: string;
  /** The JSON between the data markers, parsed; undefined when it is not there. */
  data: unknown;
  /** What mode 'good' would answer. */
  good: string;
  /** The request's response_format, when it asked for one (structured output: `{ type: 'json_schema', json_schema: { name, strict, schema } }`). */
  responseFormat?: ResponseFormat;
  /** How many chat completions the server has answered in mode 'scripted' before this one (0 for the first). */
  turn: number;
}

/** The response_format of a chat completion request, as the reference documents it. */
export type ResponseFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; json_schema: { name: string; description?: string; strict?: boolean | null; schema?: Record<string, unknown> } };

export type Script = string | ((request: ScriptContext) => string);

export interface LlmServerOptions {
  host?: string;
  /** Required as `Authorization: Bearer <key>` when set; any bearer is accepted when not. */
  apiKey?: string;
  /** Model ids the server has; others are a 404 model_not_found. Default ['fleetspec-test']. */
  models?: string[];
  mode?: LlmMode;
  /** The answer in mode 'scripted'; setting it on the server also sets the mode. */
  reply?: Script;
}

export interface RecordedLlmRequest {
  method: string;
  path: string;
  /** Lowercased, without `authorization`. */
  headers: Record<string, string>;
  /** How the request authenticated: no header, the server's key, another key, or any key when the server has none. */
  bearer: 'missing' | 'matched' | 'wrong' | 'present';
  /** Parsed JSON, the raw text when it does not parse, or undefined when empty. */
  body: unknown;
}

export interface LlmTestServer {
  /** The API root to give a client as its base URL: http://127.0.0.1:<port>/v1. */
  baseUrl: string;
  port: number;
  mode: LlmMode;
  /** Setting it switches to mode 'scripted'. */
  reply: Script | undefined;
  requests: RecordedLlmRequest[];
  /** While true, each chat completion waits, unanswered, until release(); `mode` decides its answer then. */
  holding: boolean;
  /** Answers the chat completions held now whose client is still there, oldest first: all of them, or the first `count`; returns how many. */
  release(count?: number): number;
  /** Chat completions received and not yet answered, whose client has not gone away. */
  readonly inFlight: number;
  /** The most chat completions ever in flight at once. */
  readonly maxInFlight: number;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const KIND_FOLDERS = KINDS.map((k) => k.folder);
const CREATED = 1_700_000_000;

type Check = (value: unknown) => boolean;
const isNumberIn = (min: number, max: number): Check => (v) => v === null || (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max);
const isPositiveInteger: Check = (v) => v === null || (Number.isInteger(v) && (v as number) >= 1);
/** The request fields fleetspec may send, and what each must be (null is "not given" in the reference). */
const CHAT_FIELDS: Record<string, { check: Check; expected: string }> = {
  model: { check: (v) => typeof v === 'string' && v !== '', expected: 'a string' },
  messages: { check: Array.isArray, expected: 'an array' },
  temperature: { check: isNumberIn(0, 2), expected: 'a decimal between 0 and 2' },
  max_tokens: { check: isPositiveInteger, expected: 'an integer' },
  max_completion_tokens: { check: isPositiveInteger, expected: 'an integer' },
  stream: { check: (v) => v === null || v === false, expected: 'false (this server does not stream)' },
  response_format: { check: (v) => v === null || responseFormatProblem(v) === undefined, expected: "{ type: 'text' | 'json_object' } or { type: 'json_schema', json_schema: { name, strict, schema } }" },
};

/**
 * Why a response_format is not one the API takes, or undefined. With `strict: true`, the schema
 * must be of the subset structured outputs supports: every object lists all its properties as
 * required and sets additionalProperties: false (the reference's "Supported schemas").
 */
export function responseFormatProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, unknown>;
  if (v['type'] === 'text' || v['type'] === 'json_object') return Object.keys(v).length === 1 ? undefined : 'unexpected fields';
  if (v['type'] !== 'json_schema') return 'unknown type';
  const js = v['json_schema'] as Record<string, unknown> | undefined;
  if (typeof js !== 'object' || js === null) return 'json_schema missing';
  if (typeof js['name'] !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(js['name'])) return 'json_schema.name must be 1-64 letters, digits, _ or -';
  for (const key of Object.keys(js)) if (!['name', 'description', 'strict', 'schema'].includes(key)) return `json_schema.${key} is unknown`;
  if (js['strict'] !== true) return undefined;
  const strictProblem = (node: unknown, at: string): string | undefined => {
    if (typeof node !== 'object' || node === null) return undefined;
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) {
        const p = strictProblem(item, `${at}[${i}]`);
        if (p) return p;
      }
      return undefined;
    }
    const n = node as Record<string, unknown>;
    const props = n['properties'];
    if (props && typeof props === 'object') {
      if (n['additionalProperties'] !== false) return `${at}: additionalProperties must be false in strict mode`;
      const required = Array.isArray(n['required']) ? (n['required'] as unknown[]) : [];
      const missing = Object.keys(props).filter((k) => !required.includes(k));
      if (missing.length) return `${at}: all properties must be required in strict mode (missing ${missing.join(', ')})`;
    }
    for (const [k, child] of Object.entries(n)) {
      const p = strictProblem(child, `${at}.${k}`);
      if (p) return p;
    }
    return undefined;
  };
  return strictProblem(js['schema'], 'schema');
}
const ROLES = new Set(['developer', 'system', 'user', 'assistant']);
const MESSAGE_FIELDS = new Set(['role', 'content', 'name']);

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

const invalid = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', param, code);

export async function startLlmServer(options: LlmServerOptions = {}): Promise<LlmTestServer> {
  const host = options.host ?? '127.0.0.1';
  const models = options.models ?? ['fleetspec-test'];
  const requests: RecordedLlmRequest[] = [];
  let turn = 0;
  const state: { mode: LlmMode; reply: Script | undefined } = { mode: options.mode ?? (options.reply !== undefined ? 'scripted' : 'good'), reply: options.reply };
  let holding = false;
  const held: { res: ServerResponse; request: ChatRequest; closed: boolean }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer((req, res) => {
    readBody(req, MAX_REQUEST_BYTES, () => invalid('The request body is too large.'))
      .then((raw) => {
        const path = new URL(req.url ?? '/', 'http://llm').pathname;
        const method = req.method ?? 'GET';
        const body = parseJson(raw);
        const bearer = bearerOf(req.headers);
        requests.push({
          method,
          path,
          headers: recordedHeaders(req.headers),
          bearer: bearer === undefined ? 'missing' : options.apiKey === undefined ? 'present' : bearer === options.apiKey ? 'matched' : 'wrong',
          body: body.ok ? body.value : raw,
        });
        const route = `${method} ${path}`;
        if (route !== 'POST /v1/chat/completions' && route !== 'GET /v1/models') {
          throw new ApiError(404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
        }
        authenticate(bearer);
        if (route === 'GET /v1/models') {
          return json(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'fleetspec-test' })) });
        }
        if (!body.ok) throw invalid('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload.)');
        const request = chatRequest(body.value);
        if (!models.includes(request.model)) throw new ApiError(404, `The model \`${request.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', null, 'model_not_found');
        // In flight until answered or its client goes away ('close' is both).
        const call = { res, request, closed: false };
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        res.once('close', () => {
          inFlight--;
          call.closed = true;
        });
        if (holding) return void held.push(call);
        return answer(res, request);
      })
      .catch((error: unknown) => {
        if (res.headersSent) return void res.destroy();
        if (error instanceof ApiError) return json(res, error.status, { error: { message: error.message, type: error.type, param: error.param, code: error.code } });
        json(res, 500, { error: { message: error instanceof Error ? error.message : String(error), type: 'server_error', param: null, code: null } });
      });
  });

  function authenticate(bearer: string | undefined): void {
    if (options.apiKey === undefined) return;
    if (bearer === undefined) {
      throw new ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        'invalid_request_error',
      );
    }
    if (bearer !== options.apiKey) {
      const masked = bearer.length > 8 ? `${bearer.slice(0, 3)}${'*'.repeat(Math.min(20, bearer.length - 7))}${bearer.slice(-4)}` : '***';
      throw new ApiError(401, `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key');
    }
  }

  function answer(res: ServerResponse, request: ChatRequest): void {
    const mode = state.mode;
    switch (mode) {
      case 'timeout':
        return;
      case 'timeout-body':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"id":"chatcmpl-stall","object":"chat.completion",');
        return;
      case 'garbage-json':
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"id":"chatcmpl-broken","choices":[{"message":{"content":"The plan');
        return;
      case 'garbage-page':
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Sign in to continue</form></body></html>');
        return;
      case 'error500':
        throw new ApiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error');
      case 'garbage-empty':
        return json(res, 200, completion(request, null));
      case 'garbage-html':
        return json(res, 200, completion(request, '<!DOCTYPE html>\n<html><body><h1>Plan</h1><p>Everything changes.</p></body></html>'));
      case 'scripted': {
        const user = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
        const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
        const context: ScriptContext = { system, user, data: planDataOf(user), good: narrativeFor(request), turn: turn++, ...(request.responseFormat ? { responseFormat: request.responseFormat } : {}) };
        const reply = typeof state.reply === 'function' ? state.reply(context) : (state.reply ?? '');
        return json(res, 200, completion(request, reply));
      }
      case 'good':
      case 'good-fenced':
      case 'invent': {
        const text = narrativeFor(request);
        if (mode === 'good') return json(res, 200, completion(request, text));
        if (mode === 'good-fenced') return json(res, 200, completion(request, `\`\`\`markdown\n${text}\n\`\`\``));
        return json(res, 200, completion(request, `${text}\n\nIt also points \`dns/evil.153.se\` at the tunnel.`));
      }
    }
  }

  /** A held request answered as it would have been when it came: errors of the mode become their API error bodies. */
  function answerHeld(res: ServerResponse, request: ChatRequest): void {
    try {
      answer(res, request);
    } catch (error) {
      if (res.headersSent) return void res.destroy();
      if (error instanceof ApiError) return json(res, error.status, { error: { message: error.message, type: error.type, param: error.param, code: error.code } });
      json(res, 500, { error: { message: error instanceof Error ? error.message : String(error), type: 'server_error', param: null, code: null } });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    port,
    get mode() {
      return state.mode;
    },
    set mode(mode: LlmMode) {
      state.mode = mode;
    },
    get reply() {
      return state.reply;
    },
    set reply(reply: Script | undefined) {
      state.reply = reply;
      state.mode = 'scripted';
    },
    requests,
    get holding() {
      return holding;
    },
    set holding(value: boolean) {
      holding = value;
    },
    release(count = Infinity) {
      const open = held.splice(0).filter((h) => !h.closed);
      const waiting = open.slice(0, count);
      held.push(...open.slice(waiting.length));
      for (const h of waiting) answerHeld(h.res, h.request);
      return waiting.length;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  max: number | undefined;
  responseFormat?: ResponseFormat;
}

/** Checks a body as the reference documents it, refusing fields fleetspec has no business sending. */
function chatRequest(value: unknown): ChatRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('The request body must be a JSON object.');
  const body = value as Record<string, unknown>;
  for (const [key, field] of Object.entries(body)) {
    const spec = CHAT_FIELDS[key];
    if (spec === undefined) throw invalid(`Unrecognized request argument supplied: ${key}`);
    if (!spec.check(field)) throw invalid(`Invalid type for '${key}': expected ${spec.expected}, but got ${JSON.stringify(field)} instead.`, key, 'invalid_type');
  }
  for (const required of ['model', 'messages']) {
    if (body[required] === undefined) throw invalid(`Missing required parameter: '${required}'.`, required, 'missing_required_parameter');
  }
  if (body['max_tokens'] != null && body['max_completion_tokens'] != null) throw invalid('max_tokens and max_completion_tokens cannot both be set.', 'max_tokens');
  const messages = body['messages'] as unknown[];
  if (messages.length === 0) throw invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  messages.forEach((message, i) => {
    const param = `messages[${i}]`;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) throw invalid(`Invalid type for '${param}': expected an object.`, param, 'invalid_type');
    for (const key of Object.keys(message)) {
      if (!MESSAGE_FIELDS.has(key)) throw invalid(`Unrecognized request argument supplied: ${param}.${key}`, `${param}.${key}`);
    }
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) throw invalid(`Invalid value: '${String(role)}'. Supported values are: 'system', 'assistant', 'user', 'developer'.`, `${param}.role`, 'invalid_value');
    if (typeof content !== 'string') throw invalid(`Invalid type for '${param}.content': expected a string.`, `${param}.content`, 'invalid_type');
  });
  return {
    model: body['model'] as string,
    messages: messages as ChatRequest['messages'],
    max: (body['max_completion_tokens'] ?? body['max_tokens'] ?? undefined) as number | undefined,
    ...(body['response_format'] ? { responseFormat: body['response_format'] as ResponseFormat } : {}),
  };
}

function completion(request: ChatRequest, content: string | null) {
  const promptTokens = Math.ceil(request.messages.reduce((n, m) => n + m.content.length, 0) / 4);
  const completionTokens = Math.ceil((content ?? '').length / 4);
  return {
    id: `chatcmpl-${randomBytes(12).toString('hex')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    service_tier: 'default',
    system_fingerprint: null,
  };
}

/** A narrative naming each `kind/name` the prompt's JSON holds, once per section; nothing else. */
function narrativeFor(request: ChatRequest): string {
  const user = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const data = planDataOf(user);
  const plan = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const entries = (list: unknown) =>
    (Array.isArray(list) ? list : []).filter(
      (e): e is Record<string, unknown> => typeof e === 'object' && e !== null && KIND_FOLDERS.includes(String((e as Record<string, unknown>)['kind'])) && typeof (e as Record<string, unknown>)['name'] === 'string',
    );
  const label = (e: Record<string, unknown>) => `\`${String(e['kind'])}/${String(e['name'])}\``;
  const changes = entries(plan['changes']);
  const findings = entries(plan['findings']);
  const unknown = entries(plan['unknown']);
  const paragraphs = [
    changes.length
      ? `This ${String(plan['mode'] ?? '')} plan touches ${changes.length} resource${changes.length === 1 ? '' : 's'}: ${changes.map((c) => `${label(c)} will see a ${String(c['action'])}`).join('; ')}.`
      : 'This plan changes nothing that the reviewer needs to act on.',
  ];
  if (findings.length) paragraphs.push(`Worth a look before merging: ${findings.map((f) => `${label(f)} has a ${String(f['severity'])} finding`).join('; ')}.`);
  if (unknown.length) paragraphs.push(`These were not read, so the plan says nothing about them: ${unknown.map(label).join(', ')}.`);
  return paragraphs.join('\n\n');
}

/** The JSON between the data marker lines of a user message, parsed; undefined without both markers or valid JSON. */
export function planDataOf(user: string): unknown {
  const begin = user.indexOf(`${PLAN_DATA_BEGIN}\n`);
  const end = user.indexOf(`\n${PLAN_DATA_END}`);
  if (begin < 0 || end < begin) return undefined;
  const parsed = parseJson(user.slice(begin + PLAN_DATA_BEGIN.length + 1, end));
  return parsed.ok ? parsed.value : undefined;
}

function bearerOf(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return match?.[1]?.trim();
}

function recordedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'authorization' || value === undefined) continue;
    kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

function parseJson(raw: string): { ok: true; value: unknown } | { ok: false } {
  if (raw.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    return { ok: false };
  }
}


function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
