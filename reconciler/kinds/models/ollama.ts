// A small client for the Ollama endpoints the models kind needs: version, tags, ps, pull, delete.
// Shapes follow ollama/ollama docs/api.md ("List Local Models", "List Running Models", "Pull a Model",
// "Delete a Model"), docs.ollama.com/api-reference/get-version, and api/types.go + server/routes.go
// (PullRequest/DeleteRequest, streamed {"error": ...} lines, 404 "model '<name>' not found").
import { request, type IncomingMessage } from 'node:http';
import { redactUrl } from '../../redact.js';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { remoteExcerpt } from '../../remote-text.js';

/** An installed model, from GET /api/tags. */
export interface OllamaModel {
  name: string;
  size: number;
  digest: string;
  modifiedAt: string;
}

/** A model loaded in memory, from GET /api/ps. */
export interface LoadedModel {
  name: string;
  size: number;
  sizeVram: number;
}

/** One line of the POST /api/pull stream; `completed` is absent until some bytes arrived (Go omitempty). */
export interface PullProgress {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export interface OllamaClientOptions {
  /** Where Ollama listens, such as http://127.0.0.1:11434; with a stream factory it only gives the Host header and path prefix. */
  baseUrl: string;
  /** Every request goes over a fresh stream from here, such as an SSH port forward. */
  createConnection?: () => Duplex;
  /** Like createConnection, for streams that are opened asynchronously (an SSH forward). */
  connect?: () => Promise<Duplex>;
  /** Longest wait without any progress, per request; for pull, between two progress lines. Default 15 s. */
  timeoutMs?: number;
  /**
   * Longest a pull may take in all, progress or not (default 20 minutes): a pull that trickles forever
   * must not hold an apply past its budget. Ollama resumes a cancelled pull where it stopped, so the
   * next apply goes on from there.
   */
  pullLimitMs?: number;
}

/**
 * A failed Ollama call: what went wrong, the HTTP status when Ollama answered, and what to do next.
 * Whatever the far end said is in the message only as remoteExcerpt's short code-quoted excerpt,
 * which `remote` repeats (the full reply is never kept: it may be kilobytes of Markdown).
 */
export class OllamaError extends Error {
  readonly status?: number;
  readonly hint?: string;
  readonly remote?: string;

