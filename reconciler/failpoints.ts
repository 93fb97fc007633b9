// Failpoints: named places in the code where a fault test can make the process die at once, as a
// power cut or the OOM killer would, to check that whatever the process had done so far is
// recovered by the next tick. This is the technique of etcd's gofail and FreeBSD's fail(9): the
// code says where it may fail, the environment says whether it does.
//
// Inert unless FLEETSPEC_FAILPOINT is set: a production process never sets it, and then a failpoint
// is one string comparison. Only the fault tests (test/faults/) set it, to one name per process.
// The kill is SIGKILL to the process itself: no handler runs, no `finally`, no buffered write is
// flushed, nothing is said on the way out, which is the worst case recovery has to handle.

/** Kills this process with SIGKILL when FLEETSPEC_FAILPOINT is `name`; otherwise does nothing. */
export function failpoint(name: string): void {
  if (process.env.FLEETSPEC_FAILPOINT !== name) return;
  process.kill(process.pid, 'SIGKILL');
}
