// fleetspec import --only dns, names with several records: the Cloudflare stand-in answers as the
// API does (MX with priority, CAA with data and its formatted content, TXT as quoted character
// strings, long text split into 255-byte strings), and each such name becomes one spec with a
// records: list, one import block per record naming the resource the stack synthesises for it.
// A name with one CNAME/A/AAAA record stays the single form; records the kind refuses are flagged.
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { txtText } from '../../reconciler/import/dns.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { startCloudflareServer, type CfTestZone, type CloudflareTestServer } from '../cloudflare/server.js';
import { workspace, type Workspace } from './harness.js';

const LONG = 'k=rsa; p=' + 'A'.repeat(400);

describe('fleetspec import: dns names with several records', () => {
  let ws: Workspace;
  let cf: CloudflareTestServer;
  let zone: CfTestZone;
  let env: Record<string, string>;
  let run: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    ws = await workspace('dns-records');
    cf = await startCloudflareServer();
    zone = cf.addZone('example.com');
    cf.addRecord(zone, { name: 'example.com', type: 'A', content: '192.0.2.10', proxied: true });
    cf.addRecord(zone, { name: 'example.com', type: 'AAAA', content: '2001:db8::10', proxied: true });
    cf.addRecord(zone, { name: 'example.com', type: 'MX', content: 'mail.example.com', priority: 10, ttl: 3600 });
    cf.addRecord(zone, { name: 'example.com', type: 'MX', content: 'mx2.example.net', priority: 20, ttl: 3600 });
    cf.addRecord(zone, { name: 'example.com', type: 'TXT', content: '"v=spf1 mx -all"' });
    cf.addRecord(zone, { name: 'example.com', type: 'CAA', data: { flags: 0, tag: 'issue', value: 'letsencrypt.org' } });
    cf.addRecord(zone, { name: 'example.com', type: 'CAA', data: { flags: 128, tag: 'iodef', value: 'mailto:security@example.com' } });
    cf.addRecord(zone, { name: 'example.com', type: 'NS', content: 'ns1.cloudflare.com' }); // the apex's own: not written
    // Long TXT as the API stores it: split into quoted 255-byte strings.
    cf.addRecord(zone, { name: 'sel._domainkey.example.com', type: 'TXT', content: `"${LONG.slice(0, 255)}" "${LONG.slice(255)}"` });
    // A TXT the kind refuses (a line break inside) is flagged, and the name's other records still come in.
    cf.addRecord(zone, { name: 'txt.example.com', type: 'TXT', content: '"first"' });
    cf.addRecord(zone, { name: 'txt.example.com', type: 'TXT', content: '"bad\nline ${file(\\"/etc/passwd\\")}"' });
    cf.addRecord(zone, { name: 'mail.example.com', type: 'A', content: '192.0.2.25' });
    cf.addRecord(zone, { name: 'sub.example.com', type: 'NS', content: 'ns1.other.example' });
    cf.addRecord(zone, { name: 'sub.example.com', type: 'NS', content: 'ns2.other.example' });
    ws.write('zones/example.com.yaml', [{ kind: 'DnsZone', name: 'example.com', provider: 'cloudflare', apiToken: 'secret:meta/cloudflare/api_token' }]);
    env = { FLEETSPEC_CLOUDFLARE_TOKEN: cf.token, FLEETSPEC_CLOUDFLARE_API: cf.url };
    const synth = await ws.fleetspec(['stacks', 'synth', 'dns', '--specs', ws.specs]);
    expect(synth.code, synth.stderr).toBe(0);
    run = await ws.fleetspec(['import', ws.specs, '--only', 'dns'], env);
  }, 120_000);

  afterAll(async () => {
    await cf?.close();
    await ws?.close();
  });

  const spec = (name: string) => parse(readFileSync(join(ws.specs, 'dns', `${name}.yaml`), 'utf8')) as Record<string, any>;

  it('writes one spec per name: a records: list with MX priorities and CAA data, the single form for one A record', async () => {
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((await readdir(join(ws.specs, 'dns'))).sort()).toEqual(['example.com.yaml', 'mail.example.com.yaml', 'sel._domainkey.example.com.yaml', 'sub.example.com.yaml', 'txt.example.com.yaml']);
    const apex = spec('example.com');
    expect(apex).toMatchObject({ kind: 'DnsRecord', name: 'example.com', zone: 'example.com' });
    expect(apex).not.toHaveProperty('type');
    expect(apex.records).toEqual(
      expect.arrayContaining([
        { type: 'A', content: '192.0.2.10', proxied: true },
        { type: 'AAAA', content: '2001:db8::10', proxied: true },
        { type: 'MX', content: 'mail.example.com', priority: 10, ttl: 3600 },
        { type: 'MX', content: 'mx2.example.net', priority: 20, ttl: 3600 },
        { type: 'TXT', content: 'v=spf1 mx -all' },
        { type: 'CAA', tag: 'issue', value: 'letsencrypt.org' },
        { type: 'CAA', flags: 128, tag: 'iodef', value: 'mailto:security@example.com' },
      ]),
    );
    expect(apex.records).toHaveLength(7); // the apex NS record is Cloudflare's, not written
    expect(spec('mail.example.com')).toEqual({ kind: 'DnsRecord', name: 'mail.example.com', zone: 'example.com', type: 'A', target: '192.0.2.25' });
    expect(spec('sel._domainkey.example.com').records).toEqual([{ type: 'TXT', content: LONG }]);
    expect(spec('sub.example.com').records).toEqual([{ type: 'NS', content: 'ns1.other.example' }, { type: 'NS', content: 'ns2.other.example' }]);
  });

  it('flags a record the kind refuses, keeps it out, and writes no part of it anywhere', () => {
    expect(run.stdout).toMatch(/^! dns\/txt\.example\.com  TXT record .*TXT content holds a quote, a backslash, a line break, another control character or a character that is not ASCII; not written$/m);
    expect(spec('txt.example.com').records).toEqual([{ type: 'TXT', content: 'first' }]);
    const stack = readFileSync(join(ws.dir, 'stacks', 'dns', 'cdk.tf.json'), 'utf8');
    expect(stack).not.toContain('/etc/passwd');
  });

  it('one import block per record, each naming a resource of the synthesised stack with the record\'s Cloudflare id', () => {
    const stack = JSON.parse(readFileSync(join(ws.dir, 'stacks', 'dns', 'cdk.tf.json'), 'utf8'));
    const imports = JSON.parse(readFileSync(join(ws.dir, 'stacks', 'dns', 'imports.tf.json'), 'utf8')) as { import: { to: string; id: string }[] };
    const written = zone.records.filter((r) => !(r.type === 'NS' && r.name === 'example.com') && !r.content.includes('bad'));
    expect(imports.import).toHaveLength(written.length);
    const byId = new Map(imports.import.map((b) => [b.id, b.to]));
    for (const r of written) {
      const to = byId.get(`${zone.id}/${r.id}`);
      expect(to, `${r.type} ${r.name} ${r.content}`).toBeDefined();
      const resource = stack.resource.cloudflare_dns_record[to!.replace(/^cloudflare_dns_record\./, '')];
      expect(resource, to).toMatchObject({ name: r.name, type: r.type });
      // What the stack writes is what Cloudflare holds (TXT: the same quoted strings), so the adopted record has no diff.
      if (r.type !== 'CAA') expect(resource.content, `${r.type} ${r.name}`).toBe(r.content);
      if (r.type === 'MX') expect(resource.priority).toBe(r.priority);
      if (r.type === 'CAA') expect(resource.data).toEqual(r.data);
    }
    expect(byId.get(`${zone.id}/${zone.records.find((r) => r.name === 'mail.example.com')!.id}`)).toBe('cloudflare_dns_record.mail_example_com');
  });

  it('the result validates, the offline plan is empty, and a second import adds nothing', async () => {
    const valid = await ws.fleetspec(['validate', ws.specs]);
    expect(valid.code, valid.stdout + valid.stderr).toBe(0);
    const offline = await ws.fleetspec(['plan', ws.specs, '--format', 'json']);
    expect(offline.code, offline.stdout + offline.stderr).toBe(0);
    expect((JSON.parse(offline.stdout) as Plan).changes.filter((c) => c.action !== 'no-op')).toEqual([]);
    const again = await ws.fleetspec(['import', ws.specs, '--only', 'dns', '--format', 'json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { added: unknown[] }).added).toEqual([]);
  });

  it('TXT content: quoted character strings are joined and unescaped, bare text is kept, anything else is refused', () => {
    expect(txtText('"v=spf1 -all"')).toBe('v=spf1 -all');
    expect(txtText('"abc" "def"')).toBe('abcdef');
    expect(txtText('"say \\"hi\\""')).toBe('say "hi"');
    expect(txtText('plain text')).toBe('plain text');
    expect(txtText('"open')).toBeUndefined();
    expect(txtText('"a" b')).toBeUndefined();
  });
});
