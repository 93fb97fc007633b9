// fleetspec mcp end to end, with the SDK's own client: the built CLI over stdio and over
// Streamable HTTP, against a copy of this repository's fleet (specs, stacks, policies) in a bare
// repository behind git http-backend, the OpenAPI-checked GitHub stand-in, and the store. One tick
// of the loop makes the trusted commit; role tokens come from `fleetspec mcp token`. Agents read
// the trusted fleet, propose changes that arrive as the bot's pull requests with their offline
// plans, are refused what their role may not do, and get located problems back.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db, type OpenOptions } from '../../reconciler/state/db.js';
import { generateKey, parseKey, setSecret } from '../../reconciler/state/secrets.js';
import { startGitServer, type GitTestServer } from '../git/http-backend.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { ENGINES } from '../state/engines.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const TOKEN = 'ghp_mcpTest0123456789abcdefABCDEFabcdef01';
const OWNER = 'acme';
const REPO = 'fleet';
const SECRET_KEY = generateKey();

type Result = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
const text = (r: Result) => r.content.map((c) => c.text ?? '').join('\n');

describe('fleetspec mcp', () => {
  let gitServer: GitTestServer;
  let gh: GitHubTestServer;
  let options: OpenOptions;
  let cleanup: () => Promise<void>;
  let db: Db;
  let work: string;
  const tokens: Record<string, { id: number; token: string }> = {};
  const clients: Client[] = [];
  let http: ChildProcess | undefined;
  let httpUrl: string;

  const env = (extra: Record<string, string> = {}): Record<string, string> => {
    const { DATABASE_URL: _, FLEETSPEC_SECRET_KEY: __, GITHUB_TOKEN: ___, FLEETSPEC_MCP_TOKEN: ____, ...rest } = process.env;
    return {
      ...(rest as Record<string, string>),
      NO_COLOR: '1',
      FLEETSPEC_GITHUB_REPO: `${OWNER}/${REPO}`,
      FLEETSPEC_GITHUB_TOKEN: TOKEN,
      FLEETSPEC_GIT_URL: gitServer.url(REPO),
      FLEETSPEC_GITHUB_API: gh.url,
      FLEETSPEC_BRANCH: 'main',
      FLEETSPEC_REPO_DIR: join(work, 'repo'),
      FLEETSPEC_WORK_DIR: join(work, 'terraform'),
      FLEETSPEC_SSH_KEY: join(work, 'no-key'),
      FLEETSPEC_TERRAFORM: join(work, 'no-terraform'),
      FLEETSPEC_DASHBOARD: 'off',
      FLEETSPEC_FINDING_TICKETS: 'none',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : { FLEETSPEC_STATE_DIR: options.stateDir! }),
      ...extra,
    };
  };
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [BIN, ...args], { cwd: work, env: env(extra), encoding: 'utf8', timeout: 180_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
      child.stdin?.end();
    });
  const stdioClient = async (role: string, extra: Record<string, string> = {}): Promise<Client> => {
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], env: env({ FLEETSPEC_MCP_TOKEN: tokens[role]!.token, ...extra }), cwd: work, stderr: 'pipe' });
    const client = new Client({ name: `test-${role}`, version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return client;
  };
  const httpClient = async (token: string): Promise<Client> => {
    const transport = new StreamableHTTPClientTransport(new URL(httpUrl), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    const client = new Client({ name: 'test-http', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return client;
  };
  const call = (client: Client, name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }, undefined, { timeout: 180_000 }) as Promise<Result>;
  const pulls = () => [...gh.repo().pulls.values()];
  const audit = (tool: string) => db.query<{ role: string; outcome: string; args: unknown; detail: string }>(`select role, outcome, args, detail from mcp_audit where tool = $1 order by id`, [tool]);

  beforeAll(async () => {
    const engine = ENGINES.at(-1)!;
    const fresh = await engine.fresh();
    options = fresh.options;
    cleanup = fresh.cleanup;
    db = await openDb(options);
    work = await mkdtemp(join(tmpdir(), 'fleetspec-mcp-'));
    gitServer = await startGitServer({ token: TOKEN });
    gh = await startGitHubServer({ owner: OWNER, repo: REPO, token: TOKEN, defaultBranch: 'main', login: 'fleetspec-bot', resolveBranch: (branch) => gitServer.git(REPO, 'rev-parse', `refs/heads/${branch}`) });
    // This repository's fleet, and a role that may read one project's secrets through get_secret.
    const files: Record<string, string> = {};
    for (const folder of ['specs', 'stacks', 'policies']) {
      for (const name of await readdir(join(ROOT, folder), { recursive: true })) {
        if (/\.(ya?ml|json|tf)$/.test(name)) files[`${folder}/${name}`] = await readFile(join(ROOT, folder, name), 'utf8');
      }
    }
    files['specs/roles/keeper.yaml'] = [
      'kind: Role',
      'name: keeper',
      'type: role',
      'description: Reads the consilio project secrets for its deploy scripts',
      'ssh: { user: keeper, port: 2290 }',
      'capabilities: [secrets.read, tests.run]',
      'mcp:',
      '  secrets: [projects/consilio/]',
      '',
    ].join('\n');
    await gitServer.createBare(REPO, files);
    // One tick: the baseline, which is the trusted commit proposals start from.
    const tick = await cli(['reconcile', '-q']);
    expect(tick.stderr).toBe('');
    expect(tick.code).toBe(0);
    for (const role of ['developer', 'manager', 'monitor', 'keeper']) {
      const issued = await cli(['mcp', 'token', role, '--label', `${role} agent`, '--format', 'json']);
      expect(issued.code, issued.stderr).toBe(0);
      tokens[role] = JSON.parse(issued.stdout) as { id: number; token: string };
    }
    await setSecret(db, parseKey(SECRET_KEY), 'projects/consilio/db_password', Buffer.from('hunter2-consilio'), 'test', ['roles/keeper']);
    await setSecret(db, parseKey(SECRET_KEY), 'projects/other/db_password', Buffer.from('other-secret'), 'test', ['roles/keeper']);

    // The HTTP server, on a port of its choosing.
    http = spawn(process.execPath, [BIN, 'mcp', '--listen', '127.0.0.1:0'], { cwd: work, env: env({ FLEETSPEC_SECRET_KEY: SECRET_KEY }), stdio: ['ignore', 'pipe', 'pipe'] });
    httpUrl = await new Promise<string>((resolve, reject) => {
      let err = '';
      http!.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        const m = / on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(err);
        if (m) resolve(m[1]!);
      });
      http!.once('exit', (code) => reject(new Error(`mcp --listen exited ${code}: ${err}`)));
    });
  }, 240_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    if (http && http.exitCode === null) {
      const exited = new Promise((r) => http!.once('exit', r));
      http.kill('SIGTERM');
      await exited;
    }
    await gh?.close();
    await gitServer?.close();
    await db?.close();
    await cleanup?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('issues tokens once, stores only their hashes, lists them without secrets, and names the roles when one is unknown', async () => {
    expect(tokens.developer!.token).toMatch(/^fmcp_[A-Za-z0-9_-]{43}$/);
    const stored = await db.query<{ token_sha256: string }>(`select token_sha256 from mcp_tokens`);
    expect(JSON.stringify(stored)).not.toContain(tokens.developer!.token);
    const listed = await cli(['mcp', 'tokens', '--format', 'json']);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as { role: string; label: string }[];
    expect(rows.map((r) => r.role)).toEqual(['developer', 'manager', 'monitor', 'keeper']);
    expect(listed.stdout).not.toContain('fmcp_');
    const unknown = await cli(['mcp', 'token', 'intruder']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no role "intruder" in the trusted roles spec; roles: ');
    expect(unknown.stderr).toMatch(/roles: .*developer.*manager/);
    expect(unknown.stdout).toBe('');
  });

  it('over stdio: lists the tools the role may call and reads ports and tickets from the trusted commit', async () => {
    const dev = await stdioClient('developer');
    const { tools } = await dev.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['get_port', 'list_ports', 'list_tickets', 'list_hosts', 'list_models', 'list_dns', 'get_plan', 'list_runs', 'allocate_port', 'ticket_work']));
    // Deploy-class tools, ticket creation and secrets are not the developer's.
    for (const absent of ['add_dns_name', 'set_model', 'resize_vm', 'set_vm_power', 'ticket_create', 'get_secret']) expect(names).not.toContain(absent);
    // Inputs are described by the kinds' own schemas.
    const getPort = tools.find((t) => t.name === 'get_port')!;
    expect((getPort.inputSchema.properties as Record<string, { pattern?: string }>).project!.pattern).toBe('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');

    const port = await call(dev, 'get_port', { project: 'consilio', service: 'api' });
    expect(port.isError).toBeFalsy();
    expect(port.structuredContent).toMatchObject({ project: 'consilio', service: 'api', port: 4001, range: { start: 4000, end: 4999 } });
    expect(text(port)).toBe('consilio/api: 4001');
    const tickets = await call(dev, 'list_tickets', { status: 'open' });
    const list = (tickets.structuredContent as { tickets: { id: string; status: string }[] }).tickets;
    expect(list.map((t) => t.id)).toContain('T-0001');
    expect(list.every((t) => t.status === 'open')).toBe(true);
    const dns = await call(dev, 'list_dns', {});
    expect((dns.structuredContent as { records: unknown[] }).records).toContainEqual(expect.objectContaining({ name: 'api.consilio.153.se', route: 'consilio/api', port: 4001 }));
    const models = await call(dev, 'list_models', { host: 'ai' });
    expect((models.structuredContent as { hosts: { host: string; used: { ram: string }; capacity: { ram: string } }[] }).hosts[0]).toMatchObject({ host: 'ai', capacity: { ram: '32GB' } });
    const runs = await call(dev, 'list_runs', { limit: 5 });
    expect((runs.structuredContent as { runs: { state: string }[] }).runs.length).toBeGreaterThan(0);
    const who = await call(dev, 'whoami', {});
    expect(who.structuredContent).toMatchObject({ role: 'developer', capabilities: expect.arrayContaining(['code.push']) });
    // Each call is audited with its role and outcome.
    expect((await audit('get_port')).at(-1)).toMatchObject({ role: 'developer', outcome: 'ok' });
  }, 120_000);

  it('over stdio: a port allocation becomes the bot\'s pull request with the role, the reason and the offline plan', async () => {
    const dev = clients[0] ?? (await stdioClient('developer'));
    const started = Date.now();
    const r = await call(dev, 'allocate_port', { project: 'consilio', service: 'web', reason: 'the consilio web front end needs a port for its dev server' });
    const elapsed = Date.now() - started;
    expect(r.isError, text(r)).toBeFalsy();
    const data = r.structuredContent as { pr: string; number: number; branch: string; plan: { mode: string; summary: { add: number; change: number } }; files: string[] };
    expect(data.files).toEqual(['specs/ports/consilio.yaml']);
    expect(data.plan.mode).toBe('offline');
    expect(text(r)).toContain(`pull request #${data.number}`);
    expect(text(r)).toContain('The loop plans it live at its next tick');
    const pr = gh.repo().pulls.get(data.number)!;
    expect(pr).toMatchObject({ state: 'open', head: { ref: data.branch } });
    expect(data.branch).toMatch(/^fleetspec\/proposal\/developer-allocate-port-4000-to-consilio-web-[0-9a-f]{6}$/);
    expect(pr.title).toBe('Allocate port 4000 to consilio/web');
    expect(pr.body).toContain('Proposed by the agent of role `developer`');
    expect(pr.body).toContain('the consilio web front end needs a port for its dev server');
    expect(pr.body).toContain('Offline plan at proposal time');
    expect(pr.labels).toContain('fleetspec:proposal');
    // The spec edited in place: comments kept, the allocation added.
    const spec = gitServer.git(REPO, 'show', `${data.branch}:specs/ports/consilio.yaml`);
    expect(spec).toContain("# Seed 003: getPort('consilio', 'api') returns 4001");
    expect(parse(spec).allocations).toEqual([{ service: 'api', port: 4001 }, { service: 'web', port: 4000 }]);
    const message = gitServer.git(REPO, 'log', '-1', '--format=%an%n%B', data.branch);
    expect(message).toContain('Proposed by role developer (MCP): the consilio web front end needs a port');
    // The people behind the role count as its authors.
    const [row] = await db.query<{ role: string; via: string; pr: number }>(`select role, via, pr from proposals where branch = $1`, [data.branch]);
    expect(row).toEqual({ role: 'developer', via: 'mcp', pr: data.number });
    const notYet = await call(dev, 'get_proposal', { pr: data.number });
    expect(text(notYet)).toContain('is not planned yet: the loop plans it at its next tick');
    console.log(`mcp: allocate_port, tool call to PR: ${elapsed} ms`);
  }, 180_000);

  it('refuses a developer a deploy-class proposal, and says why', async () => {
    const dev = clients[0] ?? (await stdioClient('developer'));
    const before = pulls().length;
    const r = await call(dev, 'add_dns_name', { name: 'web.consilio.153.se', zone: '153.se', route: 'consilio/api', reason: 'expose it' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('role developer may not call add_dns_name: it needs deploy.production');
    expect(r.structuredContent).toMatchObject({ outcome: 'refused' });
    expect(pulls().length).toBe(before);
    expect((await audit('add_dns_name')).at(-1)).toMatchObject({ role: 'developer', outcome: 'refused' });
    // The monitor deploys: the same call is proposed for it.
    const monitor = await stdioClient('monitor');
    const ok = await call(monitor, 'add_dns_name', { name: 'web.consilio.153.se', zone: '153.se', route: 'consilio/api', reason: 'the web front end goes public' });
    expect(ok.isError, text(ok)).toBeFalsy();
    const spec = parse(gitServer.git(REPO, 'show', `${(ok.structuredContent as { branch: string }).branch}:specs/dns/web.consilio.153.se.yaml`));
    expect(spec).toMatchObject({ kind: 'DnsRecord', name: 'web.consilio.153.se', type: 'CNAME', target: 'tunnel.153.se', route: 'consilio/api' });
  }, 180_000);

  it('returns the located diagnostics of a proposal that fails validation or policy', async () => {
    const dev = clients[0] ?? (await stdioClient('developer'));
    // 5001 is outside consilio's 4000-4999: the schema accepts the port, the ports policy does not.
    const r = await call(dev, 'allocate_port', { project: 'consilio', service: 'admin', port: 5001, reason: 'admin console' });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ outcome: 'invalid' });
    const diagnostics = (r.structuredContent as { diagnostics: { file: string; line: number; message: string }[] }).diagnostics;
    expect(diagnostics.some((d) => d.file === 'specs/ports/consilio.yaml' && d.line > 1 && d.message.includes('5001'))).toBe(true);
    expect(text(r)).toMatch(/specs\/ports\/consilio\.yaml:\d+:\d+ .*5001/);
    expect(text(r)).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('over HTTP: authenticates each request, creates a ticket as the manager, and refuses bad tokens and oversize bodies', async () => {
    const manager = await httpClient(tokens.manager!.token);
    const names = (await manager.listTools()).tools.map((t) => t.name);
    expect(names).toContain('ticket_create');
    const r = await call(manager, 'ticket_create', { title: 'Rotate the consilio database password', priority: 'high', assignee: 'monitor', reason: 'quarterly rotation' });
    expect(r.isError, text(r)).toBeFalsy();
    const data = r.structuredContent as { number: number; branch: string; files: string[] };
    expect(data.files).toEqual(['specs/tickets/T-0008.yaml']);
    const ticket = parse(gitServer.git(REPO, 'show', `${data.branch}:specs/tickets/T-0008.yaml`));
    expect(ticket).toEqual({ kind: 'Ticket', id: 'T-0008', title: 'Rotate the consilio database password', priority: 'high', assignee: 'monitor', status: 'open' });
    expect(gh.repo().pulls.get(data.number)!.body).toContain('Proposed by the agent of role `manager`');
    // A second ticket takes the next id, though the first is only a pull request.
    const second = await call(manager, 'ticket_create', { title: 'Another', reason: 'a second one' });
    expect((second.structuredContent as { files: string[] }).files).toEqual(['specs/tickets/T-0009.yaml']);

    const post = (headers: Record<string, string>, body: string) => fetch(httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body });
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const none = await post({}, init);
    expect(none.status).toBe(401);
    expect(await none.text()).toContain('send Authorization: Bearer <token>');
    const forged = await post({ authorization: `Bearer fmcp_${'A'.repeat(43)}` }, init);
    expect(forged.status).toBe(401);
    await expect(httpClient('fmcp_nottherealtoken')).rejects.toThrow();
    const huge = await post({ authorization: `Bearer ${tokens.manager!.token}` }, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_port', arguments: { project: 'x'.repeat(2 * 1024 * 1024) } } }));
    expect(huge.status).toBe(413);
    // Sent in chunks with no length declared: cut off at the limit all the same.
    const chunk = new TextEncoder().encode('x'.repeat(256 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const chunked = await fetch(httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${tokens.manager!.token}` }, body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    // A body under the HTTP limit but over the tool's: refused as input, not run.
    const big = await call(manager, 'ticket_create', { title: 'Big', description: 'x'.repeat(100_000), reason: 'too big' });
    expect(big.isError).toBe(true);
    expect(text(big)).toMatch(/the arguments are \d+ bytes; at most 65536/);
  }, 240_000);

  it('refuses inputs outside the schema, and keeps hostile text as data', async () => {
    const dev = clients[0] ?? (await stdioClient('developer'));
    for (const project of ['../../etc', 'consilio\n', 'consilio; rm -rf /', 'Consilio']) {
      const r = await call(dev, 'get_port', { project, service: 'api' });
      expect(r.isError, project).toBe(true);
      expect(text(r)).toContain('invalid input for get_port');
      expect(text(r)).toContain('project');
      expect(r.structuredContent).toMatchObject({ outcome: 'invalid' });
    }
    const extra = await call(dev, 'get_port', { project: 'consilio', service: 'api', sneaky: true });
    expect(text(extra)).toContain('invalid input for get_port');
    const outOfRange = await call(dev, 'allocate_port', { project: 'consilio', service: 'x', port: 70000, reason: 'a port' });
    expect(outOfRange.isError).toBe(true);
    expect(text(outOfRange)).toMatch(/port/);
    const unknownTool = await call(dev, 'rm_rf', {});
    expect(text(unknownTool)).toContain('no tool "rm_rf"');

    // Hostile text in free-text fields: quoted in YAML, one line in the PR title, escaped in its body.
    const monitor = await stdioClient('monitor');
    const title = 'Fix it\n# Heading [click](http://evil.example) `$(reboot)` <img src=x onerror=alert(1)> ; rm -rf / && echo pwned';
    const reason = 'because ](http://evil.example) <script>alert(1)</script>\n\n## injected heading';
    const r = await call(dev, 'ticket_work', { id: 'T-0001', reason });
    expect(r.isError, text(r)).toBeFalsy();
    const pr = gh.repo().pulls.get((r.structuredContent as { number: number }).number)!;
    expect(parse(gitServer.git(REPO, 'show', `${pr.head.ref}:specs/tickets/T-0001.yaml`))).toMatchObject({ id: 'T-0001', status: 'in_progress', assignee: 'developer' });
    expect(await call(monitor, 'ticket_work', { id: 'T-0002', reason: 'start it' }).then(text)).toContain('role monitor may not call ticket_work');
    expect(pr.body).not.toContain('<script>');
    expect(pr.body).not.toContain('\n## injected heading');
    expect(pr.body).not.toContain('](http://evil.example)');
    const keeper = await stdioClient('keeper');
    expect(text(await call(keeper, 'ticket_create', { title, reason }))).toContain('role keeper may not call ticket_create');
    const manager = await stdioClient('manager');
    const created = await call(manager, 'ticket_create', { title, description: 'line one\n---\nkind: Role\nname: root', reason });
    expect(created.isError, text(created)).toBeFalsy();
    const { branch, number, files } = created.structuredContent as { branch: string; number: number; files: string[] };
    const ticket = parse(gitServer.git(REPO, 'show', `${branch}:${files[0]}`));
    expect(ticket.title).toBe(title);
    expect(ticket.description).toBe('line one\n---\nkind: Role\nname: root');
    expect(files).toEqual([expect.stringMatching(/^specs\/tickets\/T-\d{4}\.yaml$/)]);
    const opened = gh.repo().pulls.get(number)!;
    expect(opened.title).not.toContain('\n');
    expect(opened.body).not.toContain('<script>');
    expect(branch).toMatch(/^fleetspec\/proposal\/manager-ticket-t-\d{4}-fix-it-[a-z0-9-]*$/);
    // A secret value in a proposal is refused before anything is written, and the audit keeps it redacted.
    const leaked = 'ghp_' + 'Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2';
    const before = pulls().length;
    const secret = await call(manager, 'ticket_create', { title: 'Use this token', description: `token: ${leaked}`, reason: 'please' });
    expect(secret.isError).toBe(true);
    expect((secret.structuredContent as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code)).toContain('proposal.secret');
    expect(text(secret)).not.toContain(leaked);
    expect(pulls().length).toBe(before);
    const row = (await audit('ticket_create')).at(-1)!;
    expect(row.outcome).toBe('invalid');
    expect(JSON.stringify(row)).not.toContain(leaked);
  }, 180_000);

  it('get_secret: off for roles without secrets.read, under named prefixes for those with it, every call audited', async () => {
    const dev = await stdioClient('developer', { FLEETSPEC_SECRET_KEY: SECRET_KEY });
    const refused = await call(dev, 'get_secret', { path: 'projects/consilio/db_password' });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain('lacks the secrets.read capability');
    expect(text(refused)).not.toContain('hunter2');
    const keeper = await httpClient(tokens.keeper!.token);
    expect((await keeper.listTools()).tools.map((t) => t.name)).toContain('get_secret');
    const got = await call(keeper, 'get_secret', { path: 'projects/consilio/db_password' });
    expect(got.isError, text(got)).toBeFalsy();
    expect(got.structuredContent).toEqual({ path: 'projects/consilio/db_password', value: 'hunter2-consilio' });
    const outside = await call(keeper, 'get_secret', { path: 'projects/other/db_password' });
    expect(outside.isError).toBe(true);
    expect(text(outside)).toContain("under none of role keeper's prefixes (projects/consilio/)");
    expect(text(outside)).not.toContain('other-secret');
    const rows = await audit('get_secret');
    expect(rows.map((r) => [r.role, r.outcome])).toEqual([
      ['developer', 'refused'],
      ['keeper', 'ok'],
      ['keeper', 'refused'],
    ]);
    expect(JSON.stringify(rows)).not.toContain('hunter2');
    const secretAudit = await db.query<{ path: string; action: string; actor: string; ok: boolean }>(`select path, action, actor, ok from secret_audit where actor like 'mcp:%' order by id`);
    expect(secretAudit).toEqual([
      { path: 'projects/consilio/db_password', action: 'deny', actor: 'mcp:developer', ok: false },
      { path: 'projects/consilio/db_password', action: 'get', actor: 'mcp:keeper', ok: true },
      { path: 'projects/other/db_password', action: 'deny', actor: 'mcp:keeper', ok: false },
    ]);
  }, 120_000);

  it('proposes model, VM, ticket and role LLM changes for the roles that hold their capabilities, editing files in place', async () => {
    const monitor = await stdioClient('monitor');
    const show = (r: Result, path: string) => gitServer.git(REPO, 'show', `${(r.structuredContent as { branch: string }).branch}:${path}`);
    const added = await call(monitor, 'set_model', { host: 'ai', name: 'llama3.2:1b', memory: { ram: '1GB' }, purpose: 'Small and quick', reason: 'a quick model for triage' });
    expect(added.isError, text(added)).toBeFalsy();
    const models = show(added, 'specs/models/ai.yaml');
    expect(models).toContain('# Seed 004, "Model Deployment"');
    expect(models.split(/^---$/m).map((d) => parse(d).name)).toEqual(['qwen2.5:3b', 'qwen2.5:7b', 'nomic-embed-text', 'llama3.2:1b']);
    const removed = await call(monitor, 'remove_model', { host: 'ai', name: 'qwen2.5:7b', reason: 'unused' });
    expect(removed.isError, text(removed)).toBeFalsy();
    expect(show(removed, 'specs/models/ai.yaml').split(/^---$/m).map((d) => parse(d).name)).toEqual(['qwen2.5:3b', 'nomic-embed-text']);
    // Over the host's memory: the model-memory policy refuses it, located in the file.
    const over = await call(monitor, 'set_model', { host: 'ai', name: 'huge:70b', memory: { ram: '40GB' }, reason: 'bigger is better' });
    expect(over.isError).toBe(true);
    expect(text(over)).toMatch(/specs\/models\/ai\.yaml:\d+:\d+ .*RAM/);
    const resized = await call(monitor, 'resize_vm', { name: 'supervisor-vm', machineType: 'n1-standard-4', reason: 'CPU above 85% for two hours' });
    expect(resized.isError, text(resized)).toBeFalsy();
    const vm = show(resized, 'specs/vms/supervisor-vm.yaml');
    expect(vm).toContain('# Seed 003, GCloud Integration.');
    expect(parse(vm).machineType).toBe('n1-standard-4');
    const stopped = await call(monitor, 'set_vm_power', { name: 'supervisor-vm', running: false, reason: 'idle over the weekend' });
    expect(stopped.isError, text(stopped)).toBeFalsy();
    expect(parse(show(stopped, 'specs/vms/supervisor-vm.yaml'))).toMatchObject({ machineType: 'n1-standard-2', running: false });
    // Offline, the power change cannot be judged (the status is read live, by the loop's plan of the PR): the plan says so.
    expect((stopped.structuredContent as { plan: { unknown: { kind: string; name: string; reason: string }[] } }).plan.unknown).toContainEqual(
      expect.objectContaining({ kind: 'vms', name: 'supervisor-vm', reason: expect.stringContaining("running: false is judged against the VM's live status") }),
    );
    const manager = await stdioClient('manager');
    const llm = await call(manager, 'set_role_llm', { role: 'developer', model: 'qwen/qwen-2.5-coder-32b-instruct', reason: 'a better coding model' });
    expect(llm.isError, text(llm)).toBeFalsy();
    expect(parse(show(llm, 'specs/roles/developer.yaml')).llm).toMatchObject({ provider: 'openrouter', model: 'qwen/qwen-2.5-coder-32b-instruct' });
    const dev = clients[0]!;
    expect(text(await call(dev, 'set_role_llm', { role: 'developer', model: 'x/y', reason: 'my own model' }))).toContain('needs llm.configure');
    const done = await call(dev, 'ticket_done', { id: 'T-0003', reason: 'the disks are mounted' });
    expect(done.isError, text(done)).toBeFalsy();
    expect(parse(show(done, 'specs/tickets/T-0003.yaml')).status).toBe('closed');
  }, 240_000);

  it('stdio refuses to start without a valid token, with nothing on stdout; a revoked token stops working', async () => {
    const revoked = await cli(['mcp', 'token', '--revoke', String(tokens.manager!.id)]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked token ${tokens.manager!.id} of role manager`);
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const after = await fetch(httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${tokens.manager!.token}` }, body: init });
    expect(after.status).toBe(401);
    const none = await cli(['mcp']);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('FLEETSPEC_MCP_TOKEN is not set');
    const bad = await cli(['mcp'], { FLEETSPEC_MCP_TOKEN: tokens.manager!.token });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('not a valid token (unknown or revoked)');
    const remote = await cli(['mcp', '--listen', '0.0.0.0:7777']);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toContain('0.0.0.0 is not a loopback address');
  }, 60_000);

  it('the loop plans a proposal live at its next tick', async () => {
    const proposal = pulls().find((p) => p.title === 'Allocate port 4000 to consilio/web')!;
    const started = Date.now();
    const tick = await cli(['reconcile', '-q']);
    expect(tick.code, tick.stderr + tick.stdout).toBe(0);
    const plan = gh.repo().issueComments.find((c) => c.issue === proposal.number && c.body.includes('<!-- fleetspec:plan -->'));
    expect(plan, `the live plan comment; comments: ${JSON.stringify(gh.repo().issueComments.filter((c) => c.issue === proposal.number).map((c) => c.body.slice(0, 300)))}; tick: ${tick.stdout.slice(0, 3000)}`).toBeDefined();
    expect(plan!.body).toContain('consilio');
    const dev = clients[0]!;
    const planned = await call(dev, 'get_proposal', { pr: proposal.number });
    expect(planned.isError, text(planned)).toBeFalsy();
    expect(planned.structuredContent).toMatchObject({ pr: proposal.number, role: 'developer', via: 'mcp', planned: { mode: 'live', verdict: { status: expect.any(String) } } });
    expect(text(planned)).toContain(`#${proposal.number} planned live`);
    const current = await call(dev, 'get_plan', {});
    expect(current.isError, text(current)).toBeFalsy();
    expect(current.structuredContent).toMatchObject({ verdict: { status: expect.stringMatching(/^(pass|warn|fail)$/) }, summary: expect.any(Object) });
    const hosts = await call(dev, 'list_hosts', { name: 'ai' });
    expect((hosts.structuredContent as { hosts: { name: string; address: string }[] }).hosts).toEqual([expect.objectContaining({ name: 'ai', address: '192.168.86.56' })]);
    console.log(`mcp: the loop's tick that planned the proposals live took ${Date.now() - started} ms`);
  }, 240_000);
});
