// Folders that sit beside the specs folder. A module of its own (no drivers, no engine) so that
// validate and diagrams can find policies/ and docs/ without loading the plan engine.
import { dirname, join, resolve } from 'node:path';

/** A folder beside the specs folder (or beside the folder of a single spec file's folder): stacks/, policies/. */
export function besideSpecs(specs: string, name: string): string {
  const abs = resolve(specs);
  return join(dirname(/\.ya?ml$/.test(abs) ? dirname(abs) : abs), name);
}
