// Shared by the benchmarks: a generated fleet of specs, and the table they print.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { loadSpecs } from '../reconciler/specs/load.js';
import { synthesiseAll } from '../reconciler/stacks/files.js';

/** Writes a valid fleet of about `resources` resources into `dir`; returns the number of files. */
export async function generateFleet(dir: string, resources: number): Promise<number> {
  // Per project: one PortRange with 8 allocations, 8 DNS records, one host, one ticket: 18 resources
  // (plus one zone with the tunnel for all records).
  const projects = Math.ceil(resources / 18);
  for (const folder of ['hosts', 'ports', 'dns', 'tickets', 'zones']) await mkdir(join(dir, folder));
  await writeFile(
    join(dir, 'zones', 'example.org.yaml'),
    'kind: DnsZone\nname: example.org\nprovider: cloudflare\napiToken: secret:meta/cloudflare/api_token\ntunnel:\n  name: bench\n  hostname: tunnel.example.org\n',
  );
  for (let p = 0; p < projects; p++) {
    const start = 10_000 + p * 10; // ten ports per project keeps 65535 reachable for ~5,500 projects
    const allocations = Array.from({ length: 8 }, (_, i) => `  - service: svc${i}\n    port: ${start + i}\n    host: host${p}`).join('\n');
    await writeFile(join(dir, 'hosts', `host${p}.yaml`), `kind: Host\nname: host${p}\naddress: 10.0.${p >> 8}.${p & 255}\nservices:\n  - name: ssh\n    port: 22\n`);
    await writeFile(join(dir, 'ports', `project${p}.yaml`), `kind: PortRange\nname: project${p}\nrange: {start: ${start}, end: ${start + 9}}\nallocations:\n${allocations}\n`);
    const records = Array.from(
      { length: 8 },
      (_, i) => `kind: DnsRecord\nname: svc${i}.project${p}.example.org\nzone: example.org\ntype: CNAME\ntarget: tunnel.example.org\nroute: project${p}/svc${i}\n`,
    ).join('---\n');
    await writeFile(join(dir, 'dns', `project${p}.yaml`), records);
    await writeFile(join(dir, 'tickets', `T-${String(p + 1).padStart(4, '0')}.yaml`), `kind: Ticket\nid: T-${String(p + 1).padStart(4, '0')}\ntitle: Check project ${p}\nstatus: open\nhosts: [host${p}]\n`);
  }
  return projects * 4 + 1;
}

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '| ' + r.map((c, i) => c.padStart(widths[i]!)).join(' | ') + ' |';
  console.log(fmt(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(fmt(r));
}

/**
 * A spec repository's files for a generated fleet of `resources` (generateFleet), with its stacks
 * synthesised: path → content, as a test git server's createBare takes them. Written under `seed`.
 */
export async function fleetRepoFiles(seed: string, resources: number): Promise<Record<string, string>> {
  await mkdir(join(seed, 'specs'), { recursive: true });
  await generateFleet(join(seed, 'specs'), resources);
  await synthesiseAll((await loadSpecs(join(seed, 'specs'))).index, join(seed, 'stacks'));
  const files: Record<string, string> = {};
  for (const name of await readdir(seed, { recursive: true })) {
    if (/\.(ya?ml|json)$/.test(name)) files[relative(seed, join(seed, name))] = await readFile(join(seed, name), 'utf8');
  }
  return files;
}
