import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { KINDS } from '../kinds/index.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';

/** File name of a kind's schema, as spec files reference it. */
export const schemaFileName = (folder: string) => `${folder}.schema.json`;

export const renderSchema = (schema: unknown) => JSON.stringify(schema, null, 2) + '\n';

export async function schemaCommand(opts: { out?: string; kind?: string }, out: Output): Promise<ExitCode> {
  const kinds = opts.kind ? KINDS.filter((k) => k.folder === opts.kind || k.kind === opts.kind) : KINDS;
  if (kinds.length === 0) {
    out.stderr(`fleetspec schema: unknown kind "${logLine(opts.kind ?? '')}"; known: ${KINDS.map((k) => k.folder).join(', ')}`);
    return EXIT.INVALID;
  }
  if (!opts.out) {
    const all = Object.fromEntries(kinds.map((k) => [k.folder, k.schema]));
    out.stdout(JSON.stringify(kinds.length === 1 ? kinds[0]!.schema : all, null, 2));
    return EXIT.OK;
  }
  await mkdir(opts.out, { recursive: true });
  for (const k of kinds) {
    const file = join(opts.out, schemaFileName(k.folder));
    const text = renderSchema(k.schema);
    const previous = await readFile(file, 'utf8').catch(() => undefined);
    // Unchanged files are left alone so their mtime (and make-style tools) stay quiet.
    if (previous !== text) await writeFile(file, text);
    out.stderr(`${previous === text ? 'unchanged' : 'wrote'} ${file}`);
  }
  return EXIT.OK;
}
