// Health probes and backup checks, read from the host itself in one more SSH exec after the
// facts. The services listen on the host, so the probe is made there (curl, else GNU wget, to
// http://127.0.0.1:<port><path>, redirects never followed); backups are entries of a directory
// whose newest age and count are read with sh, stat and date. fleetspec only reads: it never
// restarts a service and never runs, rotates or deletes a backup.
//
// The script is generated, but its only spec values are the validated ports, paths, patterns
// and timeouts, each shell-quoted (ssh/quote.ts) as one word and passed to functions as
// arguments. What the host prints back is untrusted: only lines that start with this run's
// random marker and match a strict form count, each check's result comes from its own index and
// at most once, the output is read up to a bound, and messages quote it only as an excerpt.
import { randomBytes } from 'node:crypto';
import type { PlanFinding } from '../../plan/plan.js';
import { remoteExcerpt, remoteOf } from '../../remote-text.js';
import { sh } from '../../ssh/quote.js';
import type { SshTarget } from '../../ssh/pool.js';
import { UNTRUSTED_READ, type LiveContext } from '../driver.js';
import type { Resource } from '../kind.js';
import type { Backup, Host } from './index.js';
import { BACKUP_FILE, BACKUP_PATH, BACKUP_PATTERN, CHECK_TIMEOUT, PROBE_PATH } from './index.js';
import { hostTarget, specLocation, unreachable, type HostRead } from './driver.js';
import { isWindowsHost } from './windows.js';

/** One health probe as the script runs it. */
export interface ProbeSpec {
  service: string;
  port: number;
  path: string;
  expect: number[];
  timeoutSeconds: number;
  /** Where in the spec the probe is set, as a path for specLocation. */
  at: (string | number)[];
}

/** One backup check as the script runs it. */
export interface BackupSpec {
  name: string;
  path: string;
  pattern: string;
  file?: string;
  maxAgeSeconds: number;
  keep: number;
  at: (string | number)[];
}

export interface HostCheckSpecs {
  probes: ProbeSpec[];
  backups: BackupSpec[];
}

/** What the script reported for one probe. */
export type ProbeOutcome =
  | { status: number; seconds?: number }
  | { failed: 'timeout' | 'refused' | 'no-response'; detail?: string }
  | { notRead: string; remote?: string };

/** What the script reported for one backup. */
export type BackupOutcome =
  | { count: number; newestAgeSeconds?: number; newestSize?: number; more: boolean }
  | { missing: 'no-directory' | 'unreadable' }
  | { notRead: string; remote?: string };

export interface HostChecks {
  probes: { spec: ProbeSpec; outcome: ProbeOutcome }[];
  backups: { spec: BackupSpec; outcome: BackupOutcome }[];
}

/** Entries looked at per backup directory; past this, the count is "at least". */
export const MAX_ENTRIES = 1000;
/** Output read back from the host; a well-behaved script prints well under 1 KB per check. */
export const MAX_OUTPUT = 64 * 1024;
const MAX_LINE = 200;
const DEFAULT_TIMEOUT_SECONDS = 5;

const UNIT_SECONDS = { m: 60, h: 3600, d: 86400 } as const;

