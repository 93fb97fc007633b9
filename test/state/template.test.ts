// The embedded store's template (reconciler/state/template.ts): a new PGlite store starts as a copy
// of a prepared one, with every migration; a template made by another PGlite or other migrations
// is not used; an existing store is never replaced by it; a store opened unmigrated never gets it.
// The run's template comes from test/store-template.setup.ts (FLEETSPEC_STORE_TEMPLATE).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../reconciler/state/db.js';
import { MIGRATIONS } from '../../reconciler/state/migrations.js';
import { currentStamp, migrationsDigest, storeTemplate, writeTemplate } from '../../reconciler/state/template.js';

let dir: string;
const template = process.env.FLEETSPEC_STORE_TEMPLATE!;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetspec-template-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const versions = async (stateDir: string, migrate = true) => {
  const db = await openDb({ stateDir, migrate });
  try {
    const tables = await db.query<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public' order by 1`);
    const applied = tables.some((t) => t.name === 'fleetspec_migrations') ? (await db.query<{ version: number }>('select version from fleetspec_migrations order by version')).map((r) => r.version) : [];
    return { tables: tables.map((t) => t.name), applied };
  } finally {
    await db.close();
  }
};

describe('the embedded store template', () => {
  it('the run has one, current: stamped with this PGlite and these migrations', async () => {
    expect(template).toMatch(/\.tar\.gz$/);
    expect(JSON.parse(await readFile(`${template}.json`, 'utf8'))).toEqual(await currentStamp());
    expect(await storeTemplate()).toBeInstanceOf(Blob);
  });

  it('a new store is a copy of it: every migration there, writable, private to its user', async () => {
    const stateDir = join(dir, 'new');
    const { applied, tables } = await versions(stateDir);
    expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect(tables).toContain('runs');
    const db = await openDb({ stateDir });
    try {
      await db.exec(`create table template_probe (said text); insert into template_probe values ('written after the copy')`);
      expect((await db.query<{ said: string }>('select said from template_probe'))[0]!.said).toBe('written after the copy');
    } finally {
      await db.close();
    }
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(stateDir, 'PG_VERSION'))).mode & 0o777).toBe(0o600);
  });

  it('never replaces an existing store, and a store opened unmigrated gets nothing from it', async () => {
    const stateDir = join(dir, 'new');
    // The probe row written above is still there: the existing store was opened, not copied over.
    const db = await openDb({ stateDir });
    try {
      expect((await db.query<{ said: string }>('select said from template_probe'))[0]?.said).toBe('written after the copy');
    } finally {
      await db.close();
    }
    expect(await versions(join(dir, 'bare'), false)).toEqual({ tables: [], applied: [] });
  });

  it('is not used when its stamp is not this fleetspec\'s, or when switched off', async () => {
    const other = join(dir, 'other.tar.gz');
    await writeFile(other, 'not a data folder');
    await writeFile(`${other}.json`, JSON.stringify({ ...(await currentStamp()), migrations: migrationsDigest(MIGRATIONS.slice(0, 1)) }));
    expect(await storeTemplate({ FLEETSPEC_STORE_TEMPLATE: other })).toBeUndefined();
    await writeFile(`${other}.json`, JSON.stringify({ ...(await currentStamp()), pglite: '0.0.1' }));
    expect(await storeTemplate({ FLEETSPEC_STORE_TEMPLATE: other })).toBeUndefined();
    expect(await storeTemplate({ FLEETSPEC_STORE_TEMPLATE: join(dir, 'absent.tar.gz') })).toBeUndefined();
    expect(await storeTemplate({ FLEETSPEC_STORE_TEMPLATE: '' })).toBeUndefined();
    // Were that garbage used, this open would fail: a new store is initialised from nothing instead.
    const previous = process.env.FLEETSPEC_STORE_TEMPLATE;
    process.env.FLEETSPEC_STORE_TEMPLATE = other;
    try {
      expect((await versions(join(dir, 'initdb'))).applied).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      process.env.FLEETSPEC_STORE_TEMPLATE = previous;
    }
  }, 120_000);

  it('writeTemplate keeps a current template and replaces a stale one whole', async () => {
    const file = join(dir, 'made.tar.gz');
    let made = 0;
    const make = async () => (made++, new Blob([`dump ${made}`]));
    expect(await writeTemplate(file, make)).toEqual({ written: true, bytes: 6 });
    expect(await writeTemplate(file, make)).toEqual({ written: false, bytes: 6 });
    expect(made).toBe(1);
    await writeFile(`${file}.json`, JSON.stringify({ pglite: 'older', migrations: 'older' }));
    expect(await writeTemplate(file, make)).toEqual({ written: true, bytes: 6 });
    expect(await readFile(file, 'utf8')).toBe('dump 2');
    expect(JSON.parse(await readFile(`${file}.json`, 'utf8'))).toEqual(await currentStamp());
  });
});
