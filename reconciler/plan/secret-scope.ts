// Secret scope in a plan: every `secret:` reference a spec makes is checked against the scope the
// store keeps for that secret (the resources it may be handed to). A reference outside it is an
// error finding at the spec's line; the store refuses the value to that resource anyway.
import { relative } from 'node:path';
import type { Resource } from '../kinds/kind.js';
import { SECRET_REF_PREFIX } from '../specs/secrets.js';
import { positionOf, type PathSegment } from '../specs/source.js';
import { inScope } from '../state/secrets.js';
import type { PlanFinding } from './plan.js';

/** Every `secret:` reference in a spec value, with where it sits. */
export function secretRefs(value: unknown): { ref: string; path: PathSegment[] }[] {
  const out: { ref: string; path: PathSegment[] }[] = [];
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (typeof node === 'string') {
      if (node.startsWith(SECRET_REF_PREFIX)) out.push({ ref: node, path });
    } else if (Array.isArray(node)) node.forEach((v, i) => walk(v, [...path, i]));
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
  };
  walk(value, []);
  return out;
}

/**
 * Error findings for references outside their secret's scope. `scopes` maps stored paths to their
 * scope; a secret not stored is left to the driver that needs it (it says it is missing).
 */
export function scopeFindings(resources: readonly Resource[], scopes: ReadonlyMap<string, readonly string[]>, root?: string): PlanFinding[] {
  const findings: PlanFinding[] = [];
  for (const r of resources) {
    const user = `${r.kind.folder}/${r.name}`;
    for (const { ref, path } of secretRefs(r.value)) {
      const secret = ref.slice(SECRET_REF_PREFIX.length);
      const scope = scopes.get(secret);
      if (!scope || inScope(scope, user)) continue;
      const { line, col } = positionOf(r.doc, path);
      findings.push({
        kind: r.kind.folder,
        name: r.name,
        code: 'secret.out-of-scope',
        severity: 'error',
        message: `names ${ref}, which may not be used by ${user} (its scope: ${scope.length ? scope.join(', ') : 'fleetspec itself only'}); fleetspec does not hand it out`,
        hint: `name a secret stored for ${user}, or, if this one should be, someone holding the key runs: fleetspec secrets scope ${secret} --allow ${user}${scope.map((p) => ` --allow ${p}`).join('')}`,
        subject: ref,
        where: `${root ? relative(root, r.doc.source.file) : r.doc.source.file}:${line}:${col}`,
      });
    }
  }
  return findings;
}
