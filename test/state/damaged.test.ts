// The embedded store is never silently replaced (issue 20): a real PGlite store, damaged the ways
// stores get damaged, is refused with what is wrong and what to do, and left as it was. An absent
// folder is still a new store. Permission, disk-full and corruption errors name their cause.
import { execFile, execFileSync } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, StateError } from '../../reconciler/state/db.js';
import { startRun } from '../../reconciler/state/ledger.js';
import { embeddedStoreError, fileSystemError } from '../../reconciler/state/store-errors.js';
import { rejectionOf } from '../helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');
const isRoot = process.getuid?.() === 0;

/** Every path under `dir` with its size, to show a refused store was left exactly as it was. */
async function listing(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  return Promise.all(names.sort().map(async (n) => `${n} ${(await stat(join(dir, n))).size}`));
}

describe('a damaged embedded store', () => {
  let scratch: string;
  let base: string;
  /** The `runs` table's file, relative to the store. */
  let runsFile: string;
  let n = 0;

  /** A copy of the base store (one run in its ledger) to damage. */
  const copy = async () => {
    const dir = join(scratch, `store-${++n}`);
    await cp(base, dir, { recursive: true });
    return dir;
  };

  const refusal = async (dir: string) => {
    const before = await listing(dir);
    const error = await rejectionOf(openDb({ stateDir: dir }), StateError);
    // Left as it was, and not held.
    expect(await listing(dir)).toEqual(before);
    expect(existsSync(`${dir}.lock`)).toBe(false);
    return error;
  };

  const fleetspec = (args: string[], stateDir: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const { DATABASE_URL: _, ...rest } = process.env;
      const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...rest, NO_COLOR: '1', FLEETSPEC_STATE_DIR: stateDir } }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
      );
      child.stdin!.end();
    });

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'fleetspec-damaged-'));
    base = join(scratch, 'base');
    const db = await openDb({ stateDir: base });
    try {
      await startRun(db, { repo: 'fleet', trigger: 'manual' });
      const [row] = await db.query<{ path: string }>(`select pg_relation_filepath('runs') as path`);
      runsFile = row!.path;
      await db.exec('checkpoint');
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('a store that lost PG_VERSION is refused, not re-initialised as an empty one (exit 3, through the command too)', async () => {
    const dir = await copy();
    await rm(join(dir, 'PG_VERSION'));
    const error = await refusal(dir);
    expect(error.message).toBe(`the state store in ${dir} is incomplete: PG_VERSION is missing; fleetspec will not replace it with an empty store`);
    expect(error.exitCode).toBe(3);
    expect(error.hint).toBe(
      `restore the folder from a backup (stop fleetspec first); or, to start over with an empty store (run ledger, port allocations and secrets are lost), move it away: mv ${dir} ${dir}.damaged`,
    );
    const r = await fleetspec(['ports', 'list'], dir);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toBe(`fleetspec ports list: ${error.message}\n  hint: ${error.hint}\n`);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(false);
  });

  it('a folder with other things in it is not made a store (exit 1); an absent one is', async () => {
    const dir = join(scratch, 'notes');
    await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, 'notes.txt'), 'not a store');
    const error = await refusal(dir);
    expect(error.message).toBe(`the state folder ${dir} is not empty and holds no state store (no PG_VERSION; it holds notes.txt); refusing to create a store over it`);
    expect(error.exitCode).toBe(1);
    expect(error.hint).toBe("set FLEETSPEC_STATE_DIR to the store's folder, or to an empty or absent folder for a new store");

    const absent = join(scratch, 'new', 'state');
    const db = await openDb({ stateDir: absent });
    try {
      expect(await db.query('select count(*)::int as runs from runs')).toEqual([{ runs: 0 }]);
    } finally {
      await db.close();
    }
    expect(existsSync(join(absent, 'PG_VERSION'))).toBe(true);
  });

  it('missing parts, a garbled PG_VERSION and a truncated pg_control are named', async () => {
    const parts = await copy();
    await rm(join(parts, 'pg_wal'), { recursive: true });
    await rm(join(parts, 'base'), { recursive: true });
    expect((await refusal(parts)).message).toBe(`the state store in ${parts} is incomplete: base, pg_wal are missing; fleetspec will not replace it with an empty store`);

    const version = await copy();
    await writeFile(join(version, 'PG_VERSION'), '\u0000\u0000garbage');
    expect((await refusal(version)).message).toBe(`the state store in ${version} is damaged: PG_VERSION holds "\\u0000\\u0000garbage", not a PostgreSQL version`);

    const truncated = await copy();
    await writeFile(join(truncated, 'global', 'pg_control'), '');
    const error = await refusal(truncated);
    expect(error.message).toBe(`the state store in ${truncated} is damaged: global/pg_control is 0 bytes, not 8192`);
    expect(error).toMatchObject({ exitCode: 3, hint: expect.stringContaining('restore the folder from a backup') });
  });

  it('a garbled pg_control: PGlite cannot start, and the message says the store is damaged instead of "Aborted()"', async () => {
    const dir = await copy();
    await writeFile(join(dir, 'global', 'pg_control'), randomBytes(8192));
    const version = (await readFile(join(dir, 'PG_VERSION'), 'utf8')).trim();
    const error = await refusal(dir);
    expect(error.message).toMatch(
      new RegExp(`^cannot open the embedded state store in ${dir}: the store is damaged or was made by another PostgreSQL version \\(PG_VERSION ${version}\\); PGlite could not start on it \\(.+\\)$`),
    );
    expect(error.message).not.toContain('-sASSERTIONS');
    expect(error).toMatchObject({ exitCode: 3, hint: expect.stringContaining(`mv ${dir} ${dir}.damaged`) });
  });

  it('a garbled table: the store opens, and reading the table says the store is damaged', async () => {
    const dir = await copy();
    await writeFile(join(dir, runsFile), randomBytes(8192));
    const db = await openDb({ stateDir: dir });
    try {
      const error = await rejectionOf(db.query('select * from runs'), StateError);
      expect(error.message).toBe(`the embedded state store in ${dir} failed: the store is damaged (invalid page in block 0 of relation "${runsFile}")`);
      expect(error).toMatchObject({ exitCode: 3, hint: expect.stringContaining('restore the folder from a backup') });
    } finally {
      await db.close();
    }
  });

  it('a file this user may not read, and a folder it may not enter, are named with the chmod to run', async () => {
    const file = await copy();
    await chmod(join(file, runsFile), 0o000);
    const error = await refusal(file);
    expect(error.message).toBe(`cannot use the state store in ${file}: this user may not read and write ${runsFile} (mode 0000)`);
    expect(error).toMatchObject({ exitCode: 3, hint: `chmod -R u+rwX,go-rwx ${file}` });

    const folder = await copy();
    await chmod(join(folder, 'pg_xact'), 0o000);
    const denied = await rejectionOf(openDb({ stateDir: folder }), StateError);
    // Root reads any folder, so it is the mode that refuses; another user gets EACCES from the OS first.
    expect(denied.message).toBe(
      isRoot
        ? `cannot use the state store in ${folder}: this user may not read and write pg_xact (mode 0000)`
        : `cannot read the state store in ${folder}: permission denied on ${join(folder, 'pg_xact')}`,
    );
    expect(denied.exitCode).toBe(3);
    await chmod(join(folder, 'pg_xact'), 0o700);
  });

  it.skipIf(!isRoot)('a file another user owns (fleetspec once run with sudo) is named with the chown to run', async () => {
    const dir = await copy();
    await chown(join(dir, runsFile), 65534, 65534);
    const error = await refusal(dir);
    expect(error.message).toBe(
      `cannot use the state store in ${dir}: ${runsFile} belongs to uid 65534, not to this user (uid 0); was fleetspec run as another user (sudo) on this store?`,
    );
    expect(error.hint).toMatch(new RegExp(`^make the store this user's again: chown -R \\S+ ${dir} && chmod -R u\\+rwX,go-rwx ${dir}$`));
  });

  it('disk full and permission errors from the file system and from PostgreSQL name their cause', async () => {
    const dir = join(scratch, 'state');
    const enospc = Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', path: join(dir, 'base', '5', '16384') });
    expect(await fileSystemError(enospc, dir, 'cannot open the embedded state store in ' + dir)).toMatchObject({
      message: `cannot open the embedded state store in ${dir}: no space left on the disk holding ${join(dir, 'base', '5', '16384')}`,
      hint: `free space on the disk holding ${dir} (df -h ${dir}); nothing was lost, run the command again once there is room`,
      exitCode: 3,
    });
    // What PGlite reports when PostgreSQL cannot extend a table (seen on a full tmpfs).
    const full = Object.assign(new Error('could not extend file "base/5/16384": No space left on device'), { code: '53100' });
    expect(await embeddedStoreError(full, dir, 'query')).toMatchObject({
      message: `the embedded state store in ${dir} failed: no space left on the disk (could not extend file "base/5/16384": No space left on device)`,
      exitCode: 3,
    });
    const eacces = Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES', path: join(dir, 'PG_VERSION') });
    expect(await embeddedStoreError(eacces, dir, 'open')).toMatchObject({
      message: `cannot open the embedded state store in ${dir}: permission denied on ${join(dir, 'PG_VERSION')}`,
      hint: expect.stringMatching(/^make the store this user's again: chown -R /),
    });
    const denied = Object.assign(new Error('could not open file "base/5/16384": Permission denied'), { code: '42501' });
    expect((await embeddedStoreError(denied, dir, 'query'))?.message).toBe(`the embedded state store in ${dir} failed: could not open file "base/5/16384": Permission denied`);
    // An ordinary SQL error is not the store's fault.
    expect(await embeddedStoreError(Object.assign(new Error('duplicate key'), { code: '23505' }), dir, 'query')).toBeUndefined();
  });

  it('a disk that is really full (a small tmpfs, where this user may mount one)', async (ctx) => {
    const mnt = join(scratch, 'tmpfs');
    await mkdir(mnt);
    const size = Number(execFileSync('du', ['-sb', base]).toString().split('\t')[0]);
    // Room for the store to recover once the disk has space again: a new 16 MB WAL segment, and more.
    const mb = Math.ceil(size / 1024 / 1024) + 48;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m,mode=0700`, 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      ctx.skip();
      return;
    }
    try {
      // The store is the file system's root folder, so that its lock file (beside it) is not on the full disk.
      const dir = mnt;
      await cp(base, dir, { recursive: true });
      // Room for a little: the store opens; a big write fails with PostgreSQL's disk-full error.
      const fill = join(mnt, 'fill');
      execFileSync('sh', ['-c', `dd if=/dev/zero of=${fill} bs=1M 2>/dev/null; truncate -s -4M ${fill}`]);
      const db = await openDb({ stateDir: dir });
      try {
        // PostgreSQL's disk-full error, or (when the write that failed was the WAL's) a PANIC
        // that hides it: either way the message is the disk.
        const error = await rejectionOf(db.exec('create table junk as select repeat(md5(g::text), 20) as x from generate_series(1, 200000) g'), StateError);
        expect(error.message).toMatch(new RegExp(`^the embedded state store in ${dir} failed: (no space left on the disk \\(.*No space left on device\\)|the disk holding it is full \\(\\d+ kB free\\))$`));
        expect(error).toMatchObject({ exitCode: 3, hint: expect.stringContaining('nothing was lost') });
      } finally {
        await db.close().catch(() => {});
      }
      // No room at all: PostgreSQL cannot start, and the message says why.
      execFileSync('sh', ['-c', `dd if=/dev/zero of=${fill}2 bs=1M 2>/dev/null; true`]);
      const error = await rejectionOf(openDb({ stateDir: dir }), StateError);
      expect(error.message).toMatch(new RegExp(`^cannot open the embedded state store in ${dir}: (the disk holding it is full \\(\\d+ kB free\\)|no space left on the disk holding .+)$`));
      expect(error.exitCode).toBe(3);
      expect(existsSync(`${dir}.lock`)).toBe(false);
      // Room again: the store opens and its ledger is all there.
      await rm(fill);
      await rm(`${fill}2`);
      const again = await openDb({ stateDir: dir });
      try {
        expect(await again.query('select count(*)::int as runs from runs')).toEqual([{ runs: 1 }]);
      } finally {
        await again.close();
      }
    } finally {
      // Lazily: a PGlite that failed to start keeps its files open until this process ends.
      execFileSync('umount', ['-l', mnt]);
    }
  });
});
