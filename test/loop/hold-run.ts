// Child process for the standby tests: a reconciler that has the leader lock and a run in APPLYING,
// renewing the run's lease as a tick does, then waits to be killed. It goes on after its lock's
// connection is cut, like a leader in the middle of an apply. Run from the build:
// node dist/test/loop/hold-run.js OPTIONS REPO
import { openDb } from '../../reconciler/state/db.js';
import { thisProcess } from '../../reconciler/state/holder.js';
import { holdRun, renewRun, startRun, transition } from '../../reconciler/state/ledger.js';
import { acquireLeader } from '../../reconciler/state/lock.js';

const [options, repo] = process.argv.slice(2);
const db = await openDb(JSON.parse(options!));
const lock = await acquireLeader(db, repo!);
const run = await startRun(db, { repo: repo!, trigger: 'cron' });
await holdRun(db, run.id, thisProcess());
await transition(db, run.id, 'PENDING', 'PLANNING');
await transition(db, run.id, 'PLANNING', 'WAIT_FOR_APPROVE');
await transition(db, run.id, 'WAIT_FOR_APPROVE', 'APPLYING');
lock.lost.addEventListener('abort', () => process.stdout.write('lost\n'));
process.stdout.write(`holding ${run.id}\n`);
setInterval(() => void renewRun(db, run.id).catch(() => {}), 200);
