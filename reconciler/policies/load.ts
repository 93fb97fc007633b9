// Reading policies/: every YAML document is checked against the policy schema, a built-in
// rule's params against that rule's schema, and CEL expressions are parsed and type-checked.
// Every problem is a diagnostic at file:line:col; a set with errors must not be used.
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { isScalar, type Scalar } from 'yaml';
import { closest, compareDiagnostics, type Diagnostic } from '../diagnostics.js';
import { KINDS } from '../kinds/index.js';
import type { Finding } from '../kinds/kind.js';
import { checkAgainst } from '../specs/schema.js';
import { positionAt, positionOf, readSpecFile, type PathSegment, type SpecDocument } from '../specs/source.js';
import { CEL_VARIABLES, CelProblem, compile } from './cel.js';
import type { CompiledValidation, CustomRule, Policy, PolicySet } from './policy.js';
import { ruleByName, RULES } from './rules/index.js';
import { knownTimezone, parseDuration, scheduleProblem, type SuspendRule, type SyncWindow } from './windows.js';

const NAME = { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', description: 'lowercase letters, digits and dashes, such as port-ranges' };
const CEL = { type: 'string', minLength: 1, description: 'a CEL expression' };

/** The shape of a policy document (the rule's own params are checked after). */
export const POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'name', 'severity'],
  properties: {
    kind: { const: 'Policy' },
    name: NAME,
    description: { type: 'string', minLength: 1 },
    severity: { enum: ['error', 'warning'], description: 'error blocks apply; warning is shown in the plan and the PR' },
    enabled: { type: 'boolean' },
    override: { ...NAME, description: 'the word that lifts the block: PR label fleetspec/<word>, or a line "/fleetspec <word>" in an approver\'s review' },
    rule: { type: 'string', minLength: 1, description: `a built-in rule: ${RULES.map((r) => r.name).join(', ')}` },
    params: { type: 'object' },
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kinds: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: KINDS.map((k) => k.folder) } },
        scope: { enum: ['resources', 'plan'], description: 'resources: each resource of kinds; plan: once, against the plan' },
        condition: CEL,
      },
    },
    variables: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'expression'],
        properties: { name: { type: 'string', pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' }, expression: CEL },
      },
    },
    validations: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['expression'],
        properties: {
          expression: { ...CEL, description: 'a CEL expression that is true when the resource complies' },
          message: { type: 'string', minLength: 1 },
          messageExpression: { ...CEL, description: 'a CEL expression giving the message' },
          hint: { type: 'string', minLength: 1 },
          path: { type: 'string', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', description: 'where in the resource to point, such as range.start' },
        },
      },
    },
  },
} as const;

const MATCH = {
  type: 'object',
  additionalProperties: false,
  description: 'what it applies to: kind folders and kind/name resources (either matches); absent, everything',
  properties: {
    kinds: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 } },
    resources: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: '^[a-z]+/.+$', description: 'a resource as kind/name, such as hosts/ai' } },
  },
} as const;

/** The shape of a sync window document (policies/windows.ts). */
export const SYNC_WINDOW_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'name', 'action', 'schedule', 'duration'],
  properties: {
    kind: { const: 'SyncWindow' },
    name: NAME,
    description: { type: 'string', minLength: 1 },
    action: { enum: ['allow', 'deny'], description: 'deny: nothing it matches goes while it is active; allow: what it matches goes only while it (or another allow window) is active' },
    schedule: { type: 'string', minLength: 1, description: 'when the window opens: cron, five fields (minute hour day-of-month month day-of-week), such as "0 22 * * 1-5"' },
    duration: { type: 'string', description: 'how long it stays open: 30m, 2h, 1h30m, 1d' },
    timezone: { type: 'string', minLength: 1, description: 'the IANA time zone of the schedule, such as Europe/Stockholm; UTC when absent' },
    match: MATCH,
    holds: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['apply', 'drift'] }, description: 'what it holds: the apply of approved merges, drift PRs; both when absent' },
  },
} as const;

/** The shape of a suspension document (policies/suspend.ts). */
export const SUSPEND_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'name', 'reason', 'match'],
  properties: {
    kind: { const: 'Suspend' },
    name: NAME,
    reason: { type: 'string', minLength: 1, description: 'why, shown in plans, status and the dashboard' },
    match: { ...MATCH, minProperties: 1, description: 'what is suspended: kind folders and kind/name resources' },
  },
} as const;

