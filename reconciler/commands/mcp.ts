// `fleetspec mcp`: the MCP server for role agents (stdio, or Streamable HTTP on a loopback address
// with --listen), and its tokens: `mcp token ROLE` issues one (printed once), `--revoke ID` ends
// one, `mcp tokens` lists them without secrets. The server reads the trusted commit in a clone of
// its own (<repo dir>-proposals), never the loop's checkout, and proposes through it.
import { readFileSync } from 'node:fs';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { SpecRepo } from '../git/repo.js';
import { GitHub } from '../github/client.js';
import { loopConfig, type LoopConfig, type LoopOptions } from '../loop/config.js';
import { parseListen } from '../metrics/server.js';
import { authenticate, issueToken, listTokens, revokeToken } from '../mcp/auth.js';
import { rolesOf, TrustedView } from '../mcp/trusted.js';
import { NoTrustedCommit } from '../proposals/propose.js';
import type { Db } from '../state/db.js';
import { parseKey, type SecretKey } from '../state/secrets.js';
import { logLine } from '../escape.js';
import { explain } from './loop.js';
import type { Output } from './output.js';
import { printTable, withStore } from './store.js';

export interface McpOptions extends LoopOptions {
  listen?: string;
}

export interface McpTokenOptions extends LoopOptions {
  label?: string;
  revoke?: string;
  format: 'text' | 'json';
}

async function proposerClone(db: Db, opts: LoopOptions, log: (m: string) => void): Promise<{ config: LoopConfig; git: SpecRepo; github: GitHub; trusted: TrustedView }> {
  const config = await loopConfig(db, opts);
  const github = new GitHub({ owner: config.owner, repo: config.repo, token: config.token, baseUrl: config.githubApi, log });
  // The proposer's own clone: the loop's checkout moves under a running tick.
  const git = await SpecRepo.open({ dir: `${config.repoDir}-proposals`, url: config.gitUrl, token: config.token, author: config.author, progress: () => {}, ...(config.deadlines.gitMs ? { timeoutMs: config.deadlines.gitMs } : {}) });
  return { config, git, github, trusted: new TrustedView(db, config.fullName, git, config.specsPath) };
}

function failed(out: Output, command: string, err: unknown): ExitCode | undefined {
  const known = explain(err);
  if (known) {
    out.stderr(`fleetspec ${command}: ${logLine(known.message)}`, 'err');
    if (known.hint) out.stderr(`  hint: ${logLine(known.hint)}`, 'err');
    return EXIT.ERROR;
  }
  if (err instanceof NoTrustedCommit) {
    out.stderr(`fleetspec ${command}: ${logLine(err.message)}`, 'err');
    return EXIT.ERROR;
  }
  return undefined;
}

function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fleetspec' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/** Waits for SIGTERM or SIGINT, or `closed`. */
function untilStopped(closed?: Promise<void>): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(signal);
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    void closed?.then(() => stop('closed'));
  });
}

export function mcpCommand(opts: McpOptions, out: Output): Promise<ExitCode> {
  return withStore(out, 'mcp', async (db) => {
    const listen = opts.listen ? parseListen(opts.listen) : undefined;
    if (listen && 'problem' in listen) {
      out.stderr(`fleetspec mcp: --listen ${logLine(listen.problem.replace('the metrics are served', 'the MCP server is served'))}`, 'err');
      return EXIT.INVALID;
    }
    const log = (m: string) => out.stderr(m, 'warning');
    let stdioCaller: { id: number; role: string } | undefined;
    if (!listen) {
      stdioCaller = await authenticate(db, process.env.FLEETSPEC_MCP_TOKEN);
      if (!stdioCaller) {
        out.stderr(`fleetspec mcp: ${process.env.FLEETSPEC_MCP_TOKEN ? 'FLEETSPEC_MCP_TOKEN is not a valid token (unknown or revoked)' : 'FLEETSPEC_MCP_TOKEN is not set'}`, 'err');
        out.stderr('  hint: issue one with fleetspec mcp token ROLE and give it to the agent in FLEETSPEC_MCP_TOKEN', 'err');
        return EXIT.INVALID;
      }
    }
    let secretKey: SecretKey | undefined;
    let secretKeyProblem: string | undefined;
    try {
      secretKey = parseKey(process.env.FLEETSPEC_SECRET_KEY);
    } catch (err) {
      secretKeyProblem = err instanceof Error ? err.message : String(err);
    }
    try {
      const { config, git, github, trusted } = await proposerClone(db, opts, log);
      const deps = {
        db,
        repoKey: config.fullName,
        trusted,
        proposer: { db, repoKey: config.fullName, git, github, specsPath: config.specsPath, ...(config.branch ? { branch: config.branch } : {}), progress: (m: string) => out.stderr(`fleetspec mcp: ${logLine(m)}`) },
        ...(secretKey ? { secretKey } : {}),
        ...(secretKeyProblem ? { secretKeyProblem } : {}),
        version: packageVersion(),
        log: (m: string) => out.stderr(m, 'warning'),
      };
      const { createMcpServer } = await import('../mcp/server.js');
      if (listen) {
        const { serveMcpHttp } = await import('../mcp/http.js');
        const http = await serveMcpHttp(deps, listen, async (token) => {
          const found = await authenticate(db, token);
          return found ? { tokenId: found.id, role: found.role } : undefined;
        });
        out.stderr(`fleetspec mcp: serving ${config.fullName} on ${http.url} (Authorization: Bearer <token>)`);
        await untilStopped();
        await http.close();
        return EXIT.OK;
      }
      const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
      const server = createMcpServer(deps, { tokenId: stdioCaller!.id, role: stdioCaller!.role });
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        server.onclose = () => resolve();
        process.stdin.once('end', () => resolve());
      });
      await server.connect(transport);
      out.stderr(`fleetspec mcp: serving ${config.fullName} to role ${stdioCaller!.role} on stdio`);
      await untilStopped(closed);
      await server.close().catch(() => {});
      return EXIT.OK;
    } catch (err) {
      const code = failed(out, 'mcp', err);
      if (code !== undefined) return code;
      throw err;
    }
  });
}

