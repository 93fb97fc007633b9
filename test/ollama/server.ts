// A local server that answers like Ollama for version, tags, ps, pull and delete, and nothing else.
// Shapes: ollama/ollama docs/api.md; request fields: api/types.go PullRequest/DeleteRequest;
// status codes and error texts: server/routes.go PullHandler/DeleteHandler/streamResponse/waitForStream,
// progress lines: server/images.go PullModel and server/download.go ("pulling <digest[7:19]>").
// It is stricter than Ollama in one way on purpose: unknown or mistyped body fields are a 400, so the
// client cannot drift from the documented request shapes without a test noticing.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeModelName } from '../../reconciler/kinds/models/ollama.js';
import { readBody } from '../http-body.js';

export interface OllamaServerOptions {
  host?: string;
  /** Installed at start. */
  models?: { name: string; size?: number }[];
  /** What a pull can fetch: name to download size in bytes. */
  registry?: Record<string, number>;
  /** Pause between two streamed pull lines. */
  pullDelayMs?: number;
  /** A longer pause for pulls of these models (name to ms): an apply that can be interrupted half-way. */
  slowPullOf?: Record<string, number>;
  /** Pulls of these fail as a missing manifest does, even when the registry has them. */
  failPullOf?: string[];
  /** Installed models that GET /api/ps reports as loaded. */
  loaded?: string[];
  /** Every request is answered with this instead (recorded all the same): a broken or hostile server on Ollama's port. */
  failWith?: { status: number; body: string; contentType?: string };
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface OllamaTestServer {
  url: string;
  port: number;
  host: string;
  /** Installed model names, sorted. */
  models(): string[];
  /** Changes the pause between streamed pull lines for one model (slowPullOf); 0 makes its pulls fast again. */
  slowPull(name: string, ms: number): void;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** The version GET /api/version reports (the docs.ollama.com example). */
export const OLLAMA_TEST_VERSION = '0.12.6';

const MAX_REQUEST_BYTES = 1024 * 1024;
/** errtypes.InvalidModelNameErrMsg in ollama/ollama. */
const INVALID_MODEL_NAME = 'invalid model name';
/** What PullModel reports when the registry has no manifest for the name (os.ErrNotExist). */
const MISSING_MANIFEST = 'pull model manifest: file does not exist';
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;

interface Installed {
  size: number;
  digest: string;
  modifiedAt: string;
}

type FieldType = 'string' | 'boolean';
const PULL_FIELDS: Record<string, FieldType> = { model: 'string', name: 'string', insecure: 'boolean', username: 'string', password: 'string', stream: 'boolean' };
const DELETE_FIELDS: Record<string, FieldType> = { model: 'string', name: 'string' };

class BadRequest extends Error {}

export async function startOllamaServer(options: OllamaServerOptions = {}): Promise<OllamaTestServer> {
  const host = options.host ?? '127.0.0.1';
  const slow = new Map(Object.entries(options.slowPullOf ?? {}).map(([name, ms]) => [normalizeModelName(name), ms]));
  const registry = new Map(Object.entries(options.registry ?? {}).map(([name, size]) => [normalizeModelName(name), size]));
  const failing = new Set((options.failPullOf ?? []).map(normalizeModelName));
  const loaded = new Set((options.loaded ?? []).map(normalizeModelName));
  const installed = new Map<string, Installed>();
  for (const m of options.models ?? []) {
    const name = normalizeModelName(m.name);
    installed.set(name, { size: m.size ?? registry.get(name) ?? 1_000_000, digest: digestOf(name, 'manifest'), modifiedAt: new Date().toISOString() });
  }
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    readBody(req, MAX_REQUEST_BYTES, () => new BadRequest('request body too large'))
      .then(async (raw) => {
        const path = new URL(req.url ?? '/', 'http://ollama').pathname;
        const method = req.method ?? 'GET';
        const body = parseJson(raw);
        requests.push({ method, path, body: body.ok ? body.value : raw === '' ? undefined : raw });
        if (options.failWith) {
          const { status, body: text, contentType } = options.failWith;
          res.writeHead(status, { 'Content-Type': contentType ?? 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
          return;
        }
        const route = `${method} ${path}`;
        switch (route) {
          case 'GET /api/version':
            noBody(raw);
            return json(res, 200, { version: OLLAMA_TEST_VERSION });
          case 'GET /api/tags':
            noBody(raw);
            return json(res, 200, { models: [...installed].sort(([a], [b]) => a.localeCompare(b)).map(([name, m]) => tagEntry(name, m)) });
          case 'GET /api/ps':
            noBody(raw);
            return json(res, 200, { models: [...installed].filter(([name]) => loaded.has(name)).map(([name, m]) => psEntry(name, m)) });
          case 'POST /api/pull':
            return pull(res, requestFields(raw, body, PULL_FIELDS));
          case 'DELETE /api/delete':
            return remove(res, requestFields(raw, body, DELETE_FIELDS));
          default:
            // gin's answer for a route it does not have, methods included (HandleMethodNotAllowed is off).
            res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found');
            return;
        }
      })
      .catch((error: unknown) => {
        if (res.headersSent) return res.destroy();
        if (error instanceof BadRequest) return json(res, 400, { error: error.message });
        json(res, 500, { error: error instanceof Error ? error.message : String(error) });
      });
  });

  function noBody(raw: string): void {
    if (raw.trim() !== '') throw new BadRequest('this endpoint takes no request body');
  }

  async function pull(res: ServerResponse, fields: Record<string, unknown>): Promise<void> {
    // PullHandler: cmp.Or(req.Model, req.Name); `name` is deprecated but still read.
    const given = String(fields['model'] || fields['name'] || '');
    if (!MODEL_NAME.test(given)) throw new BadRequest(INVALID_MODEL_NAME);
    const name = normalizeModelName(given);
    const size = failing.has(name) ? undefined : registry.get(name);
    const lines = pullLines(name, size);
    const delay = slow.get(name) ?? options.pullDelayMs ?? 0;

    if (fields['stream'] === false) {
      // waitForStream: the final object, or the error with 500.
      for (let i = 0; i < lines.length; i++) await sleep(delay);
      const last = lines[lines.length - 1]!;
      if ('error' in last) return json(res, 500, last);
      install(name, size!);
      return json(res, 200, last);
    }

    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    for (const line of lines) {
      if (res.destroyed) return;
      res.write(`${JSON.stringify(line)}\n`);
      if ('status' in line && line.status === 'writing manifest') install(name, size!);
      await sleep(delay);
    }
    res.end();
  }

  function install(name: string, size: number): void {
    installed.set(name, { size, digest: digestOf(name, 'manifest'), modifiedAt: new Date().toISOString() });
  }

  function remove(res: ServerResponse, fields: Record<string, unknown>): void {
    const given = String(fields['model'] || fields['name'] || '');
    if (!MODEL_NAME.test(given)) throw new BadRequest(`name ${JSON.stringify(given)} is invalid`);
    const name = normalizeModelName(given);
    if (!installed.delete(name)) return json(res, 404, { error: `model '${given}' not found` });
    loaded.delete(name);
    // DeleteHandler writes nothing on success: 200 with an empty body.
    res.writeHead(200).end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    host,
    models: () => [...installed.keys()].sort(),
    slowPull: (name, ms) => void slow.set(normalizeModelName(name), ms),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The stream PullModel sends: manifest, per-layer progress, verify, write, success; or an error after the manifest line. */
function pullLines(name: string, size: number | undefined): ({ status: string; digest?: string; total?: number; completed?: number } | { error: string })[] {
  const lines: ({ status: string; digest?: string; total?: number; completed?: number } | { error: string })[] = [{ status: 'pulling manifest' }];
  if (size === undefined) return [...lines, { error: MISSING_MANIFEST }];
  const configSize = Math.min(485, Math.floor(size / 2));
  const layers = [
    { digest: digestOf(name, 'model'), total: size - configSize },
    { digest: digestOf(name, 'params'), total: configSize },
  ];
  for (const layer of layers) {
    const status = `pulling ${layer.digest.slice(7, 19)}`;
    // completed is omitempty in ProgressResponse, so the first line has none.
    lines.push({ status, digest: layer.digest, total: layer.total });
    const steps = 4;
    for (let i = 1; i <= steps; i++) {
      lines.push({ status, digest: layer.digest, total: layer.total, completed: Math.round((layer.total * i) / steps) });
    }
  }
  return [...lines, { status: 'verifying sha256 digest' }, { status: 'writing manifest' }, { status: 'success' }];
}

function tagEntry(name: string, m: Installed) {
  return { name, model: name, modified_at: m.modifiedAt, size: m.size, digest: m.digest.slice('sha256:'.length), details: details() };
}

function psEntry(name: string, m: Installed) {
  const expires = new Date(Date.now() + 5 * 60_000).toISOString();
  return { name, model: name, size: m.size, digest: m.digest.slice('sha256:'.length), details: details(), expires_at: expires, size_vram: m.size };
}

function details() {
  return { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '7B', quantization_level: 'Q4_K_M' };
}

function digestOf(name: string, part: string): string {
  return `sha256:${createHash('sha256').update(`${name}/${part}`).digest('hex')}`;
}

/** Checks a body against the documented fields, as ShouldBindJSON would, plus refusing unknown ones. */
function requestFields(raw: string, body: { ok: true; value: unknown } | { ok: false; message: string }, allowed: Record<string, FieldType>): Record<string, unknown> {
  if (raw.trim() === '') throw new BadRequest('missing request body');
  if (!body.ok) throw new BadRequest(body.message);
  const value = body.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('json: cannot unmarshal non-object into the request');
  for (const [key, field] of Object.entries(value)) {
    const type = allowed[key];
    if (type === undefined) throw new BadRequest(`json: unknown field ${JSON.stringify(key)}`);
    if (typeof field !== type) throw new BadRequest(`json: cannot unmarshal ${typeof field} into field ${key} of type ${type}`);
  }
  return value as Record<string, unknown>;
}

function parseJson(raw: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (raw.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch (error) {
    return { ok: false, message: `invalid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}


function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
