// `fleetspec reconcile`'s text report: the lines a tick's holds and suspensions give, with the
// window's name and the detail (both from specs/policies) made inert for a terminal.
import { describe, expect, it } from 'vitest';
import { printReport } from '../../reconciler/commands/loop.js';
import { bufferOutput } from '../../reconciler/commands/output.js';
import type { TickReport } from '../../reconciler/loop/phases/types.js';

const base: TickReport = {
  run: 7,
  state: 'SUCCEEDED' as TickReport['state'],
  reason: 'held by sync windows',
  recovered: { runs: [], applies: [] },
  branches: [],
  main: [],
  drift: [],
  pulled: [],
  findings: [],
  commands: [],
  waiting: 1,
  errors: [],
  durationMs: 12,
};

describe('reconcile report', () => {
  it('prints one line per hold: the held merge with its PR, a held drift by kind, the window and when it goes', () => {
    const out = bufferOutput();
    printReport(
      {
        ...base,
        held: [
          { sha: 'abcdef0123456789', pr: 12, resource: 'tickets/T-0002', window: 'tickets-mornings', opens: '2026-03-09T08:00:00.000Z', detail: 'tickets/T-0002: outside allow window tickets-mornings; it goes at 2026-03-09 08:00 UTC' },
          { pr: null, kind: 'models', resource: 'models/qwen', window: 'freeze', opens: null, detail: 'models/qwen: held while deny window freeze is active; it goes at no time within a year' },
        ],
      },
      out,
    );
    expect(out.out).toEqual([
      'main abcdef0 (#12): held by sync window tickets-mornings: tickets/T-0002: outside allow window tickets-mornings; it goes at 2026-03-09 08:00 UTC',
      'drift models: held by sync window freeze: models/qwen: held while deny window freeze is active; it goes at no time within a year',
      'run 7 SUCCEEDED: held by sync windows',
    ]);
  });

  it('a window name or detail carrying terminal escapes or line breaks stays on its one line, escapes shown, not obeyed', () => {
    const out = bufferOutput();
    printReport({ ...base, held: [{ sha: 'abcdef0123456789', pr: 3, resource: 'x/y', window: 'w\u001b[2J\nrun 8 SUCCEEDED', opens: null, detail: 'd\r\nerror forged' }] }, out);
    const line = out.out[0]!;
    expect(out.out).toHaveLength(2);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(line.startsWith('main abcdef0 (#3): held by sync window w')).toBe(true);
  });
});
