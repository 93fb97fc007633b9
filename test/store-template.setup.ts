// vitest globalSetup: one embedded-store template for the whole run (reconciler/state/template.ts),
// so each test's new PGlite store is a copy (about 4 s less CPU and 400 MB less on each open) as it
// is for a built fleetspec. Kept between runs in node_modules/.cache (the project's own, not the
// shared temp folder, where another user could plant one); made again when PGlite or the
// migrations change. test/state/template.test.ts covers a new store without one.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { makeTemplate } from '../reconciler/state/make-template.js';

export default async function setup(): Promise<void> {
  if (process.env.FLEETSPEC_STORE_TEMPLATE !== undefined) return;
  const cache = resolve(import.meta.dirname, '..', 'node_modules', '.cache', 'fleetspec');
  await mkdir(cache, { recursive: true, mode: 0o700 });
  const file = join(cache, 'store-template.tar.gz');
  await makeTemplate(file);
  // Forked test workers inherit the environment of this process.
  process.env.FLEETSPEC_STORE_TEMPLATE = file;
}
