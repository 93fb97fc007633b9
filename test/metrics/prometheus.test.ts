// `fleetspec daemon --listen`: the built daemon ticks against the loop's stand-ins while a real
// Prometheus (Debian's package) scrapes it every second; everything is asserted through
// Prometheus's query API, as an operator's dashboard would see it. Also: /healthz turns 503 when
// ticks stop succeeding, a non-loopback address is refused, and the narratives' token usage
// reaches both the counter and the ledger.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../reconciler/state/db.js';
import { MODEL, PROMETHEUS, startDaemon, startPrometheus, startStand, waitFor, type DaemonProcess, type PrometheusProcess, type Stand } from './harness.js';

const EVERY_SECOND = '*/1 * * * * *';
const DASHBOARD = join(import.meta.dirname, '..', '..', 'docs', 'grafana', 'fleetspec.json');

describe.skipIf(!existsSync(PROMETHEUS))('fleetspec daemon --listen, scraped by a real Prometheus', () => {
  let stand: Stand;
  let daemon: DaemonProcess;
  let prom: PrometheusProcess;
  let metricsUrl: string;

  beforeAll(async () => {
    stand = await startStand();
    daemon = startDaemon(['--schedule', EVERY_SECOND, '--immediately', '--listen', '127.0.0.1:0'], stand.env(), stand.dir);
    metricsUrl = await daemon.metricsUrl();
    prom = await startPrometheus(new URL(metricsUrl).host, stand.dir);
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await daemon?.stop();
    await stand?.close();
  }, 60_000);

  const value = async (expr: string): Promise<number | undefined> => {
    const result = await prom.query(expr);
    return result.length ? Number(result[0]!.value[1]) : undefined;
  };
  const seen = () => `daemon ticks: ${JSON.stringify(daemon.ticks.slice(-3))}; stderr: ${daemon.stderr().slice(-1500)}`;

  it('serves the metrics Prometheus scrapes; the heartbeat advances and the tick count grows as ticks happen', async () => {
    const first = await waitFor('a first successful tick in Prometheus (heartbeat)', 90_000, () => value('fleetspec_last_successful_tick_timestamp_seconds'), seen);
    const count = await waitFor('the tick count in Prometheus', 30_000, () => value('sum(fleetspec_tick_duration_seconds_count)'), seen);
    await waitFor('the heartbeat to advance past its first value', 60_000, async () => ((await value('fleetspec_last_successful_tick_timestamp_seconds'))! > first ? true : undefined), seen);
    await waitFor('the tick count to grow', 60_000, async () => ((await value('sum(fleetspec_tick_duration_seconds_count)'))! > count ? true : undefined), seen);
    expect(await value('up{job="fleetspec"}')).toBe(1);
    // The branch's PR waits for approval; GitHub's stand-in sends x-ratelimit-remaining on every answer.
    expect(await value('fleetspec_pull_requests_awaiting_approval')).toBeGreaterThanOrEqual(1);
    expect(await value('fleetspec_github_rate_limit_remaining{resource="core"}')).toBeGreaterThan(0);
    expect(await value('sum(fleetspec_tick_duration_seconds_count{outcome="done"})')).toBeGreaterThanOrEqual(2);
    expect(await value('sum(fleetspec_applies_total)')).toBe(0);
    expect((await prom.query('fleetspec_drifted_resources')).length).toBeGreaterThan(0);
    expect((await prom.query('fleetspec_findings')).map((r) => r.metric['severity']).sort()).toEqual(['error', 'warning']);
    // HELP text for every fleetspec metric, as the text format has it.
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    for (const name of text.match(/^# TYPE (fleetspec_\w+)/gm)!.map((l) => l.slice(7))) expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    const health = await fetch(`${metricsUrl}/healthz`);
    expect(health.status, await health.clone().text()).toBe(200);
  }, 240_000);

  it('evaluates every PromQL expression of the Grafana dashboard, each naming only metrics that exist', async () => {
    const board = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { templating: { list: { type: string; query: string; name: string }[] }; panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[] };
    const variable = board.templating.list.find((v) => v.type === 'datasource' && v.query === 'prometheus');
    expect(variable, 'a Prometheus data source variable').toBeDefined();
    // Present in Prometheus once scraped: the histogram's series come with the first tick.
    await waitFor('the tick histogram in Prometheus', 60_000, async () => ((await prom.query('fleetspec_tick_duration_seconds_bucket')).length ? true : undefined), seen);
    const names = new Set(((await (await fetch(`${prom.url}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data);
    const exprs = board.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr, uid: p.datasource.uid })));
    expect(exprs.length).toBeGreaterThanOrEqual(9);
    for (const { panel, expr, uid } of exprs) {
      expect(uid, panel).toBe(`\${${variable!.name}}`);
      // Grafana's range macros, as Grafana would fill them in.
      const promql = expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h');
      await expect(prom.query(promql), `${panel}: ${promql}`).resolves.toBeDefined();
      const named = promql.match(/\bfleetspec_\w+/g) ?? [];
      expect(named.length, `${panel} names a fleetspec metric`).toBeGreaterThan(0);
      for (const name of named) expect(names.has(name), `${panel}: ${name} is not a metric Prometheus scraped`).toBe(true);
    }
    for (const title of ['Pull requests awaiting approval', 'Time since the last successful tick', 'LLM token burn by model', 'Applies by outcome', 'Drifted resources by kind', 'Findings by severity']) {
      expect(board.panels.map((p) => p.title)).toContain(title);
    }
  }, 120_000);

  it("counts the narrative's LLM tokens by model and kind, and the ledger records the same under the run", async () => {
    const prompt = await waitFor('prompt tokens in Prometheus', 60_000, () => value(`fleetspec_llm_tokens_total{model="${MODEL}",kind="prompt"}`), seen);
    const completion = await waitFor('completion tokens in Prometheus', 10_000, () => value(`fleetspec_llm_tokens_total{model="${MODEL}",kind="completion"}`), seen);
    expect(prompt).toBeGreaterThan(0);
    expect(completion).toBeGreaterThan(0);
    const completions = stand.llm.requests.filter((r) => r.path.endsWith('/chat/completions')).length;
    expect(completions).toBeGreaterThanOrEqual(1);
    // The embedded store is the daemon's alone while it runs: read the ledger after it stops.
    expect(await daemon.stop(), daemon.stderr()).toBe(0);
    await expect(fetch(`${metricsUrl}/healthz`)).rejects.toThrow(); // the server closed with the daemon
    const db = await openDb({ stateDir: join(stand.dir, 'state') });
    try {
      const rows = await db.query<{ run: number; model: string; prompt: number; completion: number }>(
        'select run_id::integer as run, model, prompt_tokens as prompt, completion_tokens as completion from narrative_usage order by id',
      );
      expect(rows).toHaveLength(completions);
      expect(rows.every((r) => r.model === MODEL && r.run > 0)).toBe(true);
      expect(rows.reduce((n, r) => n + r.prompt, 0)).toBe(prompt);
      expect(rows.reduce((n, r) => n + r.completion, 0)).toBe(completion);
    } finally {
      await db.close();
    }
  }, 120_000);
});

describe('fleetspec daemon --listen: refused addresses and /healthz', () => {
  let stand: Stand;
  beforeAll(async () => void (stand = await startStand()), 120_000);
  afterAll(async () => void (await stand?.close()), 60_000);

  it.each([['--listen', '0.0.0.0:9464'], ['--listen', 'example.com:9464'], []])('refuses a non-loopback address (%s) with exit 1 before it starts', async (...args: string[]) => {
    const extra: Record<string, string> = args.length ? {} : { FLEETSPEC_LISTEN: '[::]:9464' };
    const daemon = startDaemon(['--schedule', EVERY_SECOND, ...args], stand.env(extra), stand.dir);
    expect(await waitFor('the daemon to exit', 30_000, () => daemon.exited.then((c) => c))).toBe(1);
    expect(daemon.stderr()).toMatch(/--listen \S+ refused: .*(not a loopback address|not an IP address)/);
    expect(daemon.stderr()).toMatch(/hint: give a loopback address such as 127\.0\.0\.1:9464/);
    expect(daemon.ticks).toEqual([]);
  }, 40_000);

  it('/healthz turns 503 with why once ticks stop succeeding for two schedule intervals', async () => {
    // A default branch the repository lacks: every tick fails right after its fetch.
    const daemon = startDaemon(['--schedule', EVERY_SECOND, '--immediately', '--listen', '127.0.0.1:0'], stand.env({ FLEETSPEC_BRANCH: 'no-such-branch' }), stand.dir);
    try {
      const url = await daemon.metricsUrl();
      const body = await waitFor('/healthz to answer 503', 60_000, async () => {
        const res = await fetch(`${url}/healthz`);
        return res.status === 503 ? res.text() : undefined;
      }, () => daemon.stderr().slice(-1500));
      expect(body).toMatch(/^unhealthy: no tick has succeeded since the start \d+ s ago, longer than two schedule intervals \(2 s\); the last tick: .*no branch "no-such-branch"/);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^fleetspec_tick_duration_seconds_count\{outcome="(?:error|failed)"\} [1-9]/m);
    } finally {
      expect(await daemon.stop(), daemon.stderr()).toBe(0);
    }
  }, 90_000);
});
