// Which process holds something (the embedded store's folder, a run of the ledger), and whether it
// still lives. On one host the OS says so exactly: the pid exists and started when the holder did
// (a reused pid has another start time). Across hosts nobody can tell; the ledger's runs carry a
// lease for that case (ledger.ts runsStillHeld).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface Holder {
  host: string;
  pid: number;
  /** Process start time from /proc, to tell a reused pid from the holder; null where /proc is absent. */
  started: string | null;
}

export function processStart(pid: number): string | null {
  try {
    // Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

let self: Holder | undefined;

/** This process, as a holder. */
export function thisProcess(): Holder {
  self ??= { host: hostname(), pid: process.pid, started: processStart(process.pid) };
  return self;
}

export function isThisProcess(h: Holder): boolean {
  const me = thisProcess();
  return h.host === me.host && h.pid === me.pid && (h.started === null || me.started === null || h.started === me.started);
}

/** Whether a holder on this host still runs (the caller checked the host). */
export function isAlive(h: Pick<Holder, 'pid' | 'started'>): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const started = processStart(h.pid);
  return h.started === null || started === null || started === h.started;
}
