// Windows hosts over OpenSSH for Windows: one fixed PowerShell script (no spec value reaches it),
// sent as -EncodedCommand so neither cmd.exe (OpenSSH for Windows's default shell) nor PowerShell
// re-parses any of it, reads the CIM classes below and prints their JSON as base64 of UTF-8 (so
// the console code page cannot garble it). parseWindowsFacts checks every field before a plan
// sees it: the reply is the host's words, bounded, typed and excerpted in errors.
//
// Classes and properties (learn.microsoft.com, cimwin32prov): Win32_OperatingSystem Caption,
// Version, CSName, TotalVisibleMemorySize and FreePhysicalMemory (uint64, KB), SystemDrive;
// Win32_Processor NumberOfLogicalProcessors (uint32), LoadPercentage (uint16, may be null);
// Win32_LogicalDisk with DriveType 3 (local disk) DeviceID ("C:"), FileSystem, Size and
// FreeSpace (uint64, bytes); Win32_VideoController Name, AdapterRAM (uint32: caps at 4 GiB),
// DriverVersion; Get-NetTCPConnection -State Listen LocalPort (uint16).
import { remoteExcerpt } from '../../remote-text.js';
import { FactsError, type DiskFacts, type HostFacts } from './facts.js';
import type { Host } from './index.js';

/** The PowerShell the command runs; fixed text. ConvertTo-Json gets -InputObject so no array is unwrapped, and -Depth for the nested lists. */
export const WINDOWS_FACTS_SCRIPT = [
  "$ErrorActionPreference='Stop'",
  "$ProgressPreference='SilentlyContinue'",
  '$os=Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,CSName,TotalVisibleMemorySize,FreePhysicalMemory,SystemDrive',
  '$cpu=@(Get-CimInstance Win32_Processor | Select-Object NumberOfLogicalProcessors,LoadPercentage)',
  "$disk=@(Get-CimInstance Win32_LogicalDisk -Filter 'DriveType=3' | Select-Object DeviceID,FileSystem,Size,FreeSpace)",
  '$gpu=@(Get-CimInstance Win32_VideoController | Select-Object Name,AdapterRAM,DriverVersion)',
  '$tcp=@(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue | Select-Object -ExpandProperty LocalPort | Sort-Object -Unique)',
  '$j=ConvertTo-Json -InputObject ([ordered]@{fleetspec=1;os=$os;cpu=$cpu;disk=$disk;gpu=$gpu;tcp=$tcp}) -Depth 4 -Compress',
  '[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($j))',
].join('\n');

/** -EncodedCommand takes base64 of the script in UTF-16LE (powershell.exe -Help). */
export function encodePowerShell(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}

/** The command line sent over SSH: the same for cmd.exe and for PowerShell as the default shell. */
export const WINDOWS_FACTS_COMMAND = `powershell -NoProfile -NonInteractive -EncodedCommand ${encodePowerShell(WINDOWS_FACTS_SCRIPT)}`;

/** A host read with the PowerShell command: its `os` names Windows (Windows 11 Pro, windows). */
export function isWindowsHost(host: Pick<Host, 'os'>): boolean {
  return typeof host.os === 'string' && /^\s*windows\b/i.test(host.os);
}

/** The facts command for a host: PowerShell for Windows, the POSIX script otherwise. */
export function factsCommandFor(host: Pick<Host, 'os'>, posix: string): string {
  return isWindowsHost(host) ? WINDOWS_FACTS_COMMAND : posix;
}

export interface GpuFacts {
  name: string;
  /** AdapterRAM in bytes; a uint32, so 4 GiB and more read as about 4 GiB (or 0), as Windows reports it. */
  adapterRamBytes: number | null;
  driverVersion: string | null;
}

/** HostFacts of a Windows host: disks are drive letters (C:), and the GPUs come too. */
export interface WindowsHostFacts extends HostFacts {
  platform: 'windows';
  /** The drive Windows runs from (C:): what a disk.usage threshold on "/" measures. */
  systemDrive: string;
  gpus: GpuFacts[];
  /** LoadPercentage, averaged over the processors; null when Windows leaves it empty. */
  cpuLoadPercent: number | null;
}

export function isWindowsFacts(facts: HostFacts | undefined): facts is WindowsHostFacts {
  return (facts as Partial<WindowsHostFacts> | undefined)?.platform === 'windows';
}

/** Far more than any workstation prints (a few KB); a reply this long is refused unread. */
const MAX_OUTPUT_CHARS = 1024 * 1024;
const MAX_STRING = 256;
const MAX_LIST = { cpu: 64, disk: 64, gpu: 16, tcp: 4096 } as const;

