// The dns stack from records: lists: one cloudflare_dns_record per record with the attributes of
// provider 5.x (content, priority for MX, data {flags, tag, value} for CAA), stable ids (the
// list's order changes nothing; changing one record changes one resource), targets for every
// record of a name, and hostile TXT text written literally (Terraform's ${ and %{ escaped).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { stackAddresses, stackModels, type DnsInput } from '../../reconciler/stacks/model.js';
import { renderStack, synthObject, templateLiteral } from '../../reconciler/stacks/synth.js';

const ZONE = 'kind: DnsZone\nname: example.com\nprovider: cloudflare\napiToken: secret:meta/cloudflare/api_token\n';
const HOSTILE_TXT = 'v=spf1 ${file(/etc/passwd)} %{ if true }x%{ endif } ${TfToken[TOKEN.0]} $${kept} #{TfToken[TOKEN.1]} -all';

const APEX = [
  { type: 'A', content: '192.0.2.10' },
  { type: 'AAAA', content: '2001:db8::10', ttl: 300 },
  { type: 'MX', content: 'mail.example.com', priority: 10 },
  { type: 'MX', content: 'mx2.example.net', priority: 20 },
  { type: 'TXT', content: HOSTILE_TXT },
  { type: 'TXT', content: 'google-site-verification=abc123' },
  { type: 'CAA', tag: 'issue', value: 'letsencrypt.org' },
  { type: 'CAA', flags: 128, tag: 'iodef', value: 'mailto:security@example.com' },
];

const record = (name: string, records: object[]) => `kind: DnsRecord\nname: ${name}\nzone: example.com\nrecords:\n${records.map((r) => `  - ${JSON.stringify(r)}`).join('\n')}\n`;

async function specsWith(dir: string, files: Record<string, string>): Promise<DnsInput & { json: Record<string, any>; index: Awaited<ReturnType<typeof loadSpecs>>['index'] }> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'zones'), { recursive: true });
  await mkdir(join(dir, 'dns'));
  await writeFile(join(dir, 'zones', 'example.com.yaml'), ZONE);
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, 'dns', f), text);
  const loaded = await loadSpecs(dir);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const [model] = stackModels(loaded.index, ['dns']);
  return { ...(model!.input as DnsInput), json: synthObject(model!), index: loaded.index };
}

describe('dns stack: several records per name', () => {
  let scratch: string;
  let base: Awaited<ReturnType<typeof specsWith>>;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'fleetspec-dns-stack-'));
    base = await specsWith(join(scratch, 'a'), { 'example.com.yaml': record('example.com', APEX), 'app.yaml': 'kind: DnsRecord\nname: app.example.com\nzone: example.com\ntype: A\ntarget: 192.0.2.20\n' });
  }, 120_000);
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  it('one cloudflare_dns_record per record, with provider 5.x attributes', () => {
    const resources = base.json.resource.cloudflare_dns_record as Record<string, Record<string, unknown>>;
    const apex = Object.entries(resources).filter(([id]) => id.startsWith('example_com_'));
    expect(apex).toHaveLength(APEX.length);
    const byType = (t: string) => apex.filter(([, r]) => r.type === t).map(([, r]) => r);
    expect(byType('MX').map((r) => [r.content, r.priority]).sort()).toEqual([['mail.example.com', 10], ['mx2.example.net', 20]]);
    // CAA goes as data {flags, tag, value}, never content; flags is a number even though the provider's type is dynamic.
    expect(byType('CAA').map((r) => r.data)).toEqual(expect.arrayContaining([{ flags: 0, tag: 'issue', value: 'letsencrypt.org' }, { flags: 128, tag: 'iodef', value: 'mailto:security@example.com' }]));
    for (const caa of byType('CAA')) expect(caa).not.toHaveProperty('content');
    expect(byType('AAAA')[0]).toMatchObject({ content: '2001:db8::10', ttl: 300, proxied: false, name: 'example.com', zone_id: '${data.cloudflare_zone.example_com.id}' });
    for (const r of [...byType('A'), ...byType('TXT')]) expect(r).not.toHaveProperty('priority');
    // The single form keeps the name's own id.
    expect(resources.app_example_com).toMatchObject({ type: 'A', content: '192.0.2.20' });
    for (const id of Object.keys(resources)) expect(id).toMatch(/^(app_example_com|example_com_(a|aaaa|mx|txt|caa)_[0-9a-f]{8})$/);
  });

  it('hostile TXT text is written literally: Terraform templates and cdktf tokens are escaped, nothing resolves', () => {
    const txt = Object.values(base.json.resource.cloudflare_dns_record as Record<string, Record<string, unknown>>).find((r) => String(r.content).startsWith('"v=spf1'));
    expect(txt!.content).toBe(templateLiteral(`"${HOSTILE_TXT}"`)); // quoted as Cloudflare stores TXT content
    expect(JSON.stringify(base.json)).not.toMatch(/[^$]\$\{file/);
  });

  it('quotes, backslashes and line breaks in TXT are refused before anything is synthesised', async () => {
    const dir = join(scratch, 'bad');
    await mkdir(join(dir, 'zones'), { recursive: true });
    await mkdir(join(dir, 'dns'), { recursive: true });
    await writeFile(join(dir, 'zones', 'example.com.yaml'), ZONE);
    await writeFile(join(dir, 'dns', 'bad.yaml'), record('bad.example.com', [{ type: 'TXT', content: 'a "quoted" \\ value' }, { type: 'TXT', content: 'two\nlines' }]));
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.code}`)).toEqual(['5:29 dns.bad-content', '6:29 dns.bad-content']);
  });

  it('reordering the list changes nothing; changing one record changes one resource id; ttl changes keep the id', async () => {
    const reordered = await specsWith(join(scratch, 'b'), { 'example.com.yaml': record('example.com', [...APEX].reverse()), 'app.yaml': 'kind: DnsRecord\nname: app.example.com\nzone: example.com\ntype: A\ntarget: 192.0.2.20\n' });
    expect(renderStack({ ...reordered.json, '//': null })).toBe(renderStack({ ...base.json, '//': null }));
    const changed = APEX.map((r) => (r.type === 'MX' && r.priority === 20 ? { ...r, content: 'mx3.example.net' } : r.type === 'A' ? { ...r, ttl: 600 } : r));
    const other = await specsWith(join(scratch, 'c'), { 'example.com.yaml': record('example.com', changed) });
    const before = new Set(base.records.filter((r) => r.name === 'example.com').map((r) => r.id));
    const after = new Set(other.records.filter((r) => r.name === 'example.com').map((r) => r.id));
    expect([...before].filter((id) => !after.has(id))).toHaveLength(1);
    expect([...after].filter((id) => !before.has(id))).toEqual([expect.stringMatching(/^example_com_mx_[0-9a-f]{8}$/)]);
    expect(other.records.find((r) => r.type === 'A')).toMatchObject({ id: base.records.find((r) => r.type === 'A' && r.name === 'example.com')!.id, ttl: 600 });
  });

  it('plan targets of a name are every one of its records', () => {
    const addresses = stackAddresses(base.index, 'dns', 'example.com');
    expect(addresses).toHaveLength(APEX.length);
    for (const a of addresses) expect(base.json.resource.cloudflare_dns_record[a.replace(/^cloudflare_dns_record\./, '')], a).toBeDefined();
    expect(stackAddresses(base.index, 'dns', 'app.example.com')).toEqual(['cloudflare_dns_record.app_example_com']);
  });
});
