// fleetspec import --only dns against the Cloudflare stand-in: records become DnsRecord specs
// (routed through the tunnel when its ingress names an allocated port), the dns stack is
// synthesised and its import blocks written, the offline plan after it is empty and a second
// import adds nothing. Remote data is hostile: names cannot leave specs/dns/, content stays literal
// in YAML and in Terraform JSON, the token never shows, terminal output is escaped.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeSpecPath, UnsafePathError } from '../../reconciler/import/files.js';
import type { Plan } from '../../reconciler/plan/plan.js';
import { init } from '../../reconciler/stacks/terraform.js';
import { assign, setRange } from '../../reconciler/state/ports.js';
import { generateKey, parseKey, setSecret } from '../../reconciler/state/secrets.js';
import { startCloudflareServer, type CfTestZone, type CloudflareTestServer } from '../cloudflare/server.js';
import { workspace, type Workspace } from './harness.js';

const HOSTILE = '${file("/etc/passwd")} %{ if true }x%{ endif }\n: - [ { "\' # &a *b !!str';

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('fleetspec import: dns', () => {
  let ws: Workspace;
  let cf: CloudflareTestServer;
  let zone: CfTestZone;
  const secretKey = generateKey();
  let env: Record<string, string>;
  const stacks = () => join(ws.dir, 'stacks', 'dns');

  beforeAll(async () => {
    ws = await workspace('dns');
    cf = await startCloudflareServer({ perPageMax: 3 });
    zone = cf.addZone('example.com');
    cf.addRecord(zone, { name: 'app.example.com', type: 'CNAME', content: 'tunnel.example.com', proxied: true });
    cf.addRecord(zone, { name: 'www.example.com', type: 'CNAME', content: 'example.net' });
    cf.addRecord(zone, { name: 'mail.example.com', type: 'A', content: '192.0.2.10', ttl: 300 });
    cf.addRecord(zone, { name: 'hostile.example.com', type: 'CNAME', content: HOSTILE });
    cf.addRecord(zone, { name: '_sip._tcp.example.com', type: 'SRV', content: '0 5060 sip.example.com', priority: 10 });
    cf.addRecord(zone, { name: '../../escape.example.com', type: 'A', content: '192.0.2.66' });
    cf.addRecord(zone, { name: 'a/b.example.com', type: 'A', content: '192.0.2.67' });
    cf.addRecord(zone, { name: 'term\u001b[2Jinal.example.com', type: 'A', content: '192.0.2.68' });
    cf.addTunnel('edge', [
      { hostname: 'app.example.com', service: 'http://localhost:4001' },
      { hostname: 'orphan.example.com', service: 'http://localhost:4002' },
      { service: 'http_status:404' },
    ]);
    ws.write('zones/example.com.yaml', [{ kind: 'DnsZone', name: 'example.com', provider: 'cloudflare', apiToken: 'secret:meta/cloudflare/api_token', tunnel: { name: 'edge', hostname: 'tunnel.example.com' } }]);
    ws.write('ports/web.yaml', [{ kind: 'PortRange', name: 'web', range: { start: 4000, end: 4999 }, allocations: [{ service: 'app', port: 4001 }] }]);
    ws.write('dns/www.example.com.yaml', [{ kind: 'DnsRecord', name: 'www.example.com', zone: 'example.com', type: 'CNAME', target: 'example.net' }], '# Hand-written.\n');
    // The token is for zones/example.com only.
    await ws.withDb(async (db) => {
      await setSecret(db, parseKey(secretKey), 'meta/cloudflare/api_token', Buffer.from(cf.token), 'test', ['zones/example.com']);
      // As after `fleetspec ports apply`: the offline plan reads the store.
      await setRange(db, { project: 'web', start: 4000, end: 4999 });
      await assign(db, { project: 'web', service: 'app', port: 4001 });
    });
    env = { FLEETSPEC_SECRET_KEY: secretKey, FLEETSPEC_CLOUDFLARE_API: cf.url };
    // The stack as committed before the import: synthesised from the specs so far.
    const synth = await ws.fleetspec(['stacks', 'synth', 'dns', '--specs', ws.specs]);
    expect(synth.code, synth.stderr).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await cf?.close();
    await ws?.close();
  });

  it('imports records with the zone\'s scoped token, flags what the dns kind cannot hold, writes stack and import blocks', async () => {
    const r = await ws.fleetspec(['import', ws.specs, '--only', 'dns'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^\+ dns\/app\.example\.com  .*dns\/app\.example\.com\.yaml  \(Cloudflare zone example\.com\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\+ dns\/mail\.example\.com /));
    expect(lines).toContainEqual(expect.stringMatching(/^\+ dns\/hostile\.example\.com /));
    expect(r.stdout).not.toMatch(/^\+ dns\/www/m);
    expect(lines).toContainEqual(expect.stringMatching(/^! dns\/"_sip\._tcp\.example\.com"  "SRV" record: the dns kind holds A, AAAA, CNAME, TXT, MX, CAA, NS records only/));
    expect(lines).toContainEqual(expect.stringMatching(/^! dns\/"\.\.\/\.\.\/escape\.example\.com"  A record named .*not a name the dns kind accepts/));
    expect(lines).toContainEqual(expect.stringMatching(/^! dns\/"a\/b\.example\.com" /));
    expect(lines).toContainEqual(expect.stringMatching(/^! dns\/"orphan\.example\.com"  the tunnel routes it to "http:\/\/localhost:4002", but the zone has no record/));
    // Terminal output is escaped: the remote escape sequence shows as text.
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).toContain('term\\u001b[2Jinal');
    expect(r.stderr).toMatch(/stacks\/dns\/cdk\.tf\.json written/);

    // Files only inside specs/dns/, one per imported record, validated names.
    expect((await readdir(join(ws.specs, 'dns'))).sort()).toEqual(['app.example.com.yaml', 'hostile.example.com.yaml', 'mail.example.com.yaml', 'www.example.com.yaml']);
    expect(existsSync(join(ws.dir, 'escape.example.com.yaml')) || existsSync(join(ws.specs, 'escape.example.com.yaml'))).toBe(false);
    const app = parse(readFileSync(join(ws.specs, 'dns/app.example.com.yaml'), 'utf8').split('---').pop()!);
    expect(app).toEqual({ kind: 'DnsRecord', name: 'app.example.com', zone: 'example.com', type: 'CNAME', target: 'tunnel.example.com', route: 'web/app' });
    expect(parse(readFileSync(join(ws.specs, 'dns/mail.example.com.yaml'), 'utf8'))).toEqual({ kind: 'DnsRecord', name: 'mail.example.com', zone: 'example.com', type: 'A', target: '192.0.2.10', ttl: 300 });
    expect(readFileSync(join(ws.specs, 'dns/mail.example.com.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=\.\.\/schemas\/dns\.schema\.json\n# Imported by fleetspec import on \d{4}-\d\d-\d\dT[\d:]+Z from Cloudflare zone example\.com\.\n/);
    // Hostile content stays literal data: in YAML ...
    expect(parse(readFileSync(join(ws.specs, 'dns/hostile.example.com.yaml'), 'utf8')).target).toBe(HOSTILE);
    // ... and in the synthesised Terraform JSON, where ${ and %{ are escaped.
    const stack = JSON.parse(readFileSync(join(stacks(), 'cdk.tf.json'), 'utf8'));
    const content = stack.resource.cloudflare_dns_record.hostile_example_com.content as string;
    expect(content).toBe(HOSTILE.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{'));
    expect(stack.resource.zero_trust_tunnel_cloudflared_config ?? stack.resource.cloudflare_zero_trust_tunnel_cloudflared_config).toBeDefined();
    const imports = JSON.parse(readFileSync(join(stacks(), 'imports.tf.json'), 'utf8')) as { import: { to: string; id: string }[] };
    const records = new Map(zone.records.map((x) => [x.name, x.id]));
    expect(imports.import).toEqual([
      { to: 'cloudflare_dns_record.app_example_com', id: `${zone.id}/${records.get('app.example.com')}` },
      { to: 'cloudflare_dns_record.hostile_example_com', id: `${zone.id}/${records.get('hostile.example.com')}` },
      { to: 'cloudflare_dns_record.mail_example_com', id: `${zone.id}/${records.get('mail.example.com')}` },
      { to: 'cloudflare_zero_trust_tunnel_cloudflared_config.edge', id: `${cf.accountId}/${cf.tunnels[0]!.id}` },
    ]);
    // Every import block names a resource the synthesised stack has.
    for (const b of imports.import) {
      const [type, name] = b.to.split('.') as [string, string];
      expect(stack.resource[type]?.[name], b.to).toBeDefined();
    }
    // Pagination: records came in pages of 3.
    expect(cf.requests.filter((q) => q.path.endsWith('/dns_records')).map((q) => q.query.page)).toEqual(['1', '2', '3']);
  });

  it('the token appears in no output and no file', () => {
    for (const f of allFiles(ws.dir)) {
      if (statSync(f).size > 5_000_000 || f.includes(`${join('state', '')}`)) continue;
      expect(readFileSync(f).includes(cf.token), f).toBe(false);
    }
  });

  it('the result validates, the offline plan is empty (dns stack unchanged), and a second import adds nothing', async () => {
    const valid = await ws.fleetspec(['validate', ws.specs]);
    expect(valid.code, valid.stdout + valid.stderr).toBe(0);
    const offline = await ws.fleetspec(['plan', ws.specs, '--format', 'json']);
    expect(offline.code, offline.stdout + offline.stderr).toBe(0);
    const p = JSON.parse(offline.stdout) as Plan;
    expect(p.changes.filter((c) => c.action !== 'no-op')).toEqual([]);
    expect(p.changes.find((c) => c.kind === 'dns')).toMatchObject({ name: 'stack', action: 'no-op' });
    const again = await ws.fleetspec(['import', ws.specs, '--only', 'dns', '--format', 'json'], env);
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout) as { added: unknown[]; files: unknown[]; flagged: { label: string }[] };
    expect(report.added).toEqual([]);
    expect(report.files).toEqual([]);
    expect(JSON.stringify(report)).not.toContain(cf.token);
  });

  it('the stack driver hands imports.tf.json to terraform beside cdk.tf.json', async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'fleetspec-import-tf-'));
    try {
      const run = { binary: { path: '/bin/true' }, workDir, env: {}, redact: [], progress: () => {} };
      await init(run, '{}', { 'imports.tf.json': readFileSync(join(stacks(), 'imports.tf.json'), 'utf8'), 'stale.tf.json': '{}' });
      await init(run, '{}', { 'imports.tf.json': readFileSync(join(stacks(), 'imports.tf.json'), 'utf8') });
      expect((await readdir(workDir)).sort()).toEqual(['cdk.tf.json', 'imports.tf.json']);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it('a zone the token\'s scope does not cover is not read (exit 3), naming the secret, never its value', async () => {
    ws.write('zones/other.org.yaml', [{ kind: 'DnsZone', name: 'other.org', provider: 'cloudflare', apiToken: 'secret:meta/cloudflare/api_token' }]);
    try {
      const r = await ws.fleetspec(['import', ws.specs, '--only', 'dns', '--dry-run'], env);
      expect(r.code).toBe(3);
      expect(r.stdout).toMatch(/^\? zones\/other\.org  not read: secret meta\/cloudflare\/api_token may not be used by zones\/other\.org/m);
      expect(r.stdout + r.stderr).not.toContain(cf.token);
    } finally {
      await rm(join(ws.specs, 'zones/other.org.yaml'));
    }
  });

  it('an oversized or malformed reply makes the zone not read, and writes nothing', async () => {
    cf.addRecord(zone, { name: 'late.example.com', type: 'A', content: '192.0.2.99' });
    cf.answerNext(1, { status: 200, body: Buffer.alloc(5 * 1024 * 1024, 0x20) });
    const big = await ws.fleetspec(['import', ws.specs, '--only', 'dns'], env);
    expect(big.code).toBe(3);
    expect(big.stdout).toMatch(/^\? zones\/example\.com  not read: GET \/client\/v4\/zones[/a-z0-9_]*: the reply is .*over the 4194304-byte limit; refused$/m);
    cf.answerNext(1, { status: 200, body: JSON.stringify({ success: true, errors: [], messages: [], result: [{ id: 'x', name: 1 }] }) });
    const bad = await ws.fleetspec(['import', ws.specs, '--only', 'dns'], env);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/not read: .*the result is not as the API documents it/);
    expect(existsSync(join(ws.specs, 'dns/late.example.com.yaml'))).toBe(false);
  });

  it('file names from remote names are refused unless they stay inside their kind folder', () => {
    for (const bad of ['../../x.yaml', 'a/b.yaml', '..yaml', '/etc/passwd.yaml', 'x.yml', '.hidden.yaml']) {
      expect(() => safeSpecPath(ws.specs, 'dns', bad), bad).toThrow(UnsafePathError);
    }
    expect(safeSpecPath(ws.specs, 'dns', 'api.example.com.yaml')).toBe(join(ws.specs, 'dns', 'api.example.com.yaml'));
  });
});
