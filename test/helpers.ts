import { relative } from 'node:path';
import type { Diagnostic } from '../reconciler/diagnostics.js';

/** A diagnostic as its first printed line, with the file relative to `root`. */
export function line(d: Diagnostic, root: string): string {
  return `${relative(root, d.file) || '.'}:${d.line}:${d.col}${d.resource ? ` ${d.resource}` : ''}: ${d.message}`;
}
