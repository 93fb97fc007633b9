// The environment a fleetspec loop process (reconcile, daemon) runs with against the stand-ins:
// repository acme/fleet, its folders under `dir`, no terraform and no SSH key (both point at
// nothing), no colour. Of the caller's environment only PATH is kept, so nothing on the machine
// (a DATABASE_URL, a real token) reaches the child. Shared by tests and benchmarks.
import { join } from 'node:path';

export function standInLoopEnv(dir: string, stand: { githubApi: string; gitUrl: string; token: string }, home = dir): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: home,
    FLEETSPEC_STATE_DIR: join(dir, 'state'),
    FLEETSPEC_REPO_DIR: join(dir, 'repo'),
    FLEETSPEC_WORK_DIR: join(dir, 'terraform'),
    FLEETSPEC_GITHUB_REPO: 'acme/fleet',
    FLEETSPEC_GITHUB_TOKEN: stand.token,
    FLEETSPEC_GITHUB_API: stand.githubApi,
    FLEETSPEC_GIT_URL: stand.gitUrl,
    FLEETSPEC_TERRAFORM: join(dir, 'no-terraform'),
    FLEETSPEC_SSH_KEY: join(dir, 'no-key'),
    NO_COLOR: '1',
  };
}
