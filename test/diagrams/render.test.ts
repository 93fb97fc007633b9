// The generated diagrams render: each Mermaid source made from the repository's specs/ is parsed
// and laid out by mermaid (from node_modules) in real headless Chromium, and the SVG holds the
// labels the specs imply, with no syntax-error marks. Hostile free text in a spec comes out as
// text (never markup), and a broken source is reported, not drawn.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDiagrams } from '../../reconciler/diagrams/index.js';
import type { DnsRecord } from '../../reconciler/kinds/dns/index.js';
import type { Host } from '../../reconciler/kinds/hosts/index.js';
import type { SpecIndex } from '../../reconciler/kinds/kind.js';
import type { Model } from '../../reconciler/kinds/models/index.js';
import { CAPABILITIES, type Role } from '../../reconciler/kinds/roles/index.js';
import type { VirtualMachine } from '../../reconciler/kinds/vms/index.js';
import type { DnsZone } from '../../reconciler/kinds/zones/index.js';
import { loadSpecs } from '../../reconciler/specs/load.js';
import { RUN_STATES, TRANSITIONS, TRANSITION_CAUSES } from '../../reconciler/state/ledger.js';
import { openMermaid, type MermaidPage, type Rendered } from './chromium.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

let page: MermaidPage;
let index: SpecIndex;
let rendered: Map<string, Extract<Rendered, { ok: true }>>;

const values = <T>(folder: string) => index.all(folder).map((r) => r.value as T);

beforeAll(async () => {
  page = await openMermaid();
  const loaded = await loadSpecs(join(ROOT, 'specs'));
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  index = loaded.index;
  rendered = new Map();
  for (const { diagram, text } of renderDiagrams(index)) {
    const r = await page.render(text);
    if (!r.ok) throw new Error(`${diagram.name}.mmd does not render: ${r.error}`);
    rendered.set(diagram.name, r);
  }
}, 60_000);
afterAll(async () => {
  await page?.close();
});

