// systemd's watchdog for the daemon (WatchdogSec= in the unit). The daemon's own wedge check
// (daemon.ts) runs on timers, so it cannot see an event loop that stopped turning (a synchronous
// call that never returns, such as a WebAssembly store operation that hangs); systemd can: unless
// told WATCHDOG=1 within WatchdogSec, it kills the daemon and, with Restart=on-failure, starts it
// again. Node has no datagram sockets on AF_UNIX without a native module, so the message goes out
// through `systemd-notify`, which waits until systemd has taken it (systemd 246 and later) and so
// is attributed to this service: the unit needs NotifyAccess=all. Outside systemd (no
// NOTIFY_SOCKET or no WATCHDOG_USEC for this process) nothing happens.
import { spawn } from 'node:child_process';

export interface SystemdWatchdog {
  /** How often WATCHDOG=1 goes out (half of WatchdogSec). */
  readonly intervalMs: number;
  stop(): void;
}

/** Starts pinging systemd's watchdog every half WatchdogSec while the event loop turns; undefined when systemd asked for none. */
export function startSystemdWatchdog(opts: { env?: NodeJS.ProcessEnv; command?: string; onError?: (message: string) => void } = {}): SystemdWatchdog | undefined {
  const env = opts.env ?? process.env;
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.NOTIFY_SOCKET || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  const intervalMs = Math.max(500, Math.floor(usec / 2000));
  let warned = false;
  const notify = () => {
    const child = spawn(opts.command ?? 'systemd-notify', ['WATCHDOG=1'], { stdio: 'ignore', env: { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: env.NOTIFY_SOCKET } });
    const fail = (why: string) => {
      if (warned) return;
      warned = true; // once: systemd's own kill says the rest
      opts.onError?.(`systemd watchdog: ${why}; systemd will restart the daemon when WatchdogSec passes (check NotifyAccess=all and that systemd-notify is on PATH)`);
    };
    child.on('error', (err) => fail(`cannot run systemd-notify: ${err.message}`));
    child.on('exit', (code) => (code ? fail(`systemd-notify WATCHDOG=1 exited ${code}`) : undefined));
  };
  notify();
  const timer = setInterval(notify, intervalMs);
  timer.unref();
  return { intervalMs, stop: () => clearInterval(timer) };
}
