// A terraform that hangs: on its timeout (or a cancelled run) its whole process group is stopped,
// SIGTERM first and SIGKILL after the grace, so nothing it started (a provider, a local-exec
// `sleep`) is left behind or holds its output pipes, and the run ends within its bounds.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, TerraformError, type TerraformRun } from '../../reconciler/stacks/terraform.js';
import { timed, until } from './wait.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('terraform past its timeout', () => {
  let dir: string;
  const started: number[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-tf-timeout-'));
    // A stand-in that starts a grandchild holding its stdout (as a provider or a local-exec would) and
    // then waits; with IGNORE_TERM set it also ignores SIGTERM, as a wedged process does.
    await writeFile(
      join(dir, 'terraform'),
      [
        '#!/bin/sh',
        'if [ -n "$IGNORE_TERM" ]; then trap "" TERM; fi',
        'sleep 300 &',
        'echo "$$ $!" > "$PIDS"',
        'echo "Initializing..."',
        'wait',
        '',
      ].join('\n'),
    );
    await chmod(join(dir, 'terraform'), 0o755);
  });
  afterAll(async () => {
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const run = (name: string, extra: Partial<TerraformRun> & { env?: Record<string, string> }): TerraformRun => ({
    binary: { path: join(dir, 'terraform') },
    workDir: join(dir, name),
    redact: [],
    progress: () => undefined,
    ...extra,
    env: { PIDS: join(dir, `${name}.pids`), ...extra.env },
  });
  const pidsOf = async (name: string) => {
    const text = await until(`${name}: the stand-in to write its pids`, () => readFile(join(dir, `${name}.pids`), 'utf8').catch(() => undefined), 5_000);
    const pids = text.trim().split(' ').map(Number);
    started.push(...pids);
    return pids;
  };

  it('stops the whole group with SIGTERM at the timeout: terraform and the sleep it started are gone', async () => {
    const { ms, error } = await timed(init(run('term', { timeoutMs: 500 }), '{}'));
    expect(error).toBeInstanceOf(TerraformError);
    expect((error as Error).message).toMatch(/^terraform init failed \(killed: timeout after 0.5 s\)/);
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(4_000);
    const [shell, sleep] = await pidsOf('term');
    await until('the stand-in and its sleep to be gone', () => !alive(shell!) && !alive(sleep!), 3_000);
  });

  it('sends SIGKILL after the grace to a group that ignores SIGTERM', async () => {
    const { ms, error } = await timed(init(run('kill', { timeoutMs: 500, killGraceMs: 700, env: { IGNORE_TERM: '1' } }), '{}'));
    expect(error).toBeInstanceOf(TerraformError);
    expect(ms).toBeGreaterThanOrEqual(1_100);
    expect(ms).toBeLessThan(5_000);
    const [shell, sleep] = await pidsOf('kill');
    await until('the stand-in and its sleep to be gone', () => !alive(shell!) && !alive(sleep!), 3_000);
  });

  it('stops the group the same way when its run is cancelled (a plan whose tick stopped)', async () => {
    const stop = new AbortController();
    const running = timed(init(run('cancel', { timeoutMs: 60_000, signal: stop.signal }), '{}'));
    const [shell, sleep] = await pidsOf('cancel');
    stop.abort();
    const { ms, error } = await running;
    expect((error as Error).message).toMatch(/^terraform init failed \(killed: stopped: the run was cancelled\)/);
    expect(ms).toBeLessThan(5_000);
    await until('the stand-in and its sleep to be gone', () => !alive(shell!) && !alive(sleep!), 3_000);
  });
});
