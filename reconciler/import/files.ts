// Turning additions into spec file contents, with the yaml library only: a new file gets a header
// saying it was imported and when; an existing file keeps every byte of its content and gets the
// new resources appended as new documents; an item (a port allocation) goes into its resource's
// list, the file's comments kept. Every file name is derived from validated names and checked to
// stay inside its kind folder. The result is validated as a whole before anything is written.
import { existsSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join, relative, resolve, sep } from 'node:path';
import { stringify as canonical } from 'safe-stable-stringify';
import { Document, isMap, isSeq, parseAllDocuments, YAMLSeq } from 'yaml';
import { compareDiagnostics, type Diagnostic } from '../diagnostics.js';
import type { Resource, SpecIndex } from '../kinds/kind.js';
import { buildResources, findSpecFiles } from '../specs/load.js';
import { parseSpecText, readSpecFile, type SpecDocument } from '../specs/source.js';
import type { Addition, NewDocument, NewItem } from './source.js';

const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.yaml$/;

export class UnsafePathError extends Error {}

/**
 * specs/<folder>/<file>, refused unless `file` is one plain name (no separator, no `..`) and the
 * result lies inside specs/<folder>: remote names (DNS records) never choose where a file goes.
 */
export function safeSpecPath(specs: string, folder: string, file: string): string {
  if (!FILE_NAME.test(file) || file.includes('..') || !/^[a-z]+$/.test(folder)) throw new UnsafePathError(`refused file name ${JSON.stringify(file)} for specs/${folder}/`);
  const dir = resolve(specs, folder);
  const path = resolve(dir, file);
  const rel = relative(dir, path);
  if (rel !== file || rel.startsWith('..') || rel.includes(sep)) throw new UnsafePathError(`refused file name ${JSON.stringify(file)}: outside specs/${folder}/`);
  return join(specs, folder, file);
}

export interface PlannedFile {
  /** Path as written (under the specs folder). */
  path: string;
  action: 'create' | 'append' | 'update';
  text: string;
  /** Labels of the resources added to it. */
  labels: string[];
}

const yamlOptions = { lineWidth: 0 } as const;

function documentFor(value: Record<string, unknown>, comment: string): Document {
  const doc = new Document(value);
  doc.commentBefore = comment;
  return doc;
}

/** The file contents after the additions, by path. `now` goes into the comments. */
export function planFiles(specs: string, index: SpecIndex, additions: readonly Addition[], now: Date): PlannedFile[] {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const byPath = new Map<string, { docs: NewDocument[]; items: NewItem[]; folder: string }>();
  for (const a of additions) {
    const path = a.type === 'document' ? safeSpecPath(specs, a.folder, a.file) : index.get(a.folder, a.into)!.doc.source.file;
    const entry = byPath.get(path) ?? { docs: [], items: [], folder: a.folder };
    if (a.type === 'document') entry.docs.push(a);
    else entry.items.push(a);
    byPath.set(path, entry);
  }
  const out: PlannedFile[] = [];
  for (const [path, { docs, items, folder }] of [...byPath].sort(([a], [b]) => a.localeCompare(b))) {
    const exists = existsSync(path);
    let text = exists ? readFileSync(path, 'utf8') : '';
    if (items.length) text = withItems(path, text, items, stamp);
    const labels = [...items.map((i) => i.label), ...docs.map((d) => d.label)];
    const rendered = docs.map((d, i) => {
      const comment = !exists && i === 0
        ? ` yaml-language-server: $schema=../schemas/${folder}.schema.json\n Imported by fleetspec import on ${stamp} from ${d.from}.`
        : ` Imported by fleetspec import on ${stamp} from ${d.from}.`;
      const doc = documentFor(d.value, comment);
      // Every document after the file's first starts with its own `---`.
      return doc.toString({ ...yamlOptions, directives: exists || i > 0 });
    });
    if (rendered.length) text = (text && !text.endsWith('\n') ? `${text}\n` : text) + rendered.join('');
    out.push({ path, action: !exists ? 'create' : docs.length && !items.length ? 'append' : 'update', text, labels });
  }
  return out;
}

