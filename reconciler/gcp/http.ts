// HTTP for the Google client: bounded bodies, Google's JSON error format quoted as an excerpt,
// never the request's Authorization header or the key in any message.
import { remoteExcerpt } from '../remote-text.js';

/** A reply larger than this is refused before it fills memory (a two-hour CPU series is a few KiB). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** A Google API call that failed: fleetspec's words, plus Google's message as a short escaped excerpt. */
export class GcpError extends Error {
  readonly status?: number;
  /** The excerpt of Google's own message, exactly as the message quotes it. */
  readonly remote?: string;
  readonly hint?: string;
  constructor(message: string, opts: { status?: number; remote?: string; hint?: string } = {}) {
    super(message);
    this.name = 'GcpError';
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.remote !== undefined) this.remote = opts.remote;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}

/** The body as JSON, at most MAX_BODY_BYTES; undefined when empty or not JSON. */
export async function readJson(res: Response, where: string): Promise<unknown> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw new GcpError(`${where} answered with more than ${MAX_BODY_BYTES} bytes`);
  }
  const chunks: Buffer[] = [];
  let length = 0;
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      length += chunk.length;
      if (length > MAX_BODY_BYTES) {
        await res.body.cancel().catch(() => {});
        throw new GcpError(`${where} answered with more than ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(Buffer.from(chunk));
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Google's error reply ({"error": {"code", "message", "status"}}) as an excerpt; HTTP status otherwise. */
export function googleErrorExcerpt(json: unknown, status: number): string {
  const error = (json as { error?: unknown } | undefined)?.error;
  const message = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
  const code = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
  if (typeof message === 'string') return remoteExcerpt(typeof code === 'string' ? `${code}: ${message}` : message);
  if (typeof error === 'string') return remoteExcerpt(error);
  return remoteExcerpt(`HTTP ${status}`);
}

export interface CallOptions {
  method: 'GET' | 'POST';
  url: string;
  token: () => Promise<string>;
  /** What the call is, for messages ("instances.get vm-host/us-central1-a/supervisor-vm"). */
  what: string;
  timeoutMs: number;
  /** GETs only: how many times a 429, 5xx or connection failure is tried again. */
  retries?: number;
  /** Before each retry. */
  backoffMs?: number;
}

const RETRIED = new Set([429, 500, 502, 503, 504]);

/** One authorised call; JSON back, or a GcpError naming what failed and quoting Google's message. */
export async function callJson(opts: CallOptions): Promise<unknown> {
  const attempts = opts.method === 'GET' ? 1 + (opts.retries ?? 2) : 1;
  let last: GcpError | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, (opts.backoffMs ?? 250) * attempt));
    const token = await opts.token();
    let res: Response;
    try {
      res = await fetch(opts.url, {
        method: opts.method,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(opts.method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        ...(opts.method === 'POST' ? { body: '{}' } : {}),
        redirect: 'error',
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (err) {
      last = new GcpError(`${opts.what}: ${err instanceof Error && err.name === 'TimeoutError' ? `no answer in ${opts.timeoutMs} ms` : 'the API could not be reached'}`);
      continue;
    }
    const json = await readJson(res, opts.what);
    if (res.ok) return json;
    const remote = googleErrorExcerpt(json, res.status);
    last = new GcpError(`${opts.what} failed (HTTP ${res.status}): ${remote}`, { status: res.status, remote, ...(hintFor(res.status) ? { hint: hintFor(res.status)! } : {}) });
    if (!RETRIED.has(res.status)) break;
  }
  throw last!;
}

function hintFor(status: number): string | undefined {
  if (status === 401) return 'the service-account key was refused: check it is the current key';
  if (status === 403) return 'grant the service account a role with this permission on the project (for example roles/compute.instanceAdmin.v1 and roles/monitoring.viewer)';
  if (status === 404) return 'check the project, zone and name in the spec';
  return undefined;
}
