// Notifications (reconciler/notify/): local servers that check each request as its service documents
// it (Slack's incoming webhook: JSON {text}; ntfy's publish: the message as the body, Title, Priority
// and Tags headers; fleetspec's own webhook: the JSON body in notify/webhook.ts). An apply result from
// a real tick (test/security/harness.ts) reaches each; a 500 and a timeout are retried a bounded
// number of times and never fail the tick; the URL (a secret) never shows in a log line or an error.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Notifier, scrubUrl, type ChannelName, type ChannelTarget, type NotifyEvent } from '../../reconciler/notify/index.js';
import { eventsOf } from '../../reconciler/notify/events.js';
import { notifyTargets, ConfigError } from '../../reconciler/loop/config.js';
import { generateKey, parseKey, setSecret } from '../../reconciler/state/secrets.js';
import type { TickReport } from '../../reconciler/loop/tick.js';
import { addTicket, REPO_KEY, useSecurityHarness } from '../security/harness.js';

interface Received {
  channel: ChannelName;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One loopback server for the three formats; each path's secret part is what must never be printed. */
class Receivers {
  server!: Server;
  received: Received[] = [];
  /** Requests seen per channel, answered or not. */
  attempts: Record<ChannelName, number> = { slack: 0, ntfy: 0, webhook: 0 };
  problems: string[] = [];
  /** The next answers of a channel: 500, or no answer at all. */
  faults: Record<ChannelName, ('500' | 'stall')[]> = { slack: [], ntfy: [], webhook: [] };
  private stalled: ServerResponse[] = [];
  paths: Record<ChannelName, string> = {
    slack: '/services/T0SECRET/B0SECRET/xoxSlackSecret0123',
    ntfy: '/fleet-alerts-ntfySecretTopic456',
    webhook: '/hooks/webhookSecret789?token=tokSecret',
  };

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const channel = (Object.keys(this.paths) as ChannelName[]).find((c) => this.paths[c] === req.url);
        if (!channel || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        this.attempts[channel]++;
        const fault = this.faults[channel].shift();
        if (fault === 'stall') {
          this.stalled.push(res);
          return;
        }
        if (fault === '500') {
          res.writeHead(500).end('boom');
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        this.check(channel, req.headers, body);
        this.received.push({ channel, headers: req.headers, body });
        // As each service answers: Slack "ok", ntfy the message as JSON, the webhook 204.
        if (channel === 'slack') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        else if (channel === 'ntfy') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'x', event: 'message' }));
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  /** The request formats: what the services accept. */
  private check(channel: ChannelName, headers: IncomingMessage['headers'], body: string): void {
    const problem = (p: string) => this.problems.push(`${channel}: ${p}`);
    if (channel === 'slack') {
      if (!String(headers['content-type']).startsWith('application/json')) problem('content-type is not JSON');
      const parsed = JSON.parse(body) as Record<string, unknown>;
      if (typeof parsed.text !== 'string' || !parsed.text) problem('no text');
    } else if (channel === 'ntfy') {
      if (!headers.title) problem('no Title header');
      if (!/^[1-5]$/.test(String(headers.priority))) problem(`Priority ${String(headers.priority)} is not 1-5`);
      if (!/^[a-z0-9_,+-]+$/.test(String(headers.tags))) problem(`Tags ${String(headers.tags)} is not a comma list of short codes`);
      if (!body) problem('no message');
    } else {
      if (!String(headers['content-type']).startsWith('application/json')) problem('content-type is not JSON');
      const parsed = JSON.parse(body) as Record<string, unknown>;
      for (const [field, type] of Object.entries({ version: 'number', event: 'string', severity: 'string', repo: 'string', run: 'number', summary: 'string', at: 'string' })) {
        if (typeof parsed[field] !== type) problem(`${field} is not a ${type}`);
      }
      if (parsed.url !== undefined && typeof parsed.url !== 'string') problem('url is not a string');
    }
  }

