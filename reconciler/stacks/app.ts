// The cdktf-cli entry: `cd stacks && npx cdktf synth` (or `cdktf diff`) runs this app, as
// stacks/cdktf.json says. It builds the same stacks from the same specs as `fleetspec stacks
// synth`; cdktf-cli writes them to its own output folder (cdktf.out), not over stacks/<name>/.
import { join } from 'node:path';
import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { loadSpecs } from '../specs/load.js';
import { stackModels } from './model.js';
import { appWith } from './synth.js';

// dist/reconciler/stacks/app.js → the repository root is three folders up.
const specs = process.env.FLEETSPEC_SPECS ?? join(import.meta.dirname, '..', '..', '..', 'specs');
const loaded = await loadSpecs(specs);
for (const d of loaded.diagnostics) console.error(formatDiagnostic(d, false));
if (countBySeverity(loaded.diagnostics).errors > 0) {
  console.error('the specs are invalid; nothing was synthesised');
  process.exit(1);
}
// outdir comes from CDKTF_OUTDIR, which cdktf-cli sets.
appWith(stackModels(loaded.index)).synth();
