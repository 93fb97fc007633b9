// fleetspec's MCP server: one SDK Server per authenticated role (stdio: the process; HTTP: each
// request). Tools are listed for what the role may call by its capabilities in the trusted roles
// spec; a call is checked again (role, capability, input against the kinds' schemas, size) before
// its handler runs, and every call is audited in mcp_audit with secret-like arguments redacted.
// Results are text plus the same as structured data; a failure is an isError result with what to
// correct, never a stack trace.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { logLine } from '../escape.js';
import type { Role } from '../kinds/roles/index.js';
import { NoTrustedCommit, type ProposerContext } from '../proposals/propose.js';
import { redactUrl } from '../redact.js';
import { findSecretLiterals } from '../specs/secrets.js';
import type { Queryable } from '../state/db.js';
import type { SecretKey } from '../state/secrets.js';
import { inputProblems } from './schemas.js';
import { PROPOSE_TOOLS } from './tools/propose.js';
import { READ_TOOLS } from './tools/read.js';
import { getSecret } from './tools/secret.js';
import { allowed, ToolError, type Outcome, type Tool, type ToolContext } from './tools/types.js';
import { rolesOf, type TrustedView } from './trusted.js';

export const TOOLS: readonly Tool[] = [...READ_TOOLS, ...PROPOSE_TOOLS, getSecret];
/** A call's arguments, as JSON, at most this long. */
export const MAX_ARGS_BYTES = 64 * 1024;

export interface McpDeps {
  db: Queryable;
  repoKey: string;
  trusted: TrustedView;
  proposer: ProposerContext;
  secretKey?: SecretKey;
  secretKeyProblem?: string;
  version: string;
  /** Diagnostics of the server itself: stderr, never stdout. */
  log(message: string): void;
}

export interface Caller {
  tokenId: number;
  role: string;
}

/** Whether `role` sees `tool` in its list: get_secret only with secrets.read and a prefix. */
export function listed(tool: Tool, role: Role): boolean {
  if (tool.class === 'secret') return role.capabilities.includes('secrets.read') && Boolean(role.mcp?.secrets?.length);
  return allowed(tool, role);
}

const SECRETISH_KEY = /secret|token|password|passwd|api.?key|credential|value/i;

/** The arguments as the audit keeps them: secret-like keys and values masked, long text cut. */
export function redactArgs(value: unknown, key = ''): unknown {
  if (SECRETISH_KEY.test(key) && key !== 'path') return '[redacted]';
  if (typeof value === 'string') {
    if (findSecretLiterals({ v: value }).length) return '[redacted]';
    const s = redactUrl(value);
    return s.length > 500 ? `${s.slice(0, 500)}…` : s;
  }
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redactArgs(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).slice(0, 50).map(([k, v]) => [k.slice(0, 100), redactArgs(v, k)]));
  return value;
}

async function auditCall(deps: McpDeps, caller: Caller, tool: string, args: unknown, outcome: Outcome, detail: string): Promise<void> {
  await deps.db
    .query(`insert into mcp_audit (role, token_id, tool, args, outcome, detail) values ($1, $2, $3, $4, $5, $6)`, [caller.role, caller.tokenId, tool.slice(0, 100), JSON.stringify(redactArgs(args ?? {})), outcome, detail.slice(0, 2000)])
    .catch((err: unknown) => deps.log(`fleetspec mcp: the audit row of ${logLine(tool)} was not written: ${logLine(err instanceof Error ? err.message : String(err))}`));
}

const failure = (e: ToolError): CallToolResult => ({
  content: [{ type: 'text', text: e.text }],
  structuredContent: { outcome: e.outcome, error: e.message, diagnostics: e.diagnostics, ...e.data },
  isError: true,
});

/** The role of the caller in the trusted roles spec, and those specs. */
async function roleOf(deps: McpDeps, caller: Caller) {
  const specs = await deps.trusted.current();
  const roles = rolesOf(specs);
  const role = roles.find((r) => r.name === caller.role);
  if (!role) throw new ToolError('refused', `role ${caller.role} is not in the trusted roles spec (roles: ${roles.map((r) => r.name).join(', ') || 'none'}); its token grants nothing`);
  return { specs, role };
}

