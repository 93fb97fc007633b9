import { kindSchema, ref } from '../common.js';
import { defineKind, type Finding } from '../kind.js';
import { missingReference } from '../references.js';
import { FQDN_PATTERN, insideZone, type DnsZone } from '../zones/index.js';
import { CAA_TAGS, PROXIABLE, RECORD_NAME_PATTERN, RECORD_TYPES, SINGLE_TYPES, TXT_MAX, TXT_STRING, recordKey, recordsOf, txtContent, validIPv4, validIPv6, type DnsRecordEntry } from './records.js';

export type { DnsRecordEntry, RecordType } from './records.js';

/**
 * One DNS name: either the single form (one CNAME, A or AAAA record: type, target, and route for
 * a name served through the zone's tunnel) or `records:`, several records under the name.
 */
export interface DnsRecord {
  kind: 'DnsRecord';
  name: string;
  zone: string;
  type?: 'CNAME' | 'A' | 'AAAA';
  target?: string;
  proxied?: boolean;
  ttl?: number;
  route?: string;
  records?: DnsRecordEntry[];
}

const fqdn = { type: 'string', pattern: FQDN_PATTERN, description: 'a lowercase DNS name such as api.consilio.153.se' };
const recordName = { type: 'string', maxLength: 253, pattern: RECORD_NAME_PATTERN, description: 'a lowercase DNS name such as api.consilio.153.se (labels may start with an underscore: _dmarc.153.se)' };
const ttl = { type: 'integer', minimum: 1, maximum: 86400, description: 'seconds; 1 means automatic (the default), else 60 to 86400' };
/** A host name as a record's content: letters, digits, hyphens and underscores (_dmarc, _domainkey), an optional final dot. */
const HOSTNAME = /^(?=.{1,254}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\.?$/;
/** What TXT text may not hold: the characters DNS presentation format quotes or escapes, control characters, anything not ASCII. */
const TXT_UNSAFE = /[^\x20-\x7e]|["\\]/;
/** What a CAA value may not hold. */
const CAA_UNSAFE = /["\\\u0000-\u001f\u007f]/;

const entry = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  description: 'one record under the name',
  properties: {
    type: { enum: [...RECORD_TYPES], description: 'the record type: A, AAAA, CNAME, TXT, MX, CAA or NS' },
    content: {
      type: 'string',
      minLength: 1,
      maxLength: TXT_MAX,
      description: 'an IPv4 address (A), an IPv6 address (AAAA), a host name (CNAME, MX, NS), or text (TXT: printable ASCII without quotes or backslashes, at most 2048 characters; fleetspec quotes it and splits it into 255-byte strings)',
    },
    priority: { type: 'integer', minimum: 0, maximum: 65535, description: 'MX only, and required there: lower is preferred' },
    flags: { type: 'integer', minimum: 0, maximum: 255, description: 'CAA only: 0 (the default), or 128 for a critical property' },
    tag: { enum: [...CAA_TAGS], description: 'CAA only, and required there: issue, issuewild or iodef' },
    value: { type: 'string', minLength: 1, maxLength: 1000, description: 'CAA only, and required there: the CA\'s domain (issue, issuewild) or a mailto:/https: URL (iodef)' },
    ttl,
    proxied: { type: 'boolean', description: 'through Cloudflare\'s proxy (A, AAAA and CNAME only); default false' },
  },
};

const schema = kindSchema(
  'dns',
  'DnsRecord',
  'The Cloudflare DNS records of one name. The single form (type, target) is one CNAME, A or AAAA record; a record routed through the tunnel names the port allocation behind it, and the tunnel\'s ingress rules are generated from those. The records: form holds several records under the name (A and AAAA, TXT, MX, CAA, NS).',
  {
    required: ['kind', 'name', 'zone'],
    dependentRequired: { type: ['target'], target: ['type'] },
    properties: {
      kind: { const: 'DnsRecord' },
      name: recordName,
      zone: { ...fqdn, description: 'the zone the record belongs to, such as 153.se (defined in specs/zones)' },
      type: { enum: [...SINGLE_TYPES], description: 'single form: CNAME, A or AAAA (use records: for other types or several records)' },
      target: ref('text', 'single form: what the record points at: the tunnel host name for a CNAME, an address for A/AAAA'),
      proxied: { type: 'boolean', description: 'single form: through Cloudflare\'s proxy; default true for records routed through the tunnel, false otherwise' },
      ttl: { ...ttl, description: 'single form: seconds; 1 means automatic (the default)' },
      route: {
        type: 'string',
        pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?/[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
        description: 'single form, CNAME to the tunnel: the port allocation behind the name, as project/service (see specs/ports)',
      },
      records: { type: 'array', minItems: 1, maxItems: 100, items: entry, description: 'several records under this name (instead of type/target)' },
    },
  },
);

type Path = (string | number)[];

/** The DNS rules for the records of one spec: what each type's content must be, and what may share a name. */
export function recordFindings(value: DnsRecord): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, path: Path, message: string, hint: string, atKey = false) => findings.push({ code, path, message, hint, ...(atKey ? { atKey } : {}) });
  if (value.records === undefined) {
    if (value.type === undefined) add('dns.no-record', ['name'], `${value.name} has no record`, 'add type: and target: (one CNAME, A or AAAA record), or records: with one entry per record');
    else if (value.type === 'A' && !validIPv4(value.target!)) add('dns.bad-content', ['target'], `"${value.target}" is not an IPv4 address (an A record's target)`, 'write an address such as 192.0.2.10, or use type: CNAME for a host name');
    else if (value.type === 'AAAA' && !validIPv6(value.target!)) add('dns.bad-content', ['target'], `"${value.target}" is not an IPv6 address (an AAAA record's target)`, 'write an address such as 2001:db8::10, or use type: CNAME for a host name');
    return findings;
  }
  for (const key of ['type', 'target', 'proxied', 'ttl', 'route'] as const) {
    if (value[key] !== undefined) {
      add('dns.two-forms', [key], `${key}: beside records: mixes the single form and the list form`, key === 'route' ? 'a routed name is one CNAME to the tunnel: write it in the single form (type: CNAME, target, route) without records:' : `move it into the entries of records: (each entry has its own type, ttl and proxied), or drop records:`, true);
    }
  }
  const entries = value.records;
  entries.forEach((e, i) => {
    const at = (field: string): Path => ['records', i, field];
    const only = (field: 'content' | 'priority' | 'flags' | 'tag' | 'value', types: string, allowed: boolean) => {
      if (e[field] !== undefined && !allowed) add('dns.field-not-for-type', at(field), `${field}: is for ${types} records, not ${e.type}`, `remove ${field}:`, true);
    };
    only('priority', 'MX', e.type === 'MX');
    for (const f of ['flags', 'tag', 'value'] as const) only(f, 'CAA', e.type === 'CAA');
    only('content', 'every type but CAA (a CAA record is flags, tag and value)', e.type !== 'CAA');
    if (e.proxied && !PROXIABLE.has(e.type)) add('dns.not-proxiable', at('proxied'), `a ${e.type} record cannot be proxied: Cloudflare proxies A, AAAA and CNAME records only`, 'remove proxied:, or set it to false');
    if (e.type === 'CAA') {
      if (e.tag === undefined) add('dns.missing-field', ['records', i], 'a CAA record needs tag:', 'add tag: issue (or issuewild, iodef)');
      if (e.value === undefined) add('dns.missing-field', ['records', i], 'a CAA record needs value:', 'add value: the CA\'s domain, such as letsencrypt.org (or a mailto:/https: URL for iodef)');
      else if (CAA_UNSAFE.test(e.value) || /\s/.test(e.value)) add('dns.bad-content', at('value'), 'a CAA value holds a space, a quote, a backslash or a control character', 'write the CA\'s domain (letsencrypt.org) or, for iodef, one URL');
      else if (e.tag === 'iodef' && !/^(mailto:[^@\s]+@[^@\s]+|https?:\/\/[^\s]+)$/.test(e.value)) add('dns.bad-content', at('value'), `"${e.value}" is not a mailto: or http(s): URL (an iodef property's value)`, 'write mailto:security@example.com or https://example.com/caa-report');
      else if (e.tag !== 'iodef' && !/^(;|[A-Za-z0-9.-]+(\s*;.*)?)$/.test(e.value)) add('dns.bad-content', at('value'), `"${e.value}" is not a CA domain (an ${e.tag} property's value)`, 'write the CA\'s domain, such as letsencrypt.org, or ; to allow no CA');
      return;
    }
    if (e.content === undefined) {
      add('dns.missing-field', ['records', i], `a ${e.type} record needs content:`, e.type === 'A' ? 'add content: an IPv4 address' : e.type === 'AAAA' ? 'add content: an IPv6 address' : e.type === 'TXT' ? 'add content: the text' : 'add content: a host name');
    } else if (e.type === 'A' && !validIPv4(e.content)) {
      add('dns.bad-content', at('content'), `"${e.content}" is not an IPv4 address (an A record's content)`, 'write an address such as 192.0.2.10; an IPv6 address is an AAAA record');
    } else if (e.type === 'AAAA' && !validIPv6(e.content)) {
      add('dns.bad-content', at('content'), `"${e.content}" is not an IPv6 address (an AAAA record's content)`, 'write an address such as 2001:db8::10; an IPv4 address is an A record');
    } else if ((e.type === 'CNAME' || e.type === 'MX' || e.type === 'NS') && !HOSTNAME.test(e.content)) {
      add('dns.bad-content', at('content'), `"${e.content}" is not a host name (a${e.type === 'MX' ? 'n' : ''} ${e.type} record's content)`, e.type === 'MX' ? 'write the mail server\'s host name, such as mail.example.com (not an address)' : 'write a host name such as host.example.com');
    } else if (e.type === 'TXT') {
      if (TXT_UNSAFE.test(e.content)) add('dns.bad-content', at('content'), 'TXT content holds a quote, a backslash, a line break, another control character or a character that is not ASCII', `write the text on one line in printable ASCII, without quotes or backslashes (fleetspec quotes it and splits it into ${TXT_STRING}-byte strings)`);
      else if (txtContent(e.content).length > TXT_MAX) add('dns.bad-content', at('content'), `TXT content is ${txtContent(e.content).length} characters as quoted ${TXT_STRING}-byte strings; Cloudflare takes at most ${TXT_MAX}`, 'shorten it, or split it over several TXT records');
    }
    if (e.type === 'MX' && e.priority === undefined) add('dns.missing-field', ['records', i], 'an MX record needs priority:', 'add priority: a number, lower is preferred (10)');
  });
  // What may share a name: a CNAME nothing (RFC 1034), and no record twice.
  const cname = entries.findIndex((e) => e.type === 'CNAME');
  if (cname >= 0 && entries.length > 1) {
    const other = entries.findIndex((e, i) => i !== cname);
    add('dns.cname-not-alone', ['records', cname, 'type'], `a CNAME cannot share its name with any other record (here a ${entries[other]!.type}, records[${other}])`, 'keep the CNAME alone under this name, or replace it with the A/AAAA records it stands for');
  }
  const ns = entries.findIndex((e) => e.type === 'NS');
  const notNs = entries.findIndex((e) => e.type !== 'NS');
  if (ns >= 0 && notNs >= 0 && value.name !== value.zone) {
    add('dns.ns-not-alone', ['records', notNs, 'type'], `NS records delegate ${value.name} to other servers; a ${entries[notNs]!.type} record beside them (records[${notNs}]) would never be answered from here`, 'keep only the NS records under a delegated name, and publish the others in the zone it is delegated to');
  }
  const seen = new Map<string, number>();
  recordsOf(value).forEach((r, i) => {
    const key = recordKey(r);
    const first = seen.get(key);
    if (first !== undefined) add('dns.duplicate-record', ['records', i], `the same ${r.type} record as records[${first}]`, 'remove one of them (records differing only in ttl or proxied are one record)');
    else seen.set(key, i);
  });
  return findings;
}

export const dns = defineKind<DnsRecord>({
  kind: 'DnsRecord',
  folder: 'dns',
  description: 'Cloudflare records and tunnel ingress, applied through the dns Terraform stack',
  schema,
  nameOf: (r) => r.name,
  namePath: ['name'],
  references({ value }, index) {
    const findings: Finding[] = recordFindings(value);
    const unknownZone = missingReference(index, 'zones', value.zone, ['zone']);
    if (unknownZone) findings.push(unknownZone);
    const tunnel = (index.get('zones', value.zone)?.value as DnsZone | undefined)?.tunnel;
    if (value.route !== undefined && value.records === undefined) {
      if (value.type !== 'CNAME') {
        findings.push({ code: 'ref.route-not-cname', path: ['route'], message: `routed to ${value.route}, but a ${value.type} record cannot point at the tunnel`, hint: 'a routed name is a CNAME to the tunnel\'s hostname: set type: CNAME, or drop route:' });
      } else if (!unknownZone && !tunnel) {
        findings.push({
          code: 'ref.no-tunnel',
          path: ['route'],
          message: `routed to ${value.route}, but zone "${value.zone}" has no tunnel to carry it`,
          hint: `add tunnel: {name, hostname} to specs/zones/${value.zone}.yaml`,
        });
      } else if (tunnel && value.target !== tunnel.hostname) {
        findings.push({
          code: 'ref.not-through-tunnel',
          path: ['target'],
          message: `routed to ${value.route} but points at "${value.target}", not the tunnel's hostname "${tunnel.hostname}"`,
          hint: `set target: ${tunnel.hostname}, or drop route: if the name is not served through the tunnel`,
        });
      }
    }
    if (!insideZone(value.name, value.zone)) {
      findings.push({
        code: 'ref.outside-zone',
        path: ['name'],
        message: `"${value.name}" is not inside zone "${value.zone}"`,
        hint: `use a name ending in .${value.zone}, or the zone it belongs to`,
      });
    } else if (value.name === value.zone) {
      (value.records ?? []).forEach((e, i) => {
        if (e.type === 'NS') findings.push({ code: 'dns.apex-ns', path: ['records', i, 'type'], message: `NS records at the zone apex ${value.zone} are Cloudflare's own`, hint: 'remove it: Cloudflare serves the apex NS records; NS records delegate a name below the apex' });
      });
    }
    return findings;
  },
});
