// load → validate: read every spec file under a path, check each resource against its
// kind's schema, find secrets and duplicates, then run the kinds' cross-reference checks.
// Every problem is collected, so one run reports all of them.
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { closest, compareDiagnostics, type Diagnostic } from '../diagnostics.js';
import { KINDS, kindByFolder, kindByName } from '../kinds/index.js';
import type { Finding, KindModule, Resource, SpecIndex } from '../kinds/kind.js';
import { checkSchema } from './schema.js';
import { findSecretLiterals } from './secrets.js';
import { fromParsedFile, positionOf, readSpecFile, type ReadResult, type SpecDocument } from './source.js';
import type { WorkerRead } from './parse-worker.js';

const SPEC_EXTENSIONS = new Set(['.yaml', '.yml']);
/** Spec files read between two turns of the event loop. */
const YIELD_EVERY = 50;
/** From this many spec files on, a worker thread parses half of them (readFiles). */
const PARALLEL_FROM = 400;
const WORKER = new URL('./parse-worker.js', import.meta.url);

export interface LoadedSpecs {
  /** Spec files read, in load order. */
  files: string[];
  /** Resources that passed their schema, in load order, duplicates dropped. */
  resources: Resource[];
  index: SpecIndex;
  diagnostics: Diagnostic[];
}

/** Spec files under `root` (a file or a directory), sorted; hidden folders and node_modules skipped. */
export async function findSpecFiles(root: string): Promise<{ files: string[]; diagnostics: Diagnostic[] }> {
  const at = { line: 1, col: 1 };
  let info;
  try {
    info = await stat(root);
  } catch {
    return {
      files: [],
      diagnostics: [{ severity: 'error', code: 'path.missing', file: root, ...at, message: 'no such file or directory', hint: 'pass the specs folder or a spec file' }],
    };
  }
  if (info.isFile()) {
    if (SPEC_EXTENSIONS.has(extname(root))) return { files: [root], diagnostics: [] };
    return {
      files: [],
      diagnostics: [{ severity: 'error', code: 'path.not-yaml', file: root, ...at, message: 'not a spec file (spec files end in .yaml or .yml)', hint: 'pass a .yaml file or the specs folder' }],
    };
  }
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && SPEC_EXTENSIONS.has(extname(e.name)))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .filter((f) => !relative(root, f).split(sep).some((part) => part.startsWith('.') || part === 'node_modules'))
    .sort();
  if (files.length === 0) {
    return {
      files: [],
      diagnostics: [
        {
          severity: 'error',
          code: 'path.no-specs',
          file: root,
          ...at,
          message: 'no spec files (*.yaml, *.yml) in this directory',
          hint: `put specs in ${join(root, '<kind>')}/, one of: ${KINDS.map((k) => k.folder).join(', ')}`,
        },
      ],
    };
  }
  return { files, diagnostics: [] };
}

/**
 * Loads and checks the specs under `root`. A single file inside a kind folder
 * (specs/models/ai.yaml) is checked against the whole tree it belongs to, so its
 * references resolve, and only its own problems are reported.
 */
export async function loadSpecs(root: string): Promise<LoadedSpecs> {
  const info = await stat(root).catch(() => undefined);
  if (info?.isFile() && SPEC_EXTENSIONS.has(extname(root)) && kindByFolder.has(basename(dirname(root)))) {
    const tree = await loadTree(dirname(dirname(root)));
    const own = (file: string) => resolve(file) === resolve(root);
    return {
      files: [root],
      resources: tree.resources.filter((r) => own(r.doc.source.file)),
      index: tree.index,
      diagnostics: tree.diagnostics.filter((d) => own(d.file)),
    };
  }
  return loadTree(root);
}

async function loadTree(root: string): Promise<LoadedSpecs> {
  const { files, diagnostics } = await findSpecFiles(root);
  const documents: SpecDocument[] = [];
  for (const read of await readFiles(files)) {
    documents.push(...read.documents);
    diagnostics.push(...read.diagnostics);
  }
  const built = buildResources(documents);
  diagnostics.push(...built.diagnostics);
  diagnostics.sort(compareDiagnostics);
  return { files, resources: built.resources, index: built.index, diagnostics };
}

/**
 * Reads and parses `files`, results in file order. From PARALLEL_FROM files on, a worker thread
 * takes the second half while this thread does the first: YAML parsing is most of loading a
 * large fleet (bench/plan.ts). Running from the TypeScript sources (tests), there is no built
 * worker to start, and everything is read here.
 */
async function readFiles(files: readonly string[]): Promise<ReadResult[]> {
  if (files.length < PARALLEL_FROM || availableParallelism() < 2 || !existsSync(fileURLToPath(WORKER))) return readHere(files);
  const half = Math.ceil(files.length / 2);
  const theirs = readInWorker(files.slice(half));
  const mine = await readHere(files.slice(0, half));
  const read = await theirs;
  // A worker that could not start or failed: this thread reads its half too.
  if (!read) return [...mine, ...(await readHere(files.slice(half)))];
  return [...mine, ...read.map((r) => ('unreadable' in r ? readSpecFile(r.file) : fromParsedFile(r)))];
}

async function readHere(files: readonly string[]): Promise<ReadResult[]> {
  const reads: ReadResult[] = [];
  for (const [i, file] of files.entries()) {
    // Reading is synchronous (readSpecFile); between batches, whatever else the process started
    // (the store opening, SSH handshakes, a worker's messages) gets its turn.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
    reads.push(readSpecFile(file));
  }
  return reads;
}

