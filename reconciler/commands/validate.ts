import { resolve } from 'node:path';
import { compareDiagnostics, countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { evaluatePolicies } from '../policies/index.js';
import { findingDiagnostic, policyContext } from './policy.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { loadSpecs } from '../specs/load.js';
import type { Output } from './output.js';
import { logLine } from '../escape.js';

export interface ValidateOptions {
  format: 'text' | 'json';
  policies?: string;
}

export async function validateCommand(path: string, opts: ValidateOptions, out: Output): Promise<ExitCode> {
  const [loaded, policies] = await Promise.all([loadSpecs(path), policyContext(path, opts)]);
  const diagnostics = [...loaded.diagnostics, ...policies.diagnostics];
  // The policies that need no plan judge valid specs; their findings are diagnostics at the spec's place.
  if (policies.policy && countBySeverity(loaded.diagnostics).errors === 0) {
    const own = new Set(loaded.files.map((f) => resolve(f)));
    const judged = evaluatePolicies(policies.policy, { index: loaded.index, facts: new Map() });
    diagnostics.push(...judged.findings.map(findingDiagnostic).filter((d) => own.has(resolve(d.file))));
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
          diagnostics,
        },
        null,
        2,
      ),
    );
  } else {
    for (const d of diagnostics) out.stdout(formatDiagnostic(d, out.color));
    const summary = `${logLine(path)}: ${loaded.files.length} file${loaded.files.length === 1 ? '' : 's'}, ${loaded.resources.length} resource${loaded.resources.length === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
    out.stderr(errors === 0 ? `${summary}: valid` : summary);
  }
  return errors === 0 ? EXIT.OK : EXIT.INVALID;
}
