// Free space where the store and the clone live: PGlite's folder, else the working folder.
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fail, ok, warn, type CheckGroup } from './check.js';
import { stateFolder } from './store.js';

export const DISK_WARN_BYTES = 1024 ** 3;
export const DISK_FAIL_BYTES = 100 * 1024 ** 2;

/** The folder, or its nearest ancestor that exists (the store may not be made yet). */
async function existing(path: string): Promise<{ path: string; free: number }> {
  for (let at = resolve(path); ; at = dirname(at)) {
    try {
      const s = await statfs(at);
      return { path: at, free: s.bavail * s.bsize };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) throw err;
    }
  }
}

const size = (bytes: number) => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`);

export function judgeDisk(path: string, free: number) {
  const fix = `free space on the file system of ${path} (old journal files, terraform's provider cache), or move FLEETSPEC_STATE_DIR`;
  if (free < DISK_FAIL_BYTES) return fail('disk', `${size(free)} free at ${path}`, fix);
  if (free < DISK_WARN_BYTES) return warn('disk', `${size(free)} free at ${path} (under 1 GiB)`, fix);
  return ok('disk', `${size(free)} free at ${path}`);
}

export const disk: CheckGroup = {
  name: 'disk',
  async run(ctx) {
    const { path, free } = await existing(ctx.env.DATABASE_URL ? '.fleetspec' : (ctx.stateDir ?? stateFolder(ctx.env)));
    return [judgeDisk(path, free)];
  },
};
