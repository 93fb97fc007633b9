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
  return (
    a.file.localeCompare(b.file) ||
    a.line - b.line ||
    a.col - b.col ||
    a.code.localeCompare(b.code) ||
    a.message.localeCompare(b.message)
  );
}

/** A diagnostic as terminal text: its first line, and the hint on a second. File, resource, message and hint may hold anything a spec does, so each is one escaped line (logLine). */
export function formatDiagnostic(d: Diagnostic, color = false): string {
  const where = `${logLine(d.file)}:${d.line}:${d.col}`;
  const what = d.resource ? ` ${logLine(d.resource)}:` : ':';
  const tag = d.severity === 'warning' ? paint('yellow', 'warning', color) + ' ' : '';
  let out = `${paint('bold', where, color)}${what} ${tag}${logLine(d.message)}`;
  if (d.hint) out += `\n  ${paint('dim', 'hint:', color)} ${logLine(d.hint)}`;
  return out;
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
