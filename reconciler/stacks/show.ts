// Reading `terraform show -json <planfile>` (the documented JSON output format, format_version
// 1.x; OpenTofu writes the same) into plan entries. `show -json` prints sensitive values in
// plain text, so every value is masked with the document's own *_sensitive maps before it
// leaves this file.
import type { Action, ResourceChange } from '../plan/plan.js';

export class ShowFormatError extends Error {}

/** One entry of resource_changes / resource_drift, after masking. */
export interface TfChange {
  address: string;
  mode: 'managed' | 'data';
  type: string;
  actions: string[];
  before: unknown;
  after: unknown;
  actionReason?: string;
  importing: boolean;
}

export interface ShowPlan {
  formatVersion: string;
  terraformVersion?: string;
  /** Managed resources only, in the document's order. */
  changes: TfChange[];
  /** Changes made outside Terraform since the last apply, as Terraform detected them. */
  drift: TfChange[];
  /** Terraform 1.5+: planning failed; such a plan can never be applied. */
  errored: boolean;
  /** Terraform 1.8+: false when the plan has nothing to apply or cannot be applied. */
  applyable?: boolean;
  outputChanges: string[];
}

export const SENSITIVE = '(sensitive)';
export const KNOWN_AFTER_APPLY = '(known after apply)';

/**
 * A value with every sensitive part replaced by "(sensitive)" and, when `unknown` is given,
 * every part computed at apply time by "(known after apply)". `sensitive` and `unknown` mirror
 * the value's shape (true at a leaf, or a whole subtree).
 */
export function mask(value: unknown, sensitive: unknown, unknown?: unknown): unknown {
  if (sensitive === true) return SENSITIVE;
  if (unknown === true) return KNOWN_AFTER_APPLY;
  if (Array.isArray(value)) {
    const s = Array.isArray(sensitive) ? sensitive : [];
    const u = Array.isArray(unknown) ? unknown : [];
    const out: unknown[] = value.map((v, i) => mask(v, s[i], u[i]));
    // after_unknown may describe list elements that only exist after apply.
    for (let i = value.length; i < u.length; i++) if (u[i] === true) out.push(KNOWN_AFTER_APPLY);
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const s = sensitive !== null && typeof sensitive === 'object' ? (sensitive as Record<string, unknown>) : {};
    const u = unknown !== null && typeof unknown === 'object' ? (unknown as Record<string, unknown>) : {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = mask(v, s[k], u[k]);
    for (const [k, flag] of Object.entries(u)) if (flag === true && !(k in out)) out[k] = KNOWN_AFTER_APPLY;
    return out;
  }
  if (value === null && unknown !== undefined && unknown !== false && typeof unknown === 'object') return KNOWN_AFTER_APPLY;
  return value;
}

const isObject = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);

function readChange(entry: unknown, where: string): TfChange {
  if (!isObject(entry) || typeof entry.address !== 'string' || !isObject(entry.change) || !Array.isArray(entry.change.actions)) {
    throw new ShowFormatError(`${where}: expected {address, change: {actions, before, after}}`);
  }
  const c = entry.change;
  return {
    address: entry.address,
    mode: entry.mode === 'data' ? 'data' : 'managed',
    type: String(entry.type ?? ''),
    actions: c.actions.map(String),
    before: mask(c.before ?? null, c.before_sensitive),
    after: mask(c.after ?? null, c.after_sensitive, c.after_unknown),
    ...(typeof entry.action_reason === 'string' ? { actionReason: entry.action_reason } : {}),
    importing: isObject(c.importing),
  };
}

/** Parses the text `terraform show -json <planfile>` printed. Throws ShowFormatError on anything else. */
export function parseShowJson(text: string): ShowPlan {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ShowFormatError(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || typeof doc.format_version !== 'string') throw new ShowFormatError('no format_version: not the output of `terraform show -json <planfile>`');
  const major = doc.format_version.split('.')[0];
  // The format's own rule: accept any 1.x, reject other major versions.
  if (major !== '1') throw new ShowFormatError(`format_version ${doc.format_version} is not supported (fleetspec reads 1.x)`);
  if (!('resource_changes' in doc) && !('planned_values' in doc) && !('errored' in doc)) {
    throw new ShowFormatError('this is a state document, not a plan: pass the saved plan file to `show -json`');
  }
  const list = (key: string) => {
    const v = doc[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new ShowFormatError(`${key} is not a list`);
    return v.map((e, i) => readChange(e, `${key}[${i}]`));
  };
  return {
    formatVersion: doc.format_version,
    ...(typeof doc.terraform_version === 'string' ? { terraformVersion: doc.terraform_version } : {}),
    changes: list('resource_changes').filter((c) => c.mode === 'managed'),
    drift: list('resource_drift').filter((c) => c.mode === 'managed'),
    errored: doc.errored === true,
    ...(typeof doc.applyable === 'boolean' ? { applyable: doc.applyable } : {}),
    outputChanges: isObject(doc.output_changes) ? Object.keys(doc.output_changes).filter((k) => !(doc.output_changes[k].actions ?? ['no-op']).every((a: string) => a === 'no-op')).sort() : [],
  };
}

const REASONS: Record<string, string> = {
  replace_because_cannot_update: 'a changed argument cannot be updated in place',
  replace_because_tainted: 'the object is tainted',
  replace_by_request: 'replacement was requested (-replace)',
  replace_by_triggers: 'replace_triggered_by fired',
  delete_because_no_resource_config: 'no longer in the configuration',
  delete_because_wrong_repetition: 'count/for_each changed',
  delete_because_count_index: 'count shrank',
  delete_because_each_key: 'its for_each key went away',
  delete_because_no_module: 'its module went away',
  delete_because_no_move_target: 'its moved target does not exist',
  read_because_config_unknown: 'depends on values known only after apply',
  read_because_dependency_pending: 'depends on a pending change',
};

/** Terraform's action list as one plan action; undefined for reads (data sources) and unknown lists. */
export function planAction(actions: readonly string[]): Action | undefined {
  const key = actions.join(',');
  switch (key) {
    case 'no-op':
      return 'no-op';
    case 'create':
      return 'create';
    case 'update':
      return 'update';
    case 'delete':
    case 'forget':
      return 'delete';
    case 'delete,create':
    case 'create,delete':
      return 'replace';
    default:
      return undefined;
  }
}

/** The plan entries of one stack: `kind` is the stack's kind folder, names are Terraform addresses. */
export function toResourceChanges(kind: string, show: ShowPlan, where: string): ResourceChange[] {
  const out: ResourceChange[] = [];
  for (const c of show.changes) {
    const action = planAction(c.actions);
    if (!action) continue;
    const why = [`terraform plan of ${where}`];
    if (c.actions.join(',') === 'create,delete') why.push('create before destroy');
    if (c.actions[0] === 'forget') why.push('forget: removed from Terraform state, the object itself is kept');
    if (c.actionReason) why.push(REASONS[c.actionReason] ?? c.actionReason);
    if (c.importing) why.push('imported into state');
    if (show.drift.some((d) => d.address === c.address)) why.push('changed outside Terraform since the last apply');
    out.push({ kind, name: c.address, action, before: c.before, after: c.after, reason: why.join('; ') });
  }
  return out;
}
