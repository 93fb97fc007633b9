// Reading one spec file: size and encoding checks, YAML parsing with source positions,
// and the guards that keep hostile YAML (alias bombs, prototype keys) out of the pipeline.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Composer,
  LineCounter,
  Parser,
  visit,
  type Document,
  type Node,
  type Pair,
  type CST,
} from 'yaml';
type Token = CST.Token;
import type { Diagnostic } from '../diagnostics.js';

export const LIMITS = {
  /** A spec file is a few KiB; anything past this is a mistake or an attack. */
  maxFileBytes: 1024 * 1024,
  /** Aliases resolved per document; bounds "billion laughs" expansion. */
  maxAliasCount: 100,
  /**
   * Mappings and lists nested in one document. Specs need a handful of levels; yaml's composer,
   * and every later walk of a value, recurse once per level, so ten thousand `[` would end the stack.
   */
  maxDepth: 64,
  /** Keys in one mapping: yaml checks each new key against the ones before it, so a megabyte of keys is minutes. */
  maxKeys: 1000,
};

/** Keys that would reach Object.prototype if some later code merged the value naively. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type PathSegment = string | number;

export interface SpecSource {
  /** Path for messages, as the user gave it. */
  file: string;
  text: string;
  /** Where lines start, for positions; for a file parsed in another thread, made on first use. */
  readonly lineCounter: LineCounter;
}

/** One YAML document of a spec file that parsed cleanly, with its plain value. */
export interface SpecDocument {
  source: SpecSource;
  /** Index of the document in its file (files may hold several, separated by `---`). */
  index: number;
  /** Its syntax tree, for positions; for a file parsed in another thread, parsed again on first use. */
  readonly doc: Document.Parsed;
  value: unknown;
}

/**
 * A spec file as a parse in another thread sends it (specs/parse-worker.ts): the text, each clean
 * document's index and value, and the problems found. Values and diagnostics are plain data.
 */
export interface ParsedFile {
  file: string;
  text: string;
  documents: { index: number; value: unknown }[];
  diagnostics: Diagnostic[];
}

/** A ReadResult as it travels between threads. */
export function toParsedFile(file: string, read: ReadResult): ParsedFile {
  return { file, text: read.documents[0]?.source.text ?? '', documents: read.documents.map((d) => ({ index: d.index, value: d.value })), diagnostics: read.diagnostics };
}

/**
 * The ReadResult of a file parsed in another thread. Its documents' syntax trees and line index
 * are made here only when something asks for a position (a finding, a host's `where`): the same
 * text parsed the same way, so the same positions.
 */
export function fromParsedFile(parsed: ParsedFile): ReadResult {
  let lines: LineCounter | undefined;
  let trees: Document.Parsed[] | undefined;
  const source: SpecSource = {
    file: parsed.file,
    text: parsed.text,
    get lineCounter() {
      return (lines ??= countLines(parsed.text));
    },
  };
  const documents = parsed.documents.map(({ index, value }): SpecDocument => ({
    source,
    index,
    value,
    get doc() {
      trees ??= composeDocuments([...new Parser().parse(parsed.text)], parsed.text);
      return trees[index]!;
    },
  }));
  return { documents, diagnostics: parsed.diagnostics };
}

/** Line starts as yaml's parser reports them: offset 0, then the offset after each line feed. */
function countLines(text: string): LineCounter {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  return lines;
}

function composeDocuments(tokens: readonly Token[], text: string): Document.Parsed[] {
  return [...new Composer({ uniqueKeys: true, prettyErrors: false, strict: true }).compose(tokens, false, text.length)] as Document.Parsed[];
}

export interface Position {
  line: number;
  col: number;
}

export function positionAt(source: SpecSource, offset: number): Position {
  const { line, col } = source.lineCounter.linePos(offset);
  return { line, col };
}

/**
 * The place in the document that a path names. When the path runs past what exists
 * (a missing field), the nearest existing ancestor is used. With `key`, a map entry
 * points at its key rather than its value ("unknown field" should underline the name).
 */
