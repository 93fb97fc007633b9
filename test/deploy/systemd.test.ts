// The systemd units in docs/deploy: the daemon (fleetspec.service) and the timer alternative
// (fleetspec-reconcile.service + .timer). Their timeouts must cover the reconciler's own budgets
// (imported, never copied): a stop must let an apply in progress finish. With systemd-analyze on the
// machine (.ci/run installs Debian's systemd package; no running systemd is needed), `verify` must
// say nothing at all (a warning such as an unknown key is a failure too) and `security --offline`
// must rate each service at most 2.0.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE } from '../../reconciler/loop/schedule.js';
import { budgetsFor, DEFAULT_APPLY_BUDGET_MS, parseDuration } from '../../reconciler/loop/watchdog.js';

const run = promisify(execFile);
const DEPLOY = resolve(import.meta.dirname, '..', '..', 'docs', 'deploy');
const UNITS = ['fleetspec.service', 'fleetspec-reconcile.service', 'fleetspec-reconcile.timer'] as const;
const SERVICES = ['fleetspec.service', 'fleetspec-reconcile.service'] as const;
/** The goal for `systemd-analyze security`: 0 is locked down, 10 is "UNSAFE". */
const MAX_EXPOSURE = 2.0;

/** A unit file's settings: section → key → values, in order (a key may repeat; an empty assignment resets it, as systemd reads it). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !current) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    current.set(key, value === '' ? [] : [...(current.get(key) ?? []), value]);
  }
  return sections;
}

/** systemd's time span ("32min", "1h 30min", "90", "2min 30s") in ms; a bare number is seconds. */
function timeSpanMs(text: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, sec: 1000, second: 1000, seconds: 1000, m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000, h: 3_600_000, hr: 3_600_000, hour: 3_600_000, hours: 3_600_000, d: 86_400_000, day: 86_400_000, days: 86_400_000 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)\s*([a-z]*)/g, (_, n: string, unit: string) => {
    const factor = unit === '' ? 1000 : units[unit];
    if (factor === undefined) throw new Error(`unknown time unit "${unit}" in "${text}"`);
    total += Number(n) * factor;
    return '';
  });
  if (rest.trim() !== '') throw new Error(`not a time span: "${text}"`);
  return total;
}

/** The value of an option in an ExecStart= command line (--name value or --name=value). */
function option(command: string, name: string): string | undefined {
  const words = command.split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    if (words[i] === name) return words[i + 1];
    if (words[i]!.startsWith(`${name}=`)) return words[i]!.slice(name.length + 1);
  }
  return undefined;
}

