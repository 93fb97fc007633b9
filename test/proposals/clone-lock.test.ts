// The proposal clone is one folder shared by every `fleetspec mcp` (one per agent) and guarded
// for `fleetspec propose`: a lock file beside it, held by a live process, makes the others wait;
// a holder that died frees it at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLONE_WAIT_MS, PROPOSAL_CLONE } from '../../reconciler/proposals/propose.js';
import { TrustedView } from '../../reconciler/mcp/trusted.js';
import { processStart } from '../../reconciler/state/holder.js';
import { LockHeld, lockFolder } from '../../reconciler/state/lock.js';
import type { SpecRepo } from '../../reconciler/git/repo.js';

let dir: string;
let other: ChildProcess;

/** The lock file another live process (a `sleep`) would have written. */
async function heldByOther(): Promise<void> {
  await writeFile(`${dir}.lock`, JSON.stringify({ pid: other.pid, host: hostname(), started: processStart(other.pid!), command: 'fleetspec mcp', since: new Date().toISOString() }), { mode: 0o600 });
}

beforeAll(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'fleetspec-clone-')), 'repo-proposals');
  other = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((resolve) => other.once('spawn', resolve));
});

afterAll(async () => {
  other.kill();
  await rm(join(dir, '..'), { recursive: true, force: true });
});

describe('the proposal clone lock', () => {
  it('a clone another live process uses is refused after the wait, naming the holder and what to do', async () => {
    await heldByOther();
    const err = await lockFolder(dir, { waitMs: 0 }, PROPOSAL_CLONE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeld);
    expect((err as LockHeld).message).toBe(`the proposal clone ${dir} is in use by pid ${other.pid} on ${hostname()} (fleetspec mcp) since ${(JSON.parse(readFileSync(`${dir}.lock`, 'utf8')) as { since: string }).since}`);
    expect((err as LockHeld).hint).toContain('try again when it is done');
    expect(CLONE_WAIT_MS).toBeGreaterThanOrEqual(60_000);
  });

  it('an MCP call waits while another process holds the clone, and runs once it lets go', async () => {
    await heldByOther();
    const view = new TrustedView({} as never, 'o/r', { dir } as SpecRepo, 'specs');
    let ran = false;
    const call = view.exclusive(async () => {
      ran = true;
      return 'done';
    });
    // Still waiting while the other holds it: the lock file is the other's.
    await new Promise((r) => setTimeout(r, 600));
    expect(ran).toBe(false);
    await rm(`${dir}.lock`);
    await expect(call).resolves.toBe('done');
    expect(ran).toBe(true);
  });

  it('a holder that died frees the clone at once', async () => {
    await heldByOther();
    const dead = spawn('true', { stdio: 'ignore' });
    await new Promise((resolve) => dead.once('exit', resolve));
    await writeFile(`${dir}.lock`, JSON.stringify({ pid: dead.pid, host: hostname(), started: null, command: 'fleetspec propose', since: new Date().toISOString() }));
    const lock = await lockFolder(dir, { waitMs: 0 }, PROPOSAL_CLONE);
    await lock.release();
  });
});