/** "26h" → 93600. */
export function parseAge(text: string): number {
  const m = /^([1-9][0-9]{0,4})(m|h|d)$/.exec(text);
  if (!m) throw new Error(`not an age: ${text}`);
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

/** 93784 → "1d 2h", 3700 → "1h 1m", 42 → "42s". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return h ? `${d}d ${h}h` : `${d}d`;
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  return `${m}m`;
}

/** The checks a host spec declares, in spec order. */
export function checkSpecs(host: Host): HostCheckSpecs {
  const probes: ProbeSpec[] = [];
  (host.services ?? []).forEach((s, i) => {
    if (!s.health) return;
    const expect = s.health.expect === undefined ? [200] : Array.isArray(s.health.expect) ? s.health.expect : [s.health.expect];
    probes.push({
      service: s.name,
      port: s.port,
      path: s.health.http,
      expect,
      timeoutSeconds: s.health.timeout ? Number(s.health.timeout.slice(0, -1)) : DEFAULT_TIMEOUT_SECONDS,
      at: ['services', i, 'health'],
    });
  });
  const backups = (host.backups ?? []).map((b: Backup, i): BackupSpec => ({
    name: b.name,
    path: b.path.length > 1 ? b.path.replace(/\/+$/, '') : b.path,
    pattern: b.pattern ?? '*',
    ...(b.file ? { file: b.file } : {}),
    maxAgeSeconds: parseAge(b.maxAge),
    keep: b.keep,
    at: ['backups', i],
  }));
  return { probes, backups };
}

const matches = (pattern: string, value: string) => new RegExp(pattern, 'u').test(value);

/**
 * The script's values checked again against the schema's own patterns: the script is never
 * built from a value the schema would refuse, even if a caller skipped validation. Throws.
 */
export function assertSafe(specs: HostCheckSpecs): void {
  for (const p of specs.probes) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`health probe of ${p.service}: port ${p.port} is not a TCP port`);
    if (!matches(PROBE_PATH, p.path) || p.path.length > 256) throw new Error(`health probe of ${p.service}: ${JSON.stringify(p.path)} is not a URL path the schema allows`);
    if (!matches(CHECK_TIMEOUT, `${p.timeoutSeconds}s`)) throw new Error(`health probe of ${p.service}: timeout ${p.timeoutSeconds}s is out of bounds`);
  }
  for (const b of specs.backups) {
    if (!matches(BACKUP_PATH, b.path)) throw new Error(`backup ${b.name}: ${JSON.stringify(b.path)} is not an absolute path the schema allows`);
    if (!matches(BACKUP_PATTERN, b.pattern)) throw new Error(`backup ${b.name}: ${JSON.stringify(b.pattern)} is not a pattern the schema allows`);
    if (b.file !== undefined && !matches(BACKUP_FILE, b.file)) throw new Error(`backup ${b.name}: ${JSON.stringify(b.file)} is not a file name the schema allows`);
  }
}

/** The fixed part of the script: functions taking every spec value as a quoted argument. */
const FUNCTIONS = [
  'LC_ALL=C; export LC_ALL',
  // Which HTTP client: curl, else a wget that can refuse redirects (GNU), else none.
  'if command -v curl >/dev/null 2>&1; then t=curl',
  "elif command -v wget >/dev/null 2>&1 && wget --help 2>&1 | grep -q -e '--max-redirect'; then t=wget",
  'else t=none; fi',
  // probe INDEX URL TIMEOUT: one line "@@M h INDEX TOOL EXIT CODE SECONDS". Redirects are reported, never followed.
  'probe() {',
  '  case $t in',
  "  curl) out=$(curl -g -s -o /dev/null --max-redirs 0 --proto =http --max-time \"$3\" -w '%{http_code} %{time_total}' \"$2\" 2>/dev/null); rc=$?",
  '    printf \'%s h %s curl %s %s\\n\' "$m" "$1" "$rc" "$out" ;;',
  '  wget) code=$(wget -S -O /dev/null --max-redirect=0 --tries=1 -T "$3" "$2" 2>&1 | sed -n \'s/^  HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p\' | head -n 1)',
  '    printf \'%s h %s wget - %s -\\n\' "$m" "$1" "${code:-000}" ;;',
  '  *) printf \'%s h %s none\\n\' "$m" "$1" ;;',
  '  esac',
  '}',
  // Which stat: GNU/busybox (-c), else BSD (-f); asked once, so a failing GNU stat never falls back to -f (file system status there).
  "if stat -L -c %Y / >/dev/null 2>&1; then sf=c; else sf=f; fi",
  // backup INDEX DIR PATTERN FILE: "@@M b INDEX ok COUNT NEWEST_MTIME NEWEST_SIZE MORE", or missing/unreadable.
  // PATTERN is matched by case on the name (a pattern, never run); FILE, when set, is looked for inside each entry.
  // The entries are gathered by the shell, then read by one stat (a process per entry made large folders slow);
  // stat prints only times, sizes and types, never a name, so no file name reaches the output.
  'backup() {',
  '  if [ ! -d "$2" ]; then printf \'%s b %s missing\\n\' "$m" "$1"; return; fi',
  '  if [ ! -r "$2" ] || [ ! -x "$2" ]; then printf \'%s b %s unreadable\\n\' "$m" "$1"; return; fi',
  '  i=$1; d=$2; p=$3; fl=$4; c=0; more=0',
  '  set --',
  '  for e in "$d"/*; do',
  '    n=${e##*/}',
  '    case $n in $p) ;; *) continue ;; esac',
  '    if [ -n "$fl" ]; then f=$e/$fl; [ -f "$f" ] || continue; else f=$e; [ -e "$f" ] || continue; fi',
  `    if [ $c -ge ${MAX_ENTRIES} ]; then more=1; break; fi`,
  '    c=$((c + 1))',
  '    set -- "$@" "$f"',
  '  done',
  "  r='-1 -1'",
  '  if [ $# -gt 0 ]; then',
  "    if [ $sf = c ]; then r=$(stat -L -c '%Y %s %F' -- \"$@\" 2>/dev/null | newest); else r=$(stat -L -f '%m %z %HT' -- \"$@\" 2>/dev/null | newest); fi",
  '  fi',
  '  printf \'%s b %s ok %s %s %s\\n\' "$m" "$i" "$c" "$r" "$more"',
  '}',
  // newest: from "MTIME SIZE TYPE" lines, the newest mtime and its size (-1 unless a regular file).
  "newest() { awk 'BEGIN { n = -1; s = -1 } $1 ~ /^[0-9]+$/ && $1 + 0 > n { n = $1 + 0; s = (tolower($3) ~ /^regular/ && $2 ~ /^[0-9]+$/) ? $2 : -1 } END { printf \"%.0f %.0f\", n, s }'; }",
].join('\n');

