// `fleetspec doctor`'s runner: the check groups in order (the store first: the key and the GitHub
// token may come from it), each under a deadline, their results scrubbed of every secret the
// environment holds. A group that throws is doctor itself failing (exit 3), not a failed check.
import { redactUrl } from '../redact.js';
import { disk } from './disk.js';
import { explain, fail, withDeadline, type CheckGroup, type CheckResult, type DoctorContext, type DoctorSettings } from './check.js';
import { github } from './github.js';
import { key } from './key.js';
import { node } from './node.js';
import { ssh } from './ssh.js';
import { store } from './store.js';
import { terraform } from './terraform.js';

export type { CheckResult, CheckStatus, DoctorSettings } from './check.js';

export const GROUPS: readonly CheckGroup[] = [node, store, key, github, terraform, ssh, disk];

/** Variables whose values never appear in doctor's output, whatever a message quotes. */
const SECRET_VARIABLES = ['FLEETSPEC_GITHUB_TOKEN', 'GITHUB_TOKEN', 'FLEETSPEC_SECRET_KEY', 'FLEETSPEC_LLM_API_KEY', 'DATABASE_URL'];

export function scrubber(env: NodeJS.ProcessEnv): (text: string) => string {
  const secrets = SECRET_VARIABLES.map((name) => env[name]?.trim()).filter((v): v is string => Boolean(v && v.length >= 4));
  return (text) => secrets.reduce((t, s) => t.split(s).join('***'), redactUrl(text));
}

/** A group's deadline: GitHub makes up to three requests of one timeout each; the store may compile PGlite. */
function groupDeadline(group: CheckGroup, timeoutMs: number): number {
  return group === github ? 4 * timeoutMs + 5_000 : Math.max(120_000, 4 * timeoutMs);
}

export interface DoctorReport {
  results: CheckResult[];
  /** Groups that threw: doctor itself failed there. */
  broken: string[];
}

export async function runDoctor(settings: DoctorSettings, env: NodeJS.ProcessEnv): Promise<DoctorReport> {
  const ctx: DoctorContext = { settings, env };
  const results: CheckResult[] = [];
  const broken: string[] = [];
  const scrub = scrubber(env);
  try {
    for (const group of GROUPS) {
      const ms = groupDeadline(group, settings.timeoutMs);
      const found = await withDeadline(
        ms,
        () =>
          group.run(ctx).catch((err: unknown) => {
            broken.push(group.name);
            const { message } = explain(err);
            return [fail(group.name, `doctor could not check this: ${message}`, 'report it with this output: https://github.com/ (fleetspec issues)')];
          }),
        () => [fail(group.name, `the ${group.name} checks did not finish within ${Math.round(ms / 1000)} s`, `find out what ${group.name} waits for, and run doctor again`)],
      );
      results.push(...found);
    }
  } finally {
    await ctx.db?.close().catch(() => {});
  }
  return { results: results.map((r) => ({ ...r, detail: scrub(r.detail), ...(r.fix ? { fix: scrub(r.fix) } : {}) })), broken };
}
