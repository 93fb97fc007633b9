// Node.js: fleetspec needs 20.19 or newer (require(esm), the engines field); 22 or 24 are the LTS lines to run.
import { fail, ok, warn, type CheckGroup } from './check.js';

const LEAST = [20, 19] as const;
const RECOMMENDED = [22, 24];

/** "v22.3.0" as [22, 3]; undefined for anything else. */
export function nodeVersion(version: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\./.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function checkNode(version: string) {
  const parsed = nodeVersion(version);
  const fix = `install Node.js 22 or 24 (at least ${LEAST.join('.')}): Debian 13's nodejs package, or NodeSource's 22.x elsewhere`;
  if (!parsed) return fail('node', `cannot read the Node.js version ${JSON.stringify(version)}`, fix);
  const [major, minor] = parsed;
  if (major < LEAST[0] || (major === LEAST[0] && minor < LEAST[1])) return fail('node', `Node.js ${version} is older than ${LEAST.join('.')}`, fix);
  if (!RECOMMENDED.includes(major)) return warn('node', `Node.js ${version} works; 22 or 24 are recommended`, fix);
  return ok('node', `Node.js ${version}`);
}

export const node: CheckGroup = {
  name: 'node',
  run: async () => [checkNode(process.version)],
};
