// `fleetspec diagrams`: the Mermaid sources in docs/diagrams/src/, one file per diagram, written
// only when their bytes change. A generated file that no diagram produces any more is removed;
// a file without the generated mark is the operator's own and is never touched.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../files.js';
import type { SpecIndex } from '../kinds/kind.js';
import { GENERATED_MARK, mermaidFile, type Diagram } from './diagram.js';
import { flow } from './flow.js';
import { roles } from './roles.js';
import { states } from './states.js';
import { topology } from './topology.js';

export type { Diagram } from './diagram.js';

export const DIAGRAMS: readonly Diagram[] = [topology, roles, states, flow];

/** Where the sources go, relative to the repository (the folder that holds specs/). */
export const DIAGRAMS_DIR = join('docs', 'diagrams', 'src');

export interface DiagramFile {
  /** The diagram's name, or the file's for a removed one. */
  name: string;
  file: string;
  /** written: new or changed bytes; unchanged: same bytes; removed: a generated file no diagram makes now. */
  status: 'written' | 'unchanged' | 'removed';
  bytes: number;
}

/** Each diagram's whole file text, in DIAGRAMS order. */
export function renderDiagrams(index: SpecIndex, only?: readonly string[]): { diagram: Diagram; text: string }[] {
  return DIAGRAMS.filter((d) => !only || only.includes(d.name)).map((diagram) => ({ diagram, text: mermaidFile(diagram, diagram.render(index)) }));
}

const isGenerated = (text: string) => text.split('\n', 6).some((line) => line.startsWith(GENERATED_MARK));

/**
 * Brings `dir` up to date with the specs. With `write: false` nothing changes on disk and the
 * statuses say what would (for --check and the loop's "anything to commit?").
 */
export async function writeDiagrams(index: SpecIndex, dir: string, opts: { write?: boolean; only?: readonly string[] } = {}): Promise<DiagramFile[]> {
  const write = opts.write !== false;
  const out: DiagramFile[] = [];
  for (const { diagram, text } of renderDiagrams(index, opts.only)) {
    const file = join(dir, `${diagram.name}.mmd`);
    const previous = await readFile(file, 'utf8').catch(() => undefined);
    const changed = previous !== text;
    if (changed && write) await writeAtomic(file, text);
    out.push({ name: diagram.name, file, status: changed ? 'written' : 'unchanged', bytes: Buffer.byteLength(text) });
  }
  if (!opts.only) {
    const names = new Set(DIAGRAMS.map((d) => `${d.name}.mmd`));
    const present = await readdir(dir).catch(() => [] as string[]);
    for (const name of present.filter((n) => n.endsWith('.mmd') && !names.has(n)).sort()) {
      const file = join(dir, name);
      const text = await readFile(file, 'utf8').catch(() => '');
      if (!isGenerated(text)) continue;
      if (write) await rm(file, { force: true });
      out.push({ name: name.slice(0, -'.mmd'.length), file, status: 'removed', bytes: 0 });
    }
  }
  return out;
}