/**
 * The script for one host: `marker` is this run's random line prefix (hex), then one probe per
 * health check (in parallel, each bounded by its timeout) and one backup call per backup. Every
 * spec value is validated (assertSafe) and passed as one quoted word.
 */
export function checksScript(specs: HostCheckSpecs, marker: string): string {
  assertSafe(specs);
  return renderScript(specs, marker);
}

/** The script without checking the values against the schema: quoting alone keeps them data (tests show it with hostile values). */
export function renderScript(specs: HostCheckSpecs, marker: string): string {
  if (!/^[0-9a-f]{16,64}$/.test(marker)) throw new Error('the marker must be hex');
  const m = `@@${marker}`;
  return [
    sh`m=${m}`,
    FUNCTIONS,
    'printf \'%s now %s\\n\' "$m" "$(date +%s)"',
    ...specs.probes.map((p, i) => `${sh`probe ${i} ${`http://127.0.0.1:${p.port}${p.path}`} ${p.timeoutSeconds}`} &`),
    ...specs.backups.map((b, i) => sh`backup ${i} ${b.path} ${b.pattern} ${b.file ?? ''}`),
    'wait',
    'printf \'%s end\\n\' "$m"',
  ].join('\n');
}

/** The command run over SSH: the script under sh -c, so a login shell that is not POSIX (fish) still runs it as sh. */
export function checksCommand(specs: HostCheckSpecs, marker: string): string {
  return sh`sh -c ${checksScript(specs, marker)}`;
}

/**
 * Reads the script's output back. Only lines "@@<marker> ..." in the exact forms the script
 * prints count; a check with no line, or with two (output someone forged), is not read.
 * Returns the outcomes in spec order, or throws when the output is not the script's (no end).
 */
export function parseChecks(output: string, specs: HostCheckSpecs, marker: string): HostChecks {
  const prefix = `@@${marker} `;
  const probeLines = new Map<number, string[]>();
  const backupLines = new Map<number, string[]>();
  let now: number | undefined;
  let ended = false;
  let nows = 0;
  for (const raw of output.slice(0, MAX_OUTPUT).split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.length > MAX_LINE || !line.startsWith(prefix)) continue;
    const rest = line.slice(prefix.length);
    let m: RegExpExecArray | null;
    if (rest === 'end') ended = true;
    else if ((m = /^now ([0-9]{1,12})$/.exec(rest))) {
      now = Number(m[1]);
      nows++;
    } else if ((m = /^h ([0-9]{1,4}) (.*)$/.exec(rest))) add(probeLines, Number(m[1]), m[2]!);
    else if ((m = /^b ([0-9]{1,4}) (.*)$/.exec(rest))) add(backupLines, Number(m[1]), m[2]!);
  }
  if (!ended) throw new ChecksError('the checks script did not finish (output cut short, or not the script\'s)', remoteExcerpt(output));
  if (nows !== 1) throw new ChecksError('the checks script\'s output holds no single clock reading', remoteExcerpt(output));
  return {
    probes: specs.probes.map((spec, i) => ({ spec, outcome: probeOutcome(probeLines.get(i), spec) })),
    backups: specs.backups.map((spec, i) => ({ spec, outcome: backupOutcome(backupLines.get(i), now!) })),
  };
}

