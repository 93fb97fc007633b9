// The plan of a stack when Terraform is not run (offline, or no terraform/tofu binary):
// the previously synthesised configuration against the new one, resource by resource.
// It says what the configuration will ask for, not what live Cloudflare or GCE holds.
import { canonicalJson, type ResourceChange } from '../plan/plan.js';

type TfJson = Record<string, any>;

/** Managed resources of a synthesised stack by address, without cdktf's `//` metadata. */
export function resourcesOf(json: TfJson | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [type, byName] of Object.entries((json?.resource ?? {}) as Record<string, Record<string, unknown>>)) {
    for (const [name, block] of Object.entries(byName)) {
      const { '//': _, ...body } = block as Record<string, unknown>;
      out.set(`${type}.${name}`, body);
    }
  }
  return out;
}

/** Everything but resources and comments: backend, providers, variables, data lookups, outputs. */
export function settingsOf(json: TfJson | undefined): unknown {
  if (!json) return null;
  const { '//': _, resource: __, ...rest } = json;
  return rest;
}

/** The name of the entry for changes outside resources (providers, variables, backend, lookups). */
export const SETTINGS = 'settings';

export function configDiff(kind: string, previous: TfJson | undefined, next: TfJson, reason: string): ResourceChange[] {
  const before = resourcesOf(previous);
  const after = resourcesOf(next);
  const changes: ResourceChange[] = [];
  for (const [address, body] of after) {
    const was = before.get(address);
    const action = was === undefined ? 'create' : canonicalJson(was) === canonicalJson(body) ? 'no-op' : 'update';
    // An unchanged block is not repeated: at thousands of records the plan would carry every one twice.
    if (action === 'no-op') changes.push({ kind, name: address, action, before: null, after: null, reason: `${reason}: unchanged` });
    else changes.push({ kind, name: address, action, before: was ?? null, after: body, reason });
  }
  for (const [address, body] of before) if (!after.has(address)) changes.push({ kind, name: address, action: 'delete', before: body, after: null, reason });
  const [s0, s1] = [settingsOf(previous), settingsOf(next)];
  if (previous === undefined || canonicalJson(s0) !== canonicalJson(s1)) {
    changes.push({ kind, name: SETTINGS, action: previous === undefined ? 'create' : 'update', before: s0, after: s1, reason });
  }
  return changes;
}
