// What a live plan reads of a VM through Google's APIs, as the vms driver hands it to the
// policies (facts.get('vms').get(name)): the instance's status and machine type (Compute Engine
// instances.get) and its CPU utilisation over a window (Cloud Monitoring timeSeries.list).

export interface CpuFacts {
  /** The window asked for. */
  windowMinutes: number;
  /** Samples in it (one a minute while the VM runs). */
  samples: number;
  /** From the oldest sample's start to the newest's end. */
  coveredMinutes: number;
  /** Mean and maximum utilisation in percent, one decimal. */
  avgPercent: number;
  maxPercent: number;
}

export interface VmFacts {
  id: string;
  /** PROVISIONING, STAGING, RUNNING, STOPPING, STOPPED, SUSPENDING, SUSPENDED, REPAIRING, TERMINATED. */
  status: string;
  /** The machine type's name (n1-standard-2). */
  machineType: string;
  /** Absent when the series could not be read (cpuNotRead says why) or the VM is not running. */
  cpu?: CpuFacts;
  cpuNotRead?: string;
}

/** Statuses in which the VM is up or coming up; stopped or going down; neither (in between). */
export const UP = new Set(['PROVISIONING', 'STAGING', 'RUNNING']);
export const DOWN = new Set(['STOPPING', 'STOPPED', 'TERMINATED', 'SUSPENDED']);

/** The CPU facts of a series of utilisation samples (percent), or undefined when there are none. */
export function cpuFacts(points: readonly { start: number; end: number; percent: number }[], windowMinutes: number): CpuFacts | undefined {
  if (!points.length) return undefined;
  const values = points.map((p) => p.percent);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    windowMinutes,
    samples: points.length,
    coveredMinutes: Math.round((Math.max(...points.map((p) => p.end)) - Math.min(...points.map((p) => p.start))) / 60),
    avgPercent: round(values.reduce((a, b) => a + b, 0) / values.length),
    maxPercent: round(Math.max(...values)),
  };
}