describe('the diagrams of specs/ in headless Chromium', () => {
  it('renders all four as laid-out SVGs with their titles and no error marks', () => {
    expect([...rendered.keys()]).toEqual(['topology', 'roles', 'states', 'flow']);
    for (const [name, r] of rendered) {
      expect(r.svg.startsWith('<svg'), name).toBe(true);
      expect(r.errorMarks, name).toBe(0);
      expect(r.scripts, name).toBe(0);
      expect(r.width, name).toBeGreaterThan(100);
      expect(r.height, name).toBeGreaterThan(100);
      expect(r.texts.join('\n'), name).not.toMatch(/syntax error/i);
    }
    expect(rendered.get('topology')!.texts).toContain('Fleet topology: hosts, services, models, ports, DNS and the tunnel');
    expect(rendered.get('states')!.texts).toContain('Run state machine: every transition is a row in the run ledger');
  });

  it('topology: every host with its address, every service with its port, the models, the tunnel, the DNS names and the VMs', () => {
    const texts = rendered.get('topology')!.texts;
    const hosts = values<Host>('hosts');
    expect(hosts.length).toBe(3);
    for (const host of hosts) {
      expect(texts).toContain(host.name);
      expect(texts).toContain([host.address, host.os].filter(Boolean).join(' · '));
      for (const s of host.services ?? []) expect(texts).toContain(`${s.name} :${s.port}`);
    }
    expect(texts).toContain('redis :6379');
    for (const m of values<Model>('models')) expect(texts).toContain(m.name);
    const zone = values<DnsZone>('zones')[0]!;
    expect(texts).toContain(`tunnel ${zone.tunnel!.name}`);
    expect(texts).toContain('tunnel.153.se');
    for (const r of values<DnsRecord>('dns')) expect(texts).toContain(r.name);
    // The tunnel's ingress to the allocation behind api.consilio.153.se (seed 003: port 4001).
    expect(texts).toContain('http://localhost:4001');
    expect(texts).toContain('consilio/api :4001');
    for (const vm of values<VirtualMachine>('vms')) expect(texts).toContain(vm.name);
  });

  it('role matrix: every role, the capabilities held and denied, and the bastions', () => {
    const texts = rendered.get('roles')!.texts;
    const roles = values<Role>('roles');
    for (const role of roles) expect(texts).toContain(role.name);
    const held = new Set(roles.flatMap((r) => [...r.capabilities, ...(r.denied ?? [])]));
    for (const c of held) {
      expect(texts).toContain(c);
      expect(texts).toContain(CAPABILITIES[c]);
    }
    // Seeds 000/001: the developer is denied deploys, the bastions and the Docker socket.
    expect(texts.filter((t) => t === 'denied')).toHaveLength(roles.reduce((n, r) => n + (r.denied?.length ?? 0), 0));
    expect(texts.filter((t) => t === 'denied')).toHaveLength(3);
    expect(texts).toContain('bastions (hold nothing)');
  });

  it('run states: every state of the ledger and every transition\'s cause', () => {
    const texts = rendered.get('states')!.texts;
    for (const state of RUN_STATES) expect(texts).toContain(state);
    for (const from of RUN_STATES) {
      // One cause per legal edge, and none for an edge the ledger does not allow.
      expect(Object.keys(TRANSITION_CAUSES[from]).sort(), from).toEqual([...TRANSITIONS[from]].sort());
      for (const to of TRANSITIONS[from]) expect(texts).toContain(TRANSITION_CAUSES[from][to]);
    }
    expect(texts).toContain('approvers: manager (no GitHub users named)');
  });

  it('artifact flow: the numbered steps from push to apply, with the reviewers the specs name', () => {
    const texts = rendered.get('flow')!.texts;
    expect(texts).toContain('Reviewer: manager');
    expect(texts).toContain('push a branch that edits specs/');
    expect(texts).toContain('open the PR: plan, verdict, narrative; status fleetspec/plan');
    expect(texts).toContain('hosts over SSH');
    expect(texts).toContain('Terraform: GCE VMs');
    for (let n = 1; n <= 15; n++) expect(texts).toContain(String(n));
  });
});

describe('spec text that looks like Mermaid or HTML', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetspec-diagrams-'));
    await cp(join(ROOT, 'specs'), join(dir, 'specs'), { recursive: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('comes out as the same text, never as markup or broken syntax', async () => {
    const hostile = 'Ships "prod"; end <script>alert(1)</script> #1 & {x} | [y] `z`';
    const roleFile = join(dir, 'specs', 'roles', 'developer.yaml');
    await writeFile(roleFile, (await readFile(roleFile, 'utf8')).replace('description: Code, tests, git', `description: '${hostile}'`));
    const hostFile = join(dir, 'specs', 'hosts', 'ai.yaml');
    await writeFile(hostFile, (await readFile(hostFile, 'utf8')).replace('os: Ubuntu 24.04.3 LTS', 'os: \'end"]; click x "javascript:alert(1)"\''));
    const loaded = await loadSpecs(join(dir, 'specs'));
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    for (const { diagram, text } of renderDiagrams(loaded.index, ['roles', 'topology'])) {
      const r = await page.render(text);
      if (!r.ok) throw new Error(`${diagram.name}: ${r.error}`);
      expect(r.errorMarks).toBe(0);
      expect(r.scripts).toBe(0);
      expect(r.svg).not.toContain('<script');
      // The words stay words: no link, no handler, no element made from the spec's text.
      expect(r.svg).not.toMatch(/href="javascript:|onclick|<a[\s>]/);
      if (diagram.name === 'roles') expect(r.texts).toContain(hostile);
      else expect(r.texts).toContain('192.168.86.56 · end"]; click x "javascript:alert(1)"');
    }
  });
});

describe('the harness', () => {
  it('reports a source that does not parse instead of drawing it', async () => {
    const r = await page.render('flowchart LR\n  a["open label --> b\n');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toMatch(/^Parse error on line \d+/);
  });
});
