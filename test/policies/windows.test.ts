// Sync windows and suspensions as documents in policies/: a window is active for its duration from
// each time its cron schedule fires, in its time zone; deny wins over allow; the next opening is the
// first window edge at which nothing is held. Broken documents are errors at their file:line:col.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Resource, SpecIndex } from '../../reconciler/kinds/kind.js';
import { loadPolicies } from '../../reconciler/policies/index.js';
import { leaveOutSuspended, suspensionOf, suspensionsOf } from '../../reconciler/policies/suspend.js';
import { activeUntil, firstHeld, heldBy, nextOpening, openingText, parseDuration, type SyncWindow } from '../../reconciler/policies/windows.js';
import { line } from '../helpers.js';
import { windowWake, WINDOW_WAKE_MAX_MS } from '../../reconciler/loop/phases/windows.js';
import type { Driver } from '../../reconciler/kinds/driver.js';
import { KINDS } from '../../reconciler/kinds/index.js';
import { planFleet } from '../../reconciler/plan/engine.js';
import { buildPlan, type ResourceChange } from '../../reconciler/plan/plan.js';
import { renderJson, renderMarkdown, renderText } from '../../reconciler/plan/render.js';
import type { LoadedSpecs } from '../../reconciler/specs/load.js';

const at = (iso: string) => new Date(iso);

function win(w: Partial<SyncWindow> & Pick<SyncWindow, 'name' | 'action' | 'schedule' | 'duration'>): SyncWindow {
  return { timezone: 'UTC', holds: ['apply', 'drift'], durationMs: parseDuration(w.duration)!, ...w };
}

const host = { kind: 'hosts', name: 'ai' };
const port = { kind: 'ports', name: 'odin/api' };

