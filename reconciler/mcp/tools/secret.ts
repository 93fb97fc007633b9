// get_secret: off by default. A role reads a secret only with the secrets.read capability and a
// path under one of the prefixes its trusted roles spec names (mcp.secrets); fleetspec's own
// secrets (no scope: its GitHub token, its LLM key) are never handed out. Every call, allowed or
// refused, is in the secret store's audit (secret_audit) as well as mcp_audit; the value goes only
// to the caller.
import { audit, getScopedSecret, SECRET_PATH } from '../../state/secrets.js';
import { inputSchema } from '../schemas.js';
import { ToolError, type Tool } from './types.js';

export const getSecret: Tool = {
  name: 'get_secret',
  description: "A secret's value, for a role granted secrets.read on a prefix of its path (mcp.secrets in its roles spec). Every call is audited, never the value.",
  class: 'secret',
  capabilities: ['secrets.read'],
  inputSchema: inputSchema({ path: { type: 'string', pattern: SECRET_PATH.source, maxLength: 200, description: 'the secret path, such as projects/consilio/db_password' } }, ['path']),
  async run(ctx, args) {
    const path = args.path as string;
    const actor = `mcp:${ctx.role.name}`;
    const prefixes = ctx.role.mcp?.secrets ?? [];
    const refuse = async (why: string, hint: string) => {
      await audit(ctx.db, path, 'deny', actor, false, why);
      throw new ToolError('refused', `get_secret ${path}: ${why}; ${hint}`);
    };
    if (!ctx.role.capabilities.includes('secrets.read')) return refuse(`role ${ctx.role.name} lacks the secrets.read capability`, 'a person grants it in specs/roles, with mcp.secrets prefixes');
    if (!prefixes.some((p) => path.startsWith(p))) return refuse(`${path} is under none of role ${ctx.role.name}'s prefixes (${prefixes.join(', ') || 'none'})`, 'a person adds the prefix to mcp.secrets in specs/roles');
    if (!ctx.secretKey) throw new ToolError('error', `get_secret: the MCP server has no secret key: ${ctx.secretKeyProblem ?? 'FLEETSPEC_SECRET_KEY is not set'}`);
    const found = await getScopedSecret(ctx.db, ctx.secretKey, path, actor);
    if (!found) throw new ToolError('invalid', `no secret ${path}`);
    if (!found.scope.length) return refuse(`${path} is fleetspec's own secret`, 'fleetspec never hands out its own secrets');
    return { text: found.value.toString('utf8'), data: { path, value: found.value.toString('utf8') } };
  },
};
