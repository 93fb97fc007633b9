#!/usr/bin/env -S node --liftoff-only
import { processOutput } from './commands/output.js';
import { EXIT } from './exit-codes.js';
import { run } from './program.js';
import { logLine, terminal } from './escape.js';

// `fleetspec ... | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const out = processOutput();
run(process.argv.slice(2), out).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Anything that reaches here is a bug or an unreachable system, never bad specs.
    out.stderr(`fleetspec: internal error: ${logLine(err instanceof Error ? err.message : String(err))}`, 'err');
    if (process.env.FLEETSPEC_DEBUG && err instanceof Error && err.stack) out.stderr(terminal(err.stack), 'err');
    else out.stderr('(set FLEETSPEC_DEBUG=1 for the stack trace)', 'err');
    process.exitCode = EXIT.ERROR;
  },
);
