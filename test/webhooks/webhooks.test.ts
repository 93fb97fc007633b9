// GitHub webhooks at POST /webhook on the built daemon's --listen server, against the loop's
// stand-ins. Deliveries are signed as GitHub signs them (@octokit/webhooks-methods). The schedule
// is once a day and there is no --immediately, so every tick seen here is one a delivery asked
// for. A tick's start is seen from outside: its first git fetch reaches the git stand-in.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { sign } from '@octokit/webhooks-methods';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../reconciler/state/secrets.js';
import { BIN, startDaemon, startStand, waitFor, type DaemonProcess, type Stand } from '../metrics/harness.js';

const ONCE_A_DAY = '0 3 * * *';
const SECRET = `whsec-${randomBytes(16).toString('hex')}`;

interface TickLine {
  level: string;
  run?: number;
  state?: string;
  message: string;
  poked?: string;
}

const payload = (extra: Record<string, unknown> = {}) => JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/fleet' }, ...extra });

describe('fleetspec daemon --listen: GitHub webhooks at POST /webhook', () => {
  let stand: Stand;
  let daemon: DaemonProcess;
  let url: string;
  let stdout = '';

  const ticks = () => daemon.ticks as TickLine[];
  const pokedTicks = () => ticks().filter((t) => t.poked !== undefined);
  const seen = () => `ticks: ${JSON.stringify(ticks().slice(-4))}; stderr: ${daemon.stderr().slice(-2000)}`;

  /** POSTs a delivery signed with `secret` (GitHub's headers); returns the status. */
  const deliver = async (event: string, id: string, body = payload(), secret = SECRET, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'GitHub-Hookshot/test', 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': await sign(secret, body), ...headers },
      body,
    });
    await res.arrayBuffer();
    return res.status;
  };

  /** How long after now the next tick starts (its first git request), within `budgetMs`. */
  const tickStartsWithin = async (what: string, budgetMs: number, post: () => Promise<number>) => {
    const before = stand.git.requests.length;
    const posted = Date.now();
    expect(await post(), what).toBe(202);
    await waitFor(`a tick to start (a git request) after ${what}`, budgetMs, () => (stand.git.requests.length > before ? true : undefined), seen);
    return Date.now() - posted;
  };

  beforeAll(async () => {
    stand = await startStand();
    const key = generateKey();
    const set = spawnSync(process.execPath, [BIN, 'secrets', 'set', 'meta/github/webhook_secret', '--own'], { cwd: stand.dir, env: stand.env({ FLEETSPEC_SECRET_KEY: key }), input: SECRET, encoding: 'utf8', timeout: 60_000 });
    expect(set.status, `${set.stdout}${set.stderr}`).toBe(0);
    daemon = startDaemon(['--schedule', ONCE_A_DAY, '--listen', '127.0.0.1:0'], stand.env({ FLEETSPEC_SECRET_KEY: key }), stand.dir);
    daemon.child.stdout!.on('data', (c: string) => (stdout += c));
    url = await daemon.metricsUrl();
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await stand?.close();
  }, 60_000);

  it('says at start-up that it takes webhooks, and a signed push starts a tick within 2 s with no tick due', async () => {
    expect(daemon.stderr()).toMatch(/taking GitHub webhooks at POST \/webhook \(secret meta\/github\/webhook_secret\)/);
    const id = randomUUID();
    const ms = await tickStartsWithin('a signed push', 2_000, () => deliver('push', id));
    expect(ms).toBeLessThan(2_000);
    const line = await waitFor('the tick line of the push', 90_000, () => pokedTicks().find((t) => t.poked!.includes(id)), seen);
    expect(line.poked).toBe(`webhook push ${id}`);
    expect(line.run).toBeGreaterThan(0);
    expect(ticks()).toHaveLength(1);
    expect(daemon.stderr()).toContain(`webhook: push delivery ${id}: a tick is asked for`);
  }, 120_000);

  it('rejects a bad signature, a replay, an oversize body, an unknown event and a bare POST: each logged, none starts a tick', async () => {
    const replayed = pokedTicks()[0]!.poked!.replace('webhook push ', '');
    const before = ticks().length;
    const wrong = randomUUID();
    expect(await deliver('push', wrong, payload(), 'not-the-secret')).toBe(401);
    const tampered = randomUUID();
    const body = payload();
    expect(await deliver('push', tampered, body, SECRET, { 'x-hub-signature-256': await sign(SECRET, payload({ ref: 'refs/heads/other' })) })).toBe(401);
    expect(await deliver('push', replayed)).toBe(200);
    const star = randomUUID();
    expect(await deliver('star', star)).toBe(204);
    const bare = await fetch(`${url}/webhook`, { method: 'POST', body: '{}' });
    expect(bare.status).toBe(400);
    expect((await fetch(`${url}/webhook`)).status).toBe(405);

    // 1 MiB and more, signed: refused on its declared length, the body not read.
    const big = payload({ pad: 'x'.repeat(1024 * 1024) });
    const oversize = randomUUID();
    const signature = await sign(SECRET, big);
    const status = await new Promise<number | string>((done) => {
      const req = request(`${url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big), 'x-github-event': 'push', 'x-github-delivery': oversize, 'x-hub-signature-256': signature } }, (res) => {
        res.resume();
        done(res.statusCode!);
      });
      // The server may close before the whole body is written: a reset after the answer is expected.
      req.on('error', (err) => done(`error ${err.message}`));
      req.end(big);
    });
    expect(status).toBe(413);

    const log = () => daemon.stderr();
    await waitFor('every rejection in the log', 10_000, () => (log().includes(`rejected push delivery ${oversize} (413)`) ? true : undefined), seen);
    expect(log()).toContain(`rejected push delivery ${wrong} (401): the X-Hub-Signature-256 signature does not match`);
    expect(log()).toContain(`rejected push delivery ${tampered} (401)`);
    expect(log()).toContain(`push delivery ${replayed} received before: a replay or GitHub's redelivery, nothing to do`);
    expect(log()).toContain(`ignored star delivery ${star} (204): not an event that asks for a tick`);
    expect(log()).toContain('rejected (none) delivery (none) (400): X-GitHub-Event, X-GitHub-Delivery or X-Hub-Signature-256 is missing');
    expect(log()).toContain('(405): method GET, only POST');
    for (const line of log().split('\n').filter((l) => l.includes('webhook: rejected'))) expect(line).toMatch(/^fleetspec daemon: webhook: rejected \S+ delivery \S+ \(\d{3}\): [^\n]+$/);

    // A delivery about what fleetspec itself did (its own comment here) starts no tick, or each tick that writes would start another.
    await waitFor('the daemon to know its own account', 30_000, () => (log().includes("(fleetspec's own account) did start no tick, but for the pull requests it opens") ? true : undefined), seen);
    const own = randomUUID();
    expect(await deliver('issue_comment', own, payload({ action: 'created', comment: { body: '/fleetspec plan' }, sender: { login: stand.gh.login } }))).toBe(204);
    expect(log()).toContain(`issue_comment delivery ${own}: sent by fleetspec's own account (${stand.gh.login}), so no tick`);

    // Nothing asked for a tick: the next good delivery's tick answers it alone, and is the only tick since.
    const sentinel = randomUUID();
    const ms = await tickStartsWithin('a second signed push', 2_000, () => deliver('push', sentinel));
    expect(ms).toBeLessThan(2_000);
    const line = await waitFor("the second push's tick line", 90_000, () => pokedTicks().find((t) => t.poked!.includes(sentinel)), seen);
    expect(line.poked).toBe(`webhook push ${sentinel}`);
    expect(ticks().slice(before)).toEqual([line]);
  }, 180_000);

  it("a pull request fleetspec's own account opened (an agent's proposal) still starts a tick: it waits for its plan", async () => {
    const id = randomUUID();
    const ms = await tickStartsWithin('a PR opened by fleetspec', 2_000, () => deliver('pull_request', id, payload({ action: 'opened', sender: { login: stand.gh.login } })));
    expect(ms).toBeLessThan(2_000);
    await waitFor('its tick line', 90_000, () => pokedTicks().find((t) => t.poked!.includes(id)), seen);
  }, 120_000);

  it('answers a burst of 50 deliveries with one or two ticks, not 50', async () => {
    const before = ticks().length;
    const events = ['push', 'pull_request', 'pull_request_review', 'issues', 'issue_comment'];
    const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => deliver(events[i % events.length]!, `burst-${i}-${randomUUID()}`)));
    expect(statuses).toEqual(Array(50).fill(202));
    // Each tick line says how many deliveries it answers ("and N more"): all 50 answered means no tick is left to come.
    const answered = () => ticks().slice(before).reduce((n, t) => n + 1 + Number(/ and (\d+) more$/.exec(t.poked ?? '')?.[1] ?? 0), 0);
    await waitFor('ticks answering all 50 deliveries', 120_000, () => (answered() === 50 ? true : undefined), () => `answered ${answered()}; ${seen()}`);
    const burst = ticks().slice(before);
    expect(burst.length).toBeGreaterThanOrEqual(1);
    expect(burst.length).toBeLessThanOrEqual(2);
    expect(burst.every((t) => /^webhook \S+ burst-/.test(t.poked!))).toBe(true);
  }, 180_000);

  it('writes no secret into any log line', async () => {
    expect(stdout.length).toBeGreaterThan(0);
    expect(`${stdout}${daemon.stderr()}`).not.toContain(SECRET);
    expect(await daemon.stop(), daemon.stderr()).toBe(0);
  }, 60_000);
});

