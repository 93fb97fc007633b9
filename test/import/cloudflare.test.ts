// The Cloudflare stand-in (test/cloudflare/server.ts) read through the official `cloudflare` SDK:
// if the SDK can page through it and read its shapes, the stand-in keeps the v4 contract that
// fleetspec's own client (reconciler/import/cloudflare.ts) is tested against.
import Cloudflare from 'cloudflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudflareClient, CloudflareError, MAX_REPLY_BYTES } from '../../reconciler/import/cloudflare.js';
import { startCloudflareServer, type CloudflareTestServer } from '../cloudflare/server.js';

describe('Cloudflare API v4 stand-in', () => {
  let cf: CloudflareTestServer;
  let zoneId: string;
  let tunnelId: string;

  beforeAll(async () => {
    cf = await startCloudflareServer({ perPageMax: 2 });
    const zone = cf.addZone('example.com');
    zoneId = zone.id;
    for (const n of ['a', 'b', 'c', 'd', 'e']) cf.addRecord(zone, { name: `${n}.example.com`, type: 'A', content: `192.0.2.${n.charCodeAt(0) - 96}` });
    cf.addRecord(zone, { name: 'mx.example.com', type: 'MX', content: 'mail.example.com', priority: 10 });
    cf.addRecord(zone, { name: 'mx.example.com', type: 'CAA', data: { flags: 0, tag: 'issue', value: 'letsencrypt.org' } });
    tunnelId = cf.addTunnel('edge', [{ hostname: 'a.example.com', service: 'http://localhost:4001' }, { service: 'http_status:404' }]).id;
  });
  afterAll(() => cf?.close());

  it('the official SDK pages through records, finds the zone and tunnel by name, reads the configuration', async () => {
    const sdk = new Cloudflare({ apiToken: cf.token, baseURL: cf.url, maxRetries: 0 });
    const zones = [];
    for await (const z of sdk.zones.list({ name: 'example.com' })) zones.push(z);
    expect(zones.map((z) => [z.id, z.name, z.account.id])).toEqual([[zoneId, 'example.com', cf.accountId]]);
    const records = [];
    for await (const r of sdk.dns.records.list({ zone_id: zoneId })) records.push(r);
    expect(records.map((r) => r.name)).toEqual(['a.example.com', 'b.example.com', 'c.example.com', 'd.example.com', 'e.example.com', 'mx.example.com', 'mx.example.com']);
    // MX and CAA in the SDK's record shapes: priority on the MX, data {flags, tag, value} and formatted content on the CAA.
    const mx = records.find((r) => r.type === 'MX');
    expect(mx && mx.type === 'MX' ? [mx.content, mx.priority] : undefined).toEqual(['mail.example.com', 10]);
    const caa = records.find((r) => r.type === 'CAA');
    expect(caa && caa.type === 'CAA' ? [caa.content, caa.data] : undefined).toEqual(['0 issue "letsencrypt.org"', { flags: 0, tag: 'issue', value: 'letsencrypt.org' }]);
    expect(cf.requests.filter((r) => r.path.endsWith('/dns_records')).length).toBeGreaterThanOrEqual(3);
    const tunnels = [];
    for await (const t of sdk.zeroTrust.tunnels.cloudflared.list({ account_id: cf.accountId, name: 'edge' })) tunnels.push(t);
    expect(tunnels.map((t) => t.id)).toEqual([tunnelId]);
    const config = await sdk.zeroTrust.tunnels.cloudflared.configurations.get(tunnelId, { account_id: cf.accountId });
    expect(config.config?.ingress?.[0]).toEqual({ hostname: 'a.example.com', service: 'http://localhost:4001' });
    // Bearer auth: a wrong token is refused with the v4 error envelope.
    const wrong = new Cloudflare({ apiToken: 'wrong', baseURL: cf.url, maxRetries: 0 });
    await expect(wrong.zones.list({ name: 'example.com' })).rejects.toMatchObject({ status: 403 });
  });

  it('fleetspec\'s client reads the same through result_info.total_pages', async () => {
    const client = new CloudflareClient({ api: cf.url, token: cf.token, timeoutMs: 5000 });
    const records = await client.records(zoneId);
    expect(records).toHaveLength(7);
    expect(records.find((r) => r.type === 'MX')).toMatchObject({ content: 'mail.example.com', priority: 10 });
    expect(records.find((r) => r.type === 'CAA')?.data).toEqual({ flags: 0, tag: 'issue', value: 'letsencrypt.org' });
    expect((await client.zoneByName('example.com'))?.account.id).toBe(cf.accountId);
    expect((await client.tunnelByName(cf.accountId, 'edge'))?.id).toBe(tunnelId);
    expect(await client.ingress(cf.accountId, tunnelId)).toHaveLength(2);
  });

  it('refuses oversized, non-JSON, off-contract and failed replies with a clear message that never holds the token', async () => {
    const client = new CloudflareClient({ api: cf.url, token: cf.token, timeoutMs: 5000 });
    const failure = async (reply: { status: number; body: string | Buffer }) => {
      cf.answerNext(1, reply);
      const e = await client.records(zoneId).then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(CloudflareError);
      expect((e as Error).message).not.toContain(cf.token);
      return (e as Error).message;
    };
    expect(await failure({ status: 200, body: Buffer.alloc(MAX_REPLY_BYTES + 10, 0x20) })).toMatch(/over the 4194304-byte limit; refused/);
    expect(await failure({ status: 200, body: '<html>gateway</html>' })).toMatch(/HTTP 200, and the reply is not JSON: /);
    expect(await failure({ status: 200, body: JSON.stringify({ result: [] }) })).toMatch(/not the API v4 envelope/);
    expect(await failure({ status: 200, body: JSON.stringify({ success: true, errors: [], messages: [], result: [{ id: '../../etc', name: 'x', type: 'A', content: 'y' }] }) })).toMatch(/the result is not as the API documents it \(\/0\/id must match pattern/);
    expect(await failure({ status: 403, body: JSON.stringify({ success: false, errors: [{ code: 10000, message: 'Authentication error' }], messages: [], result: null }) })).toMatch(/the token was refused \(HTTP 403: `10000 Authentication error`\)/);
    const bad = new CloudflareClient({ api: cf.url, token: `${cf.token}-wrong`, timeoutMs: 5000 });
    const refused = await bad.records(zoneId).then(() => '', (e: Error) => e.message);
    expect(refused).toContain('the token was refused');
    expect(refused).not.toContain(cf.token);
  });
});
