// Terraform import blocks for a stack (fleetspec import): stacks/<name>/imports.tf.json beside
// cdk.tf.json. The stack driver copies every *.tf.json of the stack folder into terraform's
// working folder, so a live plan adopts the existing resources ("import") instead of creating
// them; once applied they are in state, and import blocks of resources in state change nothing.
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

export async function writeImports(dir: string, stack: string, blocks: readonly ImportBlock[]): Promise<string> {
  const { text } = await mergedImports(dir, stack, blocks);
  await writeAtomic(importsFile(dir, stack), text);
  return importsFile(dir, stack);
}
