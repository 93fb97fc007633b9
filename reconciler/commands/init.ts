// `fleetspec init [DIR]`: a new spec repository. (Placeholder: being built.)
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Output } from './output.js';

export interface InitOptions {
  fromHosts?: string[];
  sshKey?: string;
  yes?: boolean;
  connectTimeout?: number;
  format: 'text' | 'json';
}

export async function initCommand(_dir: string, _opts: InitOptions, out: Output): Promise<ExitCode> {
  out.stderr('fleetspec init: not built yet');
  return EXIT.ERROR;
}