export class WindowsFactsError extends FactsError {
  constructor(
    message: string,
    readonly remote?: string,
  ) {
    super(remote === undefined ? message : `${message}: ${remote}`);
    this.name = 'WindowsFactsError';
  }
}

const refuse = (what: string, value?: unknown): never => {
  throw new WindowsFactsError(
    `the Windows facts command answered with ${what}; facts not read`,
    value === undefined ? undefined : remoteExcerpt(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value), 120),
  );
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Text a host may give: bounded, and no control or format characters (terminal escapes, bidi overrides, NUL). */
function text(v: unknown, field: string, pattern?: RegExp): string {
  if (typeof v !== 'string') return refuse(`${field} that is not a string`, v);
  if (v.length > MAX_STRING) return refuse(`${field} longer than ${MAX_STRING} characters`, v);
  if (/[\p{Cc}\p{Cf}\uD800-\uDFFF]/u.test(v)) return refuse(`control characters in ${field}`, v);
  const t = v.trim();
  if (pattern && !pattern.test(t)) return refuse(`an unexpected ${field}`, v);
  return t;
}

function optionalText(v: unknown, field: string): string | null {
  return v === null || v === undefined ? null : text(v, field);
}

/** A CIM unsigned integer as ConvertTo-Json writes it: a JSON number, whole, not negative. */
function count(v: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) return refuse(`${field} that is not a whole number from 0 to ${max}`, v);
  return v;
}

/**
 * A CIM list: ConvertTo-Json writes one instance as an object and several as an array, and Windows
 * PowerShell 5.1 may wrap an array as {"value": [...], "Count": n}; all three are read, bounded.
 */
function list(v: unknown, field: string, max: number): unknown[] {
  let items: unknown[];
  if (v === null || v === undefined) items = [];
  else if (Array.isArray(v)) items = v;
  else if (isRecord(v) && Array.isArray(v['value']) && typeof v['Count'] === 'number' && Object.keys(v).length === 2) items = v['value'];
  else items = [v];
  if (items.length > max) return refuse(`${items.length} entries in ${field} (at most ${max} are read)`);
  return items;
}

