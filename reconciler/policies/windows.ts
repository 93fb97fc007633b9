// Sync windows and suspensions (Argo CD's sync windows, Flux's suspend), as documents in policies/
// beside `kind: Policy`. Like the policies, the loop takes them from the trusted commit only: a
// branch cannot open a window for itself, nor suspend anything in its own plan.
//
//   kind: SyncWindow                       kind: Suspend
//   name: business-hours                   name: freeze-dns
//   action: allow          # or deny       reason: migrating the zone by hand
//   schedule: "0 8 * * 1-5"  # 5 fields    match:
//   duration: 9h           # 30m, 1h30m      kinds: [dns]
//   timezone: Europe/Stockholm             #  resources: [hosts/ai]
//   match: {kinds: [hosts], resources: [ports/odin]}   # absent: everything
//   holds: [apply, drift]  # default both
//
// A window is active from each time its schedule fires for its duration ([start, start + duration)).
// A change to a resource is held now when a matching deny window is active, or when allow windows
// match the resource and none of them is active; deny wins. `holds` says what a window holds: the
// apply of an approved merge (it waits and goes when the window lets it), and drift PRs (not opened
// or updated while held). This module only answers questions about time: which window holds a
// resource at a given moment, and when it is next let go (a bounded search over the windows' edges).
import { CronExpressionParser } from 'cron-parser';
import type { SpecIndex } from '../kinds/kind.js';
import type { SpecDocument } from '../specs/source.js';
import { STACK_OF_KIND, stackAddresses } from '../stacks/model.js';

/** What a window or a suspension applies to: kind folders and kind/name resources; absent, everything. */
export interface Match {
  kinds?: string[];
  resources?: string[];
}

export type Holds = 'apply' | 'drift';

export interface SyncWindow {
  name: string;
  description?: string;
  action: 'allow' | 'deny';
  /** Five-field cron: minute hour day-of-month month day-of-week, in `timezone`. */
  schedule: string;
  /** As written ("1h30m"), and in milliseconds. */
  duration: string;
  durationMs: number;
  /** IANA name; UTC when not given. */
  timezone: string;
  match?: Match;
  holds: Holds[];
  /** Where it is written, for messages; absent for windows made in code. */
  doc?: SpecDocument;
}

/** A `kind: Suspend` document: fleetspec leaves what it matches alone. */
export interface SuspendRule {
  name: string;
  reason: string;
  match: Match;
  doc?: SpecDocument;
}

/** What a change or a resource is, for matching: its kind folder and name (a port allocation is `consilio/api`). */
export interface Entry {
  kind: string;
  name: string;
}

/** "30m", "2h", "1h30m", "1d": the duration in milliseconds, or undefined when it is not one (or is zero). */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?$/.exec(text);
  if (!m || text === '') return undefined;
  const ms = ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000;
  return ms > 0 ? ms : undefined;
}

