// Child process for the lock tests: opens the store, takes the leader lock, says so, and
// then waits to be killed. Run from the build: node dist/test/state/hold-lock.js OPTIONS REPO
import { openDb } from '../../reconciler/state/db.js';
import { acquireLeader } from '../../reconciler/state/lock.js';

const [options, repo] = process.argv.slice(2);
const db = await openDb(JSON.parse(options!));
await acquireLeader(db, repo!);
process.stdout.write('locked\n');
setInterval(() => {}, 1000);
