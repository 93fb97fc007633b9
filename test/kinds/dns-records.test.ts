// The dns kind's records: list, checked as DNS and Cloudflare check records: each rule is a
// spec file written to a temporary specs folder, loaded as `fleetspec validate` loads it, and its
// finding is asserted with the file:line:col of the offending field inside the list. The single
// form (type/target[/route]) still loads and its tunnel checks still hold.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordKey, recordsOf, recordTfId, txtContent } from '../../reconciler/kinds/dns/records.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { tfId } from '../../reconciler/stacks/model.js';
import type { Diagnostic } from '../../reconciler/diagnostics.js';

const ZONE = 'kind: DnsZone\nname: example.com\nprovider: cloudflare\napiToken: secret:meta/cloudflare/api_token\ntunnel:\n  name: edge\n  hostname: tunnel.example.com\n';
const PORTS = 'kind: PortRange\nname: web\nrange: {start: 4000, end: 4099}\nallocations:\n  - {service: app, port: 4001}\n';

/** A DnsRecord file: its header, then the given lines (YAML, two-space indents). */
const spec = (name: string, ...body: string[]) => ['kind: DnsRecord', `name: ${name}`, 'zone: example.com', ...body].join('\n') + '\n';

/** Each case: a file, and the diagnostics it must give as `line:col code`, in order. */
const CASES: Record<string, { text: string; expect: string[]; message?: RegExp }> = {
  'valid-list': {
    text: spec(
      'list.example.com',
      'records:',
      '  - {type: A, content: 192.0.2.10}',
      '  - {type: AAAA, content: "2001:db8::10"}',
      '  - {type: MX, content: mail.example.com, priority: 10}',
      '  - {type: MX, content: mx2.example.net., priority: 20}',
      '  - {type: TXT, content: "v=spf1 mx -all"}',
      '  - {type: TXT, content: "google-site-verification=abc123"}',
      '  - {type: CAA, tag: issue, value: letsencrypt.org}',
      '  - {type: CAA, flags: 128, tag: iodef, value: "mailto:security@example.com"}',
    ),
    expect: [],
  },
  'valid-single': { text: spec('app.example.com', 'type: CNAME', 'target: tunnel.example.com', 'route: web/app'), expect: [] },
  'bad-ipv4': { text: spec('v4.example.com', 'records:', '  - type: A', '    content: 2001:db8::1'), expect: ['6:14 dns.bad-content'], message: /not an IPv4 address/ },
  'bad-ipv6': { text: spec('v6.example.com', 'records:', '  - {type: AAAA, content: 192.0.2.1}'), expect: ['5:27 dns.bad-content'], message: /not an IPv6 address/ },
  'single-a-not-address': { text: spec('s.example.com', 'type: A', 'target: host.example.com'), expect: ['5:9 dns.bad-content'] },
  'mx-no-priority': { text: spec('m.example.com', 'records:', '  - {type: MX, content: mail.example.com}'), expect: ['5:5 dns.missing-field'], message: /needs priority/ },
  'mx-address': { text: spec('m2.example.com', 'records:', '  - {type: MX, content: 192.0.2.1.5, priority: 5}', '  - {type: MX, content: "mail example", priority: 6}'), expect: ['5:25 dns.bad-content', '6:25 dns.bad-content'], message: /not a host name/ },
  'priority-on-a': { text: spec('p.example.com', 'records:', '  - {type: A, content: 192.0.2.1, priority: 5}'), expect: ['5:35 dns.field-not-for-type'] },
  'caa-needs-tag': { text: spec('c.example.com', 'records:', '  - {type: CAA, value: letsencrypt.org}'), expect: ['5:5 dns.missing-field'], message: /needs tag/ },
  'caa-bad-tag': { text: spec('c2.example.com', 'records:', '  - {type: CAA, tag: issues, value: letsencrypt.org}'), expect: ['5:22 schema.not-allowed'] },
  'caa-content': { text: spec('c3.example.com', 'records:', '  - {type: CAA, tag: issue, value: letsencrypt.org, content: x}'), expect: ['5:53 dns.field-not-for-type'] },
  'caa-iodef-url': { text: spec('c4.example.com', 'records:', '  - {type: CAA, tag: iodef, value: security.example.com}'), expect: ['5:36 dns.bad-content'], message: /mailto/ },
  'cname-not-alone': {
    text: spec('w.example.com', 'records:', '  - {type: TXT, content: hello}', '  - {type: CNAME, content: other.example.net}'),
    expect: ['6:12 dns.cname-not-alone'],
    message: /cannot share its name with any other record \(here a TXT, records\[0\]\)/,
  },
  duplicate: {
    text: spec('d.example.com', 'records:', '  - {type: AAAA, content: "2001:db8::1"}', '  - {type: AAAA, content: "2001:0db8:0:0::1", ttl: 300}'),
    expect: ['6:5 dns.duplicate-record'],
    message: /the same AAAA record as records\[0\]/,
  },
  'txt-newline': { text: spec('t.example.com', 'records:', '  - type: TXT', '    content: "line one\\nline two"'), expect: ['6:14 dns.bad-content'], message: /line break/ },
  'txt-quote': { text: spec('t2.example.com', 'records:', '  - {type: TXT, content: \'say "hi"\'}'), expect: ['5:26 dns.bad-content'] },
  'txt-too-long': { text: spec('t3.example.com', 'records:', `  - {type: TXT, content: ${'a'.repeat(2049)}}`), expect: ['5:26 schema.too-long'] },
  'txt-not-ascii': { text: spec('t4.example.com', 'records:', `  - {type: TXT, content: ${'é'.repeat(10)}}`), expect: ['5:26 dns.bad-content'], message: /not ASCII/ },
  'txt-quoted-over': { text: spec('t5.example.com', 'records:', `  - {type: TXT, content: ${'a'.repeat(2030)}}`), expect: ['5:26 dns.bad-content'], message: /2053 characters as quoted 255-byte strings; Cloudflare takes at most 2048/ },
  'txt-quoted-fits': { text: spec('t6.example.com', 'records:', `  - {type: TXT, content: ${'a'.repeat(2025)}}`), expect: [] },
  'proxied-txt': { text: spec('x.example.com', 'records:', '  - {type: TXT, content: hello, proxied: true}'), expect: ['5:42 dns.not-proxiable'] },
  'two-forms': { text: spec('f.example.com', 'type: A', 'target: 192.0.2.1', 'records:', '  - {type: A, content: 192.0.2.2}'), expect: ['4:1 dns.two-forms', '5:1 dns.two-forms'] },
  'route-on-list': { text: spec('r.example.com', 'route: web/app', 'records:', '  - {type: CNAME, content: tunnel.example.com}'), expect: ['4:1 dns.two-forms'], message: /single form/ },
  'no-record': { text: spec('n.example.com'), expect: ['2:7 dns.no-record'] },
  'ns-not-alone': { text: spec('deleg.example.com', 'records:', '  - {type: NS, content: ns1.other.example}', '  - {type: A, content: 192.0.2.7}'), expect: ['6:12 dns.ns-not-alone'] },
  'apex-ns': { text: spec('example.com', 'records:', '  - {type: NS, content: ns1.example.net}'), expect: ['5:12 dns.apex-ns'] },
  'underscore-name': { text: spec('_dmarc.example.com', 'records:', '  - {type: TXT, content: "v=DMARC1; p=reject"}'), expect: [] },
  'underscore-mid-label': { text: spec('a_b.example.com', 'records:', '  - {type: TXT, content: x}'), expect: ['2:7 schema.bad-format'] },
  'route-not-through-tunnel': { text: spec('z.example.com', 'type: CNAME', 'target: elsewhere.example.net', 'route: web/app'), expect: ['5:9 ref.not-through-tunnel'] },
};