export interface LoadedPolicies {
  set: PolicySet;
  diagnostics: Diagnostic[];
}

interface RawPolicy {
  name: string;
  description?: string;
  severity: 'error' | 'warning';
  enabled?: boolean;
  override?: string;
  rule?: string;
  params?: Record<string, unknown>;
  match?: { kinds?: string[]; scope?: 'resources' | 'plan'; condition?: string };
  variables?: { name: string; expression: string }[];
  validations?: { expression: string; message?: string; messageExpression?: string; hint?: string; path?: string }[];
}

/** Policy files in `dir` (sorted; hidden folders skipped). No folder: an empty set, no diagnostics. */
export async function loadPolicies(dir: string): Promise<LoadedPolicies> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return { set: { policies: [] }, diagnostics: [] };
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && ['.yaml', '.yml'].includes(extname(e.name)))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !f.slice(dir.length).split(/[\\/]/).some((p) => p.startsWith('.')))
    .sort();
  const diagnostics: Diagnostic[] = [];
  const policies: Policy[] = [];
  const windows: SyncWindow[] = [];
  const suspends: SuspendRule[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const read = readSpecFile(file);
    diagnostics.push(...read.diagnostics);
    for (const doc of read.documents) {
      const report = (f: Finding) => {
        const { line, col } = positionOf(doc, f.path, { key: f.atKey ?? false });
        diagnostics.push({ severity: 'error', code: f.code.startsWith('policy.') ? f.code : `policy.${f.code}`, file, line, col, message: f.message, ...(f.hint ? { hint: f.hint } : {}) });
      };
      const kind = (doc.value as { kind?: unknown } | null)?.kind;
      const checked = kind === 'SyncWindow' ? checkWindow(doc, report) : kind === 'Suspend' ? checkSuspend(doc, report) : checkPolicy(doc, report, diagnostics);
      if (!checked) continue;
      // Each document kind has its own names: a window may share its name with a policy.
      const label = kind === 'SyncWindow' ? 'sync window' : kind === 'Suspend' ? 'suspension' : 'policy';
      const where = `${file}:${positionOf(doc, ['name']).line}`;
      const earlier = seen.get(`${label}:${checked.name}`);
      if (earlier) {
        report({ code: 'policy.duplicate-name', path: ['name'], message: `${label} "${checked.name}" is already defined at ${earlier}`, hint: `give each ${label} its own name` });
        continue;
      }
      seen.set(`${label}:${checked.name}`, where);
      if (kind === 'SyncWindow') windows.push(checked as SyncWindow);
      else if (kind === 'Suspend') suspends.push(checked as SuspendRule);
      else policies.push(checked as Policy);
    }
  }
  diagnostics.sort(compareDiagnostics);
  return { set: { dir, policies, ...(windows.length ? { windows } : {}), ...(suspends.length ? { suspends } : {}) }, diagnostics };
}

/** match: kinds must be kind folders, resources kind/name of one: each unknown kind is an error at its place. */
function checkMatch(match: { kinds?: string[]; resources?: string[] } | undefined, report: (f: Finding) => void): boolean {
  let ok = true;
  const folders = KINDS.map((k) => k.folder);
  const unknown = (kind: string, path: PathSegment[], text: string) => {
    if (folders.includes(kind)) return;
    const near = closest(kind, folders);
    report({ code: 'policy.unknown-kind', path, message: `${text}: no kind ${kind}`, hint: near ? `did you mean ${near}?` : `kinds: ${folders.join(', ')}` });
    ok = false;
  };
  match?.kinds?.forEach((k, i) => unknown(k, ['match', 'kinds', i], `kind "${k}"`));
  match?.resources?.forEach((r, i) => unknown(r.slice(0, r.indexOf('/')), ['match', 'resources', i], `resource "${r}"`));
  return ok;
}

