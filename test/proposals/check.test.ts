// An agent's change is checked before it becomes a proposal: spec files only, no secret values,
// valid against the kinds' schemas, judged by the trusted policies, planned offline, with every
// problem located so the agent can correct it. Against a copy of this repository's own fleet.
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEdits, editPathProblem } from '../../reconciler/proposals/check.js';
import { proposalBranch, slug } from '../../reconciler/proposals/index.js';
import type { Db } from '../../reconciler/state/db.js';
import type { LoadedSpecs } from '../../reconciler/specs/load.js';
import { nextTicketId, reservedTicketIds } from '../../reconciler/loop/tickets.js';
import { ENGINES, freshDb } from '../state/engines.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('checking an agent change before it is proposed', () => {
  let checkout: string;
  let db: Db;
  let done: () => Promise<void>;
  let consilio: string;

  beforeAll(async () => {
    checkout = await mkdtemp(join(tmpdir(), 'fleetspec-check-'));
    for (const folder of ['specs', 'stacks', 'policies']) await cp(join(ROOT, folder), join(checkout, folder), { recursive: true });
    consilio = await readFile(join(ROOT, 'specs', 'ports', 'consilio.yaml'), 'utf8');
    ({ db, done } = await freshDb(ENGINES.at(-1)!));
  }, 60_000);
  afterAll(async () => {
    await done?.();
    if (checkout) await rm(checkout, { recursive: true, force: true });
  });

  const check = (edits: { path: string; content: string | null }[]) => checkEdits({ checkout, specsPath: 'specs', edits, db });

  it('names branches one way, whatever the text', () => {
    expect(slug('Deploy API service for Consilio at api.consilio.153.se!')).toBe('deploy-api-service-for-consilio-at-api-c');
    expect(slug('../../etc/passwd')).toBe('etc-passwd');
    expect(slug('\u001b[31m')).toBe('31m');
    expect(slug('')).toBe('change');
    expect(proposalBranch('proposal', 'developer', 'Add a port')).toBe('fleetspec/proposal/developer-add-a-port');
    expect(proposalBranch('ticket', 'T-0012', 'issue 4')).toBe('fleetspec/ticket/T-0012-issue-4');
  });

  it('a proposal branch that adds a ticket reserves its id, as ticket and finding branches do', () => {
    const none = { index: { all: () => [] } } as unknown as LoadedSpecs;
    const used = reservedTicketIds(none, ['fleetspec/proposal/cli-add-a-ticket-t-0042-ab12cd', 'fleetspec/ticket/T-0007-issue-3', 'fleetspec/finding/T-0009-disk_web_root', 'feature/t-0050-x']);
    expect([...used].sort()).toEqual(['T-0007', 'T-0009', 'T-0042']);
    expect(nextTicketId(used)).toBe('T-0043');
  });

  it('takes only spec files in a kind folder', () => {
    expect(editPathProblem('ports/consilio.yaml')).toBeUndefined();
    for (const bad of ['../policies/roles.yaml', '/etc/passwd', 'schemas/ports.schema.json', 'ports/../../x.yaml', 'ports/a/b.yaml', 'ports/x.json', 'ports/.hidden.yaml', 'ports\\x.yaml', 'ports/x\n.yaml', './ports/x.yaml']) {
      expect(editPathProblem(bad), bad).toBeDefined();
    }
  });

  it('a valid change passes and is planned offline', async () => {
    const edited = consilio.replace('    port: 4001\n', '    port: 4001\n  - service: web\n    port: 4002\n');
    const r = await check([{ path: 'ports/consilio.yaml', content: edited }]);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.plan!.mode).toBe('offline');
    expect(r.plan!.changes.some((c) => c.kind === 'ports' && c.name.includes('web'))).toBe(true);
    expect(r.files).toEqual({ 'specs/ports/consilio.yaml': edited });
  });

  it('a path outside specs is refused before anything is read', async () => {
    const r = await check([{ path: '../policies/roles.yaml', content: 'kind: Policy\n' }]);
    expect(r.ok).toBe(false);
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'proposal.path', file: 'specs/../policies/roles.yaml' })]);
    expect(r.plan).toBeUndefined();
  });

  it('a secret value is refused, and never repeated', async () => {
    const value = 'ghp_0123456789abcdefghijABCDEFGHIJ012345';
    const r = await check([{ path: 'ports/consilio.yaml', content: consilio.replace('description: Consilio', `description: ${value}`) }]);
    expect(r.ok).toBe(false);
    expect(r.diagnostics.map((d) => d.code)).toContain('proposal.secret');
    expect(JSON.stringify(r.diagnostics)).not.toContain(value);
  });

  it('a schema error is located in the file the agent gave', async () => {
    const r = await check([{ path: 'ports/consilio.yaml', content: consilio.replace('    port: 4001', '    port: lots') }]);
    expect(r.ok).toBe(false);
    const error = r.diagnostics.find((d) => d.severity === 'error')!;
    expect(error.file).toBe('specs/ports/consilio.yaml');
    expect(error.line).toBeGreaterThan(1);
  });

  it('a change the trusted policies block fails with the policy named', async () => {
    // Outside consilio's range: the port-ranges policy (or the kind itself) refuses it.
    const r = await check([{ path: 'ports/consilio.yaml', content: consilio.replace('    port: 4001', '    port: 5001') }]);
    expect(r.ok).toBe(false);
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file} ${d.message}`).join('\n')).toMatch(/specs\/ports\/consilio\.yaml .*5001/);
  });

  it('never writes through a symlink the trusted commit holds', async () => {
    const { symlink, mkdtemp: temp } = await import('node:fs/promises');
    const outside = await temp(join(tmpdir(), 'fleetspec-outside-'));
    await symlink(outside, join(checkout, 'specs', 'zz'));
    try {
      const r = await check([{ path: 'zz/evil.yaml', content: 'kind: Host\nname: evil\n' }]);
      expect(r.ok).toBe(false);
      expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'proposal.link', file: 'specs/zz/evil.yaml' })]);
      const { readdir } = await import('node:fs/promises');
      expect(await readdir(outside)).toEqual([]);
    } finally {
      await rm(join(checkout, 'specs', 'zz'), { force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });
});