describe('DnsRecord records: list', () => {
  let dir: string;
  let byFile: Map<string, Diagnostic[]>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-dns-records-'));
    await mkdir(join(dir, 'zones'));
    await mkdir(join(dir, 'dns'));
    await mkdir(join(dir, 'ports'));
    await writeFile(join(dir, 'zones', 'example.com.yaml'), ZONE);
    await writeFile(join(dir, 'ports', 'web.yaml'), PORTS);
    for (const [file, c] of Object.entries(CASES)) await writeFile(join(dir, 'dns', `${file}.yaml`), c.text);
    const loaded = await loadSpecs(dir);
    byFile = new Map();
    for (const d of loaded.diagnostics.filter((x) => x.severity === 'error')) {
      const file = d.file.replace(/^.*\/dns\//, '').replace(/\.yaml$/, '');
      byFile.set(file, [...(byFile.get(file) ?? []), d]);
    }
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  for (const [file, c] of Object.entries(CASES)) {
    it(`${file}: ${c.expect.length ? c.expect.join(', ') : 'valid'}`, () => {
      const found = byFile.get(file) ?? [];
      expect(found.map((d) => `${d.line}:${d.col} ${d.code}`), JSON.stringify(found, null, 1)).toEqual(c.expect);
      for (const d of found) expect(d.hint, `${d.code} says what to do`).toBeTruthy();
      if (c.message) expect(found[0]!.message).toMatch(c.message);
    });
  }

  it('a record\'s identity ignores ttl and proxying, and compares names and addresses as DNS does', () => {
    const a = recordsOf({ name: 'x.example.com', records: [{ type: 'MX', content: 'Mail.Example.com.', priority: 10, ttl: 300 }] })[0]!;
    const b = recordsOf({ name: 'x.example.com', records: [{ type: 'MX', content: 'mail.example.com', priority: 10 }] })[0]!;
    const c = recordsOf({ name: 'x.example.com', records: [{ type: 'MX', content: 'mail.example.com', priority: 20 }] })[0]!;
    expect(recordKey(a)).toBe(recordKey(b));
    expect(recordKey(a)).not.toBe(recordKey(c));
    // Stable ids: the same record gets the same id wherever it is in the list; the single form keeps the name's id.
    expect(recordTfId('x_example_com', a, false)).toBe(recordTfId('x_example_com', b, false));
    expect(recordTfId('x_example_com', a, false)).toMatch(/^x_example_com_mx_[0-9a-f]{8}$/);
    expect(recordTfId('x_example_com', a, true)).toBe('x_example_com');
    // Names with an underscore (labels like _dmarc) keep distinct Terraform ids; names without one keep theirs.
    expect(tfId('_dmarc.example.com')).toBe('__dmarc_example_com');
    expect(new Set(['a._b.example.com', 'a_b.example.com', 'a.b.example.com', '_a.b.example.com'].map(tfId)).size).toBe(4);
    expect(tfId('api.consilio.153.se')).toBe('api_consilio_153_se');
    expect(tfId('153.se')).toBe('_153_se');
    // TXT content as Cloudflare stores it: quoted strings of at most 255 bytes.
    expect(txtContent('v=spf1 -all')).toBe('"v=spf1 -all"');
    expect(txtContent('a'.repeat(300))).toBe(`"${'a'.repeat(255)}" "${'a'.repeat(45)}"`);
  });
});

describe('the dns-routes policy over both forms', () => {
  let dir: string;
  let violations: { name: string; path: string; message: string }[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-dns-routes-'));
    for (const f of ['zones', 'dns', 'ports']) await mkdir(join(dir, f));
    await writeFile(join(dir, 'zones', 'example.com.yaml'), ZONE);
    await writeFile(join(dir, 'ports', 'web.yaml'), PORTS);
    await writeFile(join(dir, 'dns', 'app.yaml'), spec('app.example.com', 'type: CNAME', 'target: tunnel.example.com', 'route: web/app'));
    await writeFile(join(dir, 'dns', 'mail.yaml'), spec('mail.example.com', 'records:', '  - {type: A, content: 192.0.2.25}'));
    await writeFile(join(dir, 'dns', 'apex.yaml'), spec('example.com', 'records:', '  - {type: MX, content: mail.example.com, priority: 10}', '  - {type: MX, content: gone.example.com, priority: 20}'));
    await writeFile(join(dir, 'dns', 'sub.yaml'), spec('sub.example.com', 'records:', '  - {type: NS, content: ns1.example.com}'));
    const loaded = await loadSpecs(dir);
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const { dnsRoutes } = await import('../../reconciler/policies/rules/dns-routes.js');
    violations = dnsRoutes
      .check({ unrouted: ['example.com', 'mail.example.com'] }, { index: loaded.index } as Parameters<typeof dnsRoutes.check>[1])
      .map((v) => ({ name: v.resource!.name, path: (v.path ?? []).join('.'), message: v.message }));
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('a routed CNAME passes as before; a records: name needs unrouted:, and its MX and NS contents may not dangle', () => {
    expect(violations).toEqual([
      { name: 'example.com', path: 'records.1.content', message: 'points at gone.example.com, a name in zone example.com that no spec defines (a dangling record)' },
      { name: 'sub.example.com', path: 'name', message: 'no port allocation behind this name (a records: list is not routed through the tunnel)' },
      { name: 'sub.example.com', path: 'records.0.content', message: 'points at ns1.example.com, a name in zone example.com that no spec defines (a dangling record)' },
    ]);
  });
});
