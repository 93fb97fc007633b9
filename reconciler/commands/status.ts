// `fleetspec status`. (Placeholder: being built.)
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Output } from './output.js';

export interface StatusOptions {
  repo?: string;
  format: 'text' | 'json';
}

export async function statusCommand(_opts: StatusOptions, out: Output): Promise<ExitCode> {
  out.stderr('fleetspec status: not built yet');
  return EXIT.ERROR;
}
