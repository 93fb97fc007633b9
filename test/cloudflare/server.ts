// A Cloudflare API v4 stand-in on loopback for the routes fleetspec import reads: zones by name,
// a zone's DNS records, tunnels by name, a tunnel's configuration. It keeps the v4 contract
// (the envelope {success, errors, messages, result, result_info}, Bearer tokens, page/per_page
// pagination with result_info.total_pages; records as the API returns them: MX with priority, CAA
// with data {flags, tag, value} and its formatted content, TXT content as stored) — test/import/cloudflare.test.ts reads it through the
// official `cloudflare` SDK to hold it to that — and can be made to answer badly (faults).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CfTestRecord {
  id: string;
  name: string;
  type: string;
  /** For CAA, the API's formatted copy of data: `0 issue "letsencrypt.org"`. */
  content: string;
  proxied: boolean;
  ttl: number;
  comment?: string | null;
  /** MX: the preference (the API returns it on MX records). */
  priority?: number;
  /** CAA: the record's components, as the API returns them. */
  data?: { flags: number; tag: string; value: string };
}

/** What a test gives addRecord: CAA records give data (content is derived as the API formats it). */
export interface CfTestRecordInput {
  name: string;
  type: string;
  content?: string;
  proxied?: boolean;
  ttl?: number;
  priority?: number;
  data?: { flags: number; tag: string; value: string };
}

export interface CfTestZone {
  id: string;
  name: string;
  account: { id: string; name: string };
  records: CfTestRecord[];
}

export interface CfTestTunnel {
  id: string;
  name: string;
  accountId: string;
  ingress: { hostname?: string; service: string }[];
}

export interface CloudflareTestServer {
  /** The API root, http://127.0.0.1:port/client/v4. */
  url: string;
  token: string;
  accountId: string;
  zones: CfTestZone[];
  tunnels: CfTestTunnel[];
  /** Paths requested, with their query. */
  requests: { path: string; query: Record<string, string>; auth?: string }[];
  addZone(name: string): CfTestZone;
  addRecord(zone: CfTestZone, r: CfTestRecordInput): CfTestRecord;
  addTunnel(name: string, ingress: CfTestTunnel['ingress']): CfTestTunnel;
  /** The next `count` requests get this raw answer instead. */
  answerNext(count: number, reply: { status: number; body: string | Buffer; contentType?: string }): void;
  close(): Promise<void>;
}

const hex32 = () => randomBytes(16).toString('hex');

