// Port allocation (seed 003): each project owns a range that no other range overlaps
// (an exclusion constraint), every allocation lies in its project's range (a trigger),
// and allocate() is one call to a database function that serialises per project.
import type { Queryable } from './db.js';
import { StateError } from './errors.js';

export interface PortRangeRow {
  project: string;
  start: number;
  end: number;
}

export interface Allocation {
  project: string;
  service: string;
  port: number;
}

/** Translates the database's refusals into operator messages. */
function explain(err: unknown, context: string): never {
  const e = err as { code?: string; message?: string; constraint?: string };
  switch (e.code) {
    case 'FS404':
      throw new StateError(`${context}: ${e.message}`, 'add the project to specs/ports/<project>.yaml, then run fleetspec ports apply');
    case 'FS409':
      throw new StateError(`${context}: ${e.message}`, 'release unused ports or widen the project\'s range');
    case 'FS422':
      throw new StateError(`${context}: ${e.message}`);
    case '23P01':
      throw new StateError(`${context}: the range overlaps another project's range`, 'ranges never overlap; pick a range no other project uses');
    case '23505':
      throw new StateError(`${context}: already allocated (${e.constraint ?? 'unique'})`);
    case '23503':
      throw new StateError(`${context}: the project still has allocations`, 'release them first');
    case '23514':
      throw new StateError(`${context}: invalid value (${e.constraint ?? 'check'})`);
    default:
      throw err;
  }
}

export async function setRange(db: Queryable, range: PortRangeRow): Promise<void> {
  try {
    await db.query(
      `insert into port_ranges (project, start_port, end_port) values ($1, $2, $3)
       on conflict (project) do update set start_port = excluded.start_port, end_port = excluded.end_port`,
      [range.project, range.start, range.end],
    );
  } catch (err) {
    explain(err, `range ${range.project} ${range.start}-${range.end}`);
  }
}

export async function deleteRange(db: Queryable, project: string): Promise<boolean> {
  try {
    return (await db.query('delete from port_ranges where project = $1 returning project', [project])).length > 0;
  } catch (err) {
    explain(err, `range ${project}`);
  }
}

export async function listRanges(db: Queryable): Promise<PortRangeRow[]> {
  return db.query<PortRangeRow>('select project, start_port as start, end_port as "end" from port_ranges order by start_port');
}

/** The service's port in the project: the same one on every call, a new lowest free one the first time. */
export async function allocate(db: Queryable, project: string, service: string): Promise<number> {
  try {
    const [row] = await db.query<{ port: number }>('select fleetspec_allocate_port($1, $2) as port', [project, service]);
    return row!.port;
  } catch (err) {
    explain(err, `allocate ${project}/${service}`);
  }
}

/** Records a specific port for a service (from specs), refused outside the range or when taken. */
export async function assign(db: Queryable, allocation: Allocation): Promise<void> {
  try {
    await db.query('insert into port_allocations (project, service, port) values ($1, $2, $3)', [allocation.project, allocation.service, allocation.port]);
  } catch (err) {
    explain(err, `assign ${allocation.project}/${allocation.service} port ${allocation.port}`);
  }
}

export async function getAllocation(db: Queryable, project: string, service: string): Promise<number | undefined> {
  const [row] = await db.query<{ port: number }>('select port from port_allocations where project = $1 and service = $2', [project, service]);
  return row?.port;
}

export async function release(db: Queryable, project: string, service: string): Promise<number | undefined> {
  const [row] = await db.query<{ port: number }>('delete from port_allocations where project = $1 and service = $2 returning port', [project, service]);
  return row?.port;
}

export async function listAllocations(db: Queryable, project?: string): Promise<Allocation[]> {
  return db.query<Allocation>(
    'select project, service, port from port_allocations where ($1::text is null or project = $1) order by port',
    [project ?? null],
  );
}