describe('fleetspec daemon --listen without a webhook secret', () => {
  let stand: Stand;
  beforeAll(async () => void (stand = await startStand()), 120_000);
  afterAll(async () => void (await stand?.close()), 60_000);

  it('says webhooks are off at start-up and answers POST /webhook 404 with why', async () => {
    const daemon = startDaemon(['--schedule', ONCE_A_DAY, '--listen', '127.0.0.1:0'], stand.env(), stand.dir);
    try {
      const url = await daemon.metricsUrl();
      expect(daemon.stderr()).toMatch(/webhooks are off \(polling only\): no FLEETSPEC_SECRET_KEY to read the webhook secret meta\/github\/webhook_secret with/);
      const res = await fetch(`${url}/webhook`, { method: 'POST', headers: { 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': await sign('x', '{}') }, body: '{}' });
      expect(res.status).toBe(404);
      expect(await res.text()).toMatch(/^webhooks are off: no FLEETSPEC_SECRET_KEY/);
      expect(daemon.ticks).toEqual([]);
    } finally {
      expect(await daemon.stop(), daemon.stderr()).toBe(0);
    }
  }, 90_000);

  it('refuses a FLEETSPEC_WEBHOOK_SECRET that is no secret: reference, without showing it', async () => {
    const daemon = startDaemon(['--schedule', ONCE_A_DAY, '--listen', '127.0.0.1:0'], stand.env({ FLEETSPEC_WEBHOOK_SECRET: 'plain-text-oops', FLEETSPEC_SECRET_KEY: generateKey() }), stand.dir);
    const code = await waitFor('the daemon to exit', 60_000, () => daemon.exited);
    expect(code).not.toBe(0);
    expect(daemon.stderr()).toMatch(/FLEETSPEC_WEBHOOK_SECRET is not secret:PATH/);
    expect(daemon.stderr()).not.toContain('plain-text-oops');
  }, 90_000);
});