export function positionOf(doc: SpecDocument, path: readonly PathSegment[], opts: { key?: boolean } = {}): Position {
  let node: Node | null | undefined = doc.doc.contents;
  let offset = node?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = pairOf(node, String(segment));
      if (!pair) break;
      const keyOffset = pair.key?.range?.[0];
      if (opts.key && segment === path[path.length - 1] && keyOffset !== undefined) return positionAt(doc.source, keyOffset);
      node = pair.value;
      offset = node?.range?.[0] ?? keyOffset ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return positionAt(doc.source, offset);
}

/** A mapping's pairs by key (the first of each), built once per mapping: a spec of thousands of keys gets a lookup per finding, not a scan. */
const pairsByKey = new WeakMap<object, Map<string, Pair<Node, Node>>>();

function pairOf(map: { items: unknown[] }, key: string): Pair<Node, Node> | undefined {
  let index = pairsByKey.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items as Pair<Node, Node>[]) {
      if (isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
    }
    pairsByKey.set(map, index);
  }
  return index.get(key);
}

export interface ReadResult {
  documents: SpecDocument[];
  diagnostics: Diagnostic[];
}

function problem(file: string, pos: Position, code: string, message: string, hint?: string): Diagnostic {
  return { severity: 'error', code, file, line: pos.line, col: pos.col, message, ...(hint ? { hint } : {}) };
}

/**
 * Reads and parses one spec file. Never throws for bad content: every problem is a diagnostic.
 * Synchronous: a fleet is thousands of small files, and four promise round trips through libuv's
 * thread pool per file cost ten times the reading (bench/plan.ts: 450 → 50 ms for 3,650 files).
 */
export function readSpecFile(file: string): ReadResult {
  const start = { line: 1, col: 1 };
  let bytes: Buffer;
  // Non-blocking: a FIFO put where a spec file was would otherwise wait for a writer forever.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) {
      return { documents: [], diagnostics: [problem(file, start, 'file.not-regular', 'not a regular file', 'spec files are plain files; remove this one or replace it with a file')] };
    }
    if (info.size > LIMITS.maxFileBytes) {
      return {
        documents: [],
        diagnostics: [
          problem(file, start, 'file.too-large', `file is ${info.size} bytes, over the ${LIMITS.maxFileBytes}-byte limit for a spec file`, 'split it into one file per resource'),
        ],
      };
    }
    bytes = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  const decoded = decodeUtf8(bytes);
  if (typeof decoded !== 'string') {
    return {
      documents: [],
      diagnostics: [
        problem(
          file,
          decoded,
          'file.encoding',
          `invalid UTF-8 (byte 0x${decoded.byte.toString(16).padStart(2, '0')} at offset ${decoded.offset})`,
          'save the file as UTF-8',
        ),
      ],
    };
  }
  return parseSpecText(file, decoded);
}

