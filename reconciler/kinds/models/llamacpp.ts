// A read-only client for the two llama.cpp server endpoints the models kind reads, as
// ggml-org/llama.cpp tools/server/README.md documents them:
//   GET /v1/models  {"object":"list","data":[{"id": <the -m path, or --alias>, "object":"model",
//                   "owned_by":"llamacpp","created":..., "meta": {...} | null (while loading)}]}
//   GET /props      {"model_path": <the -m path>, "total_slots": n, "build_info": "b...",
//                   "default_generation_settings": {"n_ctx": n, ...}, "chat_template": ...}
// Errors are {"error": {"code", "message", "type"}}; 503 while the model loads. It has no method
// that changes anything: llama.cpp loads the file it was started with, fleetspec only reports.
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { remoteExcerpt } from '../../remote-text.js';

export interface LlamaCppModel {
  /** The model path the server was started with (-m), or its --alias: the server's text, unchecked. */
  id: string;
  /** meta is null while the model is still loading. */
  loading: boolean;
  /** meta.size in bytes, when given. */
  sizeBytes?: number;
}

export interface LlamaCppProps {
  modelPath?: string;
  totalSlots?: number;
  contextSize?: number;
  buildInfo?: string;
}

export interface LlamaCppClient {
  models(): Promise<LlamaCppModel[]>;
  props(): Promise<LlamaCppProps>;
}

export interface LlamaCppClientOptions {
  /** http://host:port; with connect it gives only the Host header. */
  baseUrl: string;
  /** Each request goes over a fresh stream from here, such as an SSH port forward. */
  connect?: () => Promise<Duplex>;
  /** Longest wait for an answer, per request; default 15 s. */
  timeoutMs?: number;
}

/** A failed llama.cpp call; the far end's words only as remoteExcerpt's excerpt (`remote`). */
export class LlamaCppError extends Error {
  readonly status?: number;
  readonly hint?: string;
  readonly remote?: string;

