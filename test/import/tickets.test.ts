// fleetspec import --only tickets against the GitHub stand-in: open issues labelled `ticket` that
// are not fleetspec's become T-NNNN specs naming their issue (issue:), so the tickets plan adopts
// that issue instead of opening a duplicate; after the adoption is applied the plan is empty, and
// a second import adds nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markerOf } from '../../reconciler/kinds/tickets/issue.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { startGitHubServer, type GitHubTestServer } from '../github/server.js';
import { workspace, type Workspace } from './harness.js';

describe('fleetspec import: tickets', () => {
  let ws: Workspace;
  let gh: GitHubTestServer;
  let env: Record<string, string>;
  let disk: number;

  beforeAll(async () => {
    ws = await workspace('tickets');
    gh = await startGitHubServer({ owner: 'acme', repo: 'fleet' });
    env = { FLEETSPEC_GITHUB_REPO: 'acme/fleet', FLEETSPEC_GITHUB_TOKEN: gh.token, FLEETSPEC_GITHUB_API: gh.url };
    ws.write('tickets/T-0001.yaml', [{ kind: 'Ticket', id: 'T-0001', title: 'Done long ago', status: 'closed' }]);
    disk = gh.openIssue({ title: 'Disk full on web', body: 'The root disk is at 97%.\n\n<script>alert(1)</script> @someone', author: 'alice', labels: ['ticket', 'priority:high', 'phase-1'] }).number;
    gh.openIssue({ title: 'Not a ticket', body: 'just a question', author: 'bob' });
    gh.openIssue({ title: 'Leaky', body: 'the token is ghp_abcdefghijklmnopqrstuvwxyz0123456789', author: 'eve', labels: ['ticket'] });
    // fleetspec's own issue (its marker): never imported.
    gh.openIssue({ title: 'T-0009: mirrored', body: 'x\n\n<!-- fleetspec:ticket T-0009 digest=0123456789ab -->', author: 'fleetspec-bot', labels: ['ticket'] });
  }, 60_000);

  afterAll(async () => {
    await gh?.close();
    await ws?.close();
  });

  it('imports the issue as T-0002 naming it; flags the one that looks like a secret; skips fleetspec\'s own', async () => {
    const r = await ws.fleetspec(['import', ws.specs, '--only', 'tickets'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\+ tickets\/T-0002  .*tickets\/T-0002\.yaml  \(GitHub issue #\d+\)$/m);
    expect(r.stdout).toMatch(/^! tickets\/#\d+  not imported: its text looks like it holds a secret \(/m);
    expect(r.stdout).not.toContain('ghp_abcdef');
    expect(r.stdout).not.toContain('T-0009');
    const spec = parse(readFileSync(join(ws.specs, 'tickets/T-0002.yaml'), 'utf8'));
    expect(spec).toEqual({ kind: 'Ticket', id: 'T-0002', title: 'Disk full on web', description: 'The root disk is at 97%.\n\n<script>alert(1)</script> @someone', priority: 'high', status: 'open', labels: ['phase-1'], issue: disk });
  });

  it('the live tickets plan adopts the issue (update, no create); applied, the plan is empty and no issue was added', async () => {
    const count = gh.issues().length;
    const live = await ws.fleetspec(['plan', ws.specs, '--live', '--format', 'json', '--ssh-key', join(ws.dir, 'none')], env);
    const p = JSON.parse(live.stdout) as Plan;
    const t = p.changes.filter((c) => c.kind === 'tickets');
    expect(t.filter((c) => c.action === 'create')).toEqual([]);
    expect(t.find((c) => c.name === 'T-0002')).toMatchObject({ action: 'update', reason: expect.stringContaining(`adopt issue #${disk}`) });
    // T-0009's issue has no spec: the plan closes it, as it would without import. Not this test's concern.
    const push = await ws.fleetspec(['tickets', 'push', '--specs', ws.specs, '--yes'], env);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(gh.issues().length).toBe(count);
    const adopted = gh.issues().find((i) => i.number === disk)!;
    expect(markerOf(adopted.body ?? '')?.id).toBe('T-0002');
    expect(adopted.title).toBe('T-0002: Disk full on web');
    const again = await ws.fleetspec(['plan', ws.specs, '--live', '--format', 'json', '--ssh-key', join(ws.dir, 'none')], env);
    const q = JSON.parse(again.stdout) as Plan;
    expect(q.changes.filter((c) => c.kind === 'tickets' && c.action !== 'no-op')).toEqual([]);
  });

  it('a second import adds nothing', async () => {
    const r = await ws.fleetspec(['import', ws.specs, '--only', 'tickets', '--format', 'json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { added: unknown[] }).added).toEqual([]);
  });

  it('without GitHub settings the source is not read (exit 3)', async () => {
    const r = await ws.fleetspec(['import', ws.specs, '--only', 'tickets']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^\? github  not read: no GitHub repository to reconcile/m);
  });
});
