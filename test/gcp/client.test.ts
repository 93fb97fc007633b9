// The Google client against the local stand-in of Google's REST contracts (test/gcp/server.ts):
// the JWT bearer grant, instances get/start/stop with the zone operation waited on, the CPU series,
// Google's errors excerpted, and the key and the access token never in an error.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcpClient, GcpError } from '../../reconciler/gcp/client.js';
import { parseServiceAccountKey } from '../../reconciler/gcp/auth.js';
import { startGcpServer, type GcpTestServer } from './server.js';

let g: GcpTestServer;
// One clock for the stand-in and the client: the CPU window ends at the same instant for both.
const NOW = Math.floor(Date.now() / 1000);
const now = () => NOW;
const vm = { project: 'vm-host', zone: 'us-central1-a', name: 'supervisor-vm' };
const client = (opts: ConstructorParameters<typeof GcpClient>[2] = {}) => new GcpClient(g.keyJson, 'secret:meta/gcloud/vm_host_key', { computeUrl: g.computeUrl, monitoringUrl: g.monitoringUrl, timeoutMs: 30_000, backoffMs: 1, now, ...opts });

beforeAll(async () => {
  g = await startGcpServer({ now });
}, 30_000);
afterAll(async () => g?.close());

describe('the Google client', () => {
  it('authenticates with a signed JWT at the key token_uri, once, and sends the token as Bearer', async () => {
    const i = g.addInstance({ ...vm, machineType: 'n1-standard-2', status: 'RUNNING' });
    const c = client();
    expect(await c.getInstance(vm)).toEqual({ id: i.id, name: 'supervisor-vm', status: 'RUNNING', machineType: 'n1-standard-2' });
    await c.getInstance(vm);
    const tokenCalls = g.calls.filter((x) => x.path === '/token');
    expect(tokenCalls).toHaveLength(1); // cached until it expires
    const gets = g.calls.filter((x) => x.path === '/compute/v1/projects/vm-host/zones/us-central1-a/instances/supervisor-vm');
    expect(gets).toHaveLength(2);
    for (const get of gets) expect(get.authorization).toBe(`Bearer ${g.tokens[0]}`);
  });

  it('starts and stops an instance, waiting on the zone operation until it is DONE', async () => {
    const c = client();
    const stop = await c.power(vm, 'stop');
    expect(stop.status).toBe('DONE');
    expect(g.instance(vm.project, vm.zone, vm.name)!.status).toBe('TERMINATED');
    expect((await c.getInstance(vm)).status).toBe('TERMINATED');
    await c.power(vm, 'start');
    expect((await c.getInstance(vm)).status).toBe('RUNNING');
    const paths = g.calls.filter((x) => x.method === 'POST' && x.path !== '/token').map((x) => x.path.replace(/operation-[0-9-]+/, 'OP'));
    expect(paths).toEqual([
      '/compute/v1/projects/vm-host/zones/us-central1-a/instances/supervisor-vm/stop',
      '/compute/v1/projects/vm-host/zones/us-central1-a/operations/OP/wait',
      '/compute/v1/projects/vm-host/zones/us-central1-a/instances/supervisor-vm/start',
      '/compute/v1/projects/vm-host/zones/us-central1-a/operations/OP/wait',
    ]);
  });

  it('reports an operation that ends DONE with errors as a failure, quoting Google', async () => {
    g.failOperationsWith = 'Quota CPUS exceeded <b>x</b>';
    try {
      const err = await client().power(vm, 'stop').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GcpError);
      expect((err as GcpError).message).toContain('instances.stop vm-host/us-central1-a/supervisor-vm failed: `RESOURCE_OPERATION_FAILED: Quota CPUS exceeded \\u003cb\\u003ex\\u003c/b\\u003e`');
      expect(g.instance(vm.project, vm.zone, vm.name)!.status).toBe('RUNNING');
    } finally {
      g.failOperationsWith = undefined;
    }
  });

  it('reads the CPU utilisation series over the window, in percent, oldest first, across pages', async () => {
    const i = g.instance(vm.project, vm.zone, vm.name)!;
    // 180 one-minute samples: only the last 120 are in a two-hour window.
    i.cpu = Array.from({ length: 180 }, (_, k) => (k < 60 ? 0.01 : 0.5 + (k % 10) / 100));
    const series = await client({ pageSize: 50 }).cpuUtilization('vm-host', i.id, 120);
    expect(series.points).toHaveLength(120);
    expect(series.points[0]!.percent).toBeCloseTo(50, 5);
    expect(Math.max(...series.points.map((p) => p.percent))).toBeCloseTo(59, 5);
    expect(series.points.every((p, k) => k === 0 || p.end > series.points[k - 1]!.end)).toBe(true);
    const lists = g.calls.filter((x) => x.path === '/v3/projects/vm-host/timeSeries');
    expect(lists.map((x) => x.query.pageToken)).toEqual([undefined, '50', '100']);
    const list = lists[0]!;
    expect(list.method).toBe('GET');
    expect(list.query.filter).toBe(`metric.type = "compute.googleapis.com/instance/cpu/utilization" AND resource.labels.instance_id = "${i.id}"`);
    expect(Date.parse(list.query['interval.endTime']!) - Date.parse(list.query['interval.startTime']!)).toBe(120 * 60_000);
  });

  it('excerpts Google errors, retries GETs on 503 but never a start or stop, and names what failed', async () => {
    g.failNext('/instances/supervisor-vm', 503, 'The service is currently unavailable.', 1);
    expect((await client().getInstance(vm)).status).toBe('RUNNING'); // retried
    g.failNext('/instances/supervisor-vm/stop', 503, 'backend unavailable', 1);
    const err = (await client().power(vm, 'stop').catch((e: unknown) => e)) as GcpError;
    expect(err.message).toBe('instances.stop vm-host/us-central1-a/supervisor-vm failed (HTTP 503): `UNAVAILABLE: backend unavailable`');
    expect(g.instance(vm.project, vm.zone, vm.name)!.status).toBe('RUNNING');
    const missing = (await client().getInstance({ ...vm, name: 'nope' }).catch((e: unknown) => e)) as GcpError;
    expect(missing.status).toBe(404);
    expect(missing.message).toContain("`NOT_FOUND: The resource 'projects/vm-host/zones/us-central1-a/instances/nope' was not found`");
    expect(missing.hint).toBe('check the project, zone and name in the spec');
    // A hostile body: long, with markup and terminal escapes, reaches the message only as a short escaped excerpt.
    g.failNext('/instances/supervisor-vm', 403, `\u001b[31m<script>alert(1)</script>${'x'.repeat(5000)}`, 3);
    const hostile = (await client().getInstance(vm).catch((e: unknown) => e)) as GcpError;
    expect(hostile.message).not.toContain('<script>');
    expect(hostile.message).not.toContain('\u001b');
    expect(hostile.remote!.length).toBeLessThanOrEqual(200);
  });

  it('refuses an Instance whose status or machine type is not what Compute Engine documents, quoting it escaped', async () => {
    g.addInstance({ project: 'vm-host', zone: 'us-central1-a', name: 'odd', status: 'RUNNING<img src=x>' });
    const err = (await client().getInstance({ ...vm, name: 'odd' }).catch((e: unknown) => e)) as GcpError;
    expect(err.message).toBe('instances.get vm-host/us-central1-a/odd: unknown status `RUNNING\\u003cimg src=x\\u003e`');
    g.instance('vm-host', 'us-central1-a', 'odd')!.status = 'RUNNING';
    g.instance('vm-host', 'us-central1-a', 'odd')!.machineType = 'n1-standard-2 `rm -rf`';
    const type = (await client().getInstance({ ...vm, name: 'odd' }).catch((e: unknown) => e)) as GcpError;
    expect(type.message).toBe('instances.get vm-host/us-central1-a/odd: machineType `n1-standard-2 \\u0060rm -rf\\u0060` is not a machine type');
  });

  it('never puts the key or the access token in an error, and refuses a token_uri that is not https or loopback', async () => {
    // The token endpoint refuses a key it does not know (a signature by another key).
    const { generateKeyPairSync } = await import('node:crypto');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const wrong = JSON.stringify({ ...JSON.parse(g.keyJson), private_key: other });
    const err = (await new GcpClient(wrong, 'secret:meta/gcloud/vm_host_key', { computeUrl: g.computeUrl, timeoutMs: 30_000 }).getInstance(vm).catch((e: unknown) => e)) as GcpError;
    expect(err.message).toContain('refused the key: `invalid_grant: Invalid JWT Signature.`');
    // A 401 after a token was issued: the message names the call, never the token.
    g.failNext('/instances/supervisor-vm', 401, 'Request had invalid authentication credentials.', 3);
    const denied = (await client().getInstance(vm).catch((e: unknown) => e)) as GcpError;
    const texts = [err, denied].map((e) => `${e.message} ${e.hint ?? ''} ${e.remote ?? ''} ${e.stack ?? ''} ${JSON.stringify(e)}`);
    for (const text of texts) {
      for (const token of g.tokens) expect(text).not.toContain(token);
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(JSON.parse(g.keyJson).private_key.split('\n')[1]);
    }
    expect(() => parseServiceAccountKey(JSON.stringify({ ...JSON.parse(g.keyJson), token_uri: 'http://oauth.example.net/token' }), 'k')).toThrow('its token_uri must be https (or http on loopback, for tests)');
    const notKey = (() => {
      try {
        parseServiceAccountKey(`{"private_key": "-----BEGIN PRIVATE KEY-----\\nsecretstuff\\n-----END PRIVATE KEY-----", "client_email": "a@b"}`, 'secret:k');
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(notKey).toBe('secret:k: its private_key is not a PEM private key');
    expect(() => parseServiceAccountKey('not json', 'secret:k')).toThrow('secret:k is not a service-account key (not JSON)');
  });
});

describe("the stand-in against Google's generated Compute Engine v1 client (@googleapis/compute)", () => {
  // The generated client is made from Google's discovery document: its method table holds each
  // method's HTTP verb and path template. Monitoring v3 has no such npm package (see docs/vms.md).
  it('serves the verbs and paths the discovery document gives instances.get/start/stop and zoneOperations.wait', async () => {
    const require = createRequire(import.meta.url);
    const source = await readFile(require.resolve('@googleapis/compute/build/v1.js'), 'utf8');
    // Every verb the generated client uses with a path template.
    const route = (path: string) => {
      const verbs = new Set<string>();
      for (let at = source.indexOf(`'/compute/v1/${path}')`); at > 0; at = source.indexOf(`'/compute/v1/${path}')`, at + 1)) {
        verbs.add(/method: '([A-Z]+)'/.exec(source.slice(at, at + 300))![1]!);
      }
      return verbs;
    };
    expect(route('projects/{project}/zones/{zone}/instances/{instance}')).toContain('GET');
    expect(route('projects/{project}/zones/{zone}/instances/{instance}/start')).toEqual(new Set(['POST']));
    expect(route('projects/{project}/zones/{zone}/instances/{instance}/stop')).toEqual(new Set(['POST']));
    expect(route('projects/{project}/zones/{zone}/operations/{operation}/wait')).toEqual(new Set(['POST']));
    // What the client sends matches those templates.
    const sent = g.calls.filter((x) => x.path.startsWith('/compute/v1/')).map((x) => `${x.method} ${x.path.replace(/^\/compute\/v1\/projects\/[^/]+\/zones\/[^/]+\//, 'projects/{project}/zones/{zone}/').replace(/instances\/[^/]+/, 'instances/{instance}').replace(/operations\/[^/]+/, 'operations/{operation}')}`);
    expect(new Set(sent)).toEqual(
      new Set([
        'GET projects/{project}/zones/{zone}/instances/{instance}',
        'POST projects/{project}/zones/{zone}/instances/{instance}/start',
        'POST projects/{project}/zones/{zone}/instances/{instance}/stop',
        'POST projects/{project}/zones/{zone}/operations/{operation}/wait',
      ]),
    );
  });
});
