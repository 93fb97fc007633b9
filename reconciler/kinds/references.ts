// Helpers for kinds' cross-reference checks.
import type { PathSegment } from '../specs/source.js';
import type { Finding, SpecIndex } from './kind.js';

const SINGULAR: Record<string, string> = { hosts: 'host', roles: 'role', models: 'model', ports: 'project', tickets: 'ticket', zones: 'zone' };

/** A finding when `name` is set and no resource of `folder` has it; undefined otherwise. */
export function missingReference(index: SpecIndex, folder: string, name: string | undefined, path: PathSegment[]): Finding | undefined {
  if (name === undefined || index.declared(folder, name)) return undefined;
  const what = SINGULAR[folder] ?? folder;
  const known = index.all(folder).map((r) => r.name);
  const sameButCase = known.find((k) => k.toLowerCase() === name.toLowerCase());
  const hint = sameButCase
    ? `names are case-sensitive: did you mean "${sameButCase}"?`
    : known.length > 0
      ? `known ${folder}: ${known.join(', ')}`
      : `define the ${what} in specs/${folder} first`;
  return { code: `ref.unknown-${what}`, path, message: `unknown ${what} "${name}"`, hint };
}
