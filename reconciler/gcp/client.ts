// A small Google Cloud client for the calls fleetspec makes about a VM: Compute Engine v1
// instances.get, instances.start, instances.stop and zoneOperations.wait, and Cloud Monitoring v3
// projects.timeSeries.list for compute.googleapis.com/instance/cpu/utilization. Authenticated with
// a service-account key (auth.ts). Base URLs are options so tests reach a loopback stand-in.
import { remoteExcerpt } from '../remote-text.js';
import { parseServiceAccountKey, TokenSource } from './auth.js';
import { callJson, GcpError } from './http.js';

export { GcpError } from './http.js';

export const COMPUTE_URL = 'https://compute.googleapis.com/compute/v1';
export const MONITORING_URL = 'https://monitoring.googleapis.com/v3';
export const CPU_METRIC = 'compute.googleapis.com/instance/cpu/utilization';

export interface GcpOptions {
  computeUrl?: string;
  monitoringUrl?: string;
  /** Per HTTP request. */
  timeoutMs?: number;
  /** How long start or stop is waited for, in all. */
  operationTimeoutMs?: number;
  /** Seconds since the epoch (tests move time). */
  now?: () => number;
  /** Before a GET is tried again. */
  backoffMs?: number;
  /** timeSeries.list page size (points). */
  pageSize?: number;
}

/** What fleetspec reads of an instance. */
export interface Instance {
  id: string;
  name: string;
  /** PROVISIONING, STAGING, RUNNING, STOPPING, STOPPED, SUSPENDING, SUSPENDED, REPAIRING, TERMINATED. */
  status: string;
  /** The last path segment of machineType (n1-standard-2). */
  machineType: string;
}

export interface Operation {
  name: string;
  status: string;
  /** Google's operation errors, excerpted. */
  error?: string;
}

export interface CpuSeries {
  /** Utilisation samples in percent (0-100), oldest first. */
  points: { start: number; end: number; percent: number }[];
}

export interface InstanceRef {
  project: string;
  zone: string;
  name: string;
}

const seg = (s: string) => encodeURIComponent(s);
const MAX_PAGES = 10;
const STATUSES = new Set(['PROVISIONING', 'STAGING', 'RUNNING', 'STOPPING', 'STOPPED', 'SUSPENDING', 'SUSPENDED', 'REPAIRING', 'TERMINATED']);

export class GcpClient {
  readonly #tokens: TokenSource;
  readonly #pageSize: number;
  readonly #opts: Required<Pick<GcpOptions, 'computeUrl' | 'monitoringUrl' | 'timeoutMs' | 'operationTimeoutMs' | 'backoffMs'>> & Pick<GcpOptions, 'now'>;

