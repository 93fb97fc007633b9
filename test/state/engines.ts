// The state suite runs on both engines: PGlite always, real PostgreSQL when
// TEST_DATABASE_URL is set (.ci/run points it at the local server). Each call gets
// an empty database of its own.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openDb, type Db, type OpenOptions } from '../../reconciler/state/db.js';

export interface Engine {
  name: 'pglite' | 'postgres';
  /** Options for a fresh, empty store; `cleanup` removes it. */
  fresh(): Promise<{ options: OpenOptions; cleanup(): Promise<void> }>;
}

export const pglite: Engine = {
  name: 'pglite',
  async fresh() {
    const dir = await mkdtemp(join(tmpdir(), 'fleetspec-state-'));
    return { options: { stateDir: dir }, cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
};

/** Scratch databases on the server at `adminUrl` (tests and bench/state.ts). */
export function postgres(adminUrl: string): Engine {
  return {
    name: 'postgres',
    async fresh() {
      const name = `fleetspec_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`create database ${name}`);
      await admin.end();
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return {
        options: { databaseUrl: url.toString() },
        async cleanup() {
          const c = new pg.Client({ connectionString: adminUrl });
          await c.connect();
          await c.query(`drop database if exists ${name} with (force)`);
          await c.end();
        },
      };
    },
  };
}

export const ENGINES: Engine[] = [pglite, ...(process.env.TEST_DATABASE_URL ? [postgres(process.env.TEST_DATABASE_URL)] : [])];

/** Opens a fresh store on an engine; close it and drop it with the returned function. */
export async function freshDb(engine: Engine, extra: Partial<OpenOptions> = {}): Promise<{ db: Db; options: OpenOptions; done(): Promise<void> }> {
  const { options, cleanup } = await engine.fresh();
  const db = await openDb({ ...options, ...extra });
  return {
    db,
    options,
    async done() {
      await db.close().catch(() => {});
      await cleanup();
    },
  };
}

/** A fresh store for one describe block: opened before its tests, closed and dropped after. */
export function useFreshDb(engine: Engine, extra: Partial<OpenOptions> = {}): { db: Db; options: OpenOptions } {
  const store = {} as { db: Db; options: OpenOptions; done(): Promise<void> };
  // Opening a fresh store (PGlite's first open, or a new PostgreSQL database) is slow under load.
  beforeAll(async () => {
    const fresh = await freshDb(engine, extra);
    Object.assign(store, fresh);
  }, 120_000);
  afterAll(async () => {
    // A test may have reopened the store; close whatever is current before dropping it.
    await store.db?.close().catch(() => {});
    await store.done?.();
  });
  return store;
}
