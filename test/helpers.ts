import { relative } from 'node:path';
import { expect } from 'vitest';
import type { Diagnostic } from '../reconciler/diagnostics.js';

/** A diagnostic as its first printed line, with the file relative to `root`. */
export function line(d: Diagnostic, root: string): string {
  return `${relative(root, d.file) || '.'}:${d.line}:${d.col}${d.resource ? ` ${d.resource}` : ''}: ${d.message}`;
}

/** The error a promise rejects with, failing the test if it resolves or rejects with another class. */
export async function rejectionOf<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: any[]) => E): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}