/** The worker's reads of `files`, or undefined when it failed (then nothing of it is used). */
function readInWorker(files: readonly string[]): Promise<WorkerRead[] | undefined> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(WORKER, { workerData: { files } });
    } catch {
      resolve(undefined);
      return;
    }
    worker.once('message', (reads: WorkerRead[]) => resolve(reads));
    worker.once('error', () => resolve(undefined));
    worker.once('exit', () => resolve(undefined)); // after 'message', this changes nothing
  });
}

/** Checks parsed documents and returns the valid resources with every problem found. */
export function buildResources(documents: readonly SpecDocument[]): { resources: Resource[]; index: SpecIndex; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const resources: Resource[] = [];
  const byLabel = new Map<string, Resource>();
  const declared = new Set<string>();

  const report = (doc: SpecDocument, label: string | undefined, f: Finding) => {
    const pos = positionOf(doc, f.path, { key: f.atKey ?? false });
    diagnostics.push({
      severity: f.severity ?? 'error',
      code: f.code,
      file: doc.source.file,
      line: pos.line,
      col: pos.col,
      ...(label ? { resource: label } : {}),
      message: f.message,
      ...(f.hint ? { hint: f.hint } : {}),
    });
  };

  for (const doc of documents) {
    const value = doc.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      report(doc, undefined, {
        code: 'spec.not-a-mapping',
        path: [],
        message: `a spec is a mapping with kind: and name:, not ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`,
        hint: 'start the document with kind: <Kind> and name: <name>',
      });
      continue;
    }
    const fields = value as Record<string, unknown>;
    const kind = identifyKind(doc, fields, report);
    if (!kind) continue;

    const rawName = kind.namePath.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k as string], fields);
    const label = `${kind.folder}/${typeof rawName === 'string' || typeof rawName === 'number' ? rawName : '?'}`;

    misplacedWarning(doc, kind, label, report);
    const secretFindings = findSecretLiterals(fields);
    const flagged = new Set(secretFindings.map((f) => f.path.join('/')));
    const schemaFindings = checkSchema(kind, fields).filter((f) => !flagged.has(f.path.join('/')));
    for (const f of [...secretFindings, ...schemaFindings]) report(doc, label, f);

    if (typeof rawName === 'string') declared.add(`${kind.folder}/${safeName(kind, fields) ?? rawName}`);
    if (schemaFindings.length > 0) continue;

    const name = kind.nameOf(fields);
    const resource: Resource = { kind, doc, value: fields, name, label: `${kind.folder}/${name}` };
    const first = byLabel.get(resource.label);
    if (first) {
      const pos = positionOf(first.doc, first.kind.namePath);
      report(doc, resource.label, {
        code: 'spec.duplicate-name',
        path: kind.namePath,
        message: `${resource.label} is already defined at ${first.doc.source.file}:${pos.line}:${pos.col}`,
        hint: 'names are unique per kind: rename one, or delete the copy',
      });
      continue;
    }
    byLabel.set(resource.label, resource);
    resources.push(resource);
  }

  const byFolder = new Map<string, Resource[]>();
  for (const r of resources) {
    const list = byFolder.get(r.kind.folder);
    if (list) list.push(r);
    else byFolder.set(r.kind.folder, [r]);
  }
  const index: SpecIndex = {
    get: (folder, name) => byLabel.get(`${folder}/${name}`),
    all: (folder) => byFolder.get(folder) ?? [],
    declared: (folder, name) => declared.has(`${folder}/${name}`),
  };
  for (const resource of resources) {
    for (const f of resource.kind.references?.(resource, index) ?? []) report(resource.doc, resource.label, f);
  }
  return { resources, index, diagnostics };
}

function safeName(kind: KindModule<any>, fields: Record<string, unknown>): string | undefined {
  try {
    const name = kind.nameOf(fields);
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

type Report = (doc: SpecDocument, label: string | undefined, f: Finding) => void;

function identifyKind(doc: SpecDocument, fields: Record<string, unknown>, report: Report): KindModule<any> | undefined {
  const kinds = KINDS.map((k) => k.kind);
  if (!('kind' in fields)) {
    report(doc, undefined, {
      code: 'spec.missing-kind',
      path: [],
      message: 'missing "kind"',
      hint: `add kind: with one of ${kinds.join(', ')}${folderKindHint(doc)}`,
    });
    return undefined;
  }
  const kind = typeof fields.kind === 'string' ? kindByName.get(fields.kind) : undefined;
  if (!kind) {
    const near = typeof fields.kind === 'string' ? closest(fields.kind, kinds) : undefined;
    report(doc, undefined, {
      code: 'spec.unknown-kind',
      path: ['kind'],
      message: `unknown kind ${JSON.stringify(fields.kind)}`,
      hint: near ? `did you mean "${near}"?` : `use one of ${kinds.join(', ')}`,
    });
  }
  return kind;
}

function folderKindHint(doc: SpecDocument): string {
  const folder = kindByFolder.get(basename(dirname(doc.source.file)));
  return folder ? ` (files in ${folder.folder}/ hold kind: ${folder.kind})` : '';
}

/** specs/models/x.yaml holding a Host is legal but surprising; say so without failing. */
function misplacedWarning(doc: SpecDocument, kind: KindModule<any>, label: string, report: Report): void {
  const folder = basename(dirname(doc.source.file));
  const expected = kindByFolder.get(folder);
  if (expected && expected !== kind) {
    report(doc, label, {
      code: 'spec.misplaced',
      severity: 'warning',
      path: ['kind'],
      message: `a ${kind.kind} in ${folder}/, the folder for ${expected.kind}`,
      hint: `move the file to ${kind.folder}/`,
    });
  }
}