/** Runs one tool call for `caller`: checks, the handler, the audit row. */
export async function callTool(deps: McpDeps, caller: Caller, name: string, rawArgs: unknown): Promise<CallToolResult> {
  const args = (rawArgs ?? {}) as Record<string, unknown>;
  let outcome: Outcome = 'ok';
  let detail = '';
  try {
    const tool = TOOLS.find((t) => t.name === name);
    if (!tool) throw new ToolError('invalid', `no tool "${name}"; tools: ${TOOLS.map((t) => t.name).join(', ')}`);
    const { specs, role } = await roleOf(deps, caller);
    if (tool.class !== 'secret' && !allowed(tool, role)) {
      throw new ToolError('refused', `role ${role.name} may not call ${tool.name}: it needs ${tool.capabilities.length > 1 ? 'one of ' : ''}${tool.capabilities.join(', ')}, and the trusted roles spec gives ${role.name} ${role.capabilities.join(', ') || 'no capability'}${tool.capabilities.includes('deploy.production') ? ' (a deploy-class change: only a deploying role proposes it)' : ''}`);
    }
    const size = Buffer.byteLength(JSON.stringify(args));
    if (size > MAX_ARGS_BYTES) throw new ToolError('invalid', `the arguments are ${size} bytes; at most ${MAX_ARGS_BYTES}`);
    const problems = inputProblems(tool.inputSchema, args);
    if (problems.length) throw new ToolError('invalid', `invalid input for ${tool.name}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    const ctx: ToolContext = { role, tokenId: caller.tokenId, db: deps.db, repoKey: deps.repoKey, trusted: deps.trusted, specs, proposer: deps.proposer, ...(deps.secretKey ? { secretKey: deps.secretKey } : {}), ...(deps.secretKeyProblem ? { secretKeyProblem: deps.secretKeyProblem } : {}) };
    const result = await tool.run(ctx, args);
    detail = tool.class === 'secret' ? `read ${String(args.path)}` : (result.text.split('\n')[0] ?? '');
    return { content: [{ type: 'text', text: result.text }], structuredContent: result.data };
  } catch (err) {
    const e =
      err instanceof ToolError
        ? err
        : err instanceof NoTrustedCommit
          ? new ToolError('error', err.message)
          : new ToolError('error', `${name} failed: ${logLine(err instanceof Error ? err.message : String(err))}`);
    if (!(err instanceof ToolError) && !(err instanceof NoTrustedCommit)) deps.log(`fleetspec mcp: ${logLine(name)} failed: ${logLine(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
    outcome = e.outcome;
    detail = e.message;
    return failure(e);
  } finally {
    await auditCall(deps, caller, name, args, outcome, detail);
  }
}

/** An SDK server answering for `caller`. */
export function createMcpServer(deps: McpDeps, caller: Caller): Server {
  const server = new Server({ name: 'fleetspec', version: deps.version }, { capabilities: { tools: {} }, instructions: 'fleetspec: read the fleet as the trusted commit describes it, and propose changes as pull requests. Agents propose; people approve and merge; nothing a tool does is applied.' });
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const { role } = await roleOf(deps, caller).catch(() => ({ role: undefined }));
    return {
      tools: TOOLS.filter((t) => role && listed(t, role)).map((t) => ({
        name: t.name,
        description: `${t.description}${t.capabilities.length && t.class !== 'secret' ? ` Needs ${t.capabilities.join(' or ')}.` : ''}`,
        inputSchema: t.inputSchema as { type: 'object'; [k: string]: unknown },
        annotations: { readOnlyHint: t.class !== 'propose', destructiveHint: false, openWorldHint: false },
      })),
    };
  });
  server.setRequestHandler(CallToolRequestSchema, async (request) => callTool(deps, caller, request.params.name, request.params.arguments));
  return server;
}