/** The file with each item added to its resource's list; other documents keep their text. */
function withItems(path: string, text: string, items: readonly NewItem[], stamp: string): string {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error(`${path}: not YAML documents`);
  const before = docs.map((d) => d.toJS());
  const touched = new Set<number>();
  for (const item of items) {
    const i = docs.findIndex((d) => {
      const v = d.toJS() as { name?: unknown } | null;
      return v !== null && typeof v === 'object' && v.name === item.into;
    });
    if (i < 0) throw new Error(`${path}: no document named ${item.into}`);
    const doc = docs[i]!;
    if (!isMap(doc.contents)) throw new Error(`${path}: ${item.into} is not a mapping`);
    let list = doc.get(item.key, true);
    if (list === undefined) {
      list = new YAMLSeq();
      doc.set(item.key, list);
    }
    if (!isSeq(list)) throw new Error(`${path}: ${item.into}.${item.key} is not a list`);
    const node = doc.createNode(item.value);
    node.commentBefore = ` Imported by fleetspec import on ${stamp} from ${item.from}.`;
    list.items.push(node);
    touched.add(i);
  }
  // What changed is exactly the appended items: a check that no hand-written value moved.
  docs.forEach((d, i) => {
    const after = d.toJS();
    if (!touched.has(i)) {
      if (!isDeepStrictEqual(after, before[i])) throw new Error(`${path}: document ${i + 1} would change`);
      return;
    }
    const added = items.filter((it) => docs.findIndex((x) => (x.toJS() as { name?: unknown })?.name === it.into) === i);
    const list = (after as Record<string, unknown[]>)[added[0]!.key]!;
    const kept = { ...(after as object), [added[0]!.key]: list.slice(0, list.length - added.length) } as Record<string, unknown>;
    const was = { ...(before[i] as object) } as Record<string, unknown>;
    if (was[added[0]!.key] === undefined) kept[added[0]!.key] = undefined;
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(kept)), JSON.parse(JSON.stringify(was)))) throw new Error(`${path}: document ${i + 1} would change beyond its new items`);
  });
  return docs.map((d) => d.toString(yamlOptions)).join('');
}

export interface Validation {
  diagnostics: Diagnostic[];
  index: SpecIndex;
  resources: Resource[];
}

/**
 * The specs as they would be with `files` written: every spec file read from disk except the
 * planned ones, parsed from their new text; then the loader's checks. Also checks that each
 * planned file reads back as exactly the values meant (no YAML reinterpretation of remote data).
 */
export async function validatePlanned(specs: string, files: readonly PlannedFile[], additions: readonly Addition[]): Promise<Validation> {
  const planned = new Map(files.map((f) => [resolve(f.path), f]));
  const { files: onDisk, diagnostics } = await findSpecFiles(specs);
  const documents: SpecDocument[] = [];
  const seen = new Set<string>();
  for (const file of onDisk) {
    const p = planned.get(resolve(file));
    seen.add(resolve(file));
    const read = p ? parseSpecText(file, p.text) : readSpecFile(file);
    documents.push(...read.documents);
    diagnostics.push(...read.diagnostics);
  }
  for (const f of files) {
    if (seen.has(resolve(f.path))) continue;
    const read = parseSpecText(f.path, f.text);
    documents.push(...read.documents);
    diagnostics.push(...read.diagnostics);
  }
  const built = buildResources(documents);
  diagnostics.push(...built.diagnostics);
  const values = new Set(documents.map((d) => canonical(d.value)));
  for (const a of additions) {
    if (a.type !== 'document') continue;
    if (!values.has(canonical(a.value))) {
      diagnostics.push({ severity: 'error', code: 'import.round-trip', file: a.file, line: 1, col: 1, message: `${a.label} does not read back as the value imported` });
    }
  }
  diagnostics.sort(compareDiagnostics);
  return { diagnostics, index: built.index, resources: built.resources };
}
