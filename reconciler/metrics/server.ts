// `fleetspec daemon --listen host:port`: /metrics (Prometheus text format) and /healthz, on a
// loopback address only. The daemon's port is no public service: anything that can reach it can
// read the fleet's queue and token spend, so a non-loopback address is refused, not bound.
// POST /webhook takes GitHub's deliveries (webhooks/receiver.ts), reaching it through a tunnel.
import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import type { FleetMetrics } from './registry.js';
import type { WebhookHandler } from '../webhooks/receiver.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** host:port ([::1]:port for IPv6) on loopback, or the reason it is refused. */
export function parseListen(text: string): ListenAddress | { problem: string } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return { problem: `"${text}" is not host:port (for example 127.0.0.1:9464)` };
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port > 65535) return { problem: `port ${port} is out of range (0-65535)` };
  if (host === 'localhost') return { host: '127.0.0.1', port };
  const family = isIP(host);
  const loopback = (family === 4 && /^127\./.test(host)) || (family === 6 && new URL(`http://[${host}]/`).hostname === '[::1]');
  if (!family) return { problem: `"${host}" is not an IP address; give a loopback address such as 127.0.0.1 or [::1]` };
  if (!loopback) return { problem: `${host} is not a loopback address: the metrics are served on 127.0.0.0/8 or ::1 only (a scraper on another machine reaches them through a tunnel or a proxy of its own)` };
  return { host, port };
}

/**
 * Health: a successful tick younger than two schedule intervals. Before the first one the daemon
 * counts as healthy for two intervals from its start (a first clone takes a while).
 */
export class Health {
  private lastSuccessAt: number | undefined;
  private lastProblem: string | undefined;
  constructor(
    readonly intervalMs: number,
    private readonly startedAt = Date.now(),
  ) {}

  succeeded(at = Date.now()): void {
    this.lastSuccessAt = at;
    this.lastProblem = undefined;
  }

  failed(why: string): void {
    this.lastProblem = why;
  }

  /** undefined when healthy, else why not, in one line. */
  problem(now = Date.now()): string | undefined {
    const limit = 2 * this.intervalMs;
    const since = this.lastSuccessAt ?? this.startedAt;
    if (now - since < limit) return undefined;
    const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
    const last = this.lastSuccessAt === undefined ? `no tick has succeeded since the start ${seconds(now - since)} ago` : `the last successful tick was ${seconds(now - since)} ago`;
    return `${last}, longer than two schedule intervals (${seconds(limit)})${this.lastProblem ? `; the last tick: ${this.lastProblem}` : ''}`;
  }
}

export interface MetricsServer {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

/** `webhook`: the handler for POST /webhook, or why webhooks are off (answered 404). */
export async function serveMetrics(address: ListenAddress, metrics: FleetMetrics, health: Health, webhook: WebhookHandler | string = 'webhooks are off'): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/webhook') {
      if (typeof webhook === 'string') res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`${webhook}\n`);
      else webhook(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET\n');
      return;
    }
    if (path === '/metrics') {
      metrics.expose().then(
        ({ body, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const problem = health.problem();
      res.writeHead(problem ? 503 : 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(problem ? `unhealthy: ${problem}\n` : 'ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics or /healthz\n');
  });
  // A scraper's kept connection must not hold the process open after a stop.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
