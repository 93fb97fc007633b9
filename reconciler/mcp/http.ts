// fleetspec mcp --listen: the Streamable HTTP transport at /mcp on a loopback address. Each POST
// carries its own Authorization: Bearer <token> and is answered by a server for that token's role
// (stateless: no session outlives a request). Bodies over 1 MiB are refused with 413 before they
// are read whole; a missing or unknown token is 401.
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { logLine } from '../escape.js';
import type { ListenAddress } from '../metrics/server.js';
import { createMcpServer, type Caller, type McpDeps } from './server.js';
import { drainAfterAnswer } from '../http-drain.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface McpHttpServer {
  url: string;
  close(): Promise<void>;
}

function jsonError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

class TooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new TooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function serveMcpHttp(deps: McpDeps, listen: ListenAddress, authenticate: (token: string | undefined) => Promise<Caller | undefined>): Promise<McpHttpServer> {
  const hostPort = (h: string, p: number) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`);
  let allowedHosts: string[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // An early answer drops the rest of the body rather than leave the sender writing into a reset.
    const early = (status: number, code: number, message: string, headers: Record<string, string> = {}) => {
      jsonError(res, status, code, message, headers);
      drainAfterAnswer(req);
    };
    if (url.pathname !== '/mcp') return early(404, -32601, 'not found: the MCP endpoint is /mcp');
    if (req.method !== 'POST') return early(405, -32000, 'method not allowed: POST JSON-RPC to /mcp (this server keeps no sessions)', { allow: 'POST' });
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const caller = await authenticate(m?.[1]);
    if (!caller) return early(401, -32001, 'unauthorized: send Authorization: Bearer <token>, a token from fleetspec mcp token ROLE', { 'www-authenticate': 'Bearer realm="fleetspec"' });
    const declared = Number(req.headers['content-length'] ?? 0);
    // No "Connection: close": Node would close the socket as soon as the answer is out.
    if (declared > MAX_BODY_BYTES) return early(413, -32000, `request body over ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof TooLarge) return early(413, -32000, `request body over ${MAX_BODY_BYTES} bytes`);
      return jsonError(res, 400, -32700, 'parse error: the body is not JSON');
    }
    const server = createMcpServer(deps, caller);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true, enableDnsRebindingProtection: true, allowedHosts });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
  const http: HttpServer = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      deps.log(`fleetspec mcp: a request failed: ${logLine(err instanceof Error ? err.message : String(err))}`);
      jsonError(res, 500, -32603, 'internal error');
    });
  });
  http.requestTimeout = 5 * 60_000;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  allowedHosts = [hostPort(listen.host, port), `localhost:${port}`];
  return {
    url: `http://${hostPort(listen.host, port)}/mcp`,
    close: () => new Promise<void>((resolve) => {
      http.closeAllConnections();
      http.close(() => resolve());
    }),
  };
}