describe('the systemd units in docs/deploy', () => {
  const units = new Map<string, Map<string, Map<string, string[]>>>();
  const get = (unit: string, section: string, key: string): string[] => units.get(unit)?.get(section)?.get(key) ?? [];
  const one = (unit: string, section: string, key: string): string => {
    const values = get(unit, section, key);
    expect(values, `${unit} [${section}] ${key}=`).toHaveLength(1);
    return values[0]!;
  };

  beforeAll(async () => {
    for (const unit of UNITS) units.set(unit, parseUnit(await readFile(join(DEPLOY, unit), 'utf8')));
  });

  it('the daemon: a stop waits for an apply in progress (its budget and the grace) and signals the daemon only', () => {
    const exec = one('fleetspec.service', 'Service', 'ExecStart');
    // --liftoff-only: Node 24 takes it only from the command line (reconciler/state/db.ts).
    expect(exec).toMatch(/^\/usr\/bin\/node --liftoff-only \S+\/dist\/reconciler\/cli\.js daemon( |$)/);
    // The schedule ExecStart gives (none: the default) decides the grace; FLEETSPEC_APPLY_BUDGET left at its default.
    const budgets = budgetsFor(option(exec, '--schedule') ?? DEFAULT_SCHEDULE);
    expect(budgets.applyMs).toBe(DEFAULT_APPLY_BUDGET_MS);
    const stopMs = timeSpanMs(one('fleetspec.service', 'Service', 'TimeoutStopSec'));
    console.log(`fleetspec.service: TimeoutStopSec ${stopMs / 60_000} min for an apply budget of ${budgets.applyMs / 60_000} min and a grace of ${budgets.graceMs / 60_000} min`);
    expect(stopMs).toBeGreaterThanOrEqual(budgets.applyMs + budgets.graceMs);
    expect(one('fleetspec.service', 'Service', 'KillMode')).toBe('mixed');
    expect(one('fleetspec.service', 'Service', 'KillSignal')).toBe('SIGTERM');
    expect(one('fleetspec.service', 'Service', 'Restart')).toBe('on-failure');
    // systemd's watchdog, told by a child (systemd-notify): NotifyAccess=all.
    expect(timeSpanMs(one('fleetspec.service', 'Service', 'WatchdogSec'))).toBeGreaterThan(0);
    expect(one('fleetspec.service', 'Service', 'NotifyAccess')).toBe('all');
  });

  it('the timer alternative: one tick per run, within its budget and an apply\'s, every 5 minutes', () => {
    const exec = one('fleetspec-reconcile.service', 'Service', 'ExecStart');
    expect(exec).toMatch(/^\/usr\/bin\/node --liftoff-only \S+\/dist\/reconciler\/cli\.js reconcile( |$)/);
    // Both services run the same program.
    expect(exec.split(' ').slice(0, 2)).toEqual(one('fleetspec.service', 'Service', 'ExecStart').split(' ').slice(0, 2));
    expect(one('fleetspec-reconcile.service', 'Service', 'Type')).toBe('oneshot');
    const tickMs = parseDuration(option(exec, '--tick-budget') ?? '');
    expect(tickMs, 'a tick budget in ExecStart, so that a run ends before the next').toBeDefined();
    // A run may take the tick's budget and then an apply's; a stop lets an apply in progress finish.
    expect(timeSpanMs(one('fleetspec-reconcile.service', 'Service', 'TimeoutStartSec'))).toBeGreaterThanOrEqual(tickMs! + DEFAULT_APPLY_BUDGET_MS);
    expect(timeSpanMs(one('fleetspec-reconcile.service', 'Service', 'TimeoutStopSec'))).toBeGreaterThanOrEqual(DEFAULT_APPLY_BUDGET_MS);
    expect(one('fleetspec-reconcile.service', 'Service', 'KillMode')).toBe('mixed');
    // The tick budget is the daemon's for the same interval: 80% of 5 minutes.
    expect(one('fleetspec-reconcile.timer', 'Timer', 'OnCalendar')).toBe('*:0/5');
    expect(tickMs).toBe(budgetsFor(DEFAULT_SCHEDULE).tickMs);
    expect(one('fleetspec-reconcile.timer', 'Timer', 'Persistent')).toBe('true');
    expect(timeSpanMs(one('fleetspec-reconcile.timer', 'Timer', 'RandomizedDelaySec'))).toBeLessThanOrEqual(60_000);
    expect(one('fleetspec-reconcile.timer', 'Timer', 'Unit')).toBe('fleetspec-reconcile.service');
    expect(one('fleetspec-reconcile.timer', 'Install', 'WantedBy')).toBe('timers.target');
  });

  it.each(SERVICES)('%s: a fixed user, its own state folder, journald, limits, and hardening that suits Node', (unit) => {
    expect(one(unit, 'Service', 'User')).toBe('fleetspec');
    expect(get(unit, 'Service', 'DynamicUser')).toEqual([]);
    expect(one(unit, 'Service', 'StateDirectory')).toBe('fleetspec');
    expect(one(unit, 'Service', 'SyslogIdentifier')).toBe('fleetspec');
    expect(one(unit, 'Service', 'EnvironmentFile')).toBe('/etc/fleetspec/fleetspec.env');
    const high = one(unit, 'Service', 'MemoryHigh');
    const max = one(unit, 'Service', 'MemoryMax');
    const bytes = (v: string) => Number(/^(\d+)([KMG])$/.exec(v)![1]) * { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[/^(\d+)([KMG])$/.exec(v)![2] as 'K' | 'M' | 'G'];
    // Above the daemon's peak (about 810 MB on a new embedded store), and the ceiling above the throttle.
    expect(bytes(high)).toBeGreaterThanOrEqual(900 * 2 ** 20);
    expect(bytes(max)).toBeGreaterThan(bytes(high));
    expect(one(unit, 'Service', 'CPUQuota')).toMatch(/^\d+%$/);
    expect(one(unit, 'Service', 'ProtectSystem')).toBe('strict');
    expect(one(unit, 'Service', 'NoNewPrivileges')).toBe('yes');
    expect(get(unit, 'Service', 'CapabilityBoundingSet')).toEqual([]);
    expect(units.get(unit)!.get('Service')!.has('CapabilityBoundingSet')).toBe(true);
    expect(one(unit, 'Service', 'RestrictAddressFamilies')).toBe('AF_UNIX AF_INET AF_INET6');
    expect(one(unit, 'Service', 'UMask')).toBe('0077');
    // V8's JIT and WebAssembly (PGlite) need memory that becomes executable after it is written.
    expect(get(unit, 'Service', 'MemoryDenyWriteExecute')).toEqual([]);
    // A call the filter refuses fails (EPERM) rather than killing Node or terraform.
    expect(one(unit, 'Service', 'SystemCallErrorNumber')).toBe('EPERM');
  });

  describe('systemd-analyze', () => {
    let analyze: string | undefined;
    let dir: string;

    beforeAll(async () => {
      analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
      dir = await mkdtemp(join(tmpdir(), 'fleetspec-units-'));
      // verify checks that ExecStart's program exists: where Node is not /usr/bin/node, copies point at this one.
      for (const unit of UNITS) {
        const text = await readFile(join(DEPLOY, unit), 'utf8');
        if (existsSync('/usr/bin/node')) await copyFile(join(DEPLOY, unit), join(dir, unit));
        else await writeFile(join(dir, unit), text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
      }
    });

    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const env = { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '', LC_ALL: 'C.UTF-8' };

    it('verify: no error and no warning for any of the three units', async (ctx) => {
      if (!analyze) ctx.skip('systemd-analyze is not installed (Debian: apt-get install systemd; .ci/run does)');
      const { stdout, stderr } = await run(analyze!, ['verify', ...UNITS.map((u) => join(dir, u))], { env, cwd: dir }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`systemd-analyze verify failed: ${err.stderr ?? err.message}${err.stdout ?? ''}`);
      });
      expect(`${stdout}${stderr}`.trim()).toBe('');
    });

    it.for(SERVICES)(`security --offline: %s is rated at most ${MAX_EXPOSURE}`, async (unit, ctx) => {
      if (!analyze) ctx.skip('systemd-analyze is not installed (Debian: apt-get install systemd; .ci/run does)');
      const { stdout: version } = await run(analyze!, ['--version'], { env });
      const major = Number(/systemd (\d+)/.exec(version)?.[1] ?? 0);
      if (major < 250) ctx.skip(`systemd ${major} has no security --offline (250 and later)`);
      const result = await run(analyze!, ['security', '--offline=true', '--no-pager', join(dir, unit)], { env, cwd: dir }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));
      const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)/.exec(result.stdout);
      expect(match, `no overall exposure in: ${result.stdout}${result.stderr}`).not.toBeNull();
      const exposure = Number(match![1]);
      const exposed = result.stdout.split('\n').filter((l) => l.startsWith('✗')).map((l) => l.replace(/\s{2,}/g, ' | ').trim());
      console.log(`${unit}: exposure ${exposure} ${match![2]} (systemd ${major}); what is left:\n  ${exposed.join('\n  ')}`);
      expect(exposure).toBeLessThanOrEqual(MAX_EXPOSURE);
    });
  });
});
