// Deadlines for every PostgreSQL connection fleetspec makes (the pool and the leader lock's own
// connection): a server that stops answering, or a network that swallows packets, fails a query
// within a bounded time instead of holding a tick forever.
//
// Each limit comes from, in order: a parameter of the connection string (DATABASE_URL, in the
// units libpq, PostgreSQL and node-postgres use for it), OpenOptions.timeouts (code), the
// environment (FLEETSPEC_DB_*: seconds, or a duration such as 90s or 2m, as the loop's deadlines),
// and the default below.
import { StateError } from './errors.js';

export interface PgTimeouts {
  /** Connecting (TCP, TLS, authentication), and waiting for a free pool connection. 0: no limit. */
  connectMs: number;
  /**
   * Client side: a query with no answer after this fails and its connection is dropped, whatever
   * the network does (node-postgres' query_timeout). Longer than statementMs, so a server that is
   * alive cancels first with its own message. 0: no limit.
   */
  queryMs: number;
  /** Server side: PostgreSQL cancels a statement running longer (statement_timeout). 0: the server's own setting. */
  statementMs: number;
  /** Server side: a statement waiting this long for a lock is cancelled (lock_timeout). 0: the server's own setting. */
  lockMs: number;
  /** Server side: a session left inside a transaction this long is ended, with its locks (idle_in_transaction_session_timeout). 0: the server's own setting. */
  idleInTransactionMs: number;
  /** TCP keepalive on both ends: idle time before the first probe. 0: off. */
  keepAliveMs: number;
}

/** Sized for a 5-minute tick: a dead database fails the tick within about a minute and a half. */
export const DEFAULT_TIMEOUTS: PgTimeouts = {
  connectMs: 10_000,
  queryMs: 90_000,
  statementMs: 60_000,
  lockMs: 30_000,
  idleInTransactionMs: 120_000,
  keepAliveMs: 30_000,
};

interface Setting {
  key: keyof PgTimeouts;
  /** The connection string's parameter and its unit. */
  param: string;
  unit: 's' | 'ms';
  env: string;
}

export const SETTINGS: readonly Setting[] = [
  { key: 'connectMs', param: 'connect_timeout', unit: 's', env: 'FLEETSPEC_DB_CONNECT_TIMEOUT' },
  { key: 'queryMs', param: 'query_timeout', unit: 'ms', env: 'FLEETSPEC_DB_QUERY_TIMEOUT' },
  { key: 'statementMs', param: 'statement_timeout', unit: 'ms', env: 'FLEETSPEC_DB_STATEMENT_TIMEOUT' },
  { key: 'lockMs', param: 'lock_timeout', unit: 'ms', env: 'FLEETSPEC_DB_LOCK_TIMEOUT' },
  { key: 'idleInTransactionMs', param: 'idle_in_transaction_session_timeout', unit: 'ms', env: 'FLEETSPEC_DB_IDLE_IN_TRANSACTION_TIMEOUT' },
  { key: 'keepAliveMs', param: 'keepalives_idle', unit: 's', env: 'FLEETSPEC_DB_KEEPALIVE_IDLE' },
];

export interface PgSettings {
  /** The connection string without the parameters read here (node-postgres would read some of them again, as strings). */
  connectionString: string;
  timeouts: PgTimeouts;
  /** The startup `options` (server-side TCP keepalive, then the connection string's own `options`). */
  options?: string;
}

const NUMBER = /^\d+(\.\d+)?$/;

function fromParam(s: Setting, value: string): number {
  if (!NUMBER.test(value.trim())) {
    throw new StateError(`${s.param}=${JSON.stringify(value)} in DATABASE_URL is not a number of ${s.unit === 's' ? 'seconds' : 'milliseconds'}`, `set it to e.g. ${s.param}=${s.unit === 's' ? DEFAULT_TIMEOUTS[s.key] / 1000 : DEFAULT_TIMEOUTS[s.key]}, or 0 for no limit`);
  }
  return Math.round(Number(value) * (s.unit === 's' ? 1000 : 1));
}

/** "90", "90s", "2m", "250ms", "0": the environment's durations, as the loop's deadlines read them (seconds when bare). */
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function fromEnv(s: Setting, value: string): number {
  const m = DURATION.exec(value);
  if (!m) throw new StateError(`${s.env}=${JSON.stringify(value)} is not a duration`, `set it to e.g. ${DEFAULT_TIMEOUTS[s.key] / 1000} (seconds), ${DEFAULT_TIMEOUTS[s.key] / 1000}s or 2m, or 0 for no limit`);
  return Math.round(Number(m[1]) * UNIT_MS[(m[2] ?? 's').toLowerCase()]!);
}

/** Seconds as fleetspec prints them: "90 s", "2.5 s". */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

export function pgSettings(url: string, explicit: Partial<PgTimeouts> = {}, env: NodeJS.ProcessEnv = process.env): PgSettings {
  const timeouts: PgTimeouts = { ...DEFAULT_TIMEOUTS };
  for (const s of SETTINGS) {
    const value = env[s.env];
    if (value !== undefined && value !== '') timeouts[s.key] = fromEnv(s, value);
    if (explicit[s.key] !== undefined) timeouts[s.key] = explicit[s.key]!;
  }
  let connectionString = url;
  let userOptions: string | undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL (a libpq key=value string or a socket path): nothing of ours to read in it.
  }
  if (parsed && /^postgres(ql)?:$/i.test(parsed.protocol)) {
    const query = parsed.searchParams;
    let changed = false;
    for (const s of SETTINGS) {
      const value = query.get(s.param);
      if (value === null) continue;
      timeouts[s.key] = fromParam(s, value);
      query.delete(s.param);
      changed = true;
    }
    const keepalives = query.get('keepalives');
    if (keepalives !== null) {
      if (keepalives.trim() === '0') timeouts.keepAliveMs = 0;
      query.delete('keepalives');
      changed = true;
    }
    const options = query.get('options');
    if (options !== null) {
      userOptions = options;
      query.delete('options');
      changed = true;
    }
    if (changed) connectionString = parsed.toString();
  }
  // The server's side of keepalive: a client host that lost power is noticed in about two idle
  // periods, and what its session held (the leader lock) is released, instead of after the
  // kernel's default two hours. Its own `options` come last, so they win.
  const idle = Math.round(timeouts.keepAliveMs / 1000);
  const serverKeepAlive = idle > 0 ? `-c tcp_keepalives_idle=${idle} -c tcp_keepalives_interval=${Math.max(1, Math.round(idle / 3))} -c tcp_keepalives_count=3` : '';
  const options = [serverKeepAlive, userOptions ?? ''].filter(Boolean).join(' ');
  return { connectionString, timeouts, ...(options ? { options } : {}) };
}
