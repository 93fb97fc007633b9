// The network faults of the fault suite, each made of the proxy's modes (proxy.ts), switched on
// and off as a whole. What each one means for the program behind the proxy:
//
//   refuse     the peer is down: live connections are reset and new ones refused.
//   blackhole  the peer lost power: nothing comes back, nothing is refused, until a timeout.
//   slow       every chunk is held `slowMs` (default 2 s) each way: a congested or lossy link.
//   cut        every connection is reset part-way: each chunk is held 100 ms and every live
//              connection cut every 150 ms, so no exchange can finish (a request needs at least
//              200 ms) while the request itself may already have reached the peer.
//   dropReply  the request reaches the peer, which does the work; the answer never comes back.
import type { FaultProxy } from './proxy.js';

export const FAULTS = ['refuse', 'blackhole', 'slow', 'cut', 'dropReply'] as const;
export type Fault = (typeof FAULTS)[number];

export interface Injected {
  fault: Fault;
  /** Back to a working network (connections a blackhole silenced stay silent: the client must notice). */
  clear(): void;
}

/** Switches `fault` on at `proxy` now. */
export function inject(proxy: FaultProxy, fault: Fault, options: { slowMs?: number } = {}): Injected {
  let timer: NodeJS.Timeout | undefined;
  switch (fault) {
    case 'refuse':
      proxy.set('refuse');
      proxy.cut();
      break;
    case 'blackhole':
      proxy.set('blackhole');
      break;
    case 'slow':
      proxy.set('slow', { delayMs: options.slowMs ?? 2_000 });
      break;
    case 'cut':
      proxy.set('slow', { delayMs: 100 });
      proxy.cut();
      timer = setInterval(() => proxy.cut(), 150);
      break;
    case 'dropReply':
      proxy.set('dropReply');
      break;
  }
  return {
    fault,
    clear() {
      clearInterval(timer);
      proxy.set('pass');
    },
  };
}

/** A number that moves whenever a client tries the proxy: a connection, a byte forwarded or swallowed, a reset. */
export function activity(proxy: FaultProxy): number {
  return proxy.connections + proxy.dropped + proxy.bytes.up + proxy.bytes.down + proxy.bytes.swallowed;
}