/** Parses spec text already in memory (also used by tests and, later, by git reads). */
export function parseSpecText(file: string, rawText: string): ReadResult {
  const text = rawText.startsWith('\uFEFF') ? rawText.slice(1) : rawText;
  const lineCounter = new LineCounter();
  const source: SpecSource = { file, text, lineCounter };
  const diagnostics: Diagnostic[] = [];
  const documents: SpecDocument[] = [];

  // One parse: the shape is measured on yaml's CST (its parser keeps its own stack) before the
  // composer, which recurses, builds documents from the same tokens.
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const shape = shapeProblem(tokens, lineCounter);
  if (shape) return { documents, diagnostics: [problem(file, shape.at, shape.code, shape.message, shape.hint)] };
  const docs = composeDocuments(tokens, text);

  docs.forEach((doc, index) => {
    const yamlProblems = [...doc.errors, ...doc.warnings];
    const reportedAt = new Set<number>();
    for (const e of yamlProblems) {
      // One syntax error often drags a second message to the same spot; the first says it.
      if (reportedAt.has(e.pos[0])) continue;
      reportedAt.add(e.pos[0]);
      const message = e.code === 'DUPLICATE_KEY' ? `duplicate key "${keyAt(text, e.pos[0])}"` : `YAML: ${e.message.split('\n')[0]}`;
      diagnostics.push(problem(file, positionAt(source, e.pos[0]), `yaml.${e.code.toLowerCase().replace(/_/g, '-')}`, message, yamlHint(e.code)));
    }
    if (yamlProblems.length > 0) return;
    // An empty document (between `---` markers) parses as a scalar with no source text.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.source === '')) return;

    const specDoc: SpecDocument = { source, index, doc, value: undefined as unknown };
    // Before toJS: yaml builds a circular alias into a value that refers to itself, and every
    // later walk of it (secret scan, schema, policies, diagrams) would recurse until the stack ends.
    const { forbidden, aliasProblem } = checkNodes(specDoc);
    if (forbidden.length > 0) {
      diagnostics.push(...forbidden);
      return;
    }
    if (aliasProblem) {
      diagnostics.push(aliasProblem);
      return;
    }
    try {
      specDoc.value = doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
    } catch (err) {
      const alias = firstAliasOffset(doc);
      diagnostics.push(
        problem(
          file,
          positionAt(source, alias ?? doc.contents.range?.[0] ?? 0),
          'yaml.alias-limit',
          `aliases expand past the limit of ${LIMITS.maxAliasCount} (${(err as Error).message})`,
          'write the values out instead of nesting aliases; specs never need this much repetition',
        ),
      );
      return;
    }
    // Aliases can stack nodes that are each shallow enough into a value that is not.
    if (valueDepth(specDoc.value, LIMITS.maxDepth + 1) > LIMITS.maxDepth) {
      const message = `mappings and lists nest deeper than ${LIMITS.maxDepth} levels once aliases are expanded`;
      diagnostics.push(problem(file, positionAt(source, firstAliasOffset(doc) ?? doc.contents.range?.[0] ?? 0), 'yaml.too-deep', message, 'write the values out instead of nesting aliases'));
      return;
    }
    documents.push(specDoc);
  });

  if (documents.length === 0 && diagnostics.length === 0) {
    diagnostics.push(
      problem(
        file,
        { line: 1, col: 1 },
        'file.empty',
        'file holds no spec (it is empty or only comments)',
        'add a resource (`kind:` and `name:`), or delete the file',
      ),
    );
  }
  return { documents, diagnostics };
}

/**
 * One pass over the document's AST, before any value is built. `forbidden`: every key that would
 * reach Object.prototype. `aliasProblem`: the first alias inside the node it names
 * (`notes: &x [*x]`, circular), or the alias past LIMITS.maxAliasCount in one document (refused
 * outright). toJS's own maxAliasCount bounds the expansion of aliases to non-empty nodes, but an
 * alias to an empty node counts as nothing there, while yaml looks each alias up by scanning the
 * document: a megabyte of `*e,` would take minutes. Anchors are tracked in document order, as
 * yaml resolves them (an alias names the latest anchor of that name before it).
 */
function checkNodes(specDoc: SpecDocument): { forbidden: Diagnostic[]; aliasProblem?: Diagnostic } {
  const forbidden: Diagnostic[] = [];
  const anchors = new Map<string, unknown>();
  let count = 0;
  let aliasProblem: Diagnostic | undefined;
  const at = (node: Node) => positionAt(specDoc.source, node.range?.[0] ?? 0);
  visit(specDoc.doc, (_key, node, path) => {
    if (isPair(node)) {
      if (isScalar(node.key) && FORBIDDEN_KEYS.has(String(node.key.value))) {
        forbidden.push(problem(specDoc.source.file, at(node.key), 'yaml.forbidden-key', `key "${String(node.key.value)}" is not allowed`, 'rename or remove it; no spec field has this name'));
      }
      return undefined;
    }
    if (isAlias(node)) {
      // Past the first alias problem only forbidden keys are still looked for.
      if (aliasProblem) return undefined;
      count++;
      if (count > LIMITS.maxAliasCount) {
        aliasProblem = problem(
          specDoc.source.file,
          at(node),
          'yaml.alias-limit',
          `more than ${LIMITS.maxAliasCount} aliases in one document`,
          'write the values out instead of repeating aliases; specs never need this much repetition',
        );
        return undefined;
      }
      const target = anchors.get(node.source);
      if (target !== undefined && path.includes(target as Node)) {
        aliasProblem = problem(
          specDoc.source.file,
          at(node),
          'yaml.alias-circular',
          `alias *${node.source} is inside the node its anchor &${node.source} names: the value would contain itself`,
          'spec values are trees: write the value out, or anchor a node that does not hold the alias',
        );
      }
      return undefined;
    }
    if ((isScalar(node) || isMap(node) || isSeq(node)) && node.anchor) anchors.set(node.anchor, node);
    return undefined;
  });
  return { forbidden, ...(aliasProblem ? { aliasProblem } : {}) };
}