  constructor(message: string, options: { status?: number; hint?: string; remote?: string } = {}) {
    super(message);
    this.name = 'LlamaCppError';
    if (options.status !== undefined) this.status = options.status;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.remote !== undefined) this.remote = options.remote;
  }
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** /props carries the chat template (kilobytes); anything near this is not llama.cpp. */
const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** One model in single-model mode; a router lists its models, a handful. */
const MAX_MODELS = 256;
/** A model id longer than this is refused: a path or alias is short. */
const MAX_ID = 4096;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function llamaCppClient(options: LlamaCppClientOptions): LlamaCppClient {
  const base = new URL(options.baseUrl);
  if (base.protocol !== 'http:') throw new LlamaCppError(`llama.cpp baseUrl ${base.origin} is not http://`, { hint: 'reach llama-server through the SSH forward to its loopback port' });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const where = options.connect ? `${base.host} (over the SSH forward)` : base.host;

  function getJson(path: string): Promise<unknown> {
    const label = `GET ${path}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      let stream: Duplex | undefined;
      let req: ReturnType<typeof request> | undefined;
      const fail = (error: LlamaCppError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
        req?.destroy();
        stream?.destroy();
      };
      const done = (value: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
        stream?.destroy();
      };
      const timer = setTimeout(
        () => fail(new LlamaCppError(`llama.cpp at ${where} did not answer ${label} within ${timeoutMs} ms`, { hint: 'is llama-server running and listening on that port? it may still be loading the model' })),
        timeoutMs,
      );
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > MAX_BODY_BYTES) fail(new LlamaCppError(`llama.cpp at ${where} answered ${label} with more than ${MAX_BODY_BYTES} bytes`, { hint: 'is it llama-server on that port?' }));
          else chunks.push(chunk);
        });
        res.on('error', (e) => fail(new LlamaCppError(`${label} to llama.cpp at ${where} failed: ${e.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          if (status < 200 || status > 299) {
            const said = isRecord(body) && isRecord(body['error']) && typeof body['error']['message'] === 'string' ? body['error']['message'] : text;
            const remote = remoteExcerpt(said, 160);
            const hint = status === 503 ? 'llama-server is still loading the model: plan again when it is up' : status === 404 ? 'is it llama-server on that port? these endpoints are llama.cpp\'s' : undefined;
            return fail(new LlamaCppError(`llama.cpp at ${where}: ${label}: HTTP ${status}: ${remote}`, { status, remote, ...(hint ? { hint } : {}) }));
          }
          if (body === undefined) {
            const remote = remoteExcerpt(text, 120);
            return fail(new LlamaCppError(`llama.cpp at ${where} answered ${label} with something that is not JSON: ${remote}`, { remote, hint: 'is it llama-server on that port?' }));
          }
          done(body);
        });
      };
      const start = (connection: Duplex | undefined) => {
        if (settled) {
          connection?.destroy();
          return;
        }
        stream = connection;
        req = request({
          method: 'GET',
          host: base.hostname,
          port: base.port === '' ? 80 : Number(base.port),
          path,
          headers: { Host: base.host, Accept: 'application/json' },
          ...(connection ? { createConnection: () => connection } : { agent: false }),
        });
        req.on('error', (e) => fail(new LlamaCppError(`${label} to llama.cpp at ${where} failed: ${e.message}`, { hint: 'is llama-server running on that port?' })));
        req.on('response', onResponse);
        req.end();
      };
      if (options.connect) options.connect().then(start, (e: unknown) => fail(new LlamaCppError(`could not reach llama.cpp at ${where}: ${e instanceof Error ? e.message : String(e)}`, { hint: 'is llama-server running and listening on that port on the host?' })));
      else start(undefined);
    });
  }

  const unexpected = (label: string, what: string, value: unknown) => {
    const remote = remoteExcerpt(JSON.stringify(value) ?? String(value), 120);
    return new LlamaCppError(`llama.cpp at ${where} answered ${label} without ${what}: ${remote}`, { remote, hint: 'is it llama-server on that port, and a recent build?' });
  };

  return {
    async models() {
      const body = await getJson('/v1/models');
      if (!isRecord(body) || !Array.isArray(body['data'])) throw unexpected('GET /v1/models', 'a "data" list', body);
      const data = body['data'];
      if (data.length > MAX_MODELS) throw new LlamaCppError(`llama.cpp at ${where} listed ${data.length} models (at most ${MAX_MODELS} are read)`);
      return data.map((m) => {
        if (!isRecord(m) || typeof m['id'] !== 'string' || m['id'] === '' || m['id'].length > MAX_ID) throw unexpected('GET /v1/models', 'an "id" on each model', m);
        const meta = m['meta'];
        const size = isRecord(meta) && typeof meta['size'] === 'number' && Number.isSafeInteger(meta['size']) && meta['size'] >= 0 ? meta['size'] : undefined;
        return { id: m['id'], loading: meta === null, ...(size === undefined ? {} : { sizeBytes: size }) };
      });
    },
    async props() {
      const body = await getJson('/props');
      if (!isRecord(body)) throw unexpected('GET /props', 'an object', body);
      const str = (v: unknown) => (typeof v === 'string' && v.length <= MAX_ID ? v : undefined);
      const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
      const settings = isRecord(body['default_generation_settings']) ? body['default_generation_settings'] : {};
      const out: LlamaCppProps = {};
      const modelPath = str(body['model_path']);
      const totalSlots = int(body['total_slots']);
      const contextSize = int(settings['n_ctx']);
      const buildInfo = str(body['build_info']);
      if (modelPath !== undefined) out.modelPath = modelPath;
      if (totalSlots !== undefined) out.totalSlots = totalSlots;
      if (contextSize !== undefined) out.contextSize = contextSize;
      if (buildInfo !== undefined) out.buildInfo = buildInfo;
      return out;
    },
  };
}

/**
 * The name a model id or path gives: its file name without directories (either slash) and
 * without .gguf or a split's -00001-of-00003, lower-case. "C:\\models\\Qwen2.5-1.5B-Q4_K_M.gguf"
 * is "qwen2.5-1.5b-q4_k_m".
 */
export function llamaCppModelName(idOrPath: string): string {
  const file = idOrPath.trim().split(/[\\/]/).pop() ?? '';
  return file.replace(/\.gguf$/i, '').replace(/-\d{5}-of-\d{5}$/, '').toLowerCase();
}

/** Whether the server serves the spec's model: its id (path or alias) or model_path names it. */
export function servesModel(specName: string, models: readonly LlamaCppModel[], props: LlamaCppProps): boolean {
  const want = llamaCppModelName(specName);
  return [...models.map((m) => m.id), ...(props.modelPath ? [props.modelPath] : [])].some((id) => llamaCppModelName(id) === want);
}
