// Tool inputs described by the kinds' own JSON schemas: a tool's field is the kind's field, cut
// out of its schema with the shared definitions it refers to inlined, so an agent sees the same
// patterns, ranges and enums a spec file is checked against. Inputs are validated with ajv
// (specs/schema.ts) before a tool does anything.
import { kindByFolder } from '../kinds/index.js';
import type { JsonSchema } from '../kinds/kind.js';
import { checkAgainst } from '../specs/schema.js';

/** Inlines `#/$defs/x` references of `schema` from `defs`. */
function inline(schema: unknown, defs: Record<string, unknown>): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inline(s, defs));
  if (!schema || typeof schema !== 'object') return schema;
  const o = schema as Record<string, unknown>;
  if (typeof o.$ref === 'string' && o.$ref.startsWith('#/$defs/')) {
    const { $ref, ...rest } = o;
    const target = inline(defs[$ref.slice(8)], defs) as Record<string, unknown>;
    return { ...target, ...rest };
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, inline(v, defs)]));
}

/** The schema of field `path` of kind `folder` (properties, and `[]` for array items), standing alone. */
export function kindField(folder: string, path: readonly string[], description?: string): JsonSchema {
  const kind = kindByFolder.get(folder);
  if (!kind) throw new Error(`no kind ${folder}`);
  const defs = (kind.schema.$defs ?? {}) as Record<string, unknown>;
  let at: Record<string, unknown> = kind.schema;
  for (const step of path) {
    const next = step === '[]' ? at.items : (at.properties as Record<string, unknown> | undefined)?.[step];
    if (!next) throw new Error(`no field ${path.join('.')} in ${folder}`);
    at = inline(next, defs) as Record<string, unknown>;
  }
  const out = inline(at, defs) as JsonSchema;
  return description ? { ...out, description } : out;
}

/** Why, in the agent's words: into the commit and the PR, quoted. */
export const REASON: JsonSchema = { type: 'string', minLength: 3, maxLength: 2000, description: 'why this change: it goes into the commit and the pull request, quoted' };

/** A tool's input schema: an object of these fields, nothing else. */
export function inputSchema(properties: Record<string, JsonSchema>, required: readonly string[]): JsonSchema {
  return { type: 'object', additionalProperties: false, properties, required: [...required] };
}

/** The input's problems as lines "field: message (hint)"; empty when it conforms. */
export function inputProblems(schema: JsonSchema, input: unknown): string[] {
  return checkAgainst(schema, input).map((f) => {
    const where = f.path.length ? f.path.join('.') : 'input';
    return `${where}: ${f.message}${f.hint ? ` (${f.hint})` : ''}`;
  });
}