describe('sync windows', () => {
  it('parses durations as days, hours and minutes, and refuses zero or anything else', () => {
    expect(parseDuration('30m')).toBe(30 * 60_000);
    expect(parseDuration('2h')).toBe(2 * 3600_000);
    expect(parseDuration('1h30m')).toBe(90 * 60_000);
    expect(parseDuration('1d')).toBe(24 * 3600_000);
    for (const bad of ['', '0m', '90', '30s', '1m1h', 'h']) expect(parseDuration(bad), bad).toBeUndefined();
  });

  it('is active for its duration from each start, across midnight, and not at its end', () => {
    const night = win({ name: 'night', action: 'allow', schedule: '0 22 * * *', duration: '3h' });
    expect(activeUntil(night, at('2026-03-10T21:59:00Z'))).toBeUndefined();
    expect(activeUntil(night, at('2026-03-10T22:00:00Z'))).toEqual(at('2026-03-11T01:00:00Z'));
    // After midnight the occurrence that began the evening before is still on.
    expect(activeUntil(night, at('2026-03-11T00:30:00Z'))).toEqual(at('2026-03-11T01:00:00Z'));
    expect(activeUntil(night, at('2026-03-11T01:00:00Z'))).toBeUndefined();
  });

  it('reads its schedule in its time zone, summer time included', () => {
    const morning = win({ name: 'morning', action: 'allow', schedule: '0 9 * * *', duration: '1h', timezone: 'Europe/Stockholm' });
    // January: Stockholm is UTC+1, so 09:00 there is 08:00 UTC.
    expect(activeUntil(morning, at('2026-01-15T08:30:00Z'))).toEqual(at('2026-01-15T09:00:00Z'));
    expect(activeUntil(morning, at('2026-01-15T09:30:00Z'))).toBeUndefined();
    // July: UTC+2.
    expect(activeUntil(morning, at('2026-07-15T07:30:00Z'))).toEqual(at('2026-07-15T08:00:00Z'));
    expect(activeUntil(morning, at('2026-07-15T08:30:00Z'))).toBeUndefined();
  });

  it('holds outside the allow windows that match, never what they do not match, and deny wins over allow', () => {
    const weekdays = win({ name: 'weekdays', action: 'allow', schedule: '0 8 * * 1-5', duration: '9h', match: { kinds: ['hosts'] } });
    const lunch = win({ name: 'lunch', action: 'deny', schedule: '0 12 * * *', duration: '1h', match: { resources: ['hosts/ai'] } });
    const windows = [weekdays, lunch];
    // Monday 2026-03-09.
    expect(heldBy(windows, host, at('2026-03-09T10:00:00Z'), 'apply')).toBeUndefined();
    expect(heldBy(windows, host, at('2026-03-09T12:30:00Z'), 'apply')).toMatchObject({ window: { name: 'lunch' }, why: 'deny window lunch (0 12 * * * for 1h, UTC) is active until 2026-03-09 13:00 UTC' });
    expect(heldBy(windows, host, at('2026-03-09T18:00:00Z'), 'apply')).toMatchObject({ window: { name: 'weekdays' }, why: 'outside allow window weekdays (0 8 * * 1-5 for 9h, UTC)' });
    expect(heldBy(windows, { kind: 'hosts', name: 'other' }, at('2026-03-09T12:30:00Z'), 'apply'), 'lunch matches hosts/ai only').toBeUndefined();
    // A kind no window names is never held; a port allocation matches its range's resource.
    expect(heldBy(windows, port, at('2026-03-09T18:00:00Z'), 'apply')).toBeUndefined();
    const odin = win({ name: 'odin', action: 'deny', schedule: '0 0 * * *', duration: '1d', match: { resources: ['ports/odin'] } });
    expect(heldBy([odin], port, at('2026-03-09T18:00:00Z'), 'apply')?.window.name).toBe('odin');
    // A deny window active while an allow window is too: held.
    const always = win({ name: 'always', action: 'allow', schedule: '0 0 * * *', duration: '1d' });
    expect(heldBy([always, lunch], host, at('2026-03-09T12:30:00Z'), 'apply')?.window.name).toBe('lunch');
  });

  it('holds only what its holds: list names', () => {
    const applyOnly = win({ name: 'freeze', action: 'deny', schedule: '0 0 * * *', duration: '1d', holds: ['apply'] });
    expect(firstHeld([applyOnly], [host], at('2026-03-09T10:00:00Z'), 'apply')?.window.name).toBe('freeze');
    expect(firstHeld([applyOnly], [host], at('2026-03-09T10:00:00Z'), 'drift')).toBeUndefined();
  });

  it('finds the next opening: an allow window starting, a deny window ending, or none within a year', () => {
    const weekdays = win({ name: 'weekdays', action: 'allow', schedule: '0 8 * * 1-5', duration: '9h' });
    const lunch = win({ name: 'lunch', action: 'deny', schedule: '0 12 * * *', duration: '1h' });
    // Saturday noon: Monday 08:00.
    expect(nextOpening([weekdays, lunch], [host], at('2026-03-07T12:00:00Z'), 'apply')).toEqual(at('2026-03-09T08:00:00Z'));
    // Monday 12:30, inside the allow window but in the deny one: 13:00.
    expect(nextOpening([weekdays, lunch], [host], at('2026-03-09T12:30:00Z'), 'apply')).toEqual(at('2026-03-09T13:00:00Z'));
    // Not held now: now.
    expect(nextOpening([weekdays, lunch], [host], at('2026-03-09T10:00:00Z'), 'apply')).toEqual(at('2026-03-09T10:00:00Z'));
    // An allow window that starts inside a deny window opens when the deny one ends.
    const lateDeny = win({ name: 'late', action: 'deny', schedule: '0 7 * * 1', duration: '3h' });
    expect(nextOpening([weekdays, lateDeny], [host], at('2026-03-07T12:00:00Z'), 'apply')).toEqual(at('2026-03-09T10:00:00Z'));
    // A deny window that never closes: no opening, said so.
    const forever = win({ name: 'forever', action: 'deny', schedule: '* * * * *', duration: '2m' });
    expect(nextOpening([forever], [host], at('2026-03-09T10:00:00Z'), 'apply')).toBeUndefined();
    expect(openingText(undefined)).toMatch(/no time within a year/);
  });

  it('matches a Terraform stack entry by the spec resource its address comes from', () => {
    const api = { name: 'api', value: {} } as unknown as Resource;
    const index: SpecIndex = { get: () => undefined, all: (folder) => (folder === 'dns' ? [api] : []), declared: () => false };
    const dns = win({ name: 'dns', action: 'deny', schedule: '0 0 * * *', duration: '1d', match: { resources: ['dns/api'] } });
    const entry = { kind: 'dns', name: 'cloudflare_dns_record.api' };
    expect(heldBy([dns], entry, at('2026-03-09T10:00:00Z'), 'apply', index)?.window.name).toBe('dns');
    expect(heldBy([dns], { kind: 'dns', name: 'cloudflare_dns_record.www' }, at('2026-03-09T10:00:00Z'), 'apply', index)).toBeUndefined();
  });
});

async function policiesDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetspec-windows-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