  constructor(message: string, options: { status?: number; hint?: string; cause?: unknown; remote?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OllamaError';
    if (options.status !== undefined) this.status = options.status;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.remote !== undefined) this.remote = options.remote;
  }
}

export interface OllamaClient {
  version(): Promise<string>;
  tags(): Promise<OllamaModel[]>;
  ps(): Promise<LoadedModel[]>;
  pull(model: string, onProgress?: (p: PullProgress) => void): Promise<void>;
  remove(model: string): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_PULL_LIMIT_MS = 20 * 60_000;
/** Tags and ps of a large install are a few hundred KiB; anything near this is not Ollama. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
/** A progress line is under 200 bytes; a line this long means the stream is not NDJSON. */
const MAX_LINE_BYTES = 1024 * 1024;
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

/**
 * Ollama's name rule (docs/api.md "Model names"): `model:tag`, the tag defaulting to `latest`.
 * Only the last path segment carries the tag, so `registry:5000/ns/model` still gets `:latest`.
 */
export function normalizeModelName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw new OllamaError('a model name is empty', { hint: 'name the model as Ollama does, such as qwen2.5:7b' });
  const at = trimmed.indexOf('@');
  const base = at === -1 ? trimmed : trimmed.slice(0, at);
  const digest = at === -1 ? '' : trimmed.slice(at);
  const lastSegment = base.slice(base.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? trimmed : `${base}:latest${digest}`;
}

export function ollamaClient(options: OllamaClientOptions): OllamaClient {
  if (options.createConnection && options.connect) {
    throw new OllamaError('ollamaClient got both createConnection and connect', { hint: 'pass one stream factory: connect for an async SSH forward, createConnection for a ready stream' });
  }
  const base = new URL(options.baseUrl);
  if (base.protocol !== 'http:') {
    throw new OllamaError(`Ollama baseUrl ${redactUrl(options.baseUrl)} is not http://`, { hint: 'Ollama serves plain HTTP; reach a remote host through an SSH forward (connect) rather than TLS' });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pullLimitMs = options.pullLimitMs ?? DEFAULT_PULL_LIMIT_MS;
  const prefix = base.pathname.replace(/\/+$/, '');
  const where = options.createConnection || options.connect ? `${base.host} (over the forwarded stream)` : base.host;
  const unreachableHint = options.createConnection || options.connect
    ? `is Ollama running on ${base.host} as seen from the far end of the forward, and is the forward up?`
    : `is Ollama running on ${base.host}? check \`systemctl status ollama\` there and that OLLAMA_HOST listens on that address and port`;

  /** Sends one request; `onResponse` owns the response and settles the promise through the given callbacks. */
  function exchange<T>(
    method: string,
    path: string,
    body: unknown,
    onResponse: (res: IncomingMessage, done: { resolve: (v: T) => void; reject: (e: unknown) => void; alive: () => void }) => void,
    limit?: { ms: number; error: () => OllamaError },
  ): Promise<T> {
    const label = `${method} ${path}`;
    return new Promise<T>((resolvePromise, rejectPromise) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let overall: NodeJS.Timeout | undefined;
      let req: ReturnType<typeof request> | undefined;
      let stream: Duplex | undefined;

      const finish = () => {
        settled = true;
        clearTimeout(timer);
        clearTimeout(overall);
      };
      const resolve = (value: T) => {
        if (settled) return;
        finish();
        resolvePromise(value);
      };
      const reject = (error: unknown) => {
        if (settled) return;
        finish();
        rejectPromise(error);
        // Without a pooled agent the socket serves this request only, so dropping it loses nothing.
        req?.destroy();
        stream?.destroy();
      };
      const alive = () => {
        if (settled) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (options.connect && !stream) {
            reject(new OllamaError(`the stream to Ollama at ${base.host} did not open within ${timeoutMs} ms for ${label}`, {
              hint: 'check the SSH forward to that host (ssh reachable, key accepted, Ollama port right)',
            }));
            return;
          }
          reject(new OllamaError(`Ollama at ${where} sent nothing for ${timeoutMs} ms during ${label}`, {
            hint: `${unreachableHint}; on a slow link raise timeoutMs`,
          }));
        }, timeoutMs);
      };

      const start = (connection: Duplex | undefined) => {
        if (settled) {
          connection?.destroy();
          return;
        }
        stream = connection;
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const headers: Record<string, string | number> = { Host: base.host, Accept: 'application/json, application/x-ndjson' };
        if (payload) {
          headers['Content-Type'] = 'application/json';
          headers['Content-Length'] = payload.length;
        }
        req = request({
          method,
          host: base.hostname,
          port: base.port === '' ? 80 : Number(base.port),
          path: prefix + path,
          headers,
          // Node 20 builds a fresh Agent for agent:false, and an Agent ignores createConnection; with no agent
          // at all the request uses our stream, unpooled, as an SSH forward needs.
          ...(connection ? { createConnection: () => connection } : { agent: false }),
        });
        req.on('error', (error) => reject(connectionError(error, label)));
        req.on('response', (res) => {
          alive();
          res.on('error', (error) => reject(connectionError(error, label)));
          onResponse(res, { resolve, reject, alive });
        });
        req.end(payload);
      };

      alive();
      if (limit) overall = setTimeout(() => reject(limit.error()), limit.ms);
      if (options.connect) {
        options.connect().then(start, (error: unknown) => {
          reject(new OllamaError(`could not open the stream to Ollama at ${base.host} for ${label}: ${messageOf(error)}`, {
            hint: 'check the SSH forward to that host (ssh reachable, key accepted, Ollama port right)',
            cause: error,
          }));
        });
      } else if (options.createConnection) {
        try {
          start(options.createConnection());
        } catch (error) {
          reject(new OllamaError(`could not open the stream to Ollama at ${base.host} for ${label}: ${messageOf(error)}`, { hint: unreachableHint, cause: error }));
        }
      } else {
        start(undefined);
      }
    });
  }

  function connectionError(error: Error & { code?: string }, label: string): OllamaError {
    if (error instanceof OllamaError) return error;
    const code = error.code ?? '';
    if (CONNECTION_ERRORS.has(code)) {
      return new OllamaError(`cannot reach Ollama at ${where} for ${label}: ${code}`, { hint: unreachableHint, cause: error });
    }
    return new OllamaError(`Ollama at ${where} failed during ${label}: ${error.message}`, { hint: unreachableHint, cause: error });
  }

