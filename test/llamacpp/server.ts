// A local server that answers like llama.cpp's llama-server for the read-only endpoints fleetspec
// uses, shaped as ggml-org/llama.cpp tools/server/README.md documents them:
//   GET /health     {"status":"ok"}, or 503 {"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}
//   GET /v1/models  {"object":"list","data":[{"id":<-m path or --alias>,"object":"model","created":...,
//                   "owned_by":"llamacpp","meta":{...} or null while loading}]} (one element)
//   GET /props      {"default_generation_settings":{"n_ctx":...,...},"total_slots":1,"model_path":...,
//                   "chat_template":"...","modalities":{"vision":false},"build_info":"b...","is_sleeping":false}
// Anything else is a 404 {"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}.
// Every request is recorded, so a test can show that nothing but these GETs ever reached it.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlamaCppServerOptions {
  host?: string;
  /** The -m path the server was started with. */
  modelPath: string;
  /** --alias: then /v1/models' id is this instead of the path. */
  alias?: string;
  /** meta is null and /health answers 503 (the model is loading). */
  loading?: boolean;
  /** Every request is answered with this instead (recorded all the same): a broken or hostile server on llama.cpp's port. */
  failWith?: { status: number; body: string; contentType?: string };
  /** /props answers 404, as on builds without it. */
  noProps?: boolean;
  /** Replaces the /v1/models body (hostile shapes). */
  modelsBody?: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
}

export interface LlamaCppTestServer {
  url: string;
  host: string;
  port: number;
  requests: RecordedRequest[];
  /** Changes what the server serves, as a restart of llama-server with other arguments would. */
  set(options: Partial<LlamaCppServerOptions>): void;
  close(): Promise<void>;
}

export const LLAMACPP_TEST_BUILD = 'b6550-1a2b3c4d';

export async function startLlamaCppServer(options: LlamaCppServerOptions): Promise<LlamaCppTestServer> {
  let current: LlamaCppServerOptions = { ...options };
  const requests: RecordedRequest[] = [];
  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const error = (res: ServerResponse, code: number, message: string, type: string) => json(res, code, { error: { code, message, type } });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ method: req.method ?? '', path });
    req.resume();
    if (current.failWith) {
      res.writeHead(current.failWith.status, { 'Content-Type': current.failWith.contentType ?? 'text/plain' });
      res.end(current.failWith.body);
      return;
    }
    if (req.method !== 'GET') return error(res, 404, 'File Not Found', 'not_found_error');
    if (path === '/health') return current.loading ? error(res, 503, 'Loading model', 'unavailable_error') : json(res, 200, { status: 'ok' });
    if (path === '/v1/models' || path === '/models') {
      if (current.modelsBody !== undefined) return json(res, 200, current.modelsBody);
      return json(res, 200, {
        object: 'list',
        data: [
          {
            id: current.alias ?? current.modelPath,
            object: 'model',
            created: 1735142223,
            owned_by: 'llamacpp',
            meta: current.loading ? null : { vocab_type: 2, n_vocab: 151936, n_ctx_train: 32768, n_embd: 1536, n_params: 1543714304, size: 1065000000 },
          },
        ],
      });
    }
    if (path === '/props' && !current.noProps) {
      return json(res, 200, {
        default_generation_settings: { id: 0, id_task: -1, n_ctx: 4096, speculative: false, is_processing: false, params: { n_predict: -1, temperature: 0.8 }, prompt: '' },
        total_slots: 1,
        model_path: current.modelPath,
        chat_template: '{% for message in messages %}{{ message.content }}{% endfor %}',
        chat_template_caps: {},
        modalities: { vision: false },
        build_info: LLAMACPP_TEST_BUILD,
        is_sleeping: false,
      });
    }
    return error(res, 404, 'File Not Found', 'not_found_error');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    host,
    port,
    requests,
    set(next) {
      current = { ...current, ...next };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
