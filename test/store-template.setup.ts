// vitest globalSetup: one embedded-store template for the whole run (reconciler/state/template.ts),
// so each test's new PGlite store is a copy (about 4 s less CPU and 400 MB less on each open) as it
// is for a built fleetspec. Kept in the OS temp folder between runs; made again when PGlite or the
// migrations change. test/state/template.test.ts covers a new store without one.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTemplate } from '../reconciler/state/make-template.js';

export default async function setup(): Promise<void> {
  if (process.env.FLEETSPEC_STORE_TEMPLATE !== undefined) return;
  const file = join(tmpdir(), 'fleetspec-test-store-template.tar.gz');
  await makeTemplate(file);
  // Forked test workers inherit the environment of this process.
  process.env.FLEETSPEC_STORE_TEMPLATE = file;
}