function add(map: Map<number, string[]>, index: number, text: string): void {
  map.set(index, [...(map.get(index) ?? []), text]);
}

export class ChecksError extends Error {
  constructor(
    message: string,
    readonly remote?: string,
  ) {
    super(message);
    this.name = 'ChecksError';
  }
}

const CONFLICT = 'the host printed more than one result for this check; none is trusted';

function probeOutcome(lines: string[] | undefined, spec: ProbeSpec): ProbeOutcome {
  if (!lines?.length) return { notRead: 'the host printed no result for this probe' };
  if (lines.length > 1) return { notRead: CONFLICT };
  const line = lines[0]!;
  if (line === 'none') return { notRead: 'no curl, nor a GNU wget (which can refuse redirects), on the host' };
  const m = /^(curl|wget) (-|[0-9]{1,3}) ([0-9]{3}) (-|[0-9]{1,6}(?:[.,][0-9]{1,9})?)$/.exec(line);
  if (!m) {
    const remote = remoteExcerpt(line, 80);
    return { notRead: `unexpected probe output: ${remote}`, remote };
  }
  const status = Number(m[3]);
  const seconds = m[4] === '-' ? undefined : Number(m[4]!.replace(',', '.'));
  const exit = m[2] === '-' ? undefined : Number(m[2]);
  if (status >= 100 && status <= 599) return { status, ...(seconds === undefined ? {} : { seconds }) };
  // No HTTP answer: curl says why by its exit status (7 refused, 28 timed out).
  if (exit === 28) return { failed: 'timeout', detail: `no answer within ${spec.timeoutSeconds}s` };
  if (exit === 7) return { failed: 'refused', detail: `nothing accepted a connection on 127.0.0.1:${spec.port}` };
  return { failed: 'no-response', detail: exit === undefined ? 'wget got no HTTP answer (refused or timed out)' : `curl exited ${exit} without an HTTP answer` };
}

function backupOutcome(lines: string[] | undefined, now: number): BackupOutcome {
  if (!lines?.length) return { notRead: 'the host printed no result for this backup' };
  if (lines.length > 1) return { notRead: CONFLICT };
  const line = lines[0]!;
  if (line === 'missing') return { missing: 'no-directory' };
  if (line === 'unreadable') return { missing: 'unreadable' };
  const m = /^ok ([0-9]{1,6}) (-1|[0-9]{1,12}) (-1|[0-9]{1,19}) ([01])$/.exec(line);
  if (!m) {
    const remote = remoteExcerpt(line, 80);
    return { notRead: `unexpected backup output: ${remote}`, remote };
  }
  const count = Number(m[1]);
  const mtime = Number(m[2]);
  const size = Number(m[3]);
  return {
    count,
    ...(count > 0 && mtime >= 0 ? { newestAgeSeconds: Math.max(0, now - mtime) } : {}),
    ...(count > 0 && size >= 0 ? { newestSize: size } : {}),
    more: m[4] === '1',
  };
}

/** Every check of a host as not read, for one reason. */
export function notReadChecks(specs: HostCheckSpecs, reason: string, remote?: string): HostChecks {
  const outcome = { notRead: reason, ...(remote === undefined ? {} : { remote }) };
  return {
    probes: specs.probes.map((spec) => ({ spec, outcome })),
    backups: specs.backups.map((spec) => ({ spec, outcome })),
  };
}

/** The SSH exec's bound: the slowest probe (they run in parallel) plus time for the backups and the round trip. */
export function checksTimeoutMs(specs: HostCheckSpecs): number {
  return (Math.max(0, ...specs.probes.map((p) => p.timeoutSeconds)) + 20) * 1000;
}

/**
 * Runs the checks of one host whose facts were read, over the same pool (and connection) as
 * the facts. Undefined when the host declares none. Never throws: what could not be read says why.
 */
