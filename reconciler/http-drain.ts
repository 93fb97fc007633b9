// What fleetspec's own HTTP endpoints (the daemon's POST /webhook, fleetspec mcp --listen) do after
// answering a request early (413, too large): the rest of its body is read and dropped, never kept,
// for a short while, so a sender still writing reads the answer rather than a reset of the
// connection; then the connection is closed. Never answer such a request with "Connection: close":
// Node closes the socket as soon as the answer is out.
import type { IncomingMessage } from 'node:http';

/** How long, and how much, of the rest of a body is dropped before the connection is closed. */
export const DRAIN_MS = 5_000;
export const DRAIN_BYTES = 32 * 1024 * 1024;

export function drainAfterAnswer(req: IncomingMessage): void {
  let dropped = 0;
  const close = () => {
    clearTimeout(timer);
    req.destroy();
  };
  const timer = setTimeout(close, DRAIN_MS);
  timer.unref();
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_BYTES) close();
  });
  req.on('end', close);
  req.on('error', () => {});
  req.resume();
}