function firstAliasOffset(doc: Document.Parsed): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, node) {
      if (isAlias(node)) offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

/** The mapping key written at an offset (yaml's duplicate-key error points at its start). */
function keyAt(text: string, offset: number): string {
  const match = /^("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^:\n]*[^:\s])/.exec(text.slice(offset));
  return (match?.[1] ?? '').replace(/^["']|["']$/g, '');
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping; remove or merge the repeated one';
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    case 'TAG_RESOLVE_FAILED':
      return 'specs are plain data: remove the custom tag';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'check the indentation and quoting on this line and the one before it';
    default:
      return 'fix the YAML syntax at this position';
  }
}

type CstNode = { type?: string; offset?: number; value?: unknown; items?: { key?: unknown; value?: unknown }[] };

/**
 * The first mapping or list nested deeper than LIMITS.maxDepth, or mapping of more than
 * LIMITS.maxKeys keys, from yaml's CST: an iterative walk, before anything recurses or compares keys.
 */
function shapeProblem(tokens: readonly unknown[], lines: LineCounter): { at: Position; code: string; message: string; hint: string } | undefined {
  for (const token of tokens) {
    const stack: [CstNode | undefined, number][] = [[token as CstNode, 0]];
    while (stack.length) {
      const [node, outer] = stack.pop()!;
      if (!node || typeof node !== 'object') continue;
      if (node.type === 'document') {
        stack.push([node.value as CstNode, outer]);
        continue;
      }
      if (node.type !== 'block-map' && node.type !== 'block-seq' && node.type !== 'flow-collection') continue;
      const depth = outer + 1;
      const { line, col } = lines.linePos(node.offset ?? 0);
      if (depth > LIMITS.maxDepth) {
        return { at: { line, col }, code: 'yaml.too-deep', message: `mappings and lists nest deeper than ${LIMITS.maxDepth} levels`, hint: 'flatten the value; a spec needs a few levels at most' };
      }
      const mapping = node.type === 'block-map' || (node.type === 'flow-collection' && (node as { start?: { source?: string } }).start?.source === '{');
      if (mapping && (node.items?.length ?? 0) > LIMITS.maxKeys) {
        return { at: { line, col }, code: 'yaml.too-many-keys', message: `a mapping of ${node.items!.length} keys, over the limit of ${LIMITS.maxKeys}`, hint: 'a spec needs a few dozen fields; split the data or move it out of specs' };
      }
      for (const item of node.items ?? []) stack.push([item.key as CstNode, depth], [item.value as CstNode, depth]);
    }
  }
  return undefined;
}

/** How deep objects and arrays nest in a plain value, counted up to `stop` (iteratively, so any value is safe to measure). */
function valueDepth(value: unknown, stop: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, outer] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const depth = outer + 1;
    if (depth > max) max = depth;
    if (depth >= stop) return depth;
    for (const child of Object.values(v)) stack.push([child, depth]);
  }
  return max;
}

type DecodeFailure = Position & { offset: number; byte: number };

/** Strict UTF-8 decoding; on failure, where the first bad byte is. */
function decodeUtf8(bytes: Uint8Array): string | DecodeFailure {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Locate the first byte that does not start a well-formed sequence.
    let line = 1;
    let lineStart = 0;
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i]!;
      const length = b < 0x80 ? 1 : b >> 5 === 0b110 ? 2 : b >> 4 === 0b1110 ? 3 : b >> 3 === 0b11110 ? 4 : 0;
      let ok = length > 0 && i + length <= bytes.length;
      for (let k = 1; ok && k < length; k++) ok = (bytes[i + k]! & 0xc0) === 0x80;
      if (!ok) break;
      if (b === 0x0a) {
        line++;
        lineStart = i + 1;
      }
      i += length;
    }
    // Overlong forms and surrogates pass the walk above; they still fail at the end, at worst.
    const at = Math.min(i, bytes.length - 1);
    const col = new TextDecoder().decode(bytes.subarray(lineStart, at)).length + 1;
    return { line, col, offset: at, byte: bytes[at] ?? 0 };
  }
}
