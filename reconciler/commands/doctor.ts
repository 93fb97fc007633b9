// `fleetspec doctor`: checks a setup before the first tick, one line per check (ok, warn or FAIL,
// what was found, and what to fix). The checks live in reconciler/doctor/, one module per group.
import { logLine } from '../escape.js';
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

/** One check's deadline, and one GitHub request's (FLEETSPEC_DOCTOR_TIMEOUT). */
const DEFAULT_TIMEOUT_MS = 10_000;

export async function doctorCommand(opts: DoctorOptions, out: Output, env: NodeJS.ProcessEnv = process.env): Promise<ExitCode> {
  const { parseDuration } = await import('../loop/watchdog.js');
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (env.FLEETSPEC_DOCTOR_TIMEOUT?.trim()) {
    const ms = parseDuration(env.FLEETSPEC_DOCTOR_TIMEOUT);
    if (ms === undefined) {
      out.stderr(`error: FLEETSPEC_DOCTOR_TIMEOUT=${JSON.stringify(env.FLEETSPEC_DOCTOR_TIMEOUT)} is not a duration`, 'err');
      out.stderr('hint: write seconds (10) or a number with a unit: 10s, 1m');
      return EXIT.INVALID;
    }
    timeoutMs = ms;
  }
  let report;
  try {
    const { runDoctor } = await import('../doctor/index.js');
    report = await runDoctor(
      {
        specs: opts.specs,
        timeoutMs,
        ...(opts.githubRepo ? { githubRepo: opts.githubRepo } : {}),
        ...(opts.githubApi ? { githubApi: opts.githubApi } : {}),
        ...(opts.sshKey ? { sshKey: opts.sshKey } : {}),
        ...(opts.terraform ? { terraform: opts.terraform } : {}),
      },
      env,
    );
  } catch (err) {
    out.stderr(`error: fleetspec doctor failed: ${logLine(err instanceof Error ? err.message : String(err))}`, 'err');
    return EXIT.ERROR;
  }
  const { results, broken } = report;
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  const code: ExitCode = broken.length ? EXIT.ERROR : failed ? EXIT.INVALID : EXIT.OK;
  if (opts.format === 'json') {
    out.stdout(JSON.stringify({ ok: code === EXIT.OK, checks: results.map((r) => ({ name: r.name, status: r.status, detail: r.detail, fix: r.fix ?? null })) }, null, 2));
    return code;
  }
  const label = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  for (const r of results) {
    out.stdout(`${label[r.status]}  ${r.name}: ${logLine(r.detail)}`);
    if (r.fix && r.status !== 'ok') out.stdout(`      fix: ${logLine(r.fix)}`);
  }
  out.stdout(`${results.length - failed - warned} ok, ${warned} warning${warned === 1 ? '' : 's'}, ${failed} failed${broken.length ? `; doctor could not check ${broken.join(', ')}` : ''}`);
  return code;
}
