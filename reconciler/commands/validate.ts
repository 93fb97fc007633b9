import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { loadSpecs } from '../specs/load.js';
import type { Output } from './output.js';

export interface ValidateOptions {
  format: 'text' | 'json';
}

export async function validateCommand(path: string, opts: ValidateOptions, out: Output): Promise<ExitCode> {
  const loaded = await loadSpecs(path);
  const { errors, warnings } = countBySeverity(loaded.diagnostics);
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
          diagnostics: loaded.diagnostics,
        },
        null,
        2,
      ),
    );
  } else {
    for (const d of loaded.diagnostics) out.stdout(formatDiagnostic(d, out.color));
    const summary = `${path}: ${loaded.files.length} file${loaded.files.length === 1 ? '' : 's'}, ${loaded.resources.length} resource${loaded.resources.length === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
    out.stderr(errors === 0 ? `${summary}: valid` : summary);
  }
  return errors === 0 ? EXIT.OK : EXIT.INVALID;
}