export function mcpTokenCommand(role: string | undefined, opts: McpTokenOptions, out: Output): Promise<ExitCode> {
  return withStore(out, 'mcp token', async (db) => {
    if (opts.revoke !== undefined) {
      if (role) {
        out.stderr('fleetspec mcp token: give a ROLE to issue a token, or --revoke ID to end one, not both', 'err');
        return EXIT.INVALID;
      }
      const id = Number(opts.revoke);
      if (!Number.isInteger(id) || id < 1) {
        out.stderr(`fleetspec mcp token: --revoke takes a token id (fleetspec mcp tokens lists them), not ${JSON.stringify(logLine(opts.revoke))}`, 'err');
        return EXIT.INVALID;
      }
      const row = await revokeToken(db, id);
      if (!row) {
        out.stderr(`fleetspec mcp token: no live token ${id} (fleetspec mcp tokens lists them)`, 'err');
        return EXIT.INVALID;
      }
      if (opts.format === 'json') out.stdout(JSON.stringify({ id: row.id, role: row.role, revoked: true }));
      else out.stdout(`revoked token ${row.id} of role ${logLine(row.role)}`);
      return EXIT.OK;
    }
    if (!role) {
      out.stderr('fleetspec mcp token: give the ROLE the token acts as (fleetspec mcp token developer)', 'err');
      return EXIT.INVALID;
    }
    try {
      const { trusted } = await proposerClone(db, opts, (m) => out.stderr(m, 'warning'));
      const roles = rolesOf(await trusted.current()).filter((r) => r.type === 'role');
      if (!roles.some((r) => r.name === role)) {
        out.stderr(`fleetspec mcp token: no role ${JSON.stringify(logLine(role))} in the trusted roles spec; roles: ${roles.map((r) => r.name).join(', ') || 'none'}`, 'err');
        return EXIT.INVALID;
      }
    } catch (err) {
      const code = failed(out, 'mcp token', err);
      if (code !== undefined) return code;
      throw err;
    }
    const label = opts.label?.slice(0, 200);
    const { id, token } = await issueToken(db, role, label);
    if (opts.format === 'json') out.stdout(JSON.stringify({ id, role, ...(label ? { label } : {}), token }));
    else {
      out.stdout(token);
      out.stderr(`token ${id} for role ${role}: shown once, stored only as its SHA-256. Give it to the agent as FLEETSPEC_MCP_TOKEN (stdio) or Authorization: Bearer (HTTP); end it with fleetspec mcp token --revoke ${id}`);
    }
    return EXIT.OK;
  });
}

export function mcpTokensCommand(opts: { format: 'text' | 'json' }, out: Output): Promise<ExitCode> {
  return withStore(out, 'mcp tokens', async (db) => {
    const rows = await listTokens(db);
    if (opts.format === 'json') {
      out.stdout(JSON.stringify(rows.map((r) => ({ id: r.id, role: r.role, label: r.label, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt, revokedAt: r.revokedAt }))));
      return EXIT.OK;
    }
    if (!rows.length) {
      out.stdout('No MCP tokens (fleetspec mcp token ROLE issues one)');
      return EXIT.OK;
    }
    const when = (d: Date | null) => (d ? new Date(d).toISOString().slice(0, 19).replace('T', ' ') : '-');
    printTable(out, ['ID', 'ROLE', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'], rows.map((r) => [String(r.id), r.role, r.label ?? '', when(r.createdAt), when(r.lastUsedAt), when(r.revokedAt)]));
    return EXIT.OK;
  });
}