describe('SyncWindow and Suspend documents', () => {
  it('load beside policies, with their defaults', async () => {
    const dir = await policiesDir({
      'windows.yaml': [
        'kind: SyncWindow',
        'name: nights',
        'action: allow',
        'schedule: "0 22 * * *"',
        'duration: 1h30m',
        'timezone: Europe/Stockholm',
        'match: {kinds: [hosts], resources: [ports/odin]}',
        '---',
        'kind: Suspend',
        'name: freeze-dns',
        'reason: migrating the zone by hand',
        'match: {kinds: [dns]}',
        '---',
        'kind: SyncWindow',
        'name: freeze-dns',
        'action: deny',
        'schedule: "0 0 * * 6"',
        'duration: 2d',
        'holds: [drift]',
      ].join('\n'),
    });
    const { set, diagnostics } = await loadPolicies(dir);
    expect(diagnostics).toEqual([]);
    expect(set.policies).toEqual([]);
    expect(set.windows!.map(({ doc: _, ...w }) => w)).toEqual([
      { name: 'nights', action: 'allow', schedule: '0 22 * * *', duration: '1h30m', durationMs: 90 * 60_000, timezone: 'Europe/Stockholm', match: { kinds: ['hosts'], resources: ['ports/odin'] }, holds: ['apply', 'drift'] },
      { name: 'freeze-dns', action: 'deny', schedule: '0 0 * * 6', duration: '2d', durationMs: 2 * 86_400_000, timezone: 'UTC', holds: ['drift'] },
    ]);
    expect(set.suspends!.map(({ doc: _, ...s }) => s)).toEqual([{ name: 'freeze-dns', reason: 'migrating the zone by hand', match: { kinds: ['dns'] } }]);
    const none: SpecIndex = { get: () => undefined, all: () => [], declared: () => false };
    const suspensions = suspensionsOf(set, none);
    expect(suspensionOf(suspensions, { kind: 'dns', name: 'cloudflare_dns_record.api' })?.reason).toBe('migrating the zone by hand');
    expect(suspensionOf(suspensions, host)).toBeUndefined();
  });

  it('are errors at their file:line:col with a hint: bad cron, bad duration, unknown time zone, unknown kind, missing match', async () => {
    const dir = await policiesDir({
      'w.yaml': [
        'kind: SyncWindow',
        'name: broken',
        'action: deny',
        'schedule: "61 * * * *"',
        'duration: "90"',
        'timezone: Mars/Olympus',
        'match: {kinds: [host], resources: [hostz/ai]}',
        '---',
        'kind: SyncWindow',
        'name: four',
        'action: allow',
        'schedule: "* * * *"',
        'duration: 1h',
        '---',
        'kind: Suspend',
        'name: everything',
        'reason: no match given',
      ].join('\n'),
    });
    const { set, diagnostics } = await loadPolicies(dir);
    expect(set.windows ?? [], 'a window with errors is never used').toEqual([]);
    expect(set.suspends ?? []).toEqual([]);
    for (const d of diagnostics) expect(d.hint, `${d.message} says what to do`).toBeTruthy();
    expect(diagnostics.map((d) => line(d, dir))).toEqual([
      'w.yaml:4:11: schedule "61 * * * *" is not a cron expression: Constraint error, got value 61 expected range 0-59',
      'w.yaml:5:11: duration "90" is not a duration',
      'w.yaml:6:11: unknown time zone "Mars/Olympus"',
      'w.yaml:7:17: kind "host": no kind host',
      'w.yaml:7:36: resource "hostz/ai": no kind hostz',
      'w.yaml:12:11: schedule "* * * *" is not a cron expression: it has 4 fields, not 5',
      'w.yaml:15:1: missing required field "match"',
    ]);
    expect(diagnostics.find((d) => d.message.includes('no kind host'))?.hint).toBe('did you mean hosts?');
  });
});

