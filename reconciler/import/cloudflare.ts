// A read-only client for the few Cloudflare API v4 routes fleetspec import uses: zones by name,
// a zone's DNS records, tunnels by name, a tunnel's configuration. Every reply is hostile until
// checked: its body is bounded (MAX_REPLY_BYTES), it must be the v4 envelope
// {success, errors, messages, result, result_info} and its result must match the route's schema
// (ajv). The token goes only into the Authorization header: it is never part of a message.
import { Ajv, type ValidateFunction } from 'ajv';
import { request } from 'undici';
import { remoteExcerpt } from '../remote-text.js';

/** A reply larger than this is refused: a zone of thousands of records is a few MB per page of 5,000. */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;
/** Pages of one listing at most: 100 pages of 100 records. */
export const MAX_PAGES = 100;
export const PER_PAGE = 100;

export class CloudflareError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CloudflareError';
  }
}

export interface CfZone {
  id: string;
  name: string;
  account: { id: string; name?: string };
}

export interface CfRecord {
  id: string;
  name: string;
  type: string;
  /** Every type's; for CAA a formatted copy of `data` (`0 issue "letsencrypt.org"`). */
  content?: string;
  proxied?: boolean;
  ttl?: number;
  /** MX (and SRV, URI). */
  priority?: number;
  /** CAA (and the other structured types): {flags, tag, value}. */
  data?: { flags?: number; tag?: string; value?: string };
}

export interface CfTunnel {
  id: string;
  name: string;
}

export interface CfIngress {
  hostname?: string;
  service: string;
  path?: string;
}

const HEX32 = { type: 'string', pattern: '^[0-9a-f]{32}$' };
const UUID = { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' };
const text = (max: number) => ({ type: 'string', maxLength: max });

const SCHEMAS = {
  envelope: {
    type: 'object',
    required: ['success', 'errors'],
    properties: {
      success: { type: 'boolean' },
      errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } } },
      messages: { type: 'array' },
      result_info: { type: 'object', properties: { page: { type: 'integer' }, per_page: { type: 'integer' }, count: { type: 'integer' }, total_count: { type: 'integer' }, total_pages: { type: 'integer' } } },
    },
  },
  zones: { type: 'array', items: { type: 'object', required: ['id', 'name', 'account'], properties: { id: HEX32, name: text(253), account: { type: 'object', required: ['id'], properties: { id: HEX32 } } } } },
  records: {
    type: 'array',
    items: {
      type: 'object',
      required: ['id', 'name', 'type'],
      properties: {
        id: HEX32,
        name: text(1000),
        type: text(20),
        content: text(10_000),
        proxied: { type: 'boolean' },
        ttl: { type: 'integer', minimum: 1 },
        priority: { type: 'integer', minimum: 0, maximum: 65535 },
        data: { type: 'object', properties: { flags: { type: 'integer', minimum: 0, maximum: 255 }, tag: text(255), value: text(10_000) } },
      },
    },
  },
  tunnels: { type: 'array', items: { type: 'object', required: ['id', 'name'], properties: { id: UUID, name: text(1000) } } },
  configuration: {
    type: 'object',
    properties: {
      config: {
        type: ['object', 'null'],
        properties: { ingress: { type: 'array', maxItems: 10_000, items: { type: 'object', required: ['service'], properties: { hostname: text(1000), service: text(2000), path: text(2000) } } } },
      },
    },
  },
} as const;

let compiled: Record<keyof typeof SCHEMAS, ValidateFunction> | undefined;
function validators(): Record<keyof typeof SCHEMAS, ValidateFunction> {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: false, strict: false });
    compiled = Object.fromEntries(Object.entries(SCHEMAS).map(([k, s]) => [k, ajv.compile(s)])) as Record<keyof typeof SCHEMAS, ValidateFunction>;
  }
  return compiled;
}

function schemaProblem(v: ValidateFunction): string {
  const e = v.errors?.[0];
  return e ? `${e.instancePath || '(top)'} ${e.message ?? 'is not as documented'}` : 'not as documented';
}

export interface CloudflareOptions {
  /** The API root, such as https://api.cloudflare.com/client/v4. */
  api: string;
  token: string;
  timeoutMs: number;
}

export class CloudflareClient {
  constructor(private readonly options: CloudflareOptions) {}

