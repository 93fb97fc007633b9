import { resolve, sep } from 'node:path';
import { compareDiagnostics, countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { evaluatePolicies } from '../policies/index.js';
import { findingDiagnostic, policyContext } from './policy.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { KINDS } from '../kinds/index.js';
import { loadSpecs, type LoadedSpecs } from '../specs/load.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';

export interface ValidateOptions {
  format: 'text' | 'json';
  policies?: string;
}

/** A check validate did not run, and why. */
export interface Skipped {
  check: string;
  reason: string;
}

/**
 * The kind folders with an invalid spec: by the resource an error names, else by the file's
 * folder (a YAML syntax error has no resource); '*' when the kind cannot be told.
 */
export function invalidKinds(loaded: LoadedSpecs): Set<string> {
  const folders = new Set(KINDS.map((k) => k.folder));
  const out = new Set<string>();
  for (const d of loaded.diagnostics) {
    if (d.severity !== 'error') continue;
    const byResource = d.resource?.split('/')[0];
    const byFolder = resolve(d.file).split(sep).reverse().find((part) => folders.has(part));
    const kind = byResource && folders.has(byResource) ? byResource : byFolder;
    out.add(kind ?? '*');
  }
  return out;
}

export async function validateCommand(path: string, opts: ValidateOptions, out: Output): Promise<ExitCode> {
  const [loaded, policies] = await Promise.all([loadSpecs(path), policyContext(path, opts)]);
  const diagnostics = [...loaded.diagnostics, ...policies.diagnostics];
  const skipped: Skipped[] = [];
  let checked = 0;
  // The policies that need no plan judge the valid specs; a policy that reads a kind with
  // invalid specs is skipped (its findings would be about what failed to load), and said so.
  if (policies.policy) {
    const own = new Set(loaded.files.map((f) => resolve(f)));
    const judged = evaluatePolicies(policies.policy, { index: loaded.index, facts: new Map() }, invalidKinds(loaded));
    checked = judged.evaluated.length;
    diagnostics.push(...judged.findings.map(findingDiagnostic).filter((d) => own.has(resolve(d.file))));
    for (const s of judged.skippedInvalid) {
      const kinds = s.kinds.includes('*') ? 'specs of an unknown kind' : s.kinds.map((k) => `specs/${k}`).join(', ');
      skipped.push({ check: `policy ${s.policy}`, reason: `it reads ${kinds}, which ${s.kinds.length === 1 ? 'has' : 'have'} errors: fix them and validate again` });
    }
    if (judged.skipped.length) skipped.push({ check: `polic${judged.skipped.length === 1 ? 'y' : 'ies'} ${judged.skipped.join(', ')}`, reason: 'they judge a plan: fleetspec plan runs them' });
  } else {
    skipped.push({ check: 'policies', reason: 'the policy files are invalid (above)' });
  }
  diagnostics.sort(compareDiagnostics);
  const { errors, warnings } = countBySeverity(diagnostics);
  if (opts.format === 'json') {
    out.stdout(
      JSON.stringify(
        {
          ok: errors === 0,
          path,
          files: loaded.files.length,
          resources: loaded.resources.length,
          errors,
          warnings,
          policies: checked,
          diagnostics,
          skipped,
        },
        null,
        2,
      ),
    );
  } else {
    for (const d of diagnostics) out.stdout(formatDiagnostic(d, out.color));
    for (const s of skipped) out.stderr(`skipped ${logLine(s.check)}: ${logLine(s.reason)}`);
    const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
    const summary = `${logLine(path)}: ${n(loaded.files.length, 'file')}, ${n(loaded.resources.length, 'resource')}, ${checked} polic${checked === 1 ? 'y' : 'ies'} checked, ${n(errors, 'error')}, ${n(warnings, 'warning')}`;
    out.stderr(errors === 0 ? `${summary}: valid` : summary);
  }
  return errors === 0 ? EXIT.OK : EXIT.INVALID;
}
