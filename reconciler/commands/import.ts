// `fleetspec import [PATH]`: specs for what exists. (Placeholder: being built.)
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Output } from './output.js';

export interface ImportOptions {
  only?: Array<'dns' | 'ports' | 'models' | 'tickets'>;
  dryRun?: boolean;
  sshKey?: string;
  trustOnFirstUse?: boolean;
  connectTimeout?: number;
  commandTimeout?: number;
  cloudflareApi?: string;
  githubRepo?: string;
  githubApi?: string;
  format: 'text' | 'json';
}

export async function importCommand(_path: string, _opts: ImportOptions, out: Output): Promise<ExitCode> {
  out.stderr('fleetspec import: not built yet');
  return EXIT.ERROR;
}
