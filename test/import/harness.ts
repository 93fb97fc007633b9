// Shared by the import tests: a temporary specs folder written with the yaml library, a store of
// its own (real PostgreSQL when TEST_DATABASE_URL is set, else PGlite, opened only between CLI
// runs), and fleetspec commands run in-process with an environment of the test's choosing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bufferOutput } from '../../reconciler/commands/output.js';
import { run } from '../../reconciler/program.js';
import { openDb, type Db } from '../../reconciler/state/db.js';
import { ENGINES } from '../state/engines.js';

export interface Workspace {
  dir: string;
  specs: string;
  /** Environment for every command: the store, no GitHub or secrets of the outer environment. */
  env: Record<string, string | undefined>;
  write(file: string, docs: object[], header?: string): string;
  withDb<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  fleetspec(args: string[], extra?: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

const SCRUBBED = ['DATABASE_URL', 'FLEETSPEC_SECRET_KEY', 'FLEETSPEC_GITHUB_REPO', 'FLEETSPEC_GITHUB_TOKEN', 'GITHUB_TOKEN', 'FLEETSPEC_GITHUB_API', 'FLEETSPEC_CLOUDFLARE_TOKEN', 'FLEETSPEC_CLOUDFLARE_API', 'FLEETSPEC_SSH_KEY', 'FLEETSPEC_STATE_DIR'];

export async function workspace(prefix: string): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), `fleetspec-import-${prefix}-`));
  const specs = join(dir, 'specs');
  mkdirSync(specs);
  const engine = ENGINES[ENGINES.length - 1]!; // PostgreSQL when there is one
  const { options, cleanup } = await engine.fresh();
  const env: Record<string, string | undefined> = {
    NO_COLOR: '1',
    FLEETSPEC_STATE_DIR: options.stateDir ?? join(dir, 'state'),
    DATABASE_URL: options.databaseUrl,
    FLEETSPEC_TERRAFORM: join(dir, 'no-terraform'),
    FLEETSPEC_WORK_DIR: join(dir, 'terraform'),
  };
  // Migrate once, so the first command does not race a test's own open.
  await (await openDb(options)).close();
  let queue = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.then(() => undefined, () => undefined);
    return next;
  };
  return {
    dir,
    specs,
    env,
    write(file, docs, header) {
      const path = join(specs, file);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, (header ?? '') + docs.map((d) => stringify(d)).join('---\n'));
      return path;
    },
    withDb: (fn) =>
      serial(async () => {
        const db = await openDb(options);
        try {
          return await fn(db);
        } finally {
          await db.close();
        }
      }),
    fleetspec: (args, extra = {}) =>
      serial(async () => {
        const saved = new Map<string, string | undefined>();
        const set = { ...Object.fromEntries(SCRUBBED.map((k) => [k, undefined])), ...env, ...extra };
        for (const [k, v] of Object.entries(set)) {
          saved.set(k, process.env[k]);
          if (v === undefined || v === '') delete process.env[k];
          else process.env[k] = v;
        }
        const out = bufferOutput();
        try {
          const code = await run(args, out);
          return { code, stdout: out.out.join('\n'), stderr: out.err.join('\n') };
        } finally {
          for (const [k, v] of saved) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
          }
        }
      }),
    async close() {
      await cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
