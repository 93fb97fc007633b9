// Suspension: what fleetspec leaves alone. A `kind: Suspend` document in policies/ (a whole kind,
// or kind/name resources) or `suspend: true` / `suspend: "why"` on any spec resource. A plan leaves
// the changes of a suspended resource out of what it applies and lists them apart, with the reason
// (Plan.suspended): the mirror image of `plan --target`, which leaves out what is not targeted. A
// Terraform stack is applied whole, so a suspended resource of a stack holds all of that stack's
// changes. Drift PRs and finding tickets see nothing of a suspended resource, and apply never
// touches one. The loop passes the trusted commit's suspensions (PolicyContext.suspended), so a
// branch that suspends something suspends nothing in its own plan; the CLI reads the checkout's.
import { relative } from 'node:path';
import type { DriverPlan } from '../kinds/driver.js';
import { KINDS } from '../kinds/index.js';
import type { SpecIndex } from '../kinds/kind.js';
import type { SuspendedChange } from '../plan/plan.js';
import type { PolicySet } from './policy.js';
import { entriesOf, matches, type Entry, type Match } from './windows.js';
import { STACK_OF_KIND } from '../stacks/model.js';

const STACKS = new Set<string>(Object.values(STACK_OF_KIND));

export interface Suspension {
  match: Match;
  reason: string;
  /** Where it is said: "Suspend freeze-dns" (policies/) or the spec's file. */
  from: string;
}

/** The suspensions of a policy set (its Suspend documents) and of the specs (`suspend:` on a resource). */
export function suspensionsOf(set: PolicySet | undefined, index: SpecIndex, root?: string): Suspension[] {
  const out: Suspension[] = (set?.suspends ?? []).map((s) => ({ match: s.match, reason: s.reason, from: `Suspend ${s.name}` }));
  for (const kind of KINDS) {
    for (const r of index.all(kind.folder)) {
      const suspend = (r.value as { suspend?: unknown }).suspend;
      if (suspend === undefined || suspend === false) continue;
      const file = root ? relative(root, r.doc.source.file) : r.doc.source.file;
      out.push({ match: { resources: [`${kind.folder}/${r.name}`] }, reason: typeof suspend === 'string' ? suspend : 'suspend: true in its spec', from: file });
    }
  }
  return out;
}

/** The suspension that covers the entry, if any. */
export function suspensionOf(suspensions: readonly Suspension[], e: Entry, index?: SpecIndex): Suspension | undefined {
  const entries = entriesOf(e, index);
  return suspensions.find((s) => entries.some((x) => matches(s.match, x)));
}

/** One line per suspension, for `fleetspec status` and the dashboard: "hosts/ai: disk replacement (specs/hosts/ai.yaml)". */
export function suspensionLines(suspensions: readonly Suspension[]): string[] {
  return suspensions.map((s) => `${[...(s.match.kinds ?? []).map((k) => `every ${k}`), ...(s.match.resources ?? [])].join(', ') || 'everything'}: ${s.reason} (${s.from})`);
}

/**
 * Takes the changes of suspended resources out of each driver's part of the plan (in place) and
 * returns them: what the plan lists as suspended. No-ops stay: they change nothing.
 */
export function leaveOutSuspended(parts: Map<string, DriverPlan>, suspensions: readonly Suspension[], index: SpecIndex): SuspendedChange[] {
  if (!suspensions.length) return [];
  const held: SuspendedChange[] = [];
  for (const [folder, part] of parts) {
    const acting = part.changes.filter((c) => c.action !== 'no-op');
    const hit = acting.map((c) => [c, suspensionOf(suspensions, c, index)] as const).filter(([, s]) => s);
    if (!hit.length) continue;
    const whole = STACKS.has(folder);
    const out = new Set(whole ? acting : hit.map(([c]) => c));
    for (const c of out) {
      const s = suspensionOf(suspensions, c, index) ?? hit[0]![1]!;
      const stack = whole && !hit.some(([h]) => h === c) ? `; stacks/${folder} is applied whole, and ${hit[0]![0].kind}/${hit[0]![0].name} in it is suspended` : '';
      held.push({ kind: c.kind, name: c.name, action: c.action, reason: `suspended by ${s.from}: ${s.reason}${stack}` });
    }
    parts.set(folder, { ...part, changes: part.changes.filter((c) => !out.has(c)) });
  }
  return held;
}
