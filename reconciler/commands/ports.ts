import { countBySeverity, formatDiagnostic } from '../diagnostics.js';
import type { ExitCode } from '../exit-codes.js';
import type { PortRange } from '../kinds/ports/index.js';
import { applyPorts, diffPorts, type PortChange } from '../kinds/ports/store.js';
import { loadSpecs } from '../specs/load.js';
import { EXIT } from '../exit-codes.js';
import { allocate, getAllocation, listAllocations, listRanges, release } from '../state/ports.js';
import type { Output } from './output.js';
import { printTable, withStore } from './store.js';
import { logLine } from '../escape.js';

type Format = { format: 'text' | 'json' };

export function portsList(opts: Format & { project?: string }, out: Output): Promise<ExitCode> {
  return withStore(out, 'ports list', async (db) => {
    const [ranges, allocations] = await Promise.all([listRanges(db), listAllocations(db, opts.project)]);
    const shown = opts.project ? ranges.filter((r) => r.project === opts.project) : ranges;
    if (opts.format === 'json') {
      out.stdout(JSON.stringify({ ranges: shown, allocations }, null, 2));
      return EXIT.OK;
    }
    printTable(out, ['PROJECT', 'RANGE', 'ALLOCATED'], shown.map((r) => [r.project, `${r.start}-${r.end}`, String(allocations.filter((a) => a.project === r.project).length)]));
    if (allocations.length > 0) {
      out.stdout('');
      printTable(out, ['PORT', 'PROJECT', 'SERVICE'], allocations.map((a) => [String(a.port), a.project, a.service]));
    }
    return EXIT.OK;
  });
}

export function portsGet(project: string, service: string, opts: Format, out: Output): Promise<ExitCode> {
  return withStore(out, 'ports get', async (db) => {
    const port = await getAllocation(db, project, service);
    if (port === undefined) {
      out.stderr(logLine(`fleetspec ports get: ${project}/${service} has no port`));
      out.stderr(logLine(`  hint: fleetspec ports allocate ${project} ${service}`));
      return EXIT.INVALID;
    }
    out.stdout(opts.format === 'json' ? JSON.stringify({ project, service, port }) : String(port));
    return EXIT.OK;
  });
}

export function portsAllocate(project: string, service: string, opts: Format, out: Output): Promise<ExitCode> {
  return withStore(out, 'ports allocate', async (db) => {
    const port = await allocate(db, project, service);
    out.stdout(opts.format === 'json' ? JSON.stringify({ project, service, port }) : String(port));
    return EXIT.OK;
  });
}

export function portsRelease(project: string, service: string, opts: Format, out: Output): Promise<ExitCode> {
  return withStore(out, 'ports release', async (db) => {
    const port = await release(db, project, service);
    if (opts.format === 'json') out.stdout(JSON.stringify({ project, service, released: port ?? null }));
    else out.stderr(logLine(port === undefined ? `${project}/${service} had no port; nothing to release` : `released ${project}/${service} port ${port}`));
    return EXIT.OK;
  });
}

async function portChanges(db: Parameters<Parameters<typeof withStore>[2]>[0], specs: string, out: Output) {
  const loaded = await loadSpecs(specs);
  if (countBySeverity(loaded.diagnostics).errors > 0) {
    for (const d of loaded.diagnostics) out.stderr(formatDiagnostic(d, out.color));
    return undefined;
  }
  const desired = loaded.index.all('ports').map((r) => r.value as PortRange);
  const [ranges, allocations] = await Promise.all([listRanges(db), listAllocations(db)]);
  return diffPorts(desired, { ranges, allocations });
}

function printChanges(changes: readonly PortChange[], opts: Format, out: Output): void {
  if (opts.format === 'json') {
    out.stdout(JSON.stringify({ changes }, null, 2));
    return;
  }
  const sign = { create: '+', update: '~', delete: '-' } as const;
  for (const c of changes) out.stdout(`${sign[c.action]} ${logLine(`ports/${c.name}: ${JSON.stringify(c.before)} -> ${JSON.stringify(c.after)} (${c.reason})`)}`);
  out.stderr(changes.length === 0 ? 'ports: the store matches specs' : `ports: ${changes.length} change${changes.length === 1 ? '' : 's'}`);
}

/** Exit 0 when the store matches specs, 2 when there are changes (like plan). */
export function portsDiff(specs: string, opts: Format, out: Output): Promise<ExitCode> {
  return withStore(out, 'ports diff', async (db) => {
    const changes = await portChanges(db, specs, out);
    if (!changes) return EXIT.INVALID;
    printChanges(changes, opts, out);
    return changes.length === 0 ? EXIT.OK : EXIT.CHANGES;
  });
}

export function portsApply(specs: string, opts: Format, out: Output): Promise<ExitCode> {
  return withStore(out, 'ports apply', async (db) => {
    const changes = await portChanges(db, specs, out);
    if (!changes) return EXIT.INVALID;
    printChanges(changes, opts, out);
    await db.transaction((tx) => applyPorts(tx, changes));
    if (changes.length > 0) out.stderr('applied');
    return EXIT.OK;
  });
}