  /** Reads a whole body up to MAX_JSON_BYTES, refusing larger ones before they fill memory. */
  function readCapped(res: IncomingMessage, label: string, done: { resolve: (v: string) => void; reject: (e: unknown) => void; alive: () => void }): void {
    const declared = Number(res.headers['content-length']);
    const tooLarge = () => new OllamaError(`Ollama at ${where} answered ${label} with more than ${MAX_JSON_BYTES} bytes`, {
      hint: `check that ${base.host} is Ollama and not another service on that port`,
    });
    if (Number.isFinite(declared) && declared > MAX_JSON_BYTES) {
      done.reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    res.on('data', (chunk: Buffer) => {
      done.alive();
      length += chunk.length;
      if (length > MAX_JSON_BYTES) {
        done.reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => done.resolve(Buffer.concat(chunks).toString('utf8')));
  }

  /** A non-2xx answer: Ollama's own error text (gin's plain-text 404 page as is), as a short excerpt. */
  function statusError(status: number, text: string, label: string): OllamaError {
    let detail = text.trim();
    try {
      const parsed = JSON.parse(text) as unknown;
      if (isRecord(parsed) && typeof parsed['error'] === 'string') detail = parsed['error'];
    } catch {
      // not JSON: keep the text
    }
    const hint = status === 404 && /page not found/i.test(detail)
      ? `${base.host} answered but has no ${label}: check baseUrl (its path prefix) and that this is Ollama`
      : status >= 500
        ? `see the Ollama log on that host (journalctl -u ollama)`
        : undefined;
    if (detail.trim() === '') return new OllamaError(`${label}: HTTP ${status}`, { status, ...(hint ? { hint } : {}) });
    const remote = remoteExcerpt(detail);
    return new OllamaError(`${label}: HTTP ${status}: ${remote}`, { status, remote, ...(hint ? { hint } : {}) });
  }

  function getJson(method: string, path: string, body?: unknown, label = `${method} ${path}`): Promise<unknown> {
    return exchange<string>(method, path, body, (res, done) => {
      readCapped(res, label, {
        alive: done.alive,
        reject: done.reject,
        resolve: (text) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return done.reject(statusError(status, text, label));
          done.resolve(text);
        },
      });
    }).then((text) => {
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        throw new OllamaError(`Ollama at ${where} answered ${label} with text that is not JSON`, { hint: `check that ${base.host} is Ollama`, cause: error });
      }
    });
  }

  function unexpected(label: string, what: string): OllamaError {
    return new OllamaError(`Ollama at ${where} answered ${label} without ${what}`, { hint: 'check the Ollama version on that host (ollama --version) against docs/api.md' });
  }

  return {
    async version() {
      const body = await getJson('GET', '/api/version');
      if (!isRecord(body) || typeof body['version'] !== 'string') throw unexpected('GET /api/version', 'a "version" string');
      return body['version'];
    },

    async tags() {
      const body = await getJson('GET', '/api/tags');
      return modelList(body, 'GET /api/tags').map((m) => ({
        name: normalizeModelName(String(m['name'])),
        size: numberOr(m['size']),
        digest: typeof m['digest'] === 'string' ? m['digest'] : '',
        modifiedAt: typeof m['modified_at'] === 'string' ? m['modified_at'] : '',
      }));
    },

    async ps() {
      const body = await getJson('GET', '/api/ps');
      return modelList(body, 'GET /api/ps').map((m) => ({
        name: normalizeModelName(String(m['name'])),
        size: numberOr(m['size']),
        sizeVram: numberOr(m['size_vram']),
      }));
    },

    async remove(model) {
      const name = normalizeModelName(model);
      try {
        await getJson('DELETE', '/api/delete', { model: name }, `remove ${name}`);
      } catch (error) {
        if (error instanceof OllamaError && error.status === 404 && !error.hint) {
          throw new OllamaError(error.message, {
            status: 404,
            hint: `${name} is not installed there; list what is with GET /api/tags (ollama list)`,
            cause: error,
            ...(error.remote !== undefined ? { remote: error.remote } : {}),
          });
        }
        throw error;
      }
    },

    pull(model, onProgress) {
      const label = 'POST /api/pull';
      let name: string;
      try {
        name = normalizeModelName(model);
      } catch (error) {
        return Promise.reject(error);
      }
      return exchange<void>('POST', '/api/pull', { model: name, stream: true }, (res, done) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          readCapped(res, label, { alive: done.alive, reject: done.reject, resolve: (text) => done.reject(statusError(status, text, `pull ${name}`)) });
          return;
        }
        const decoder = new StringDecoder('utf8');
        let pending = '';
        let succeeded = false;

        const handleLine = (line: string) => {
          if (line.trim() === '') return;
          let parsed: unknown;
          try {
            parsed = JSON.parse(line);
          } catch (error) {
            const remote = remoteExcerpt(line.slice(0, 1000));
            throw new OllamaError(`pull ${name}: Ollama sent a progress line that is not JSON: ${remote}`, { hint: `check that ${base.host} is Ollama`, cause: error, remote });
          }
          if (!isRecord(parsed)) throw unexpected(label, 'a JSON object per line');
          // server/routes.go streamResponse: a failure after progress started arrives as an {"error"} line under HTTP 200.
          if (typeof parsed['error'] === 'string') {
            const remote = remoteExcerpt(parsed['error']);
            throw new OllamaError(`pull ${name}: ${remote}`, {
              hint: /file does not exist|not found/i.test(parsed['error'])
                ? `check the model name and tag on ollama.com/library (${name})`
                : 'retry: Ollama resumes a cancelled pull where it stopped',
              remote,
            });
          }
          if (typeof parsed['status'] !== 'string') throw unexpected(label, 'a "status" on a progress line');
          const progress: PullProgress = { status: parsed['status'] };
          if (typeof parsed['digest'] === 'string') progress.digest = parsed['digest'];
          if (typeof parsed['total'] === 'number') progress.total = parsed['total'];
          if (typeof parsed['completed'] === 'number') progress.completed = parsed['completed'];
          onProgress?.(progress);
          if (progress.status === 'success') succeeded = true;
        };

        const consume = (text: string) => {
          pending += text;
          let newline: number;
          while ((newline = pending.indexOf('\n')) !== -1) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + 1);
            handleLine(line);
            if (succeeded) return done.resolve();
          }
          if (Buffer.byteLength(pending) > MAX_LINE_BYTES) {
            throw new OllamaError(`pull ${name}: Ollama sent a line longer than ${MAX_LINE_BYTES} bytes`, { hint: `check that ${base.host} is Ollama` });
          }
        };

        res.on('data', (chunk: Buffer) => {
          if (succeeded) return;
          done.alive();
          try {
            consume(decoder.write(chunk));
          } catch (error) {
            done.reject(error);
          }
        });
        res.on('end', () => {
          if (succeeded) return;
          try {
            consume(decoder.end() + '\n');
            if (!succeeded) {
              throw new OllamaError(`pull ${name}: the stream from Ollama ended before "success"`, { hint: 'retry: Ollama resumes a cancelled pull where it stopped' });
            }
            done.resolve();
          } catch (error) {
            done.reject(error);
          }
        });
      }, {
        ms: pullLimitMs,
        error: () => new OllamaError(`pull ${name}: not finished within ${pullLimitMs >= 60_000 ? `${Number((pullLimitMs / 60_000).toFixed(1))} min` : `${pullLimitMs} ms`} on ${where}; stopped`, {
          hint: 'Ollama resumes a cancelled pull where it stopped: the next apply goes on from there; or pull it by hand on the host (`ollama pull`) and let fleetspec find it installed',
        }),
      });
    },
  };
}

function modelList(body: unknown, label: string): Record<string, unknown>[] {
  if (!isRecord(body)) throw new OllamaError(`${label}: the answer is not a JSON object`, { hint: 'check that this host runs Ollama' });
  const models = body['models'];
  // Go encodes an empty slice as [] but a nil one as null; both mean none.
  if (models === null || models === undefined) return [];
  if (!Array.isArray(models)) throw new OllamaError(`${label}: "models" is not a list`, { hint: 'check the Ollama version on that host against docs/api.md' });
  return models.filter((m): m is Record<string, unknown> => isRecord(m) && typeof m['name'] === 'string' && m['name'] !== '');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numberOr(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