export async function readHostChecks(resource: Resource<Host>, target: SshTarget, ctx: LiveContext): Promise<HostChecks | undefined> {
  const specs = checkSpecs(resource.value);
  if (!specs.probes.length && !specs.backups.length) return undefined;
  // The checks run on POSIX hosts only (a Windows host's facts come another way).
  if (isWindowsHost(resource.value)) return notReadChecks(specs, 'health probes and backup checks run in POSIX sh; not run on a Windows host');
  if (!ctx.ssh) return notReadChecks(specs, ctx.noSsh);
  // A branch's plan: only the checks the trusted specs make already (a PR chooses no request to a host's services).
  if (ctx.trusted) {
    const host = ctx.trusted.get('hosts', resource.name)?.value as Host | undefined;
    const known = host ? checkSpecs(host) : { probes: [], backups: [] };
    const probeKey = (p: ProbeSpec) => `${p.port} ${p.path} ${p.timeoutSeconds}`;
    const backupKey = (b: BackupSpec) => `${b.path}\0${b.pattern}\0${b.file ?? ''}`;
    const probes = new Set(known.probes.map(probeKey));
    const backups = new Set(known.backups.map(backupKey));
    const run: HostCheckSpecs = { probes: specs.probes.filter((p) => probes.has(probeKey(p))), backups: specs.backups.filter((b) => backups.has(backupKey(b))) };
    if (run.probes.length < specs.probes.length || run.backups.length < specs.backups.length) {
      const read = run.probes.length || run.backups.length ? await runChecks(run, target, ctx.ssh) : notReadChecks(run, '');
      const untrusted = { notRead: UNTRUSTED_READ };
      return {
        probes: specs.probes.map((spec) => read.probes.find((r) => r.spec === spec) ?? { spec, outcome: untrusted }),
        backups: specs.backups.map((spec) => read.backups.find((r) => r.spec === spec) ?? { spec, outcome: untrusted }),
      };
    }
  }
  return runChecks(specs, target, ctx.ssh);
}

async function runChecks(specs: HostCheckSpecs, target: SshTarget, ssh: NonNullable<LiveContext['ssh']>): Promise<HostChecks> {
  const marker = randomBytes(16).toString('hex');
  try {
    const command = checksCommand(specs, marker);
    const result = await ssh.run(target, (s) => s.exec(command, { timeoutMs: checksTimeoutMs(specs) }));
    if (result.code !== 0) {
      const remote = remoteExcerpt(result.stderr.trim().split('\n')[0] ?? '');
      return notReadChecks(specs, `checks command exited ${result.code}: ${remote}`, remote);
    }
    return parseChecks(result.stdout, specs, marker);
  } catch (err) {
    const remote = err instanceof ChecksError ? err.remote : remoteOf(err);
    return notReadChecks(specs, `${unreachable(err)}${err instanceof ChecksError && remote ? `: ${remote}` : ''}`, remote);
  }
}

/** What to do about a check not read. */
function unreadHint(reason: string, host: string, what: 'probe' | 'backup'): string {
  if (/no curl, nor a GNU wget/.test(reason)) return `install curl on ${host}, or remove the health probe`;
  if (/Windows host/.test(reason)) return `remove the ${what === 'probe' ? 'health probe' : 'backup'} from this Windows host's spec: fleetspec checks them on POSIX hosts only`;
  if (reason === UNTRUSTED_READ) return `the ${what} is checked from the first plan after this change is merged`;
  return `look at ${host} and its SSH access; the ${what} is checked again next plan`;
}

/**
 * One plan finding per check that fails or was not read; a passing check has none. These stay
 * findings, outside the host's change: a plan's hash covers its changes, and a probe that flaps or
 * a backup that ages must not make an approval stale.
 */
