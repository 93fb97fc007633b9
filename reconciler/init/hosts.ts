// `init --from-hosts`: a host read over SSH becomes specs/hosts/<name>.yaml. Everything the host
// says (hostname, OS, mount points) is data: it is checked against the hosts schema, written
// with the yaml library, and never reaches a file path except through hostFileName().
import { Document } from 'yaml';
import { defs } from '../kinds/common.js';
import { formatSize, type HostFacts } from '../kinds/hosts/facts.js';
import type { Host } from '../kinds/hosts/index.js';

export interface HostTarget {
  /** As given on the command line. */
  text: string;
  user: string;
  address: string;
  port: number;
}

const HOST_NAME = new RegExp(defs.hostName.pattern);
const UNIX_USER = new RegExp(defs.unixUser.pattern);
/** The hosts schema's address pattern, plus IPv6 (written in brackets on the command line). */
const ADDRESS = /^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$/;

/** `user@address[:port]`, `user@[v6address][:port]`; an error message when it is not one. */
export function parseHostTarget(text: string): HostTarget | { error: string } {
  const m = /^([^@\s]+)@(?:\[([0-9A-Fa-f:.]+)\]|([^:@\s[\]]+))(?::([0-9]+))?$/.exec(text);
  if (!m) return { error: 'expected user@address or user@address:port' };
  const [, user, v6, plain, portText] = m;
  const address = (v6 ?? plain)!;
  if (!UNIX_USER.test(user!)) return { error: `"${user}" is not a Unix user name (lowercase letters, digits, _ and -)` };
  if (!ADDRESS.test(address)) return { error: `"${address}" is not an IP address or host name` };
  const port = portText === undefined ? 22 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { error: `port ${portText} is not between 1 and 65535` };
  return { text, user: user!, address, port };
}

/**
 * A spec name from what a host calls itself: the first label of its hostname, with anything
 * the hosts schema does not allow turned into dashes ("../../etc/x" becomes "etc-x"); from the
 * address when nothing is left. Always matches the schema's hostName, so it is a safe file name.
 */
export function hostSpecName(hostname: string, address: string): string {
  const clean = (text: string) =>
    text
      .replace(/[^A-Za-z0-9-]+/g, '-')
      .replace(/-{2,}/g, '-')
      .replace(/^-+/, '')
      .slice(0, 63)
      .replace(/-+$/, '');
  const first = hostname.trim().split('.').find((label) => clean(label) !== '') ?? '';
  const name = clean(first) || clean(`host-${address}`);
  return HOST_NAME.test(name) ? name : 'host';
}

/** The file a spec name goes to, relative to the repository; throws for a name that could leave specs/hosts/. */
export function hostFileName(name: string): string {
  if (!HOST_NAME.test(name)) throw new Error(`not a host name: ${JSON.stringify(name)}`);
  return `specs/hosts/${name}.yaml`;
}

/** Well-known services by port, for the names of listening ports; others are port-<n>. */
const WELL_KNOWN: Record<number, string> = {
  22: 'ssh',
  25: 'smtp',
  53: 'dns',
  80: 'http',
  111: 'rpcbind',
  443: 'https',
  631: 'ipp',
  2049: 'nfs',
  3000: 'grafana',
  3306: 'mysql',
  5432: 'postgres',
  6379: 'redis',
  8080: 'http-alt',
  9090: 'prometheus',
  9100: 'node-exporter',
  11434: 'ollama',
  19999: 'netdata',
};

/** One line of text the schema accepts (text: minLength 1), or undefined. Control characters stay: YAML escapes them. */
const textField = (value: string) => (value.trim() === '' ? undefined : value.trim().slice(0, 200));

/** The Host spec for facts read from `target`, with the host key it showed pinned. */
export function hostSpecFromFacts(facts: HostFacts, target: HostTarget, hostKey: string, readAt: Date): Host {
  const name = hostSpecName(facts.hostname, target.address);
  const os = textField(facts.os);
  const disks = facts.disks.filter((d) => d.sizeBytes > 0 && d.mount.startsWith('/'));
  const host: Host = {
    kind: 'Host',
    name,
    ...(HOST_NAME.test(facts.hostname) ? { hostname: facts.hostname } : {}),
    address: target.address,
    ...(os ? { os } : {}),
    cpu: { threads: facts.cpus },
    memory: { size: formatSize(facts.memory.totalBytes) },
    ...(disks.length ? { disks: disks.map((d) => ({ size: formatSize(d.sizeBytes), mount: d.mount })) } : {}),
    ...(facts.listening.length
      ? { services: facts.listening.map((port) => ({ name: WELL_KNOWN[port] ?? `port-${port}`, port, description: 'listening when read by fleetspec init' })) }
      : {}),
    ssh: { user: target.user, port: target.port, hostKey },
    ...(disks.length
      ? { observed: { source: `fleetspec init --from-hosts, ${readAt.toISOString()}`, disks: disks.map((d) => ({ mount: d.mount, usedPercent: d.usedPercent })) } }
      : {}),
  };
  const hostname = textField(facts.hostname);
  if (hostname !== undefined && !HOST_NAME.test(facts.hostname)) {
    host.notes = [`the host calls itself ${JSON.stringify(facts.hostname)}; named ${name} here`];
  }
  return host;
}

/** The spec file's text: a schema line and comments, then the spec as data, serialised by the yaml library. */
export function hostSpecText(host: Host, fingerprint: string): string {
  const doc = new Document(host);
  doc.commentBefore = [
    ' Read over SSH by fleetspec init --from-hosts. Check and complete it: add hardware,',
    ' purpose, gpus and budget, name the services, and remove what should not be watched.',
    ` ssh.hostKey was pinned after its fingerprint ${fingerprint} was confirmed.`,
  ].join('\n');
  return `# yaml-language-server: $schema=../schemas/hosts.schema.json\n${doc.toString({ lineWidth: 0 })}`;
}
