// A local stand-in for the Google APIs fleetspec calls about a VM, following Google's published
// REST contracts (and typed with the generated types of @googleapis/compute, from Google's Compute
// Engine v1 discovery document):
//   POST {token_uri}                      OAuth 2.0 JWT bearer grant (RFC 7523): grant_type, assertion (RS256, aud = token_uri)
//   GET  /compute/v1/projects/{project}/zones/{zone}/instances/{instance}            -> Instance
//   POST /compute/v1/projects/{project}/zones/{zone}/instances/{instance}/start      -> Operation
//   POST /compute/v1/projects/{project}/zones/{zone}/instances/{instance}/stop       -> Operation
//   POST /compute/v1/projects/{project}/zones/{zone}/operations/{operation}/wait     -> Operation
//   GET  /v3/projects/{name}/timeSeries?filter&interval.startTime&interval.endTime&pageSize&pageToken&view -> ListTimeSeriesResponse
// Errors are Google's JSON error format {"error": {"code", "message", "errors", "status"}}. Every
// API call needs the Bearer token the token endpoint issued, else 401 UNAUTHENTICATED.
import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { compute_v1 } from '@googleapis/compute';
import { readBody } from '../http-body.js';

export interface StandInInstance {
  project: string;
  zone: string;
  name: string;
  id: string;
  status: string;
  machineType: string;
  /** CPU utilisation samples, one a minute ending now, oldest first, as fractions 0..1. */
  cpu: number[];
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
}

export interface GcpTestServer {
  url: string;
  computeUrl: string;
  monitoringUrl: string;
  tokenUri: string;
  /** A service-account key file whose token_uri is this server. */
  keyJson: string;
  /** The private key's PEM, to look for it where it must never be. */
  privateKeyPem: string;
  instances: Map<string, StandInInstance>;
  calls: RecordedCall[];
  /** Access tokens issued so far. */
  tokens: string[];
  addInstance(i: Partial<StandInInstance> & Pick<StandInInstance, 'project' | 'zone' | 'name'>): StandInInstance;
  instance(project: string, zone: string, name: string): StandInInstance | undefined;
  /** The next calls whose path contains `pathPart` answer with this Google error (count times). */
  failNext(pathPart: string, status: number, message: string, count?: number): void;
  /** Operations of start/stop end DONE with this error instead of changing the instance. */
  failOperationsWith?: string;
  close(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' };

function googleError(res: ServerResponse, code: number, message: string): void {
  const body = { error: { code, message, errors: [{ message, domain: 'global', reason: code === 404 ? 'notFound' : 'backendError' }], status: STATUS_NAMES[code] ?? 'UNKNOWN' } };
  json(res, code, body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const b64json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

export async function startGcpServer(opts: { host?: string; now?: () => number } = {}): Promise<GcpTestServer> {
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? (() => Date.now() / 1000);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const email = 'supervisor-meta@vm-host.iam.gserviceaccount.com';
  const instances = new Map<string, StandInInstance>();
  const operations = new Map<string, { op: compute_v1.Schema$Operation; then: () => void; project: string; zone: string }>();
  const calls: RecordedCall[] = [];
  const tokens: string[] = [];
  const failures: { part: string; status: number; message: string; count: number }[] = [];
  let nextId = 4_410_000_000_000_000_001n;
  let opSeq = 1;
  const key = (p: string, z: string, n: string) => `${p}/${z}/${n}`;
  let base = '';

  const checkAssertion = (assertion: string, pub: KeyObject): string | undefined => {
    const parts = assertion.split('.');
    if (parts.length !== 3) return 'malformed assertion';
    const header = b64json(parts[0]!);
    const claims = b64json(parts[1]!);
    if (header.alg !== 'RS256') return 'alg must be RS256';
    if (!verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), pub, Buffer.from(parts[2]!, 'base64url'))) return 'Invalid JWT Signature.';
    if (claims.iss !== email) return 'Invalid issuer';
    if (claims.aud !== `${base}/token`) return 'Invalid JWT: aud';
    if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) return 'Invalid scope';
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!(exp > now() && exp - iat <= 3600 && iat <= now() + 60)) return 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.';
    return undefined;
  };