export function checkFindings(resource: Resource<Host>, checks: HostChecks | undefined): PlanFinding[] {
  const out: PlanFinding[] = [];
  if (!checks) return out;
  const host = resource.name;
  const where = (at: (string | number)[]) => specLocation(resource, at);
  const finding = (subject: string, code: string, message: string, hint: string, at: (string | number)[], remote?: string): PlanFinding => ({
    kind: 'hosts',
    name: host,
    code,
    severity: 'warning',
    subject,
    message,
    hint,
    where: where(at),
    ...(remote ? { remote } : {}),
  });
  if (checks.probes.length) {
    for (const { spec, outcome } of checks.probes) {
      const subject = `health ${spec.service}`;
      const url = `http://127.0.0.1:${spec.port}${spec.path}`;
      if ('notRead' in outcome) {
        out.push(finding(subject, 'hosts.check-not-read', `health probe of ${spec.service} not read: ${outcome.notRead}`,
          unreadHint(outcome.notRead, host, 'probe'), spec.at, outcome.remote));
        continue;
      }
      if ('status' in outcome && spec.expect.includes(outcome.status)) continue;
      if ('status' in outcome) {
        const redirect = outcome.status >= 300 && outcome.status < 400;
        out.push(finding(subject, 'hosts.health-failed',
          `${spec.service} on ${host}: GET ${url} answered ${outcome.status}${redirect ? ' (a redirect; not followed)' : ''}, expected ${spec.expect.join(' or ')}`,
          redirect ? `probe the path the service answers itself, or add ${outcome.status} to expect` : `look at ${spec.service} on ${host} (its logs, systemctl status or docker ps)`, spec.at));
      } else {
        out.push(finding(subject, 'hosts.health-failed', `${spec.service} on ${host}: GET ${url} failed: ${outcome.detail ?? outcome.failed}`,
          outcome.failed === 'refused' ? `start ${spec.service} on ${host}, or correct its port` : `look at ${spec.service} on ${host} (its logs, load, whether it hangs)`, spec.at));
      }
    }
  }
  if (checks.backups.length) {
    for (const { spec, outcome } of checks.backups) {
      const subject = `backup ${spec.name}`;
      const place = `${spec.path}${spec.pattern === '*' ? '' : `/${spec.pattern}`}${spec.file ? `/${spec.file}` : ''}`;
      if ('notRead' in outcome) {
        out.push(finding(subject, 'hosts.check-not-read', `backup ${spec.name} not read: ${outcome.notRead}`, unreadHint(outcome.notRead, host, 'backup'), spec.at, outcome.remote));
        continue;
      }
      if ('missing' in outcome) {
        out.push(finding(subject, 'hosts.backup-missing',
          outcome.missing === 'no-directory' ? `backup ${spec.name} on ${host}: there is no directory ${spec.path}` : `backup ${spec.name} on ${host}: ${spec.path} cannot be read by the SSH user`,
          outcome.missing === 'no-directory' ? `check that the backup job runs and writes to ${spec.path}, or correct the path` : `let the SSH user read ${spec.path} (group or ACL), or correct the path`, [...spec.at, 'path']));
        continue;
      }
      const problems: { code: string; text: string; hint: string }[] = [];
      const count = `${outcome.count}${outcome.more ? '+' : ''}`;
      if (outcome.count === 0) {
        problems.push({ code: 'hosts.backup-missing', text: `no backup matches ${place}`, hint: `check that the backup job runs (its cron entry and log), or correct path, pattern or file` });
      } else {
        const age = outcome.newestAgeSeconds;
        if (age !== undefined && age > spec.maxAgeSeconds) {
          problems.push({ code: 'hosts.backup-stale', text: `the newest is ${formatAge(age)} old (at most ${formatAge(spec.maxAgeSeconds)})`, hint: 'check that the backup job still runs (its cron entry and log)' });
        }
        if (outcome.newestSize === 0) problems.push({ code: 'hosts.backup-empty', text: 'the newest is an empty file', hint: 'the backup job ran but wrote nothing: look at its log (a failed dump still creates its file)' });
        if (outcome.count < spec.keep) problems.push({ code: 'hosts.backup-count', text: `only ${count} kept (keep ${spec.keep})`, hint: 'backups are missing from the rotation: check the days the job did not run, or lower keep' });
        else if (outcome.count > spec.keep + 1) problems.push({ code: 'hosts.backup-count', text: `${count} kept, more than ${spec.keep}`, hint: 'the rotation is not deleting old backups: check its cleanup step, or raise keep' });
      }
      if (!problems.length) continue;
      const order = ['hosts.backup-missing', 'hosts.backup-stale', 'hosts.backup-empty', 'hosts.backup-count'];
      const code = order.find((c) => problems.some((p) => p.code === c))!;
      out.push(finding(subject, code, `backup ${spec.name} on ${host} (${place}): ${problems.map((p) => p.text).join('; ')}`, problems.map((p) => p.hint).join('; '), spec.at));
    }
  }
  return out;
}

/** A host's read with its checks added, when its facts were read (the driver's readLive). */
export async function withChecks(resource: Resource<Host>, read: HostRead, ctx: LiveContext): Promise<HostRead> {
  if (!('facts' in read)) return read;
  const target = hostTarget(resource);
  if (typeof target === 'string') return read;
  const checks = await readHostChecks(resource, target, ctx);
  return checks ? { ...read, checks } : read;
}
