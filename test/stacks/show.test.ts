// `terraform show -json <planfile>` documents in the documented format (format_version 1.2,
// as Terraform 1.9 and OpenTofu write it) become plan entries, with sensitive values masked.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../reconciler/plan/plan.js';
import { KNOWN_AFTER_APPLY, mask, parseShowJson, planAction, SENSITIVE, ShowFormatError, toResourceChanges } from '../../reconciler/stacks/show.js';
import { terraformErrors } from '../../reconciler/stacks/terraform.js';

const fixture = (name: string) => readFile(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('terraform show -json', () => {
  it('maps create, update, delete, both kinds of replace and no-op; data reads are not changes', async () => {
    const show = parseShowJson(await fixture('plan-mixed.json'));
    expect(show.terraformVersion).toBe('1.9.8');
    expect(show.errored).toBe(false);
    const changes = toResourceChanges('dns', show, 'stacks/dns');
    expect(changes.map((c) => [c.name, c.action])).toEqual([
      ['cloudflare_dns_record.api_consilio_153_se', 'create'],
      ['cloudflare_zero_trust_tunnel_cloudflared_config.supervisor', 'update'],
      ['cloudflare_dns_record.old_153_se', 'delete'],
      ['google_compute_instance.supervisor-vm', 'replace'],
      ['google_compute_instance.builder', 'replace'],
      ['cloudflare_dns_record.www_153_se', 'no-op'],
    ]);
    const byName = new Map(changes.map((c) => [c.name, c]));
    expect(byName.get('google_compute_instance.supervisor-vm')!.reason).toContain('a changed argument cannot be updated in place');
    expect(byName.get('google_compute_instance.builder')!.reason).toContain('create before destroy');
    expect(byName.get('cloudflare_dns_record.old_153_se')!.reason).toContain('no longer in the configuration');
    expect(byName.get('cloudflare_dns_record.old_153_se')!.reason, 'resource_drift is reported').toContain('changed outside Terraform');
    expect(byName.get('cloudflare_dns_record.api_consilio_153_se')!.reason).not.toContain('changed outside');

    const plan = buildPlan(changes, { mode: 'live' });
    expect(plan.summary).toMatchObject({ add: 1, change: 1, destroy: 1, replace: 2, unchanged: 1 });
  });

  it('masks sensitive values and marks values known only after apply; variables never leave the document', async () => {
    const text = await fixture('plan-mixed.json');
    const changes = toResourceChanges('vms', parseShowJson(text), 'stacks/vms');
    const vm = changes.find((c) => c.name === 'google_compute_instance.supervisor-vm')!;
    const after = vm.after as any;
    expect(after.boot_disk[0].disk_encryption_key_raw).toBe(SENSITIVE);
    expect(after.metadata['ssh-keys']).toBe(SENSITIVE);
    expect((vm.before as any).metadata['ssh-keys']).toBe(SENSITIVE);
    expect(after.id).toBe(KNOWN_AFTER_APPLY);
    expect(after.boot_disk[0].source).toBe(KNOWN_AFTER_APPLY);
    expect(after.boot_disk[0].initialize_params[0].image).toBe('debian-cloud/debian-12');
    const created = changes.find((c) => c.action === 'create')!.after as any;
    expect(created).toMatchObject({ id: KNOWN_AFTER_APPLY, created_on: KNOWN_AFTER_APPLY, content: 'tunnel.153.se' });

    const everything = JSON.stringify(changes);
    expect(text).toContain('c2VjcmV0LWRpc2sta2V5LWJ5dGVz');
    expect(everything).not.toContain('c2VjcmV0LWRpc2sta2V5LWJ5dGVz');
    expect(everything).not.toContain('cf-token-PLAINTEXT-in-show-json');
    expect(everything).not.toContain('root:ssh-ed25519');
  });

  it('masks whole subtrees and list elements', () => {
    expect(mask({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: true })).toEqual({ a: SENSITIVE, d: 'x' });
    expect(mask(['p', 'q'], [false, true])).toEqual(['p', SENSITIVE]);
    expect(mask({ list: ['x'] }, {}, { list: [false, true] })).toEqual({ list: ['x', KNOWN_AFTER_APPLY] });
    expect(mask(null, false, undefined)).toBeNull();
  });

  it('reads an errored plan as errored (it can never be applied)', async () => {
    const show = parseShowJson(await fixture('plan-errored.json'));
    expect(show.errored).toBe(true);
    expect(show.applyable).toBe(false);
    expect(toResourceChanges('dns', show, 'stacks/dns')).toEqual([]);
  });

  it('refuses a state document, another major version, and anything that is not JSON', async () => {
    expect(() => parseShowJson('{"format_version":"1.0","terraform_version":"1.9.8","values":{}}')).toThrow(/state document, not a plan/);
    expect(() => parseShowJson('{"format_version":"2.0","resource_changes":[]}')).toThrow(/format_version 2.0 is not supported/);
    expect(() => parseShowJson('Error: Failed to load plugin schemas')).toThrow(ShowFormatError);
    expect(() => parseShowJson('{"format_version":"1.2","resource_changes":[{"address":"x"}]}')).toThrow(/resource_changes\[0\]: expected/);
    const state = await fixture('state.json');
    expect(() => parseShowJson(state)).toThrow(/state document/);
  });

  it('accepts a newer 1.x document and ignores fields it does not know', () => {
    const show = parseShowJson(JSON.stringify({ format_version: '1.9', resource_changes: [], deferred_changes: [], checks: [] }));
    expect(show.changes).toEqual([]);
  });

  it('knows every action list Terraform documents', () => {
    expect(planAction(['no-op'])).toBe('no-op');
    expect(planAction(['create'])).toBe('create');
    expect(planAction(['read'])).toBeUndefined();
    expect(planAction(['update'])).toBe('update');
    expect(planAction(['delete', 'create'])).toBe('replace');
    expect(planAction(['create', 'delete'])).toBe('replace');
    expect(planAction(['delete'])).toBe('delete');
    expect(planAction(['forget'])).toBe('delete');
  });

  it("carries terraform's own error blocks as the message", () => {
    const stderr = [
      '╷',
      '│ Error: Invalid provider configuration',
      '│ ',
      '│ the API token is not valid',
      '╵',
      '╷',
      '│ Error: creating DNS Record: 400 Bad Request',
      '│ ',
      '│   with cloudflare_dns_record.api_consilio_153_se,',
      '│   on cdk.tf.json line 40, in resource "cloudflare_dns_record" "api_consilio_153_se":',
      '╵',
    ].join('\n');
    expect(terraformErrors(stderr)).toBe('Error: Invalid provider configuration: the API token is not valid; Error: creating DNS Record: 400 Bad Request: with cloudflare_dns_record.api_consilio_153_se, on cdk.tf.json line 40, in resource "cloudflare_dns_record" "api_consilio_153_se":');
    expect(terraformErrors('', 'something odd\nlast line')).toBe('something odd last line');
  });
});
