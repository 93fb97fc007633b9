// Terraform import blocks for a stack (fleetspec import): stacks/<name>/imports.tf.json beside
// cdk.tf.json, so a live plan adopts the existing resources ("import") instead of creating them;
// once applied they are in state, and import blocks of resources in state change nothing.
// The file is in the spec repository, where anyone with push access can write anything: the
// stack driver never hands its bytes to terraform. It reads (address, id) pairs, keeps those
// whose address is a resource of the synthesised stack and whose id is a provider id (never a
// template), and gives terraform the JSON it builds from them (stackImports). Any other *.tf.json
// in the folder is not fleetspec's and is never given to terraform.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'safe-stable-stringify';
import { writeAtomic } from '../files.js';

export const IMPORTS_FILE = 'imports.tf.json';

export interface ImportBlock {
  /** A resource address: `cloudflare_dns_record.api_example_com`. */
  to: string;
  /** The provider's import id, such as `<zone_id>/<record_id>`. */
  id: string;
}

const ADDRESS = /^[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*$/;
/** Ids fleetspec writes: Cloudflare's hex ids and UUIDs joined by `/`; never a template. */
const IMPORT_ID = /^[0-9a-f-]{8,64}(\/[0-9a-f-]{8,64})*$/;

export const importsFile = (dir: string, stack: string) => join(dir, stack, IMPORTS_FILE);

/** The stack's import blocks after adding `blocks` (one per address; the newest id wins), as file text. */
export async function mergedImports(dir: string, stack: string, blocks: readonly ImportBlock[]): Promise<{ text: string; blocks: ImportBlock[] }> {
  const byAddress = new Map<string, ImportBlock>();
  const previous = await readFile(importsFile(dir, stack), 'utf8').catch(() => undefined);
  if (previous !== undefined) {
    const json = JSON.parse(previous) as { import?: ImportBlock[] };
    for (const b of json.import ?? []) if (ADDRESS.test(b.to) && IMPORT_ID.test(b.id)) byAddress.set(b.to, { to: b.to, id: b.id });
  }
  for (const b of blocks) {
    if (!ADDRESS.test(b.to) || !IMPORT_ID.test(b.id)) throw new Error(`refused import block ${JSON.stringify(b)}: not a resource address and a provider id`);
    byAddress.set(b.to, { to: b.to, id: b.id });
  }
  const all = [...byAddress.values()].sort((a, b) => (a.to < b.to ? -1 : 1));
  const json = {
    '//': { fleetspec: { notice: `Written by fleetspec import: terraform adopts these existing resources into stacks/${stack} instead of creating them. Safe to keep after they are applied.` } },
    import: all,
  };
  return { text: stringify(json, null, 2) + '\n', blocks: all };
}

/**
 * The import blocks terraform gets for a stack: those of stacks/<name>/imports.tf.json whose
 * address is a resource in `stackJson` (the synthesised stack) and whose id is a provider id,
 * as JSON fleetspec builds; and what was refused, with why (each becomes a plan finding).
 */
export async function stackImports(dir: string, stack: string, stackJson: string): Promise<{ text?: string; refused: string[] }> {
  const raw = await readFile(importsFile(dir, stack), 'utf8').catch(() => undefined);
  if (raw === undefined) return { refused: [] };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { refused: [`${IMPORTS_FILE} is not JSON`] };
  }
  const resources = (JSON.parse(stackJson) as { resource?: Record<string, Record<string, unknown>> }).resource ?? {};
  const known = new Set(Object.entries(resources).flatMap(([type, byName]) => Object.keys(byName).map((n) => `${type}.${n}`)));
  const refused: string[] = [];
  const keys = json && typeof json === 'object' && !Array.isArray(json) ? Object.keys(json).filter((k) => k !== '//' && k !== 'import') : ['(not an object)'];
  if (keys.length) refused.push(`${IMPORTS_FILE} holds more than import blocks (${keys.join(', ')}): only import blocks are given to terraform`);
  const list = (json as { import?: unknown }).import;
  const blocks: ImportBlock[] = [];
  for (const b of Array.isArray(list) ? list : []) {
    const { to, id, ...rest } = (b && typeof b === 'object' ? b : {}) as Record<string, unknown>;
    if (typeof to !== 'string' || typeof id !== 'string' || !ADDRESS.test(to) || !IMPORT_ID.test(id) || Object.keys(rest).length) refused.push(`${IMPORTS_FILE}: an import block that is not {to: resource address, id: provider id}`);
    else if (!known.has(to)) refused.push(`${IMPORTS_FILE}: ${to} is not a resource of stacks/${stack}`);
    else blocks.push({ to, id });
  }
  if (list !== undefined && !Array.isArray(list)) refused.push(`${IMPORTS_FILE}: import is not a list`);
  return { ...(blocks.length ? { text: stringify({ import: blocks.sort((a, b) => (a.to < b.to ? -1 : 1)) }, null, 2) + '\n' } : {}), refused };
}

export async function writeImports(dir: string, stack: string, blocks: readonly ImportBlock[]): Promise<string> {
  const { text } = await mergedImports(dir, stack, blocks);
  await writeAtomic(importsFile(dir, stack), text);
  return importsFile(dir, stack);
}
