// Host facts in one round trip: a fixed script (no spec value reaches it) prints sections
// from /etc/os-release, uname, /proc and df; parseFacts reads them back.

/** What the facts script prints; each section starts with a line "@@name". Locale fixed so df and numbers parse. */
export const FACTS_SCRIPT = [
  'LC_ALL=C; export LC_ALL',
  "echo @@os; (. /etc/os-release 2>/dev/null && printf '%s\\n' \"$PRETTY_NAME\") || uname -o",
  'echo @@kernel; uname -sr',
  'echo @@hostname; uname -n',
  'echo @@cpus; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN',
  'echo @@loadavg; cat /proc/loadavg',
  'echo @@meminfo; cat /proc/meminfo',
  'echo @@df; df -P -k -x tmpfs -x devtmpfs -x overlay -x squashfs 2>/dev/null || df -P -k',
  'echo @@tcp; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null',
  'echo @@end',
].join('\n');

export interface DiskFacts {
  mount: string;
  filesystem: string;
  sizeBytes: number;
  usedBytes: number;
  usedPercent: number;
}

export interface HostFacts {
  os: string;
  kernel: string;
  hostname: string;
  cpus: number;
  /** 1, 5 and 15 minute load averages. */
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number };
  disks: DiskFacts[];
  /** TCP ports in LISTEN state on any address, ascending, each once. */
  listening: number[];
}

export class FactsError extends Error {}

function sections(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    const m = /^@@([a-z]+)$/.exec(line.trim());
    if (m) out.set(m[1]!, (current = []));
    else current?.push(line);
  }
  return out;
}

/** LISTEN sockets from /proc/net/tcp{,6}: "sl local_address rem_address st ..." with st 0A. */
export function parseListening(lines: readonly string[]): number[] {
  const ports = new Set<number>();
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== '0A') continue;
    const port = Number.parseInt(fields[1]!.split(':').pop()!, 16);
    if (Number.isInteger(port) && port > 0) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** df -P -k: "Filesystem 1024-blocks Used Available Capacity Mounted on"; mount points may hold spaces. */
export function parseDf(lines: readonly string[]): DiskFacts[] {
  const disks: DiskFacts[] = [];
  for (const line of lines) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(\/.*)$/.exec(line.trim());
    if (!m) continue;
    disks.push({ filesystem: m[1]!, sizeBytes: Number(m[2]) * 1024, usedBytes: Number(m[3]) * 1024, usedPercent: Number(m[5]), mount: m[6]! });
  }
  return disks.sort((a, b) => a.mount.localeCompare(b.mount));
}

export function parseFacts(output: string): HostFacts {
  const s = sections(output);
  if (!s.has('end')) throw new FactsError('the facts script did not finish (output cut short)');
  const first = (name: string) => (s.get(name) ?? []).find((l) => l.trim() !== '')?.trim() ?? '';
  const meminfo = new Map(
    (s.get('meminfo') ?? []).map((l) => /^(\w+):\s+(\d+)\s*kB/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, Number(m![2]) * 1024] as const),
  );
  const cpus = Number.parseInt(first('cpus'), 10);
  const load = first('loadavg').split(/\s+/).slice(0, 3).map(Number) as [number, number, number];
  if (!Number.isInteger(cpus) || cpus < 1 || !meminfo.has('MemTotal') || load.length !== 3 || load.some((n) => !Number.isFinite(n))) {
    throw new FactsError('unexpected output from the facts script (is this a Linux host with /proc?)');
  }
  return {
    os: first('os'),
    kernel: first('kernel'),
    hostname: first('hostname'),
    cpus,
    load,
    memory: { totalBytes: meminfo.get('MemTotal')!, availableBytes: meminfo.get('MemAvailable') ?? meminfo.get('MemFree') ?? 0 },
    disks: parseDf(s.get('df') ?? []),
    listening: parseListening(s.get('tcp') ?? []),
  };
}

const UNITS = { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 } as const;

/** "32GB" → bytes (binary units, as RAM is sold); the upper end of a range such as "8-12GB". */
export function parseSize(text: string): number {
  const m = /^([0-9.]+)(?:\s?-\s?([0-9.]+))?\s?(KB|MB|GB|TB)$/.exec(text.trim());
  if (!m) throw new FactsError(`not a size: ${text}`);
  return Number(m[2] ?? m[1]) * UNITS[m[3] as keyof typeof UNITS];
}

export function formatSize(bytes: number): string {
  const [unit, size] = (Object.entries(UNITS) as [string, number][]).reverse().find(([, n]) => bytes >= n) ?? ['KB', 1024];
  return `${Number((bytes / size).toFixed(1))}${unit}`;
}

export interface Threshold {
  op: '<' | '>' | '<=' | '>=';
  value: number;
  unit: string;
}

/** ">90%", "<12GB", ">5s" as the threshold schema allows them. */
export function parseThreshold(text: string): Threshold {
  const m = /^(<=|>=|<|>)\s?([0-9.]+)\s?(%|KB|MB|GB|TB|ms|s)?$/.exec(text.trim());
  if (!m) throw new FactsError(`not a threshold: ${text}`);
  const unit = m[3] ?? '';
  const value = unit in UNITS ? Number(m[2]) * UNITS[unit as keyof typeof UNITS] : Number(m[2]);
  return { op: m[1] as Threshold['op'], value, unit };
}

export function breaches(t: Threshold, observed: number): boolean {
  switch (t.op) {
    case '>':
      return observed > t.value;
    case '>=':
      return observed >= t.value;
    case '<':
      return observed < t.value;
    case '<=':
      return observed <= t.value;
  }
}
