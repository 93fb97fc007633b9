// `fleetspec runs` and `fleetspec runs show ID`. (Placeholder: being built.)
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Output } from './output.js';

export interface RunsOptions {
  limit: number;
  state?: string;
  repo?: string;
  format: 'text' | 'json';
}

export async function runsList(_opts: RunsOptions, out: Output): Promise<ExitCode> {
  out.stderr('fleetspec runs: not built yet');
  return EXIT.ERROR;
}

export async function runsShow(_id: string, _opts: { format: 'text' | 'json' }, out: Output): Promise<ExitCode> {
  out.stderr('fleetspec runs show: not built yet');
  return EXIT.ERROR;
}
