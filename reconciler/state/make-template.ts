// `npm run build` runs this after tsc: the embedded store's template (template.ts) written beside
// template.js in dist/, unless the one there is current. About 10 s when it is made, nothing after.
//
//   node dist/reconciler/state/make-template.js [FILE]
import { PGlite } from '@electric-sql/pglite';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, pgliteOptions } from './db.js';
import { TEMPLATE_FILE, writeTemplate } from './template.js';

/** A new store, initialised and migrated from nothing, dumped as PGlite's gzipped data folder. */
export async function makeTemplate(file: string = TEMPLATE_FILE): Promise<{ written: boolean; bytes: number }> {
  return writeTemplate(file, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-template-'));
    try {
      const stateDir = join(dir, 'state');
      // From nothing: a template must never be made from another template.
      const previous = process.env.FLEETSPEC_STORE_TEMPLATE;
      process.env.FLEETSPEC_STORE_TEMPLATE = '';
      try {
        await (await openDb({ stateDir })).close();
      } finally {
        if (previous === undefined) delete process.env.FLEETSPEC_STORE_TEMPLATE;
        else process.env.FLEETSPEC_STORE_TEMPLATE = previous;
      }
      const pglite = await PGlite.create(stateDir, pgliteOptions());
      try {
        return await pglite.dumpDataDir('gzip');
      } finally {
        await pglite.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const file = process.argv[2] ?? TEMPLATE_FILE;
  const started = Date.now();
  const { written, bytes } = await makeTemplate(file);
  process.stderr.write(`${written ? 'wrote' : 'kept'} the store template ${file} (${(bytes / 1e6).toFixed(1)} MB${written ? `, ${((Date.now() - started) / 1000).toFixed(1)} s` : ''})\n`);
}