/** Reads the base64 JSON the command prints into facts; anything unexpected throws WindowsFactsError (the host stays not read). */
export function parseWindowsFacts(stdout: string): WindowsHostFacts {
  if (stdout.length > MAX_OUTPUT_CHARS) refuse(`${stdout.length} characters (at most ${MAX_OUTPUT_CHARS} are read)`);
  // powershell.exe ends with CRLF; a UTF-8 BOM may lead.
  const encoded = stdout.replace(/^\uFEFF/, '').trim();
  if (encoded === '') refuse('nothing (is this a Windows host with PowerShell?)');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) refuse('output that is not the base64 it prints (is this a Windows host with PowerShell?)', encoded);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    return refuse('base64 that is not JSON', Buffer.from(encoded, 'base64').toString('utf8'));
  }
  if (!isRecord(doc) || doc['fleetspec'] !== 1) return refuse('JSON that is not the facts object', doc);

  const osItems = list(doc['os'], 'os', 1);
  const os = osItems[0];
  if (!isRecord(os)) return refuse('no Win32_OperatingSystem object', doc['os']);
  const caption = text(os['Caption'], 'os.Caption');
  const version = text(os['Version'], 'os.Version', /^\d+(\.\d+){1,3}$/);
  const hostname = text(os['CSName'], 'os.CSName', /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
  const systemDrive = text(os['SystemDrive'], 'os.SystemDrive', /^[A-Za-z]:$/).toUpperCase();
  const totalKb = count(os['TotalVisibleMemorySize'], 'os.TotalVisibleMemorySize');
  const freeKb = count(os['FreePhysicalMemory'], 'os.FreePhysicalMemory', totalKb);
  if (totalKb === 0) refuse('os.TotalVisibleMemorySize of 0');

  let cpus = 0;
  const loads: number[] = [];
  for (const [i, c] of list(doc['cpu'], 'cpu', MAX_LIST.cpu).entries()) {
    if (!isRecord(c)) return refuse(`cpu[${i}] that is not an object`, c);
    cpus += count(c['NumberOfLogicalProcessors'], `cpu[${i}].NumberOfLogicalProcessors`, 4096);
    if (c['LoadPercentage'] !== null && c['LoadPercentage'] !== undefined) loads.push(count(c['LoadPercentage'], `cpu[${i}].LoadPercentage`, 100));
  }
  if (cpus < 1) refuse('no logical processors');
  const cpuLoadPercent = loads.length ? loads.reduce((a, b) => a + b, 0) / loads.length : null;
  // Windows has no load average: LoadPercentage (the last second) stands in for all three, as CPUs busy.
  const busy = cpuLoadPercent === null ? 0 : (cpuLoadPercent / 100) * cpus;

  const disks: DiskFacts[] = [];
  const seen = new Set<string>();
  for (const [i, d] of list(doc['disk'], 'disk', MAX_LIST.disk).entries()) {
    if (!isRecord(d)) return refuse(`disk[${i}] that is not an object`, d);
    const mount = text(d['DeviceID'], `disk[${i}].DeviceID`, /^[A-Za-z]:$/).toUpperCase();
    if (seen.has(mount)) refuse(`drive ${mount} twice`);
    seen.add(mount);
    // A locked (BitLocker) or unformatted volume has no Size or FreeSpace: nothing to measure.
    if (d['Size'] === null || d['FreeSpace'] === null) continue;
    const sizeBytes = count(d['Size'], `disk[${i}].Size`);
    const free = count(d['FreeSpace'], `disk[${i}].FreeSpace`, sizeBytes);
    const usedBytes = sizeBytes - free;
    // As df's Capacity: rounded up.
    disks.push({ mount, filesystem: optionalText(d['FileSystem'], `disk[${i}].FileSystem`) ?? '', sizeBytes, usedBytes, usedPercent: sizeBytes ? Math.ceil((usedBytes / sizeBytes) * 100) : 0 });
  }
  disks.sort((a, b) => a.mount.localeCompare(b.mount));

  const gpus: GpuFacts[] = [];
  for (const [i, g] of list(doc['gpu'], 'gpu', MAX_LIST.gpu).entries()) {
    if (!isRecord(g)) return refuse(`gpu[${i}] that is not an object`, g);
    const ram = g['AdapterRAM'];
    gpus.push({
      name: text(g['Name'], `gpu[${i}].Name`),
      adapterRamBytes: ram === null || ram === undefined ? null : count(ram, `gpu[${i}].AdapterRAM`, 0xffffffff),
      driverVersion: optionalText(g['DriverVersion'], `gpu[${i}].DriverVersion`),
    });
  }

  const listening = new Set<number>();
  for (const [i, p] of list(doc['tcp'], 'tcp', MAX_LIST.tcp).entries()) {
    const port = count(p, `tcp[${i}]`, 65535);
    if (port > 0) listening.add(port);
  }

  return {
    platform: 'windows',
    os: caption.replace(/^Microsoft\s+/i, ''),
    kernel: `Windows ${version}`,
    hostname,
    cpus,
    load: [busy, busy, busy],
    cpuLoadPercent,
    memory: { totalBytes: totalKb * 1024, availableBytes: freeKb * 1024 },
    disks,
    listening: [...listening].sort((a, b) => a - b),
    systemDrive,
    gpus,
  };
}

/** Vendor words a spec may add or leave out ("AMD Radeon RX 550" is Windows's "Radeon RX 550 Series"). */
const VENDOR_WORDS = new Set(['amd', 'ati', 'nvidia', 'intel', 'r', 'tm', 'c']);
const words = (s: string) => s.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w !== '');

/** Whether an adapter Windows reports is the GPU a spec names: every word of the spec's model, vendor names aside, is in its name. */
export function gpuMatches(specModel: string, adapterName: string): boolean {
  const have = new Set(words(adapterName));
  const want = words(specModel).filter((w) => !VENDOR_WORDS.has(w));
  return want.length > 0 && want.every((w) => have.has(w));
}

/** The spec's GPUs against the adapters: each spec GPU with the adapter that matches it, or "not found". */
export function compareGpus(spec: NonNullable<Host['gpus']>, gpus: readonly GpuFacts[]): { want: string[]; have: string[]; same: boolean } {
  const want = spec.map((g) => g.model);
  const have = spec.map((g) => gpus.find((a) => gpuMatches(g.model, a.name))?.name ?? 'not found');
  return { want, have, same: have.every((h) => h !== 'not found') };
}

/**
 * The first line of what a failed PowerShell command said. powershell.exe started with
 * -EncodedCommand and no console writes its error stream as CLIXML ("#< CLIXML" then
 * <Objs><S S="Error">text_x000D__x000A_</S>...</Objs>); the error records' text is read out of it.
 */
export function powershellErrorLine(stderr: string): string {
  const bounded = stderr.slice(0, 64 * 1024);
  if (!/^\s*#< CLIXML/.test(bounded)) return bounded.trim().split('\n')[0] ?? '';
  const parts = [...bounded.matchAll(/<S S="Error">([^<]*)<\/S>/g)].map((m) =>
    m[1]!
      .replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&'),
  );
  return parts.join('').trim().split(/\r?\n/)[0] ?? '';
}
