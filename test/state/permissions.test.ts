// The embedded store's folder is its owner's alone (issue 19): created 0700 with every file in it
// 0600 whatever the umask, and a folder others can write, or another user's, is refused.
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, StateError } from '../../reconciler/state/db.js';
import { rejectionOf } from '../helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'reconciler', 'cli.js');

/** Every path under `dir` with its permission bits, symbolic links left out. */
async function modes(dir: string): Promise<{ path: string; dir: boolean; mode: number }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries
      .filter((e) => !e.isSymbolicLink())
      .map(async (e) => {
        const path = join(e.parentPath, e.name);
        return { path, dir: e.isDirectory(), mode: (await lstat(path)).mode & 0o777 };
      }),
  );
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

describe('the embedded store folder', () => {
  let scratch: string;
  const seen = {} as {
    whileOpen: { folder: number; parent: number; lock: number };
    afterClose: { path: string; dir: boolean; mode: number }[];
    reopened: { folder: number; entries: { path: string; dir: boolean; mode: number }[] };
  };

  // One store for the mode checks (PGlite's first open is slow on a loaded machine): created
  // under umask 0, written to while open, closed; then loosened as an older fleetspec left it, and reopened.
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'fleetspec-perms-'));
    const stateDir = join(scratch, 'fresh', 'state');
    const umask = process.umask(0);
    try {
      const db = await openDb({ stateDir });
      try {
        const mode = async (path: string) => (await stat(path)).mode & 0o777;
        seen.whileOpen = { folder: await mode(stateDir), parent: await mode(join(scratch, 'fresh')), lock: await mode(`${stateDir}.lock`) };
        // New relations and their files, made while the store is open.
        await db.exec("create table perms_probe (x text); insert into perms_probe select repeat('x', 1000) from generate_series(1, 2000); checkpoint");
      } finally {
        await db.close();
      }
      seen.afterClose = await modes(stateDir);
      await chmod(stateDir, 0o755);
      for (const e of seen.afterClose) await chmod(e.path, e.dir ? 0o755 : 0o666);
      const again = await openDb({ stateDir });
      try {
        seen.reopened = { folder: (await stat(stateDir)).mode & 0o777, entries: await modes(stateDir) };
      } finally {
        await again.close();
      }
    } finally {
      process.umask(umask);
    }
  });
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('is created 0700 with every file in it 0600, whatever the umask, also files made while it is open', () => {
    expect(octal(seen.whileOpen.folder)).toBe('0700');
    expect(octal(seen.whileOpen.parent), 'the parent it had to create').toBe('0700');
    expect(octal(seen.whileOpen.lock), 'the lock file beside it').toBe('0600');
    expect(seen.afterClose.filter((e) => !e.dir).length).toBeGreaterThan(100);
    expect(seen.afterClose.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600)).map((e) => `${octal(e.mode)} ${e.path}`)).toEqual([]);
  });

  it('tightens a folder that is only too readable, and the files an older fleetspec left 0666', () => {
    expect(octal(seen.reopened.folder)).toBe('0700');
    expect(seen.reopened.entries.length).toBeGreaterThanOrEqual(seen.afterClose.length);
    expect(seen.reopened.entries.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600)).map((e) => `${octal(e.mode)} ${e.path}`)).toEqual([]);
  });

  it.each([0o777, 0o770, 0o702].map((m) => [octal(m), m] as const))('refuses a folder with mode %s, naming it and the chmod to run, and touches nothing', async (_name, mode) => {
    const stateDir = join(scratch, `open-${mode.toString(8)}`);
    await mkdir(stateDir);
    await chmod(stateDir, mode);
    const error = await rejectionOf(openDb({ stateDir }), StateError);
    expect(error.message).toBe(
      `the state folder ${stateDir} can be written by ${mode & 0o020 ? 'its group' : ''}${mode & 0o020 && mode & 0o002 ? ' and ' : ''}${mode & 0o002 ? 'all users' : ''} (mode ${octal(mode)}); refusing to use it`,
    );
    expect(error.hint).toContain(`chmod -R go-rwx ${stateDir}`);
    expect(error.exitCode).toBe(1);
    expect(await readdir(stateDir)).toEqual([]);
    expect(await readdir(scratch)).not.toContain(`open-${mode.toString(8)}.lock`);
    expect((await stat(stateDir)).mode & 0o777).toBe(mode);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a folder another user owns', async () => {
    const stateDir = join(scratch, 'theirs');
    await mkdir(stateDir, { mode: 0o700 });
    await chown(stateDir, 65534, 65534);
    const error = await rejectionOf(openDb({ stateDir }), StateError);
    expect(error.message).toBe(`the state folder ${stateDir} belongs to uid 65534, not to this user (uid 0); refusing to use it`);
    expect(error.exitCode).toBe(1);
    expect(await readdir(stateDir)).toEqual([]);
  });

  it('refuses a file where the folder should be, or under a file, saying so, not as an internal error', async () => {
    const file = join(scratch, 'a-file');
    await writeFile(file, 'not a store\n');
    for (const [stateDir, said] of [
      [file, `${file} is a file, not a folder`],
      [join(file, 'state'), `a part of ${join(file, 'state')} is a file, not a folder`],
    ] as const) {
      const error = await rejectionOf(openDb({ stateDir }), StateError);
      expect(error.message).toBe(`cannot create the state folder ${resolve(stateDir)}: ${said}`);
      expect(error.hint).toMatch(/FLEETSPEC_STATE_DIR/);
      expect(error.exitCode).toBe(1);
    }
    expect(await readFile(file, 'utf8')).toBe('not a store\n');
  });

  it('fleetspec exits 1 with the folder and the chmod, not an internal error', async () => {
    const stateDir = join(scratch, 'cli');
    await mkdir(stateDir);
    await chmod(stateDir, 0o777);
    const { DATABASE_URL: _, ...env } = process.env;
    const r = await new Promise<{ code: number; stderr: string }>((done) =>
      execFile(process.execPath, [BIN, 'ports', 'list'], { cwd: ROOT, env: { ...env, NO_COLOR: '1', FLEETSPEC_STATE_DIR: stateDir } }, (err, _o, stderr) =>
        done({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
      ),
    );
    expect(r.stderr).toBe(
      `fleetspec ports list: the state folder ${stateDir} can be written by its group and all users (mode 0777); refusing to use it\n` +
        `  hint: check that nothing in it was planted by someone else, then: chmod -R go-rwx ${stateDir}\n`,
    );
    expect(r.code).toBe(1);
  });
});