describe('suspended resources in a plan', () => {
  // Two hosts, one suspended in its spec; a stand-in driver that wants to change both.
  const hostsKind = KINDS.find((k) => k.folder === 'hosts')!;
  const resource = (name: string, suspend?: unknown) =>
    ({ kind: hostsKind, name, label: `hosts/${name}`, value: { name, ...(suspend === undefined ? {} : { suspend }) }, doc: { source: { file: `/repo/specs/hosts/${name}.yaml` } } }) as unknown as Resource;
  const resources = [resource('ai', 'disk swap on Friday'), resource('web')];
  const index: SpecIndex = { get: (f, n) => resources.find((r) => f === 'hosts' && r.name === n), all: (f) => (f === 'hosts' ? resources : []), declared: () => true };
  const loaded: LoadedSpecs = { files: [], resources, index, diagnostics: [] };
  const change = (name: string): ResourceChange => ({ kind: 'hosts', name, action: 'update', before: { v: 1 }, after: { v: 2 }, reason: 'differs' });
  const applied: string[] = [];
  const driver: Driver = {
    folder: 'hosts',
    readLive: async () => undefined,
    diff: () => ({ changes: [change('ai'), change('web')], unknown: [], findings: [] }),
    actions: () => ['write it'],
    apply: async (c) => void applied.push(c.name),
  };
  const plan = (policy?: Parameters<typeof planFleet>[0]['policy']) =>
    planFleet({ specs: '/repo/specs', mode: 'offline', db: undefined as never, noSsh: 'none', secret: async () => undefined, progress: () => {}, drivers: [driver], loaded: Promise.resolve(loaded), ...(policy ? { policy } : {}) });

  it('leaves the changes of a suspended resource out of the plan and lists them with the reason; the hash is that of the changes alone', async () => {
    const { plan: p, byDriver } = await plan({ set: { policies: [] }, root: '/repo' });
    expect(p!.changes.map((c) => c.name)).toEqual(['web']);
    expect(byDriver!.get('hosts')!.changes.map((c) => c.name), 'drift PRs see only what is not suspended').toEqual(['web']);
    expect(p!.suspended).toEqual([{ kind: 'hosts', name: 'ai', action: 'update', reason: 'suspended by specs/hosts/ai.yaml: disk swap on Friday' }]);
    expect(p!.hash).toBe(buildPlan([{ ...change('web'), actions: ['write it'] }], { mode: 'offline' }).hash);
    expect(renderText(p!)).toContain('Suspended (left out, not applied):\n~ hosts/ai (update): suspended by specs/hosts/ai.yaml: disk swap on Friday');
    expect(renderText(p!)).toContain('Plan: 0 to add, 1 to change, 0 to destroy. 1 suspended, not applied.');
    expect(renderMarkdown(p!)).toContain('- `hosts/ai` (update): suspended by specs/hosts/ai.yaml: disk swap on Friday');
    expect(JSON.parse(renderJson(p!)).suspended).toEqual(p!.suspended);
  });

  it("takes what is suspended from the policy context when it is given (the loop's trusted commit), not from the planned specs", async () => {
    const { plan: p } = await plan({ set: { policies: [] }, suspended: [] });
    expect(p!.changes.map((c) => c.name)).toEqual(['ai', 'web']);
    expect(p!.suspended).toBeUndefined();
    const { plan: q } = await plan({ set: { policies: [] }, suspended: [{ match: { kinds: ['hosts'] }, reason: 'frozen', from: 'Suspend all-hosts' }] });
    expect(q!.changes).toEqual([]);
    expect(q!.suspended!.map((s) => [s.name, s.reason])).toEqual([
      ['ai', 'suspended by Suspend all-hosts: frozen'],
      ['web', 'suspended by Suspend all-hosts: frozen'],
    ]);
  });
});

describe('a suspended resource of a Terraform stack', () => {
  it('holds every change of its stack, which is applied whole', () => {
    const records = ['api', 'www'].map((name) => ({ name, value: {} }) as unknown as Resource);
    const index: SpecIndex = { get: () => undefined, all: (folder) => (folder === 'dns' ? records : []), declared: () => true };
    const change = (name: string, action: ResourceChange['action'] = 'update'): ResourceChange => ({ kind: 'dns', name, action, before: null, after: null, reason: 'terraform plan' });
    const parts = new Map([
      ['dns', { changes: [change('cloudflare_dns_record.api'), change('cloudflare_dns_record.www'), change('stack', 'no-op')], unknown: [], findings: [] }],
      ['tickets', { changes: [{ ...change('T-0001', 'create'), kind: 'tickets' }], unknown: [], findings: [] }],
    ]);
    const held = leaveOutSuspended(parts, [{ match: { resources: ['dns/api'] }, reason: 'moving the record', from: 'Suspend api' }], index);
    expect(held).toEqual([
      { kind: 'dns', name: 'cloudflare_dns_record.api', action: 'update', reason: 'suspended by Suspend api: moving the record' },
      { kind: 'dns', name: 'cloudflare_dns_record.www', action: 'update', reason: 'suspended by Suspend api: moving the record; stacks/dns is applied whole, and dns/cloudflare_dns_record.api in it is suspended' },
    ]);
    // The no-op stays (it changes nothing); other kinds are untouched.
    expect(parts.get('dns')!.changes.map((c) => c.name)).toEqual(['stack']);
    expect(parts.get('tickets')!.changes).toHaveLength(1);
  });
});

describe('the daemon wakes for a window that lets a held change go', () => {
  const now = new Date('2026-12-07T06:00:00Z');
  it('a second after the first opening within a day; never for none, a past one or one past a day', () => {
    expect(windowWake(undefined, now)).toBeUndefined();
    expect(windowWake([{ opens: null }], now)).toBeUndefined();
    expect(windowWake([{ opens: '2026-12-07T08:00:00.000Z' }, { opens: '2026-12-07T07:00:00.000Z' }], now)).toBe(3_601_000);
    expect(windowWake([{ opens: '2026-12-07T05:00:00.000Z' }], now)).toBeUndefined();
    expect(windowWake([{ opens: new Date(now.getTime() + WINDOW_WAKE_MAX_MS + 5_000).toISOString() }], now)).toBeUndefined();
  });
});
