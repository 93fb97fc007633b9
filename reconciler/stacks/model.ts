// What each Terraform stack is made from, as plain data: the specs reduced to exactly the
// fields a stack uses, in name order, with the secret references (never values) it needs.
// No cdktf here: the input hash is computed from this model, so an unchanged stack is
// recognised without loading cdktf at all.
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import type { Resource, SpecIndex } from '../kinds/kind.js';
import type { DnsRecord } from '../kinds/dns/index.js';
import { isSingle, recordsOf, recordTfId, txtContent, type RecordType } from '../kinds/dns/records.js';
import { findAllocation } from '../kinds/ports/index.js';
import type { VirtualMachine } from '../kinds/vms/index.js';
import type { DnsZone } from '../kinds/zones/index.js';

export const STACK_NAMES = ['dns', 'vms'] as const;
export type StackName = (typeof STACK_NAMES)[number];

/**
 * Bumped whenever synthesis would turn the same input into different JSON, so stacks whose
 * input hash matches the committed file are still re-synthesised after an upgrade.
 */
export const SYNTH_VERSION = 'fleetspec-stacks/1 cdktf 0.21.0 cloudflare 13.9.1 google 16.12.1';

/** A secret a stack needs: the Terraform variable that carries it and the store reference. */
export interface StackSecret {
  variable: string;
  ref: string;
}

export interface ZoneInput {
  name: string;
  /** Terraform identifier of everything that belongs to the zone. */
  id: string;
  zoneId?: string;
  accountId?: string;
  /** The variable holding the API token (a key of `secrets`). */
  token: string;
}

export interface RecordInput {
  id: string;
  name: string;
  zone: string;
  type: RecordType;
  /** Every type's content but CAA's. */
  content?: string;
  /** MX only. */
  priority?: number;
  /** CAA only: Cloudflare's `data`. */
  caa?: { flags: number; tag: string; value: string };
  proxied: boolean;
  ttl: number;
  /** project/service of the port allocation behind the name, when routed through the tunnel. */
  route?: string;
}

export interface TunnelInput {
  id: string;
  name: string;
  tunnelId?: string;
  /** The zone whose account and token the tunnel is managed with. */
  zone: string;
  /** hostname → service, in hostname order; the 404 catch-all is added at synthesis. */
  ingress: { hostname: string; service: string }[];
}

export interface DnsInput {
  zones: ZoneInput[];
  records: RecordInput[];
  tunnels: TunnelInput[];
}

export interface VmInput {
  id: string;
  name: string;
  project: string;
  zone: string;
  machineType: string;
  description?: string;
  image: string;
  diskSizeGb?: number;
  diskType?: string;
  network: string;
  externalIp: boolean;
  /**
   * The instance's desired status, when the spec says running or stopped: applied by the vms
   * driver through the Compute Engine API, not synthesised (see `unmanaged`).
   */
  desiredStatus?: 'RUNNING' | 'TERMINATED';
  /** Attributes the stack leaves to others (Terraform's lifecycle ignore_changes): desired_status. */
  unmanaged?: string[];
  labels: Record<string, string>;
  serviceAccount?: string;
  /** The variable holding the credentials (a key of `secrets`); the environment's when absent. */
  credentials?: string;
  /** Seed 003's resize-on-load intent, carried through as a stack output for a later rule. */
  autoscale?: VirtualMachine['autoscale'];
}

export interface VmsInput {
  vms: VmInput[];
}

export interface StackInputs {
  dns: DnsInput;
  vms: VmsInput;
}

export interface StackModel<N extends StackName = StackName> {
  name: N;
  input: StackInputs[N];
  /** Variables that carry secrets, by variable name, in name order. */
  secrets: StackSecret[];
  /** sha256 of SYNTH_VERSION and the canonical input: equal hashes synthesise equal bytes. */
  inputHash: string;
  /** The resources (kind/name) whose specs name each secret reference: the store hands it out only to those in its scope. */
  secretUsers: Record<string, string[]>;
}

export const DEFAULT_IMAGE = 'debian-cloud/debian-12';
export const MANAGED_LABEL = { 'managed-by': 'fleetspec' } as const;