  /** `keyText` is the service-account key file's JSON; `where` names it in messages (the secret reference). */
  constructor(keyText: string, where: string, opts: GcpOptions = {}) {
    this.#pageSize = opts.pageSize ?? 1000;
    this.#opts = {
      computeUrl: (opts.computeUrl ?? COMPUTE_URL).replace(/\/+$/, ''),
      monitoringUrl: (opts.monitoringUrl ?? MONITORING_URL).replace(/\/+$/, ''),
      timeoutMs: opts.timeoutMs ?? 20_000,
      operationTimeoutMs: opts.operationTimeoutMs ?? 300_000,
      backoffMs: opts.backoffMs ?? 500,
      ...(opts.now ? { now: opts.now } : {}),
    };
    this.#tokens = new TokenSource(parseServiceAccountKey(keyText, where), { timeoutMs: this.#opts.timeoutMs, ...(opts.now ? { now: opts.now } : {}) });
  }

  #call(method: 'GET' | 'POST', url: string, what: string, timeoutMs = this.#opts.timeoutMs) {
    return callJson({ method, url, what, token: () => this.#tokens.token(), timeoutMs, backoffMs: this.#opts.backoffMs });
  }

  #instanceUrl(i: InstanceRef) {
    return `${this.#opts.computeUrl}/projects/${seg(i.project)}/zones/${seg(i.zone)}/instances/${seg(i.name)}`;
  }

  /** instances.get. */
  async getInstance(i: InstanceRef): Promise<Instance> {
    const what = `instances.get ${i.project}/${i.zone}/${i.name}`;
    const json = (await this.#call('GET', this.#instanceUrl(i), what)) as Record<string, unknown> | undefined;
    const status = json?.status;
    const machineType = json?.machineType;
    const id = json?.id;
    if (typeof status !== 'string' || typeof machineType !== 'string' || (typeof id !== 'string' && typeof id !== 'number')) {
      throw new GcpError(`${what}: the answer is not an Instance (no status, machineType or id)`);
    }
    if (!STATUSES.has(status)) throw new GcpError(`${what}: unknown status ${remoteExcerpt(status, 40)}`, { remote: remoteExcerpt(status, 40) });
    const type = machineType.split('/').pop() ?? '';
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(type)) throw new GcpError(`${what}: machineType ${remoteExcerpt(type, 80)} is not a machine type`, { remote: remoteExcerpt(type, 80) });
    if (!/^[0-9]{1,20}$/.test(String(id))) throw new GcpError(`${what}: the instance id is not a number`);
    return { id: String(id), name: typeof json!.name === 'string' ? json!.name : i.name, status, machineType: type };
  }

  /** instances.start or instances.stop, then the zone operation waited on until DONE (bounded). */
  async power(i: InstanceRef, verb: 'start' | 'stop'): Promise<Operation> {
    const what = `instances.${verb} ${i.project}/${i.zone}/${i.name}`;
    const op = operationOf(await this.#call('POST', `${this.#instanceUrl(i)}/${verb}`, what), what);
    return this.waitOperation(i, op, what);
  }

  /** zoneOperations.wait until DONE or operationTimeoutMs; throws when the operation failed. */
  async waitOperation(i: Pick<InstanceRef, 'project' | 'zone'>, op: Operation, what: string): Promise<Operation> {
    const deadline = Date.now() + this.#opts.operationTimeoutMs;
    let current = op;
    // Google answers wait within two minutes, DONE or not; each call here is bounded by the deadline.
    while (current.status !== 'DONE') {
      const left = deadline - Date.now();
      if (left <= 0) throw new GcpError(`${what}: operation ${current.name} not done after ${Math.round(this.#opts.operationTimeoutMs / 1000)} s (status ${current.status}); plan again to see where the VM is`);
      const url = `${this.#opts.computeUrl}/projects/${seg(i.project)}/zones/${seg(i.zone)}/operations/${seg(current.name)}/wait`;
      current = operationOf(await this.#call('POST', url, `zoneOperations.wait ${current.name}`, Math.min(left, 130_000)), what);
    }
    if (current.error) throw new GcpError(`${what} failed: ${current.error}`, { remote: current.error });
    return current;
  }

  /**
   * projects.timeSeries.list: the instance's CPU utilisation samples over the last `minutes`,
   * unaggregated (one sample a minute), oldest first, in percent.
   */
  async cpuUtilization(project: string, instanceId: string, minutes: number): Promise<CpuSeries> {
    if (!/^[0-9]{1,20}$/.test(instanceId)) throw new GcpError(`timeSeries.list: instance id ${remoteExcerpt(instanceId, 40)} is not a number`);
    const now = (this.#opts.now ?? (() => Date.now() / 1000))();
    const end = new Date(now * 1000);
    const start = new Date((now - minutes * 60) * 1000);
    const what = `timeSeries.list ${project} ${CPU_METRIC}`;
    const points: CpuSeries['points'] = [];
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = new URLSearchParams({
        filter: `metric.type = "${CPU_METRIC}" AND resource.labels.instance_id = "${instanceId}"`,
        'interval.startTime': start.toISOString(),
        'interval.endTime': end.toISOString(),
        view: 'FULL',
        pageSize: String(this.#pageSize),
      });
      if (pageToken) q.set('pageToken', pageToken);
      const json = (await this.#call('GET', `${this.#opts.monitoringUrl}/projects/${seg(project)}/timeSeries?${q}`, what)) as { timeSeries?: unknown; nextPageToken?: unknown } | undefined;
      for (const series of Array.isArray(json?.timeSeries) ? json!.timeSeries : []) {
        for (const p of Array.isArray((series as { points?: unknown }).points) ? (series as { points: unknown[] }).points : []) {
          const point = p as { interval?: { startTime?: unknown; endTime?: unknown }; value?: { doubleValue?: unknown } };
          const v = Number(point.value?.doubleValue);
          const e = Date.parse(String(point.interval?.endTime));
          const s = point.interval?.startTime === undefined ? e : Date.parse(String(point.interval.startTime));
          if (!Number.isFinite(v) || !Number.isFinite(e) || !Number.isFinite(s)) continue;
          points.push({ start: s / 1000, end: e / 1000, percent: v * 100 });
        }
      }
      pageToken = typeof json?.nextPageToken === 'string' && json.nextPageToken ? json.nextPageToken : undefined;
      if (!pageToken) break;
    }
    points.sort((a, b) => a.end - b.end);
    return { points };
  }
}

function operationOf(json: unknown, what: string): Operation {
  const o = json as { name?: unknown; status?: unknown; error?: { errors?: { code?: unknown; message?: unknown }[] } } | undefined;
  if (typeof o?.name !== 'string' || typeof o.status !== 'string') throw new GcpError(`${what}: the answer is not an Operation`);
  const errors = (o.error?.errors ?? []).map((e) => [e.code, e.message].filter((x) => typeof x === 'string').join(': ')).filter(Boolean);
  return { name: o.name, status: o.status, ...(errors.length || o.error ? { error: remoteExcerpt(errors.join('; ') || 'operation failed') } : {}) };
}
