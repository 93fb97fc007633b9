// The records behind one DnsRecord spec, whichever form it is written in: the single form
// (type/target[/proxied/ttl/route], one CNAME, A or AAAA record) or the `records:` list (several
// records under one name, the types a Cloudflare zone holds). The stack model, the import and
// the checks all read records through here, so both forms mean the same thing everywhere.
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A record's name: a lowercase DNS name whose labels may start with one underscore, for the
 * service names TXT records live under (_dmarc.example.com, sel._domainkey.example.com).
 */
export const RECORD_NAME_PATTERN = '^(_?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$';

/** The record types the dns kind holds: those of Cloudflare's DNS records API that a small fleet's zone uses. */
export const RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'CAA', 'NS'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];
/** Types Cloudflare can proxy (the API refuses proxied on anything else). */
export const PROXIABLE: ReadonlySet<string> = new Set(['A', 'AAAA', 'CNAME']);
/** The single form's types (unchanged since it was the only form). */
export const SINGLE_TYPES = ['CNAME', 'A', 'AAAA'] as const;
export const CAA_TAGS = ['issue', 'issuewild', 'iodef'] as const;
/** Cloudflare's limit on a TXT record's content; strings over 255 bytes are split by Cloudflare into 255-byte character strings. */
export const TXT_MAX = 2048;
/** One DNS character-string: Cloudflare splits longer TXT content into strings of this many bytes. */
export const TXT_STRING = 255;

/** One entry of a `records:` list. */
export interface DnsRecordEntry {
  type: RecordType;
  /** The record's content: an address (A, AAAA), a host name (CNAME, MX, NS), text (TXT). */
  content?: string;
  /** MX preference: lower is preferred. */
  priority?: number;
  /** CAA: flags (0, or 128 for critical), the property tag and its value. */
  flags?: number;
  tag?: (typeof CAA_TAGS)[number];
  value?: string;
  ttl?: number;
  proxied?: boolean;
}

/** A record as the stack and the import see it: one Cloudflare record. */
export interface NormalRecord {
  type: RecordType;
  /** Content for every type but CAA. */
  content?: string;
  priority?: number;
  caa?: { flags: number; tag: string; value: string };
  ttl: number;
  proxied: boolean;
  /** Where the record is written in its spec: [] for the single form, ['records', i] for the list. */
  path: (string | number)[];
}

/** The fields of a DnsRecord spec this module reads (the kind's interface, without importing it). */
export interface RecordSpec {
  name: string;
  type?: string;
  target?: string;
  proxied?: boolean;
  ttl?: number;
  route?: string;
  records?: DnsRecordEntry[];
}

/** The comparable identity of a record: its type and data, not its ttl or proxying (Cloudflare refuses two records equal in these). */
export function recordKey(r: Pick<NormalRecord, 'type' | 'content' | 'priority' | 'caa'>): string {
  const content = r.type === 'CAA' ? `${r.caa?.flags ?? 0} ${r.caa?.tag ?? ''} ${r.caa?.value ?? ''}` : comparable(r.type, r.content ?? '');
  return r.type === 'MX' ? `${r.type} ${r.priority ?? ''} ${content}` : `${r.type} ${content}`;
}

/** Host names compare without case and a trailing dot; addresses as the address they are. */
function comparable(type: string, content: string): string {
  if (type === 'CNAME' || type === 'MX' || type === 'NS') return content.toLowerCase().replace(/\.$/, '');
  if (type === 'AAAA' && isIPv6(content)) return expandIPv6(content);
  return content;
}

/** An IPv6 address in full form, so 2001:db8::1 and 2001:0db8:0:0::1 are one address. */
function expandIPv6(address: string): string {
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => g.padStart(4, '0')).join(':');
}

/**
 * The Terraform identifier of one record. The single form keeps the name's own identifier (the
 * address it always had). A list entry's is the name, the type and a short hash of its identity,
 * so reordering the list changes no address and changing one record changes one resource.
 */
export function recordTfId(nameId: string, r: NormalRecord, single: boolean): string {
  if (single) return nameId;
  const hash = createHash('sha256').update(recordKey(r)).digest('hex').slice(0, 8);
  return `${nameId}_${r.type.toLowerCase()}_${hash}`;
}

/** The records of a spec, in written order; nothing for a spec in neither form (a validation error). */
export function recordsOf(spec: RecordSpec): NormalRecord[] {
  if (spec.records !== undefined) {
    return spec.records.map((e, i) => ({
      type: e.type,
      ...(e.type === 'CAA' ? { caa: { flags: e.flags ?? 0, tag: e.tag ?? 'issue', value: e.value ?? '' } } : { content: e.content ?? '' }),
      ...(e.type === 'MX' ? { priority: e.priority ?? 0 } : {}),
      ttl: e.ttl ?? 1,
      proxied: e.proxied ?? false,
      path: ['records', i],
    }));
  }
  if (spec.type === undefined || spec.target === undefined) return [];
  const routed = spec.route !== undefined;
  return [{ type: spec.type as RecordType, content: spec.target, ttl: spec.ttl ?? 1, proxied: spec.proxied ?? routed, path: [] }];
}

/** Whether the spec is the single form (one record written as type/target). */
export const isSingle = (spec: RecordSpec) => spec.records === undefined;

/** The CNAME target of a spec's records, if it has one (the tunnel check and the dangling check read it). */
export function cnameTargets(spec: RecordSpec): { target: string; path: (string | number)[] }[] {
  if (spec.records === undefined) return spec.type === 'CNAME' && spec.target !== undefined ? [{ target: spec.target, path: ['target'] }] : [];
  return spec.records.flatMap((e, i) => (e.type === 'CNAME' && e.content !== undefined ? [{ target: e.content, path: ['records', i, 'content'] }] : []));
}

/** A one-line summary of a spec's records, for diagrams and listings: `CNAME tunnel.153.se`, `A 192.0.2.1, MX 10 mail.example.com`. */
export function describeRecords(spec: RecordSpec): string {
  return recordsOf(spec)
    .map((r) => (r.type === 'CAA' ? `CAA ${r.caa!.flags} ${r.caa!.tag} ${r.caa!.value}` : r.type === 'MX' ? `MX ${r.priority} ${r.content}` : `${r.type} ${r.content}`))
    .join(', ');
}

/**
 * TXT text as Cloudflare's API wants a TXT record's content: RFC 1035 character strings, each
 * quoted and at most 255 bytes (`"v=spf1 -all"`; longer text as `"…" "…"`). The API stores what it
 * is given and warns about unquoted content, and the provider passes content through unchanged,
 * so the stack writes it quoted and split exactly as Cloudflare would. The kind admits printable
 * ASCII without quotes or backslashes only, so nothing inside needs escaping.
 */
export function txtContent(text: string): string {
  const strings: string[] = [];
  for (let i = 0; i < text.length; i += TXT_STRING) strings.push(`"${text.slice(i, i + TXT_STRING)}"`);
  return strings.length ? strings.join(' ') : '""';
}

export const validIPv4 = (s: string) => isIPv4(s);
export const validIPv6 = (s: string) => isIPv6(s) && !s.includes('%');
