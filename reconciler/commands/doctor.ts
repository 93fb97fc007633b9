// `fleetspec doctor`. (Placeholder: being built.)
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Output } from './output.js';

export interface DoctorOptions {
  specs: string;
  githubRepo?: string;
  githubApi?: string;
  sshKey?: string;
  terraform?: string;
  format: 'text' | 'json';
}

export async function doctorCommand(_opts: DoctorOptions, out: Output): Promise<ExitCode> {
  out.stderr('fleetspec doctor: not built yet');
  return EXIT.ERROR;
}