/** A SyncWindow document: its shape, its schedule (five-field cron), its duration and its time zone. */
function checkWindow(doc: SpecDocument, report: (f: Finding) => void): SyncWindow | undefined {
  const shape = checkAgainst(SYNC_WINDOW_SCHEMA, doc.value);
  shape.forEach(report);
  if (shape.length) return undefined;
  const raw = doc.value as { name: string; description?: string; action: 'allow' | 'deny'; schedule: string; duration: string; timezone?: string; match?: SyncWindow['match']; holds?: SyncWindow['holds'] };
  let ok = checkMatch(raw.match, report);
  const timezone = raw.timezone ?? 'UTC';
  if (!knownTimezone(timezone)) {
    report({ code: 'policy.unknown-timezone', path: ['timezone'], message: `unknown time zone "${timezone}"`, hint: 'an IANA time zone name, such as Europe/Stockholm, America/New_York or UTC' });
    ok = false;
  }
  const problem = scheduleProblem(raw.schedule, ok ? timezone : 'UTC');
  if (problem) {
    report({ code: 'policy.bad-schedule', path: ['schedule'], message: `schedule "${raw.schedule}" is not a cron expression: ${problem}`, hint: 'five fields: minute hour day-of-month month day-of-week, such as "0 22 * * 1-5" (22:00 on weekdays)' });
    ok = false;
  }
  const durationMs = parseDuration(raw.duration);
  if (durationMs === undefined) {
    report({ code: 'policy.bad-duration', path: ['duration'], message: `duration "${raw.duration}" is not a duration`, hint: 'days, hours and minutes in that order, more than zero: 30m, 2h, 1h30m, 1d' });
    ok = false;
  }
  if (!ok) return undefined;
  return {
    name: raw.name,
    ...(raw.description ? { description: raw.description } : {}),
    action: raw.action,
    schedule: raw.schedule.trim().split(/\s+/).join(' '),
    duration: raw.duration,
    durationMs: durationMs!,
    timezone,
    ...(raw.match ? { match: raw.match } : {}),
    holds: raw.holds ?? ['apply', 'drift'],
    doc,
  };
}

/** A Suspend document: its shape and the kinds it names. */
function checkSuspend(doc: SpecDocument, report: (f: Finding) => void): SuspendRule | undefined {
  const shape = checkAgainst(SUSPEND_SCHEMA, doc.value);
  shape.forEach(report);
  if (shape.length) return undefined;
  const raw = doc.value as { name: string; reason: string; match: SuspendRule['match'] };
  if (!checkMatch(raw.match, report)) return undefined;
  return { name: raw.name, reason: raw.reason, match: raw.match, doc };
}