  url(channel: ChannelName): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.paths[channel]}`;
  }

  targets(): ChannelTarget[] {
    return (['slack', 'ntfy', 'webhook'] as const).map((name) => ({ name, url: this.url(name), label: `${name} (secret:meta/notify/${name})` }));
  }

  reset(): void {
    this.received = [];
    this.attempts = { slack: 0, ntfy: 0, webhook: 0 };
    this.faults = { slack: [], ntfy: [], webhook: [] };
    for (const res of this.stalled.splice(0)) res.destroy();
  }

  async close(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Every secret form of every URL, as a log line must never show it. */
  secrets(): string[] {
    return Object.values(this.paths).flatMap((p) => [p, ...p.split(/[/?=]/).filter((s) => /Secret|tokSecret/.test(s))]);
  }
}

const r = new Receivers();
const h = useSecurityHarness();
beforeAll(() => r.start());
afterAll(() => r.close());
beforeEach(() => {
  r.reset();
  expect(r.problems).toEqual([]);
});

const fast = { attempts: 3, attemptTimeoutMs: 300, backoffMs: 10, web: 'https://github.com/acme/fleet' };
const event: NotifyEvent = { event: 'apply.failed', repo: REPO_KEY, run: 7, summary: 'the apply of abc1234 from #3 failed: ssh refused; NOT fully rolled back', url: 'https://github.com/acme/fleet/pull/3', severity: 'error' };
const leaks = (lines: readonly string[]) => lines.filter((l) => r.secrets().some((s) => l.includes(s)));

describe('an apply result from a real tick', () => {
  it('reaches Slack, ntfy and the webhook, each in its documented format', async () => {
    h.push('ticket-T-0002', addTicket('T-0002'), { as: 'bob' });
    await h.tick();
    const pr = h.mustPr('ticket-T-0002');
    h.approve(pr.number, 'alice');
    const sha = h.mergeCommit(pr.number, 'alice');
    const log: string[] = [];
    const report = await h.tick({ notify: new Notifier(r.targets(), fast), progress: (m) => void log.push(m) });
    expect(report.applied).toMatchObject({ sha, status: 'applied' });
    expect(r.problems).toEqual([]);
    expect(r.received.map((x) => x.channel).sort()).toEqual(['ntfy', 'slack', 'webhook']);
    const slack = JSON.parse(r.received.find((x) => x.channel === 'slack')!.body) as { text: string };
    expect(slack.text).toContain(`fleetspec ${REPO_KEY}: applied`);
    expect(slack.text).toContain(`applied ${sha.slice(0, 7)} from #${pr.number}: 1 change`);
    const ntfy = r.received.find((x) => x.channel === 'ntfy')!;
    expect(ntfy.headers).toMatchObject({ title: `fleetspec ${REPO_KEY}: applied`, priority: '3', tags: 'fleetspec,white_check_mark', click: `https://github.com/${REPO_KEY}/pull/${pr.number}` });
    expect(ntfy.body).toBe(`applied ${sha.slice(0, 7)} from #${pr.number}: 1 change`);
    const hook = JSON.parse(r.received.find((x) => x.channel === 'webhook')!.body) as Record<string, unknown>;
    expect(hook).toMatchObject({ version: 1, event: 'apply.applied', severity: 'info', repo: REPO_KEY, run: report.run, url: `https://github.com/${REPO_KEY}/pull/${pr.number}` });
    expect(leaks(log)).toEqual([]);
    await h.reset();
  });

  it('a tick whose channels all fail ends as it would have, the failures logged as warnings without the URLs', async () => {
    h.push('ticket-T-0003', addTicket('T-0003'), { as: 'bob' });
    await h.tick();
    const pr = h.mustPr('ticket-T-0003');
    h.approve(pr.number, 'alice');
    h.mergeCommit(pr.number, 'alice');
    r.faults = { slack: ['500', '500', '500'], ntfy: ['stall', 'stall', 'stall'], webhook: ['500', 'stall', '500'] };
    const log: string[] = [];
    const report = await h.tick({ notify: new Notifier(r.targets(), fast), progress: (m) => void log.push(m) });
    expect(report.state).toBe('DONE');
    expect(report.applied).toMatchObject({ status: 'applied' });
    expect(r.attempts).toEqual({ slack: 3, ntfy: 3, webhook: 3 });
    expect(log.filter((l) => l.startsWith('warning: notify ')).map((l) => l.split(':').slice(0, 2).join(':')).sort()).toEqual([
      'warning: notify ntfy (secret',
      'warning: notify slack (secret',
      'warning: notify webhook (secret',
    ]);
    expect(log.some((l) => l.includes('answered HTTP 500'))).toBe(true);
    expect(log.some((l) => l.includes('no answer within 300 ms'))).toBe(true);
    expect(leaks(log)).toEqual([]);
    await h.reset();
  });
});

