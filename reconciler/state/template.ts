// The embedded store's template: a new PGlite store starts as a copy of one prepared at build time
// (initdb and every migration already run), not by running initdb and the migrations on the
// operator's machine. Measured on a loaded 2-core machine: a new store from initdb costs about
// 10 s and 830 MB; from the template about 4 s and 480 MB (bench/footprint.ts).
//
// The template is PGlite's own data-folder dump (dumpDataDir, a gzipped tarball), written next to
// this module in dist/ by `npm run build` (make-template.ts). Its stamp says which PGlite wrote it
// and which migrations it holds; a template whose stamp does not match this fleetspec is not used
// (a new store is then initialised as before), and a template holding fewer migrations than this
// fleetspec knows is brought up to date by the usual migration run after the open.
// FLEETSPEC_STORE_TEMPLATE names another template file (tests share one); empty: none.
import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { MIGRATIONS, type Migration } from './migrations.js';

/** Where the build writes the template: beside this module. */
export const TEMPLATE_FILE = resolve(import.meta.dirname, 'store-template.tar.gz');

export interface TemplateStamp {
  /** PGlite's package version: a data folder is PGlite's (and its PostgreSQL's) own format. */
  pglite: string;
  /** The digest of the migrations the template holds (see migrationsDigest). */
  migrations: string;
}

/** One digest of versions, names and SQL: a template made by other migrations is not this one's. */
export function migrationsDigest(migrations: readonly Migration[] = MIGRATIONS): string {
  const hash = createHash('sha256');
  for (const m of migrations) hash.update(`${m.version}\0${m.name}\0${m.sql}\0`);
  return hash.digest('hex');
}

let pgliteVersion: Promise<string> | undefined;
/** The installed PGlite's version, from its package.json (its exports do not include that file). */
export function installedPglite(): Promise<string> {
  pgliteVersion ??= (async () => {
    let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
    for (;;) {
      const manifest = await readFile(join(dir, 'package.json'), 'utf8').then((t) => JSON.parse(t) as { name?: string; version?: string }, () => undefined);
      if (manifest?.name === '@electric-sql/pglite' && manifest.version) return manifest.version;
      const up = dirname(dir);
      if (up === dir) return 'unknown';
      dir = up;
    }
  })();
  return pgliteVersion;
}

/** The stamp a template made now, by this fleetspec, carries. */
export async function currentStamp(): Promise<TemplateStamp> {
  return { pglite: await installedPglite(), migrations: migrationsDigest() };
}

const stampFile = (file: string) => `${file}.json`;

/**
 * The template to start a new store from, or undefined: none built (running from the TypeScript
 * sources, as the tests do unless they name one), switched off, or made by another PGlite or
 * other migrations.
 */
export async function storeTemplate(env: NodeJS.ProcessEnv = process.env): Promise<Blob | undefined> {
  const file = env.FLEETSPEC_STORE_TEMPLATE ?? TEMPLATE_FILE;
  if (file === '') return undefined;
  const stamp = await readFile(stampFile(file), 'utf8').then((t) => JSON.parse(t) as Partial<TemplateStamp>, () => undefined);
  const current = await currentStamp();
  if (!stamp || stamp.pglite !== current.pglite || stamp.migrations !== current.migrations) return undefined;
  const bytes = await readFile(file).catch(() => undefined);
  return bytes && new Blob([bytes]);
}

/**
 * Writes a template to `file` (and its stamp beside it) unless one with the current stamp is there
 * already; `make` builds the dump (make-template.ts opens a new store, migrates it and dumps it).
 * Written under temporary names and renamed, so a template is whole or absent.
 */
export async function writeTemplate(file: string, make: () => Promise<Blob>): Promise<{ written: boolean; bytes: number }> {
  const current = await currentStamp();
  const existing = await readFile(stampFile(file), 'utf8').then((t) => JSON.parse(t) as Partial<TemplateStamp>, () => undefined);
  if (existing?.pglite === current.pglite && existing.migrations === current.migrations) {
    const bytes = await readFile(file).then((b) => b.length, () => -1);
    if (bytes > 0) return { written: false, bytes };
  }
  const dump = Buffer.from(await (await make()).arrayBuffer());
  await rm(stampFile(file), { force: true });
  await writeFile(`${file}.tmp`, dump);
  await rename(`${file}.tmp`, file);
  await writeFile(`${stampFile(file)}.tmp`, `${JSON.stringify(current, null, 2)}\n`);
  await rename(`${stampFile(file)}.tmp`, stampFile(file));
  return { written: true, bytes: dump.length };
}
