// fleetspec reconcile and daemon through the built binary: settings problems are exit 1 with
// what to set, an unreachable repository is exit 3 with git's reason, and no token is printed.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'reconciler', 'cli.js');
const TOKEN = 'ghp_cliTestToken00000000000000000000000000';

describe('fleetspec reconcile and daemon settings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-loop-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const fleetspec = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const { DATABASE_URL: _, GITHUB_TOKEN: __, FLEETSPEC_GITHUB_TOKEN: ___, FLEETSPEC_GITHUB_REPO: ____, FLEETSPEC_SECRET_KEY: _____, ...rest } = process.env;
      const child = execFile(process.execPath, [BIN, ...args], { cwd: dir, env: { ...rest, NO_COLOR: '1', FLEETSPEC_STATE_DIR: join(dir, 'state'), ...extra } }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 3) : 0, stdout, stderr }),
      );
      child.stdin!.end();
    });

  it('says which setting is missing (exit 1)', async () => {
    const noRepo = await fleetspec(['reconcile']);
    expect(noRepo.code).toBe(1);
    expect(noRepo.stderr).toContain('fleetspec reconcile: no GitHub repository to reconcile');
    expect(noRepo.stderr).toContain('hint: pass --github-repo OWNER/NAME or set FLEETSPEC_GITHUB_REPO');
    const badRepo = await fleetspec(['reconcile', '--github-repo', 'not a repo']);
    expect(badRepo).toMatchObject({ code: 1, stderr: expect.stringContaining('"not a repo" is not a GitHub repository name') });
    const noToken = await fleetspec(['reconcile', '--github-repo', 'acme/fleet']);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/no GitHub token\n  hint: set FLEETSPEC_GITHUB_TOKEN/);
    const badSchedule = await fleetspec(['daemon', '--schedule', 'every five minutes']);
    expect(badSchedule.code).toBe(1);
    expect(badSchedule.stderr).toContain('--schedule "every five minutes" is not a cron expression');
    const badFindings = await fleetspec(['reconcile', '--github-repo', 'acme/fleet', '--finding-tickets', 'disk,memory'], { FLEETSPEC_GITHUB_TOKEN: TOKEN });
    expect(badFindings.code).toBe(1);
    expect(badFindings.stderr).toContain('"memory" is not a finding that opens tickets\n  hint: use all, none, or a comma list of disk, drift, apply, unapproved');
    const badFindingsEnv = await fleetspec(['reconcile', '--github-repo', 'acme/fleet'], { FLEETSPEC_GITHUB_TOKEN: TOKEN, FLEETSPEC_FINDING_TICKETS: 'everything' });
    expect(badFindingsEnv).toMatchObject({ code: 1, stderr: expect.stringContaining('"everything" is not a finding that opens tickets') });
  });

  it('an unreachable repository is exit 3 with the reason, and the token never printed', async () => {
    const result = await fleetspec(['reconcile', '--github-repo', 'acme/fleet', '--git-url', 'http://127.0.0.1:9/fleet.git'], { FLEETSPEC_GITHUB_TOKEN: TOKEN });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/fleetspec reconcile: .*127\.0\.0\.1:9/);
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
  });

  it('documents its settings in --help', async () => {
    for (const command of ['reconcile', 'daemon']) {
      const help = await fleetspec([command, '--help']);
      expect(help.code).toBe(0);
      for (const setting of ['FLEETSPEC_GITHUB_REPO', 'FLEETSPEC_GITHUB_TOKEN', 'FLEETSPEC_LLM_MODEL', 'FLEETSPEC_FINDING_TICKETS', '--finding-tickets', '--github-repo', '--ssh-key']) expect(help.stdout).toContain(setting);
    }
    expect((await fleetspec(['daemon', '--help'])).stdout).toContain('--schedule <cron>');
  });
});