/** Why a schedule is not a five-field cron expression, or undefined when it is one. */
export function scheduleProblem(schedule: string, timezone = 'UTC'): string | undefined {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return `it has ${fields.length} field${fields.length === 1 ? '' : 's'}, not 5`;
  try {
    CronExpressionParser.parse(schedule, { tz: timezone, currentDate: new Date(0) }).next();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Whether `timezone` is an IANA time zone this Node knows. */
export function knownTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Whether `match` applies to the entry: its kind is listed, or it (or the resource it is part of, `consilio` of `consilio/api`) is. */
export function matches(match: Match | undefined, e: Entry): boolean {
  if (!match || (!match.kinds && !match.resources)) return true;
  if (match.kinds?.includes(e.kind)) return true;
  return (match.resources ?? []).some((r) => {
    const slash = r.indexOf('/');
    const [kind, name] = [r.slice(0, slash), r.slice(slash + 1)];
    return kind === e.kind && (e.name === name || e.name.startsWith(`${name}/`));
  });
}

/**
 * The spec resources a plan entry stands for. A Terraform stack's entry is named by its address
 * (`cloudflare_dns_record.api`): it stands for the spec resource that address comes from (dns/api,
 * or the zone of a tunnel's ingress) as well as for itself (kind `dns`, the address), so that both
 * `resources: [dns/api]` and `kinds: [dns]` match it.
 */
export function entriesOf(e: Entry, index?: SpecIndex): Entry[] {
  const out = [e];
  if (!index || !Object.values(STACK_OF_KIND).includes(e.kind as never)) return out;
  for (const [kind, stack] of Object.entries(STACK_OF_KIND)) {
    if (stack !== e.kind) continue;
    for (const r of index.all(kind)) if (stackAddresses(index, kind, r.name).includes(e.name)) out.push({ kind, name: r.name });
  }
  return out;
}

/** The start of the window's latest occurrence at or before `at`. */
function lastStart(w: SyncWindow, at: Date): Date {
  const cron = CronExpressionParser.parse(w.schedule, { tz: w.timezone, currentDate: new Date(at.getTime() + 1) });
  return cron.prev().toDate();
}

/** When the window is active at `at`: the end of that occurrence; undefined when it is not active. */
export function activeUntil(w: SyncWindow, at: Date): Date | undefined {
  const start = lastStart(w, at);
  const end = start.getTime() + w.durationMs;
  return end > at.getTime() ? new Date(end) : undefined;
}

/** The next time the window starts, strictly after `at`. */
function nextStart(w: SyncWindow, at: Date): Date {
  return CronExpressionParser.parse(w.schedule, { tz: w.timezone, currentDate: at }).next().toDate();
}

/** Why something is held: the window that holds it and in words. */
export interface Hold {
  /** The deny window that is active, or the first of the allow windows none of which is. */
  window: SyncWindow;
  /** The resource it is about (the first held one, for several). */
  entry: Entry;
  /** "deny window freeze (0 22 * * * for 2h, UTC) is active until 2026-01-01 23:00 UTC" */
  why: string;
}

const stamp = (d: Date) => d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
const described = (w: SyncWindow) => `${w.action} window ${w.name} (${w.schedule} for ${w.duration}, ${w.timezone})`;

/** Whether a change to `entry` is held at `at` for `purpose`, and by which window. */
export function heldBy(windows: readonly SyncWindow[], entry: Entry, at: Date, purpose: Holds, index?: SpecIndex): Hold | undefined {
  const entries = entriesOf(entry, index);
  const relevant = windows.filter((w) => w.holds.includes(purpose) && entries.some((e) => matches(w.match, e)));
  for (const w of relevant.filter((w) => w.action === 'deny')) {
    const until = activeUntil(w, at);
    if (until) return { window: w, entry, why: `${described(w)} is active until ${stamp(until)}` };
  }
  const allows = relevant.filter((w) => w.action === 'allow');
  if (allows.length && !allows.some((w) => activeUntil(w, at))) {
    const names = allows.map((w) => w.name).join(', ');
    return { window: allows[0]!, entry, why: `outside ${allows.length === 1 ? described(allows[0]!) : `every allow window that matches it (${names})`}` };
  }
  return undefined;
}

/** The first of `entries` held at `at`, or undefined when all may go. */
export function firstHeld(windows: readonly SyncWindow[], entries: readonly Entry[], at: Date, purpose: Holds, index?: SpecIndex): Hold | undefined {
  if (!windows.some((w) => w.holds.includes(purpose))) return undefined;
  for (const e of entries) {
    const hold = heldBy(windows, e, at, purpose, index);
    if (hold) return hold;
  }
  return undefined;
}

/** How far ahead nextOpening looks, and how many window edges it tries at most. */
export const OPENING_HORIZON_MS = 366 * 24 * 3600_000;
export const OPENING_STEPS = 2000;

/**
 * The first moment at or after `at` when none of `entries` is held for `purpose`: the answer is
 * always a window's edge (an allow window starting, a deny window ending), so only those are tried,
 * in order. Undefined when there is none within a year (or within OPENING_STEPS edges): a deny window
 * that never ends, or allow windows that never start.
 */
export function nextOpening(windows: readonly SyncWindow[], entries: readonly Entry[], at: Date, purpose: Holds, index?: SpecIndex): Date | undefined {
  const relevant = windows.filter((w) => w.holds.includes(purpose) && entries.some((e) => entriesOf(e, index).some((x) => matches(w.match, x))));
  let t = at;
  for (let step = 0; step < OPENING_STEPS && t.getTime() - at.getTime() <= OPENING_HORIZON_MS; step++) {
    if (!firstHeld(relevant, entries, t, purpose, index)) return t;
    // Only two edges can let go: an allow window starting, and a deny window's occurrence ending.
    let next = Infinity;
    for (const w of relevant) {
      if (w.action === 'allow') next = Math.min(next, nextStart(w, t).getTime());
      const until = w.action === 'deny' ? activeUntil(w, t) : undefined;
      if (until) next = Math.min(next, until.getTime());
    }
    if (!Number.isFinite(next)) return undefined;
    t = new Date(next);
  }
  return undefined;
}

/** When a hold lets go, in words: "2026-01-02 08:00 UTC", or why there is no such time. */
export function openingText(opens: Date | undefined): string {
  return opens ? stamp(opens) : 'no time within a year (the windows never let it go)';
}