export async function startCloudflareServer(options: { perPageMax?: number; token?: string } = {}): Promise<CloudflareTestServer> {
  const token = options.token ?? `cf-test-${randomBytes(20).toString('hex')}`;
  const perPageMax = options.perPageMax ?? 5000;
  const accountId = hex32();
  const zones: CfTestZone[] = [];
  const tunnels: CfTestTunnel[] = [];
  const requests: CloudflareTestServer['requests'] = [];
  const faults: { count: number; reply: { status: number; body: string | Buffer; contentType?: string } }[] = [];

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const envelope = (result: unknown, resultInfo?: object) => ({ success: true, errors: [], messages: [], result, ...(resultInfo ? { result_info: resultInfo } : {}) });
  const failure = (res: ServerResponse, status: number, code: number, message: string) => send(res, status, { success: false, errors: [{ code, message }], messages: [], result: null });

  /** page/per_page as the v4 list routes take them; result_info with count, total_count, total_pages. */
  function paged<T>(res: ServerResponse, query: URLSearchParams, items: T[], defaultPerPage: number) {
    const page = Number(query.get('page') ?? 1);
    const perPage = Math.min(Number(query.get('per_page') ?? defaultPerPage), perPageMax);
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(perPage) || perPage < 1) return failure(res, 400, 1004, 'invalid page or per_page');
    const slice = items.slice((page - 1) * perPage, page * perPage);
    send(res, 200, envelope(slice, { page, per_page: perPage, count: slice.length, total_count: items.length, total_pages: Math.max(1, Math.ceil(items.length / perPage)) }));
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    requests.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    const fault = faults[0];
    if (fault) {
      if (--fault.count <= 0) faults.shift();
      res.writeHead(fault.reply.status, { 'content-type': fault.reply.contentType ?? 'application/json' });
      res.end(fault.reply.body);
      return;
    }
    if (req.method !== 'GET') return failure(res, 405, 10000, 'method not allowed');
    if (req.headers.authorization !== `Bearer ${token}`) return failure(res, 403, 10000, 'Authentication error');
    const path = url.pathname.replace(/^\/client\/v4/, '');
    let m: RegExpExecArray | null;
    if (path === '/zones') {
      const name = url.searchParams.get('name');
      return paged(res, url.searchParams, zones.filter((z) => !name || z.name === name).map(({ records: _, ...z }) => ({ ...z, status: 'active', paused: false, type: 'full' })), 20);
    }
    if ((m = /^\/zones\/([0-9a-f]{32})\/dns_records$/.exec(path))) {
      const zone = zones.find((z) => z.id === m![1]);
      if (!zone) return failure(res, 404, 7003, 'Could not route to /zones/.../dns_records, perhaps your object identifier is invalid?');
      return paged(res, url.searchParams, zone.records.map((r) => ({ ...r, proxiable: true, settings: {}, meta: {}, tags: [], created_on: '2024-01-01T00:00:00Z', modified_on: '2024-01-01T00:00:00Z' })), 100);
    }
    if ((m = /^\/accounts\/([0-9a-f]{32})\/cfd_tunnel$/.exec(path))) {
      if (m[1] !== accountId) return failure(res, 403, 10000, 'Authentication error');
      const name = url.searchParams.get('name');
      return paged(res, url.searchParams, tunnels.filter((t) => !name || t.name === name).map((t) => ({ id: t.id, name: t.name, account_tag: accountId, status: 'healthy', tun_type: 'cfd_tunnel', created_at: '2024-01-01T00:00:00Z', deleted_at: null, connections: [] })), 20);
    }
    if ((m = /^\/accounts\/([0-9a-f]{32})\/cfd_tunnel\/([0-9a-f-]{36})\/configurations$/.exec(path))) {
      const tunnel = tunnels.find((t) => t.id === m![2] && t.accountId === m![1]);
      if (!tunnel) return failure(res, 404, 1003, 'tunnel not found');
      return send(res, 200, envelope({ account_id: accountId, tunnel_id: tunnel.id, version: 3, source: 'cloudflare', created_at: '2024-01-01T00:00:00Z', config: { ingress: tunnel.ingress } }));
    }
    return failure(res, 404, 7000, 'No route for that URI');
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    token,
    accountId,
    zones,
    tunnels,
    requests,
    addZone(name) {
      const zone: CfTestZone = { id: hex32(), name, account: { id: accountId, name: 'Test account' }, records: [] };
      zones.push(zone);
      return zone;
    },
    addRecord(zone, r) {
      // As the API answers: CAA content is data formatted (flags tag "value"); MX carries priority.
      const content = r.type === 'CAA' && r.data ? `${r.data.flags} ${r.data.tag} "${r.data.value}"` : (r.content ?? '');
      const record: CfTestRecord = {
        id: hex32(),
        name: r.name,
        type: r.type,
        content,
        proxied: r.proxied ?? false,
        ttl: r.ttl ?? 1,
        comment: null,
        ...(r.priority !== undefined ? { priority: r.priority } : {}),
        ...(r.data ? { data: r.data } : {}),
      };
      zone.records.push(record);
      return record;
    },
    addTunnel(name, ingress) {
      const tunnel: CfTestTunnel = { id: randomUUID(), name, accountId, ingress };
      tunnels.push(tunnel);
      return tunnel;
    },
    answerNext(count, reply) {
      faults.push({ count, reply });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