/**
 * A Terraform identifier from a DNS or resource name: dots become underscores, and a leading digit
 * gets an underscore before it. A DNS record name's labels may start with an underscore (_dmarc,
 * _domainkey); each such underscore is doubled first, so the mapping stays one-to-one. Names
 * without an underscore (every VM and zone, and every record name before records: lists) keep
 * the identifier they always had.
 */
export function tfId(name: string): string {
  const id = name.replace(/_/g, '__').replace(/\./g, '_');
  return /^[0-9]/.test(id) ? `_${id}` : id;
}

/** The Terraform variable carrying a secret: `secret:meta/cloudflare/api_token` → `secret__meta__cloudflare__api_token`. */
export function secretVariable(ref: string): string {
  return ref.replace(/^secret:/, 'secret__').replace(/\//g, '__').replace(/\./g, '_dot_');
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const values = <T>(index: SpecIndex, folder: string) => index.all(folder).map((r: Resource) => r.value as T);

function secretsOf(refs: Iterable<string | undefined>): StackSecret[] {
  const unique = [...new Set([...refs].filter((r): r is string => r !== undefined))].sort();
  return unique.map((ref) => ({ variable: secretVariable(ref), ref }));
}

type Built<I> = { input: I; secrets: StackSecret[]; users: Record<string, string[]> };

function usersOf(pairs: Iterable<[string | undefined, string]>): Record<string, string[]> {
  const users: Record<string, string[]> = {};
  for (const [ref, user] of pairs) if (ref) (users[ref] ??= []).push(user);
  return users;
}

export function dnsInput(index: SpecIndex): Built<DnsInput> {
  const zoneSpecs = values<DnsZone>(index, 'zones').sort(byName);
  const zoneByName = new Map(zoneSpecs.map((z) => [z.name, z]));
  const zones: ZoneInput[] = zoneSpecs.map((z) => ({
    name: z.name,
    id: tfId(z.name),
    ...(z.zoneId ? { zoneId: z.zoneId } : {}),
    ...(z.accountId ? { accountId: z.accountId } : {}),
    token: secretVariable(z.apiToken),
  }));
  const records: RecordInput[] = [];
  const ingress = new Map<string, { hostname: string; service: string }[]>();
  for (const r of values<DnsRecord>(index, 'dns').sort(byName)) {
    const zone = zoneByName.get(r.zone);
    if (!zone) continue; // an unknown zone is a validation error; nothing to synthesise
    const routed = r.route !== undefined && zone.tunnel !== undefined;
    // One resource per record; a list's records in id order, so reordering the list changes nothing.
    const ids = new Set<string>();
    const own: RecordInput[] = [];
    for (const rec of recordsOf(r)) {
      const id = recordTfId(tfId(r.name), rec, isSingle(r));
      if (ids.has(id)) continue; // a duplicate record is a validation error; one resource is enough
      ids.add(id);
      own.push({
        id,
        name: r.name,
        zone: r.zone,
        type: rec.type,
        // TXT goes as Cloudflare stores it: quoted character strings of at most 255 bytes.
        ...(rec.caa ? { caa: rec.caa } : { content: rec.type === 'TXT' ? txtContent(rec.content!) : rec.content! }),
        ...(rec.priority !== undefined ? { priority: rec.priority } : {}),
        proxied: isSingle(r) ? (r.proxied ?? routed) : rec.proxied,
        ttl: rec.ttl,
        ...(r.route && isSingle(r) ? { route: r.route } : {}),
      });
    }
    records.push(...own.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    const allocation = r.route ? findAllocation(index, r.route) : undefined;
    if (routed && allocation) {
      const rules = ingress.get(zone.tunnel!.name) ?? [];
      rules.push({ hostname: r.name, service: `http://${zone.tunnel!.origin ?? 'localhost'}:${allocation.port}` });
      ingress.set(zone.tunnel!.name, rules);
    }
  }
  // One ingress configuration per tunnel, managed through the first zone (by name) that names it.
  const tunnels = new Map<string, TunnelInput>();
  for (const z of zoneSpecs) {
    if (!z.tunnel || tunnels.has(z.tunnel.name)) continue;
    tunnels.set(z.tunnel.name, {
      id: tfId(z.tunnel.name),
      name: z.tunnel.name,
      ...(z.tunnel.id ? { tunnelId: z.tunnel.id } : {}),
      zone: z.name,
      ingress: (ingress.get(z.tunnel.name) ?? []).sort((a, b) => (a.hostname < b.hostname ? -1 : 1)),
    });
  }
  return {
    input: { zones, records, tunnels: [...tunnels.values()].sort(byName) },
    secrets: secretsOf(zoneSpecs.map((z) => z.apiToken)),
    users: usersOf(zoneSpecs.map((z) => [z.apiToken, `zones/${z.name}`])),
  };
}

export function vmsInput(index: SpecIndex): Built<VmsInput> {
  const specs = values<VirtualMachine>(index, 'vms').sort(byName);
  const vms: VmInput[] = specs.map((v) => ({
    id: tfId(v.name),
    name: v.name,
    project: v.project,
    zone: v.zone,
    machineType: v.machineType,
    ...(v.purpose ? { description: v.purpose } : {}),
    image: v.bootDisk?.image ?? DEFAULT_IMAGE,
    ...(v.bootDisk?.sizeGb ? { diskSizeGb: v.bootDisk.sizeGb } : {}),
    ...(v.bootDisk?.type ? { diskType: v.bootDisk.type } : {}),
    network: v.network ?? 'default',
    externalIp: v.externalIp ?? true,
    ...(v.running !== undefined ? { desiredStatus: v.running ? ('RUNNING' as const) : ('TERMINATED' as const) } : {}),
    unmanaged: ['desired_status'],
    labels: { ...v.labels, ...MANAGED_LABEL },
    ...(v.serviceAccount ? { serviceAccount: v.serviceAccount } : {}),
    ...(v.credentials ? { credentials: secretVariable(v.credentials) } : {}),
    ...(v.autoscale ? { autoscale: v.autoscale } : {}),
  }));
  return { input: { vms }, secrets: secretsOf(specs.map((v) => v.credentials)), users: usersOf(specs.map((v) => [v.credentials, `vms/${v.name}`])) };
}

export function inputHash(name: StackName, input: unknown, secrets: StackSecret[]): string {
  return createHash('sha256').update(stringify({ version: SYNTH_VERSION, name, input, secrets }) ?? '').digest('hex');
}

/** Every stack's model from the specs, or only the named ones. */
export function stackModels(index: SpecIndex, only?: readonly StackName[]): StackModel[] {
  const build = { dns: dnsInput, vms: vmsInput } satisfies Record<StackName, (i: SpecIndex) => Built<unknown>>;
  return STACK_NAMES.filter((n) => !only || only.includes(n)).map((name) => {
    const { input, secrets, users } = build[name](index);
    return { name, input, secrets, inputHash: inputHash(name, input, secrets), secretUsers: users } as StackModel;
  });
}

export const isStackName = (s: string): s is StackName => (STACK_NAMES as readonly string[]).includes(s);

/** The stack whose resources a spec kind becomes, for the kinds that become Terraform resources. */
export const STACK_OF_KIND: Readonly<Record<string, StackName>> = { dns: 'dns', zones: 'dns', vms: 'vms' };

/**
 * The Terraform addresses a spec resource becomes (the logical ids synth.ts gives them): a DNS
 * record, a VM, or the tunnel ingress a zone manages. A zone's lookups are data sources, not targets.
 */
export function stackAddresses(index: SpecIndex, kind: string, name: string): string[] {
  if (kind === 'dns') {
    const spec = index.get('dns', name)?.value as DnsRecord | undefined;
    // Every record of the name (a list is several resources); the name's own id when it is not in the specs (a deleted record).
    const ids = spec ? [...new Set(recordsOf(spec).map((r) => recordTfId(tfId(name), r, isSingle(spec))))].sort() : [tfId(name)];
    return (ids.length ? ids : [tfId(name)]).map((id) => `cloudflare_dns_record.${id}`);
  }
  if (kind === 'vms') return [`google_compute_instance.${tfId(name)}`];
  if (kind === 'zones') return dnsInput(index).input.tunnels.filter((t) => t.zone === name).map((t) => `cloudflare_zero_trust_tunnel_cloudflared_config.${t.id}`);
  return [];
}
