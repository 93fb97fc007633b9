// The contract every kind folder implements. Adding a kind is adding a folder
// under reconciler/kinds/ that exports one `KindModule` from its index.ts.
import type { PathSegment, SpecDocument } from '../specs/source.js';

/** A JSON Schema (draft 2020-12) as a plain object, so kind folders need no validator import. */
export type JsonSchema = Record<string, unknown>;

/** A problem a kind finds in one of its resources, by path inside that resource. */
export interface Finding {
  code: string;
  path: PathSegment[];
  message: string;
  hint?: string;
  severity?: 'error' | 'warning';
  /** Point at the key of the last path segment instead of its value. */
  atKey?: boolean;
}

/** One desired-state resource: a YAML document of a spec file, checked against its kind's schema. */
export interface Resource<T = unknown> {
  kind: KindModule<T>;
  doc: SpecDocument;
  value: T;
  /** Identity within the kind (`ai`, `qwen2.5:7b@ai`, `T-0001`). */
  name: string;
  /** `hosts/ai`: kind folder and name, as messages and plans print it. */
  label: string;
}

/** Read access to every valid resource, for cross-kind reference checks. */
export interface SpecIndex {
  /** The valid resource of that kind and name. */
  get(folder: string, name: string): Resource | undefined;
  /** Every valid resource of the kind, in load order (file path, then position in file). */
  all(folder: string): Resource[];
  /** True when a spec declares the name, even one that failed its schema (avoids cascading errors). */
  declared(folder: string, name: string): boolean;
}

export interface KindModule<T = unknown> {
  /** Value of `kind:` in a spec file, e.g. `Host`. */
  kind: string;
  /** Folder under specs/ and the prefix of resource labels, e.g. `hosts`. */
  folder: string;
  /** One line: what the kind describes and what the reconciler does with it. */
  description: string;
  schema: JsonSchema;
  /** Identity within the kind, from a schema-valid value. */
  nameOf(value: T): string;
  /** Where the identity is written, for "defined twice" messages. */
  namePath: PathSegment[];
  /** Checks that need other resources (a model's host exists, an allocation is in range). */
  references?(resource: Resource<T>, index: SpecIndex): Finding[];
}

/** Declares a kind module with its value type inferred for `nameOf` and `references`. */
export function defineKind<T>(module: KindModule<T>): KindModule<T> {
  return module;
}
