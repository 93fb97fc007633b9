// The role driver's remote file write against a real sshd (issue 19): paths that look like
// options are written literally, and a failed write leaves no temp file with the API key behind.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../reconciler/kinds/roles/driver.js';
import { SshError, SshPool } from '../../reconciler/ssh/pool.js';
import { rejectionOf } from '../helpers.js';
import { clientKey, startSshd, type TestSshd } from '../ssh/sshd.js';

const KEY_LINE = 'OPENROUTER_API_KEY=sk-or-v1-0123456789abcdef\n';

describe('writing a role file over SSH', () => {
  let sshd: TestSshd;
  let pool: SshPool;
  /** Commands time out after 3 s. */
  let impatient: SshPool;
  const inHome = (file: string) => join(sshd.home, file);
  const entries = () => readdirSync(sshd.home).sort();
  let before: string[];

  beforeAll(async () => {
    sshd = await startSshd();
    pool = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 3_000 });
    impatient = new SshPool({ privateKey: clientKey().privateKey, connectTimeoutMs: 3_000, commandTimeoutMs: 3_000 });
  });
  afterAll(async () => {
    await pool?.close();
    await impatient?.close();
    await sshd?.stop();
  });
  beforeEach(() => {
    before = entries();
  });

  it('writes a file named like an option literally, and makes nothing else', async () => {
    for (const file of ['--help', '-rf']) {
      expect(await pool.run(sshd.target(), (s) => writeFileAtomic(s, file, KEY_LINE))).toBe('new');
      expect(readFileSync(inHome(file), 'utf8')).toBe(KEY_LINE);
      // Written again: the previous version is kept beside it, through cp -- and mv --.
      expect(await pool.run(sshd.target(), (s) => writeFileAtomic(s, file, 'X=2\n'))).toBe('had');
      expect(readFileSync(inHome(file), 'utf8')).toBe('X=2\n');
      expect(readFileSync(inHome(`${file}.fleetspec-prev`), 'utf8')).toBe(KEY_LINE);
    }
    expect(entries()).toEqual([...before, '--help', '--help.fleetspec-prev', '-rf', '-rf.fleetspec-prev'].sort());
    // And in a folder named like an option (mkdir -- and dirname --).
    await pool.run(sshd.target(), (s) => writeFileAtomic(s, '-d/.env', KEY_LINE));
    expect(readFileSync(inHome('-d/.env'), 'utf8')).toBe(KEY_LINE);
    expect(readdirSync(inHome('-d'))).toEqual(['.env']);
  });

  it('removes the temp file when the write fails', async () => {
    // .env is a folder: the copy of the previous version fails after the temp file was written.
    mkdirSync(inHome('app/.env'), { recursive: true });
    writeFileSync(inHome('app/.env/keep'), 'x');
    await expect(pool.run(sshd.target(), (s) => writeFileAtomic(s, 'app/.env', KEY_LINE))).rejects.toThrow(/writing ~\/app\/\.env failed/);
    expect(readdirSync(inHome('app')).sort()).toEqual(['.env']);
    expect(readdirSync(inHome('app/.env'))).toEqual(['keep']);
  });

  it('removes the temp file when the write times out', async () => {
    // A FIFO with no writer: `cp` of the previous version blocks until the command times out.
    mkdirSync(inHome('svc'), { recursive: true });
    mkfifoSync(inHome('svc/.env'));
    try {
      const error = await rejectionOf(impatient.run(sshd.target(), (s) => writeFileAtomic(s, 'svc/.env', KEY_LINE)), SshError);
      expect(error.code).toBe('timeout');
      expect(existsSync(inHome('svc/.env.fleetspec-tmp')), 'the temp file holds the API key').toBe(false);
    } finally {
      // A root login's timed-out command is abandoned, not killed (README): let its cp finish.
      try {
        closeSync(openSync(inHome('svc/.env'), constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader left: the command is gone already
      }
    }
    rmSync(inHome('svc'), { recursive: true, force: true });
  });
});

function mkfifoSync(path: string): void {
  execFileSync('mkfifo', ['--', path]);
}
