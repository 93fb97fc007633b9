// The MCP server's parts that need no fleet: tokens in the store, the audit's redaction, tool
// input schemas cut from the kinds' schemas, and which tools a role sees.
import { describe, expect, it } from 'vitest';
import { authenticate, issueToken, listTokens, revokeToken, tokenHash } from '../../reconciler/mcp/auth.js';
import { inputProblems, inputSchema, kindField } from '../../reconciler/mcp/schemas.js';
import { listed, redactArgs, TOOLS } from '../../reconciler/mcp/server.js';
import type { Role } from '../../reconciler/kinds/roles/index.js';
import { vmsInput } from '../../reconciler/stacks/model.js';
import type { SpecIndex } from '../../reconciler/kinds/kind.js';
import { ENGINES, useFreshDb } from '../state/engines.js';

describe('MCP tokens', () => {
  const store = useFreshDb(ENGINES.at(-1)!);

  it('are random, shown once, stored as their SHA-256, and stop working when revoked', async () => {
    const a = await issueToken(store.db, 'developer', 'laptop');
    const b = await issueToken(store.db, 'developer');
    expect(a.token).toMatch(/^fmcp_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    const rows = await store.db.query<{ token_sha256: string }>(`select token_sha256 from mcp_tokens where id = $1`, [a.id]);
    expect(rows[0]!.token_sha256).toBe(tokenHash(a.token));
    expect(await authenticate(store.db, a.token)).toEqual({ id: a.id, role: 'developer' });
    expect((await listTokens(store.db)).find((t) => t.id === a.id)).toMatchObject({ role: 'developer', label: 'laptop', lastUsedAt: expect.anything(), revokedAt: null });
    // Malformed, unknown, a hash given as the token: nothing.
    for (const bad of [undefined, '', 'fmcp_short', `fmcp_${'A'.repeat(43)}`, tokenHash(a.token), `${a.token} `]) expect(await authenticate(store.db, bad)).toBeUndefined();
    expect(await revokeToken(store.db, a.id)).toMatchObject({ id: a.id, revokedAt: expect.anything() });
    expect(await revokeToken(store.db, a.id)).toBeUndefined();
    expect(await authenticate(store.db, a.token)).toBeUndefined();
    expect(await authenticate(store.db, b.token)).toEqual({ id: b.id, role: 'developer' });
  });
});

describe('the audit', () => {
  it('keeps arguments without secret values, URL passwords or long text', () => {
    const token = 'ghp_' + 'Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2';
    const kept = redactArgs({ project: 'consilio', apiKey: 'anything', nested: { description: `see ${token}` }, url: 'postgres://u:hunter2@db/x', long: 'x'.repeat(2000), path: 'projects/consilio/db_password' }) as Record<string, unknown>;
    expect(JSON.stringify(kept)).not.toContain(token);
    expect(JSON.stringify(kept)).not.toContain('hunter2');
    expect(kept).toMatchObject({ project: 'consilio', apiKey: '[redacted]', nested: { description: '[redacted]' }, path: 'projects/consilio/db_password' });
    expect((kept.long as string).length).toBeLessThan(600);
  });
});

describe('tool inputs', () => {
  it('are the kinds\' own fields, standing alone, checked with their patterns and ranges', () => {
    const port = kindField('ports', ['allocations', '[]', 'port']);
    expect(port).toMatchObject({ type: 'integer', minimum: 1, maximum: 65535 });
    expect(JSON.stringify(kindField('roles', ['llm', 'model']))).not.toContain('$ref');
    const schema = inputSchema({ project: kindField('ports', ['name']), port }, ['project']);
    expect(inputProblems(schema, { project: 'consilio', port: 4002 })).toEqual([]);
    expect(inputProblems(schema, { project: '../etc', port: 70000 }).join('\n')).toMatch(/project:[\s\S]*port:/);
    expect(inputProblems(schema, {}).join('\n')).toContain('project');
    expect(inputProblems(schema, { project: 'consilio', extra: 1 }).join('\n')).toContain('extra');
    // Every tool's schema compiles in ajv's strict mode and takes an empty object or names what is missing.
    for (const tool of TOOLS) expect(() => inputProblems(tool.inputSchema, {})).not.toThrow();
  });

  it('a role sees the tools its capabilities allow; get_secret only with secrets.read and prefixes', () => {
    const role = (capabilities: Role['capabilities'], mcp?: Role['mcp']): Role => ({ kind: 'Role', name: 'r', type: 'role', ssh: { user: 'r', port: 22 }, capabilities, ...(mcp ? { mcp } : {}) });
    const names = (r: Role) => TOOLS.filter((t) => listed(t, r)).map((t) => t.name);
    const developer = names(role(['tickets.work', 'code.push', 'tests.run', 'llm.code']));
    expect(developer).toEqual(expect.arrayContaining(['get_port', 'allocate_port', 'ticket_work', 'ticket_done']));
    for (const deploy of ['add_dns_name', 'set_model', 'remove_model', 'resize_vm', 'set_vm_power', 'set_role_llm', 'ticket_create', 'get_secret']) expect(developer).not.toContain(deploy);
    expect(names(role(['deploy.production']))).toEqual(expect.arrayContaining(['add_dns_name', 'set_model', 'remove_model', 'resize_vm', 'allocate_port']));
    expect(names(role(['secrets.read']))).not.toContain('get_secret');
    expect(names(role(['secrets.read'], { secrets: ['projects/consilio/'] }))).toContain('get_secret');
    expect(names(role([], { secrets: ['projects/consilio/'] }))).not.toContain('get_secret');
  });
});

describe('set_vm_power', () => {
  it("a VM's running field becomes the instance's desired status; absent, the status is left alone", () => {
    const vm = (running?: boolean) => ({ kind: 'VirtualMachine', name: `vm-${String(running)}`, provider: 'gcp', project: 'vm-host', zone: 'us-central1-a', machineType: 'n1-standard-2', ...(running === undefined ? {} : { running }) });
    const resources = [vm(false), vm(true), vm()].map((value) => ({ value, name: value.name }));
    const index = { all: (folder: string) => (folder === 'vms' ? resources : []), get: () => undefined, declared: () => false } as unknown as SpecIndex;
    const byName = Object.fromEntries(vmsInput(index).input.vms.map((v) => [v.name, v.desiredStatus]));
    expect(byName).toEqual({ 'vm-false': 'TERMINATED', 'vm-true': 'RUNNING', 'vm-undefined': undefined });
  });
});
