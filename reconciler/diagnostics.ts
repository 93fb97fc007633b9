import { distance } from 'fastest-levenshtein';
import { paint } from './color.js';
import { logLine } from './escape.js';

/** One problem found in the specs, pinned to a place a person can open. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Stable machine-readable identifier, e.g. `schema.unknown-field`. */
  code: string;
  /** Path as given on the command line (relative when it was relative). */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** `hosts/ai`; absent when the problem is not inside a resource (syntax, empty file). */
  resource?: string;
  message: string;
  /** What to do about it. */
  hint?: string;
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return compareProblems(a, b);
}

/**
 * Something to show a person, in the one layout every command uses (validate, plan, policy
 * check, stacks, the loop's PR comments):
 *   specs/hosts/ai.yaml:39:11 hosts/ai: warning service "stt" listens on 8000 ... (policy port-listeners)
 *     hint: move stt out of the range, ...
 * The place comes first so editors and terminals can open it; a problem with no place in a
 * file (a live fact, a terraform failure) starts with its resource.
 */
export interface Problem {
  severity: 'error' | 'warning';
  file?: string;
  line?: number;
  col?: number;
  resource?: string;
  message: string;
  hint?: string;
}

/** A problem as terminal text: its first line, and the hint on a second. File, resource, message and hint may hold anything a spec does, so each is one escaped line (logLine). */
export function formatProblem(d: Problem, color = false): string {
  const where = d.file ? `${logLine(d.file)}:${d.line ?? 1}:${d.col ?? 1}` : '';
  const what = d.resource ? `${where ? ' ' : ''}${logLine(d.resource)}:` : where ? ':' : '';
  const tag = paint(d.severity === 'warning' ? 'yellow' : 'red', d.severity, color);
  let out = `${where ? paint('bold', where, color) : ''}${what}${what || where ? ' ' : ''}${tag} ${logLine(d.message)}`;
  if (d.hint) out += `\n  ${paint('dim', 'hint:', color)} ${logLine(d.hint)}`;
  return out;
}

/** A diagnostic as terminal text (formatProblem). */
export const formatDiagnostic = (d: Diagnostic, color = false): string => formatProblem(d, color);

/** Problems in reading order: by file, line and column; those with no place last, by resource. */
export function compareProblems(a: Problem & { code?: string }, b: Problem & { code?: string }): number {
  if (!a.file !== !b.file) return a.file ? -1 : 1;
  return (
    (a.file ?? '').localeCompare(b.file ?? '') ||
    (a.line ?? 0) - (b.line ?? 0) ||
    (a.col ?? 0) - (b.col ?? 0) ||
    (a.resource ?? '').localeCompare(b.resource ?? '') ||
    (a.code ?? '').localeCompare(b.code ?? '') ||
    a.message.localeCompare(b.message)
  );
}

export function countBySeverity(diagnostics: readonly Diagnostic[]): { errors: number; warnings: number } {
  let errors = 0;
  let warnings = 0;
  for (const d of diagnostics) d.severity === 'error' ? errors++ : warnings++;
  return { errors, warnings };
}

/** Closest candidate by edit distance, for "did you mean" hints; undefined when nothing is close. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance && d <= limit) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