describe('delivery', () => {
  it('retries a 500 and a timeout, then delivers: bounded attempts, one warning per failed attempt', async () => {
    r.faults = { slack: ['500'], ntfy: ['stall'], webhook: ['500', 'stall'] };
    const log: string[] = [];
    const result = await new Notifier(r.targets(), fast).send([event], (m) => void log.push(m));
    expect(result).toEqual({ sent: 3, failed: [] });
    expect(r.attempts).toEqual({ slack: 2, ntfy: 2, webhook: 3 });
    expect(r.problems).toEqual([]);
    expect(log.filter((l) => l.includes('retrying'))).toHaveLength(4);
    expect(leaks(log)).toEqual([]);
  });

  it('gives up on a channel after its attempts and skips its other events this tick; the others still get theirs', async () => {
    r.faults.slack = ['500', '500', '500', '500'];
    const log: string[] = [];
    const result = await new Notifier(r.targets(), fast).send([event, { ...event, event: 'finding.new', severity: 'warning', summary: 'finding disk.web.root: T-0009 proposed in #4' }], (m) => void log.push(m));
    expect(result).toEqual({ sent: 4, failed: ['slack (secret:meta/notify/slack)'] });
    expect(r.attempts.slack).toBe(3);
    expect(r.received.filter((x) => x.channel === 'webhook')).toHaveLength(2);
    expect(log.filter((l) => l.startsWith('warning: notify slack'))).toEqual([expect.stringContaining('apply.failed not delivered after 3 attempts: answered HTTP 500')]);
  });

  it('names a channel that refuses the connection without its URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const url = `http://user:pw0rdSecret@127.0.0.1:${port}/services/T0SECRET/B0SECRET/xoxSlackSecret0123`;
    const log: string[] = [];
    await new Notifier([{ name: 'slack', url, label: 'slack (secret:meta/notify/slack)' }], fast).send([event], (m) => void log.push(m));
    expect(log.at(-1)).toMatch(/^warning: notify slack \(secret:meta\/notify\/slack\): apply.failed not delivered after 3 attempts: /);
    expect(log.filter((l) => l.includes('xoxSlackSecret0123') || l.includes('pw0rdSecret') || l.includes('/services/'))).toEqual([]);
    expect(scrubUrl(`POST ${url} failed; ${decodeURIComponent(url)}`, url)).toBe('POST <url> failed; <url>');
  });

  it('turns a tick report into events: applied, failed and rolled back, failed, findings new and cleared, refused commits', () => {
    const base: TickReport = { run: 5, state: 'DONE', reason: '', recovered: { runs: [], applies: [] }, branches: [], commands: [], main: [], drift: [], pulled: [], findings: [], waiting: 0, errors: [], durationMs: 0 };
    const web = 'https://github.com/acme/fleet';
    const sha = 'a'.repeat(40);
    const names = (r: TickReport) => eventsOf(r, REPO_KEY, web).map((e) => [e.event, e.severity]);
    expect(names({ ...base, applied: { sha, pr: 3, changes: 2, status: 'applied' } })).toEqual([['apply.applied', 'info']]);
    expect(names({ ...base, applied: { sha, pr: 3, changes: 1, status: 'failed', rollback: 'complete' } })).toEqual([['apply.rolled-back', 'warning']]);
    expect(names({ ...base, applied: { sha, pr: 3, changes: 1, status: 'failed', rollback: 'incomplete' } })).toEqual([['apply.failed', 'error']]);
    expect(
      names({
        ...base,
        findings: [
          { key: 'disk.web.root', id: 'T-0009', branch: 'b', pr: 4, action: 'opened' },
          { key: 'apply.failed', id: 'T-0008', branch: 'c', pr: 5, action: 'closing' },
          { key: 'x', id: 'T-0007', branch: 'd', action: 'declined' },
        ],
        main: [
          { sha, outcome: 'not-approved', pr: null, detail: 'pushed to main without a pull request' },
          { sha: 'b'.repeat(40), outcome: 'applied', pr: 3, detail: null },
        ],
      }),
    ).toEqual([
      ['finding.new', 'warning'],
      ['finding.cleared', 'info'],
      ['main.untrusted', 'error'],
    ]);
    // A rollback opened waits for an approver; one refused, or asked for again, tells nobody.
    const commands: TickReport['commands'] = [
      { id: 1, command: 'rollback', pr: 3, by: '@alice', state: 'done', detail: 'opened #9', resultPr: 9 },
      { id: 2, command: 'rollback', pr: 3, by: '@carol', state: 'done', detail: '#9 is open already', resultPr: 9 },
      { id: 3, command: 'rollback', pr: 4, by: '@bob', state: 'refused', detail: '@bob is not an approver' },
      { id: 4, command: 'plan', pr: 5, by: '@alice', state: 'done', detail: 'planned again in run 5' },
    ];
    const events = eventsOf({ ...base, commands }, REPO_KEY, web);
    expect(events.map((e) => [e.event, e.severity, e.url])).toEqual([['rollback.opened', 'warning', `${web}/pull/9`]]);
    expect(events[0]!.summary).toBe('rollback of #3 asked for by @alice: #9 waits for an approver who did not ask for it');
  });
});