/** One document: its shape, then its rule's params or its CEL. Undefined when it has errors or is disabled. */
function checkPolicy(doc: SpecDocument, report: (f: Finding) => void, diagnostics: Diagnostic[]): Policy | undefined {
  const shape = checkAgainst(POLICY_SCHEMA, doc.value);
  shape.forEach(report);
  if (shape.length) return undefined;
  const raw = doc.value as RawPolicy;
  const base = { name: raw.name, severity: raw.severity, doc, ...(raw.description ? { description: raw.description } : {}), ...(raw.override ? { override: raw.override } : {}) };
  if (raw.rule !== undefined && raw.validations !== undefined) {
    report({ code: 'policy.rule-and-validations', path: ['validations'], atKey: true, message: 'a policy gives either rule: (a built-in rule) or validations: (CEL), not both', hint: 'split it into two policies' });
    return undefined;
  }
  if (raw.rule !== undefined) {
    for (const field of ['match', 'variables'] as const) {
      if (raw[field] !== undefined) report({ code: 'policy.not-for-rule', path: [field], atKey: true, message: `${field}: belongs to CEL policies, not to a built-in rule`, hint: `remove ${field}:` });
    }
    const rule = ruleByName.get(raw.rule);
    if (!rule) {
      const near = closest(raw.rule, ruleByName.keys());
      report({ code: 'policy.unknown-rule', path: ['rule'], message: `unknown rule "${raw.rule}"`, hint: near ? `did you mean "${near}"?` : `built-in rules: ${RULES.map((r) => r.name).join(', ')}` });
      return undefined;
    }
    const params = raw.params ?? {};
    const bad = checkAgainst(rule.params, params).map((f) => ({ ...f, path: ['params', ...f.path] }));
    bad.forEach(report);
    if (bad.length || raw.enabled === false || raw.match || raw.variables) return undefined;
    return { ...base, builtin: { rule, params } };
  }
  if (raw.validations === undefined) {
    report({ code: 'policy.no-rule', path: ['name'], message: 'the policy has neither rule: nor validations:', hint: `give rule: (one of ${RULES.map((r) => r.name).join(', ')}) or validations: with CEL expressions` });
    return undefined;
  }
  const scope = raw.match?.scope ?? 'resources';
  if (scope === 'resources' && !raw.match?.kinds) {
    report({ code: 'policy.no-kinds', path: raw.match ? ['match'] : ['name'], message: 'a CEL policy checking resources needs match.kinds', hint: `add match: {kinds: [...]} with kinds among ${KINDS.map((k) => k.folder).join(', ')}, or match: {scope: plan}` });
    return undefined;
  }
  const before = diagnostics.length;
  const cel = (path: PathSegment[], expression: string, want: 'bool' | 'string' | 'any') => {
    try {
      return compile(expression, want);
    } catch (err) {
      if (!(err instanceof CelProblem)) throw err;
      const { line, col } = expressionPosition(doc, path, err.offset);
      diagnostics.push({
        severity: 'error',
        code: 'policy.cel',
        file: doc.source.file,
        line,
        col,
        message: `CEL: ${err.message}`,
        hint: `variables: ${CEL_VARIABLES.join(', ')}; test an optional field with has(resource.field)`,
      });
      return undefined;
    }
  };
  const condition = raw.match?.condition !== undefined ? cel(['match', 'condition'], raw.match.condition, 'bool') : undefined;
  const variables = (raw.variables ?? []).map((v, i) => ({ name: v.name, value: cel(['variables', i, 'expression'], v.expression, 'any') }));
  const validations: CompiledValidation[] = [];
  raw.validations.forEach((v, i) => {
    const test = cel(['validations', i, 'expression'], v.expression, 'bool');
    const messageOf = v.messageExpression !== undefined ? cel(['validations', i, 'messageExpression'], v.messageExpression, 'string') : undefined;
    if (!test) return;
    const fixed = v.message ?? `does not satisfy ${v.expression}`;
    validations.push({
      test,
      message: (vars) => {
        if (!messageOf) return fixed;
        try {
          return String(messageOf(vars));
        } catch {
          return fixed;
        }
      },
      expression: v.expression,
      ...(v.hint ? { hint: v.hint } : {}),
      ...(v.path ? { path: v.path.split('.').map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s)) } : {}),
    });
  });
  if (diagnostics.length > before || raw.enabled === false) return undefined;
  const custom: CustomRule = {
    kinds: scope === 'plan' ? [] : raw.match!.kinds!,
    scope,
    ...(condition ? { condition } : {}),
    variables: variables.filter((v): v is { name: string; value: NonNullable<typeof v.value> } => Boolean(v.value)),
    validations,
    params: raw.params ?? {},
  };
  return { ...base, custom };
}

/**
 * The file position of an offset inside an expression: exact for plain and quoted scalars
 * on one line; for block scalars (| and >), the line of the expression and its column.
 */
function expressionPosition(doc: SpecDocument, path: PathSegment[], offset: number): { line: number; col: number } {
  const node = doc.doc.getIn(path, true);
  if (!isScalar(node) || !node.range) return positionOf(doc, path);
  const start = node.range[0];
  const type = (node as Scalar).type;
  if (type === 'PLAIN') return positionAt(doc.source, start + offset);
  if (type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE') return positionAt(doc.source, start + 1 + offset);
  const value = String(node.value);
  const lineIndex = value.slice(0, offset).split('\n').length - 1;
  const colInLine = offset - (value.lastIndexOf('\n', offset - 1) + 1);
  const header = positionAt(doc.source, start);
  const contentLine = header.line + 1 + (type === 'BLOCK_LITERAL' ? lineIndex : 0);
  const lineText = doc.source.text.split('\n')[contentLine - 1] ?? '';
  const indent = lineText.length - lineText.trimStart().length;
  return { line: contentLine, col: indent + 1 + (type === 'BLOCK_LITERAL' ? colInLine : 0) };
}
