// What every MCP tool is: a name, a description, an input schema from the kinds' schemas, the
// capability a role needs to call it (none: every authenticated role), and a handler that returns
// text for the agent plus the same as structured data.
import type { Diagnostic } from '../../diagnostics.js';
import { formatDiagnostic } from '../../diagnostics.js';
import type { Capability, Role } from '../../kinds/roles/index.js';
import type { JsonSchema } from '../../kinds/kind.js';
import type { ProposerContext } from '../../proposals/propose.js';
import type { Queryable } from '../../state/db.js';
import type { SecretKey } from '../../state/secrets.js';
import type { TrustedSpecs, TrustedView } from '../trusted.js';

export type Outcome = 'ok' | 'refused' | 'invalid' | 'error';

export interface ToolContext {
  role: Role;
  tokenId?: number;
  db: Queryable;
  repoKey: string;
  trusted: TrustedView;
  /** The specs as trusted when the call began (the role was judged by them). */
  specs: TrustedSpecs;
  proposer: ProposerContext;
  /** FLEETSPEC_SECRET_KEY, when the server has it (get_secret). */
  secretKey?: SecretKey;
  secretKeyProblem?: string;
}

export interface ToolResult {
  text: string;
  data: Record<string, unknown>;
}

/** A call that did not do what was asked: refused (capability), invalid (input, diagnostics), error. */
export class ToolError extends Error {
  constructor(
    readonly outcome: Exclude<Outcome, 'ok'>,
    message: string,
    readonly diagnostics: Diagnostic[] = [],
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get text(): string {
    return [this.message, ...this.diagnostics.map((d) => formatDiagnostic(d))].join('\n');
  }
}

export interface Tool {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  /** read: any role; propose: any of `capabilities`; secret: secrets.read on a named prefix. */
  class: 'read' | 'propose' | 'secret';
  /** The role needs one of these (none listed: any authenticated role). */
  capabilities: readonly Capability[];
  run(ctx: ToolContext, args: Record<string, unknown>): Promise<ToolResult>;
}

/** The role may call the tool. */
export const allowed = (tool: Tool, role: Role): boolean => !tool.capabilities.length || tool.capabilities.some((c) => role.capabilities.includes(c));