  /** One GET: the checked envelope of the reply, whose `result` the caller checks against its schema. */
  private async get(path: string, query: Record<string, string | number> = {}): Promise<{ result: unknown; result_info?: { page?: number; per_page?: number; total_pages?: number; count?: number } }> {
    const url = new URL(this.options.api.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
    const where = `GET ${url.pathname}`;
    let res;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { authorization: `Bearer ${this.options.token}`, accept: 'application/json' },
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal: AbortSignal.timeout(this.options.timeoutMs * 2),
      });
    } catch (error) {
      throw new CloudflareError(`Cloudflare API at ${url.origin} not reached (${where}): ${(error as Error).message}`, 'check --cloudflare-api or FLEETSPEC_CLOUDFLARE_API, and the network');
    }
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > MAX_REPLY_BYTES) {
      res.body.destroy();
      throw new CloudflareError(`${where}: the reply is ${declared} bytes, over the ${MAX_REPLY_BYTES}-byte limit; refused`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_REPLY_BYTES) {
        res.body.destroy();
        throw new CloudflareError(`${where}: the reply is over the ${MAX_REPLY_BYTES}-byte limit; refused`);
      }
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new CloudflareError(`${where}: HTTP ${res.statusCode}, and the reply is not JSON: ${remoteExcerpt(body)}`);
    }
    const v = validators().envelope;
    if (!v(json)) throw new CloudflareError(`${where}: HTTP ${res.statusCode}, and the reply is not the API v4 envelope (${schemaProblem(v)})`);
    const envelope = json as { success: boolean; errors: { code?: number; message?: string }[]; result?: unknown; result_info?: never };
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new CloudflareError(`${where}: the token was refused (HTTP ${res.statusCode}: ${remoteExcerpt(envelope.errors.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).join('; '))})`, 'the zone\'s apiToken needs Zone DNS read and Account Cloudflare Tunnel read');
    }
    if (!envelope.success || res.statusCode >= 400) {
      throw new CloudflareError(`${where}: HTTP ${res.statusCode}, ${remoteExcerpt(envelope.errors.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).join('; ') || 'success is false')}`);
    }
    return envelope as { result: unknown; result_info?: never };
  }

  private checked<T>(where: string, schema: keyof typeof SCHEMAS, result: unknown): T {
    const v = validators()[schema];
    if (!v(result)) throw new CloudflareError(`${where}: the result is not as the API documents it (${schemaProblem(v)}); refused`);
    return result as T;
  }

  /** Every page of a v4 listing (page/per_page, result_info.total_pages), bounded by MAX_PAGES. */
  private async list<T>(path: string, schema: keyof typeof SCHEMAS, query: Record<string, string | number> = {}): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) throw new CloudflareError(`GET ${path}: more than ${MAX_PAGES} pages; refused`);
      const reply = await this.get(path, { ...query, page, per_page: PER_PAGE });
      const items = this.checked<T[]>(`GET ${path}`, schema, reply.result);
      out.push(...items);
      const info = reply.result_info;
      if (items.length === 0) break;
      if (info?.total_pages !== undefined ? page >= info.total_pages : items.length < (info?.per_page ?? PER_PAGE)) break;
    }
    return out;
  }

  async zoneByName(name: string): Promise<CfZone | undefined> {
    return (await this.list<CfZone>('/zones', 'zones', { name })).find((z) => z.name === name);
  }

  records(zoneId: string): Promise<CfRecord[]> {
    return this.list<CfRecord>(`/zones/${zoneId}/dns_records`, 'records');
  }

  async tunnelByName(accountId: string, name: string): Promise<CfTunnel | undefined> {
    return (await this.list<CfTunnel>(`/accounts/${accountId}/cfd_tunnel`, 'tunnels', { name, is_deleted: 'false' })).find((t) => t.name === name);
  }

  async ingress(accountId: string, tunnelId: string): Promise<CfIngress[]> {
    const path = `/accounts/${accountId}/cfd_tunnel/${tunnelId}/configurations`;
    const reply = await this.get(path);
    const result = this.checked<{ config?: { ingress?: CfIngress[] } | null }>(`GET ${path}`, 'configuration', reply.result);
    return result.config?.ingress ?? [];
  }
}