  const instanceBody = (i: StandInInstance): compute_v1.Schema$Instance => ({
    kind: 'compute#instance',
    id: i.id,
    name: i.name,
    status: i.status,
    zone: `https://www.googleapis.com/compute/v1/projects/${i.project}/zones/${i.zone}`,
    machineType: `https://www.googleapis.com/compute/v1/projects/${i.project}/zones/${i.zone}/machineTypes/${i.machineType}`,
    selfLink: `https://www.googleapis.com/compute/v1/projects/${i.project}/zones/${i.zone}/instances/${i.name}`,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    const query = Object.fromEntries(url.searchParams);
    calls.push({ method: req.method ?? '', path: url.pathname, query, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const body = await readBody(req, 64 * 1024, () => new Error('too large'));
    if (url.pathname === '/token') {
      if (req.method !== 'POST') return googleError(res, 405, 'Method Not Allowed');
      const form = new URLSearchParams(body);
      if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return json(res, 400, { error: 'invalid_request', error_description: 'form body required' });
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return json(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
      const why = checkAssertion(form.get('assertion') ?? '', publicKey);
      if (why) return json(res, 400, { error: 'invalid_grant', error_description: why });
      const token = `ya29.standin-${randomBytes(12).toString('hex')}`;
      tokens.push(token);
      return json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !tokens.includes(auth.slice(7))) {
      return googleError(res, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    const failure = failures.find((f) => f.count > 0 && url.pathname.includes(f.part));
    if (failure) {
      failure.count--;
      return googleError(res, failure.status, failure.message);
    }
    let m = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances\/([^/]+)(?:\/(start|stop))?$/.exec(url.pathname);
    if (m) {
      const [p, z, n, verb] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), decodeURIComponent(m[3]!), m[4]];
      const i = instances.get(key(p, z, n));
      if (!i) return googleError(res, 404, `The resource 'projects/${p}/zones/${z}/instances/${n}' was not found`);
      if (!verb) return req.method === 'GET' ? json(res, 200, instanceBody(i)) : googleError(res, 405, 'Method Not Allowed');
      if (req.method !== 'POST') return googleError(res, 405, 'Method Not Allowed');
      const name = `operation-${Date.now()}-${opSeq++}`;
      const op: compute_v1.Schema$Operation = {
        kind: 'compute#operation',
        id: String(opSeq),
        name,
        operationType: verb,
        status: 'RUNNING',
        targetLink: instanceBody(i).selfLink!,
        zone: `https://www.googleapis.com/compute/v1/projects/${p}/zones/${z}`,
        selfLink: `https://www.googleapis.com/compute/v1/projects/${p}/zones/${z}/operations/${name}`,
        progress: 0,
      };
      const failWith = server.failOperationsWith;
      operations.set(name, {
        op,
        project: p,
        zone: z,
        then: () => {
          if (failWith) op.error = { errors: [{ code: 'RESOURCE_OPERATION_FAILED', message: failWith }] };
          else i.status = verb === 'start' ? 'RUNNING' : 'TERMINATED';
        },
      });
      if (verb === 'stop' && !failWith) i.status = 'STOPPING';
      if (verb === 'start' && !failWith) i.status = 'STAGING';
      return json(res, 200, op);
    }
    m = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/operations\/([^/]+)\/wait$/.exec(url.pathname);
    if (m) {
      if (req.method !== 'POST') return googleError(res, 405, 'Method Not Allowed');
      const o = operations.get(decodeURIComponent(m[3]!));
      if (!o || o.project !== decodeURIComponent(m[1]!) || o.zone !== decodeURIComponent(m[2]!)) return googleError(res, 404, `The resource 'projects/${m[1]}/zones/${m[2]}/operations/${m[3]}' was not found`);
      if (o.op.status !== 'DONE') {
        o.then();
        o.op.status = 'DONE';
        o.op.progress = 100;
      }
      return json(res, 200, o.op);
    }
    m = /^\/v3\/projects\/([^/]+)\/timeSeries$/.exec(url.pathname);
    if (m) {
      if (req.method !== 'GET') return googleError(res, 405, 'Method Not Allowed');
      const filter = query.filter ?? '';
      const metric = /metric\.type\s*=\s*"([^"]+)"/.exec(filter)?.[1];
      if (!metric) return googleError(res, 400, 'Field filter had an invalid value: a filter must specify a metric type');
      const start = Date.parse(query['interval.startTime'] ?? '');
      const end = Date.parse(query['interval.endTime'] ?? '');
      if (!Number.isFinite(end)) return googleError(res, 400, 'Field interval.endTime had an invalid value');
      const idFilter = /resource\.labels\.instance_id\s*=\s*"([0-9]+)"/.exec(filter)?.[1];
      const project = decodeURIComponent(m[1]!);
      const series = [...instances.values()]
        .filter((i) => i.project === project && (!idFilter || i.id === idFilter) && metric === 'compute.googleapis.com/instance/cpu/utilization')
        .map((i) => {
          const nowMs = now() * 1000;
          // Newest first, as Monitoring returns points; one sample a minute ending now.
          const points = i.cpu
            .map((v, k) => ({ endMs: nowMs - (i.cpu.length - 1 - k) * 60_000, v }))
            .filter((p) => p.endMs <= end && (!Number.isFinite(start) || p.endMs - 60_000 >= start))
            .reverse()
            .map((p) => ({ interval: { startTime: new Date(p.endMs - 60_000).toISOString(), endTime: new Date(p.endMs).toISOString() }, value: { doubleValue: p.v } }));
          return {
            metric: { type: metric, labels: { instance_name: i.name } },
            resource: { type: 'gce_instance', labels: { project_id: i.project, instance_id: i.id, zone: i.zone } },
            metricKind: 'GAUGE',
            valueType: 'DOUBLE',
            points,
          };
        })
        .filter((s) => s.points.length);
      // Pages cut at pageSize points (a series split across pages repeats its header, as Monitoring's do).
      const size = Math.max(1, Math.min(Number(query.pageSize ?? 100000) || 100000, 100000));
      const offset = Number(query.pageToken ?? 0) || 0;
      const flat = series.flatMap((s) => s.points.map((p) => ({ s, p })));
      const page = flat.slice(offset, offset + size);
      const grouped = new Map<object, unknown[]>();
      for (const { s, p } of page) grouped.set(s, [...(grouped.get(s) ?? []), p]);
      const out = { timeSeries: [...grouped].map(([s, points]) => ({ ...(s as object), points })), ...(offset + size < flat.length ? { nextPageToken: String(offset + size) } : {}), unit: '10^2.%' };
      return json(res, 200, out);
    }
    googleError(res, 404, 'Not Found');
  };

  const server: GcpTestServer & { failOperationsWith?: string } = {} as GcpTestServer;
  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => googleError(res, 500, `stand-in failed: ${String(err)}`));
  });
  await new Promise<void>((resolve) => http.listen(0, host, () => resolve()));
  base = `http://${host}:${(http.address() as AddressInfo).port}`;
  Object.assign(server, {
    url: base,
    computeUrl: `${base}/compute/v1`,
    monitoringUrl: `${base}/v3`,
    tokenUri: `${base}/token`,
    keyJson: JSON.stringify({
      type: 'service_account',
      project_id: 'vm-host',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKeyPem,
      client_email: email,
      client_id: '100000000000000000001',
      token_uri: `${base}/token`,
    }),
    privateKeyPem,
    instances,
    calls,
    tokens,
    addInstance(i: Partial<StandInInstance> & Pick<StandInInstance, 'project' | 'zone' | 'name'>) {
      const full: StandInInstance = { id: String(nextId++), status: 'RUNNING', machineType: 'n1-standard-2', cpu: [], ...i };
      instances.set(key(i.project, i.zone, i.name), full);
      return full;
    },
    instance: (p: string, z: string, n: string) => instances.get(key(p, z, n)),
    failNext(part: string, status: number, message: string, count = 1) {
      failures.push({ part, status, message, count });
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  });
  return server;
}
