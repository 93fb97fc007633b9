// The contract every import source implements (reconciler/import/<name>.ts): read what exists
// in one live system, read-only, and say which specs it would add, what it saw that it will not
// write (flagged), and which targets it could not read. The command merges, validates and writes.
import type { IssueTracker } from '../kinds/tickets/issue.js';
import type { Resource, SpecIndex } from '../kinds/kind.js';
import type { SshPool } from '../ssh/pool.js';
import type { Queryable } from '../state/db.js';

export const SOURCE_NAMES = ['ports', 'models', 'dns', 'tickets'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

export interface ImportContext {
  /** The specs folder. */
  specs: string;
  /** Every valid resource of the specs as they are now. */
  index: SpecIndex;
  resources: readonly Resource[];
  /** The state store: port allocations, secrets. */
  db: Queryable;
  /** The SSH pool, when there is a client key; else why not (`noSsh`). */
  ssh?: SshPool;
  noSsh: string;
  /** A `secret:` reference resolved for `user` (kind/name); throws when `user` is outside its scope. */
  secret(ref: string, user: string): Promise<string | undefined>;
  /** Cloudflare API v4 root and the token from the environment, if any. */
  cloudflare: { api: string; envToken?: string; timeoutMs: number };
  /** GitHub issues for tickets, or why there are none. */
  issues?: IssueTracker;
  noIssues?: string;
  progress(message: string): void;
}

/** A new YAML document: a whole resource, written to specs/<folder>/<file>. */
export interface NewDocument {
  type: 'document';
  folder: string;
  /** The file's base name: derived from validated names only (see files.ts: safeFileName). */
  file: string;
  /** `dns/api.example.com`, as lines print it. */
  label: string;
  value: Record<string, unknown>;
  /** Where it came from, for the line printed and the file's comment. */
  from: string;
}

/** A new list item inside an existing resource (a port allocation inside its PortRange). */
export interface NewItem {
  type: 'item';
  folder: string;
  /** The name of the resource it goes into. */
  into: string;
  /** The list key in that resource, such as `allocations`. */
  key: string;
  label: string;
  value: Record<string, unknown>;
  from: string;
}

export type Addition = NewDocument | NewItem;

export interface Flagged {
  /** `ports/web:22`, `dns/_dmarc.example.com`. */
  label: string;
  message: string;
}

export interface NotReadTarget {
  /** `hosts/web`, `zones/example.com`, `github acme/fleet`. */
  target: string;
  reason: string;
}

/** What the command runs once the files are written (not in --dry-run): lines saying what it did. */
export type AfterWrite = (written: { index: SpecIndex; resources: readonly Resource[] }) => Promise<string[]>;

export interface SourceResult {
  added: Addition[];
  flagged: Flagged[];
  notRead: NotReadTarget[];
  /** Also run after the write: what it would do, said in --dry-run. */
  afterWrite?: { describe: string[]; run: AfterWrite };
}

export interface ImportSource {
  name: SourceName;
  read(ctx: ImportContext): Promise<SourceResult>;
}

export const emptyResult = (): SourceResult => ({ added: [], flagged: [], notRead: [] });