describe('FLEETSPEC_NOTIFY', () => {
  const key = generateKey();
  const secretUrl = 'https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxSlackSecret0123';

  it('reads each URL from the store, fleetspec-owned only, and never names the URL in an error', async () => {
    const k = parseKey(key);
    await setSecret(h.db, k, 'meta/notify/slack', Buffer.from(secretUrl), 'test');
    await setSecret(h.db, k, 'meta/notify/hook', Buffer.from(r.url('webhook')), 'test');
    await setSecret(h.db, k, 'meta/notify/scoped', Buffer.from(secretUrl), 'test', ['hosts/*']);
    await setSecret(h.db, k, 'meta/notify/notaurl', Buffer.from('xoxSlackSecret0123'), 'test');
    const env = (v: string) => ({ FLEETSPEC_SECRET_KEY: key, FLEETSPEC_NOTIFY: v });
    expect(await notifyTargets(h.db, {})).toEqual([]);
    expect(await notifyTargets(h.db, env('slack=secret:meta/notify/slack, webhook=secret:meta/notify/hook'))).toEqual([
      { name: 'slack', url: secretUrl, label: 'slack (secret:meta/notify/slack)' },
      { name: 'webhook', url: r.url('webhook'), label: 'webhook (secret:meta/notify/hook)' },
    ]);
    const failure = async (v: string, e: NodeJS.ProcessEnv = env(v)) => {
      try {
        await notifyTargets(h.db, e);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        const text = `${(err as ConfigError).message} ${(err as ConfigError).hint ?? ''}`;
        expect(text).not.toContain('xoxSlackSecret0123');
        return (err as ConfigError).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(await failure('slack=secret:meta/notify/scoped')).toContain("a notification URL must be fleetspec's own");
    expect(await failure('slack=secret:meta/notify/missing')).toContain('no secret at meta/notify/missing');
    expect(await failure('slack=secret:meta/notify/notaurl')).toContain('is not an http(s) URL');
    expect(await failure(`slack=${secretUrl}`)).toContain('not CHANNEL=secret:PATH');
    expect(await failure('email=secret:meta/notify/slack')).toContain('"email"');
    expect(await failure('slack=secret:meta/notify/slack', { FLEETSPEC_NOTIFY: 'slack=secret:meta/notify/slack' })).toContain('FLEETSPEC_SECRET_KEY is not set');
  });
});
