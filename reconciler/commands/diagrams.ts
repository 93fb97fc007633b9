// `fleetspec diagrams [path]`: write docs/diagrams/src/*.mmd from the specs (or, with --check,
// say which are out of date and write nothing).
import { relative } from 'node:path';
import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { DIAGRAMS, DIAGRAMS_DIR, writeDiagrams } from '../diagrams/index.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { besideSpecs } from '../specs/folders.js';
import { loadSpecs } from '../specs/load.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';
import { printTable } from './store.js';

export interface DiagramsOptions {
  out?: string;
  only?: string[];
  check?: boolean;
  format: 'text' | 'json';
}

export async function diagramsCommand(path: string, opts: DiagramsOptions, out: Output): Promise<ExitCode> {
  const unknown = (opts.only ?? []).filter((n) => !DIAGRAMS.some((d) => d.name === n));
  if (unknown.length) {
    out.stderr(`fleetspec diagrams: no diagram named ${unknown.map((n) => `"${logLine(n)}"`).join(', ')}; diagrams: ${DIAGRAMS.map((d) => d.name).join(', ')}`);
    return EXIT.INVALID;
  }
  const loaded = await loadSpecs(path);
  for (const d of loaded.diagnostics) out.stderr(formatDiagnostic(d, out.color));
  if (countBySeverity(loaded.diagnostics).errors > 0) {
    out.stderr('fleetspec diagrams: the specs are invalid; no diagram was written');
    return EXIT.INVALID;
  }
  const dir = opts.out ?? besideSpecs(path, DIAGRAMS_DIR);
  const files = await writeDiagrams(loaded.index, dir, { write: !opts.check, only: opts.only });
  const stale = files.filter((f) => f.status !== 'unchanged');
  const status = (s: string) => (!opts.check ? s : s === 'written' ? 'stale' : s === 'removed' ? 'stale (to remove)' : s);
  if (opts.format === 'json') {
    out.stdout(JSON.stringify({ dir, check: Boolean(opts.check), files: files.map((f) => ({ ...f, status: status(f.status) })) }, null, 2));
  } else {
    printTable(out, ['DIAGRAM', 'FILE', 'STATUS', 'BYTES'], files.map((f) => [f.name, relative(process.cwd(), f.file), status(f.status), String(f.bytes)]));
  }
  if (opts.check && stale.length) {
    out.stderr(`fleetspec diagrams --check: ${stale.map((f) => f.name).join(', ')} out of date with the specs; run fleetspec diagrams and commit ${logLine(relative(process.cwd(), dir) || '.')}`);
    return EXIT.INVALID;
  }
  return EXIT.OK;
}
