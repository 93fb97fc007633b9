// Sync windows in the loop (policies/windows.ts; the trusted commit's, in rules.policy.set.windows).
// An approved merge whose changes touch a resource a window holds now is not applied and not
// refused: it stays pending, the tick stops looking at later commits (they wait behind it), and the
// PR says which window holds it and when it goes: one comment, edited in place (the same words each
// tick send nothing), and a pending fleetspec/apply status. The next tick after the window lets go
// applies it as usual, with every check made again. Drift PRs are held the same way (drift.ts).
import type { PullRequest } from '../../github/client.js';
import { isApplicable } from '../../plan/engine.js';
import type { Plan } from '../../plan/plan.js';
import { firstHeld, nextOpening, openingText, type Entry, type Holds, type Hold } from '../../policies/windows.js';
import type { SpecIndex } from '../../kinds/kind.js';
import { loadSpecs } from '../../specs/load.js';
import { mdCode, mdInline } from '../../escape.js';
import * as text from '../pr-text.js';
import { specsDir } from './shared.js';
import { TickAbandoned, type Services, type TickReport, type TrustedRules } from './types.js';

/** The comment on a PR whose apply a window holds, found again by this marker. */
export const WINDOW_MARKER = '<!-- fleetspec:window -->';

/** What a window holds this tick: an approved merge (sha and PR), or a kind's drift PR. */
export interface Held {
  /** The held merge commit; absent for drift. */
  sha?: string;
  pr: number | null;
  /** The kind whose drift PR is held; absent for an apply. */
  kind?: string;
  /** The resource held (the first one, when several are). */
  resource: string;
  window: string;
  /** When it goes (ISO time); null when the windows never let it go within a year. */
  opens: string | null;
  detail: string;
}

export const clock = (svc: Services): Date => svc.now?.() ?? new Date();

/** Whether windows hold any of `entries` for `purpose` now, with when they let go. */
export function windowHold(svc: Services, rules: TrustedRules, entries: readonly Entry[], purpose: Holds, index?: SpecIndex): { hold: Hold; opens: Date | undefined } | undefined {
  const windows = rules.policy.set.windows ?? [];
  if (!windows.length || !entries.length) return undefined;
  const now = clock(svc);
  const hold = firstHeld(windows, entries, now, purpose, index);
  return hold ? { hold, opens: nextOpening(windows, entries, now, purpose, index) } : undefined;
}

/**
 * Before applying approved merge `sha` of `pr`: when a window holds one of its changes now, says so
 * on the PR and in the report and returns true (the caller applies nothing and stops this tick's
 * look at the default branch). Nothing is recorded in the ledger: the commit is still to be applied.
 */
export async function heldForWindow(svc: Services, sha: string, pr: PullRequest, approved: Plan, rules: TrustedRules, report: Pick<TickReport, 'held'>): Promise<boolean> {
  if (!(rules.policy.set.windows ?? []).some((w) => w.holds.includes('apply'))) return false;
  const entries = approved.changes.filter(isApplicable);
  if (!entries.length) return false;
  // Stack entries are Terraform addresses: the merge's specs say which resource each comes from.
  await svc.git.checkout(sha);
  const { index } = await loadSpecs(specsDir(svc));
  const held = windowHold(svc, rules, entries, 'apply', index);
  if (!held) return false;
  const { hold, opens } = held;
  const resource = `${hold.entry.kind}/${hold.entry.name}`;
  const when = openingText(opens);
  const detail = `${resource}: ${hold.why}; it goes at ${when}`;
  svc.progress(`not applying ${text.short(sha)} (#${pr.number}) yet: ${detail}`);
  (report.held ??= []).push({ sha, pr: pr.number, resource, window: hold.window.name, opens: opens?.toISOString() ?? null, detail });
  const body = [
    `### fleetspec waits to apply ${text.short(sha)}`,
    '',
    `The change is approved, but sync window ${mdCode(hold.window.name)} holds it: ${mdCode(resource)} is ${mdInline(hold.why.startsWith('outside') ? `changed ${hold.why}` : `held while ${hold.why}`)}.`,
    '',
    opens ? `It goes at **${when}**, on the first tick after that, with every check made again.` : `No time within a year lets it go: ${mdInline(when)}. Change the window in policies/ (through an approved pull request) to let it go.`,
    '',
    `Nothing was refused; the commits after it on the default branch wait behind it.`,
    '',
    WINDOW_MARKER,
  ].join('\n');
  try {
    const comment = await svc.github.upsertComment(pr.number, WINDOW_MARKER, body);
    // The same words as last tick: the status said so then too (a tick per five minutes need not repeat it).
    if (comment.action !== 'unchanged') await svc.github.setStatus(sha, { context: text.APPLY_CONTEXT, state: 'pending', description: `waits for sync window ${hold.window.name}: goes at ${when}`.slice(0, 140) });
  } catch (err) {
    if (err instanceof TickAbandoned) throw err;
    // Said again next tick: the hold itself does not depend on GitHub taking it.
    svc.progress(`warning: could not tell #${pr.number} it waits: ${err instanceof Error ? err.message : String(err)}`);
  }
  return true;
}

/**
 * After a merge a window held has been applied (or refused at apply): the waiting comment says the
 * window let it go, so the PR does not keep saying it waits. One look for the comment per apply,
 * and only while some window holds applies; a PR no window held has no such comment.
 */
export async function windowLetGo(svc: Services, sha: string, pr: number, rules: TrustedRules, outcome: string): Promise<void> {
  if (!(rules.policy.set.windows ?? []).some((w) => w.holds.includes('apply'))) return;
  try {
    if (!(await svc.github.findComment(pr, WINDOW_MARKER))) return;
    const body = [
      `### fleetspec waited to apply ${text.short(sha)}`,
      '',
      `The sync window let it go; the tick at ${mdInline(openingText(clock(svc)))} took it: ${mdInline(outcome)}. The result comment says what was done.`,
      '',
      WINDOW_MARKER,
    ].join('\n');
    await svc.github.upsertComment(pr, WINDOW_MARKER, body);
  } catch (err) {
    if (err instanceof TickAbandoned) throw err;
    svc.progress(`warning: could not tell #${pr} the window let it go: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** How far ahead the daemon wakes itself for a window that lets a held change go; beyond, the schedule does. */
export const WINDOW_WAKE_MAX_MS = 24 * 60 * 60_000;

/**
 * How long until the first window lets something this tick held go (a second after it opens), for the
 * daemon to tick then rather than at its next scheduled time; undefined when nothing is held, or not
 * within WINDOW_WAKE_MAX_MS.
 */
export function windowWake(held: readonly Pick<Held, 'opens'>[] | undefined, now: Date): number | undefined {
  const waits = (held ?? []).flatMap((h) => (h.opens ? [Date.parse(h.opens) - now.getTime() + 1000] : [])).filter((ms) => ms > 0 && ms <= WINDOW_WAKE_MAX_MS);
  return waits.length ? Math.min(...waits) : undefined;
}
