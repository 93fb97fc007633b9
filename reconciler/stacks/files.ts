// The synthesised output in stacks/<name>/cdk.tf.json: read the committed version, decide
// from its input hash whether synthesis can be skipped, and write only changed bytes.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../files.js';
import type { SpecIndex } from '../kinds/kind.js';
import { stackModels, type StackModel, type StackName } from './model.js';

export const STACK_FILE = 'cdk.tf.json';

export const stackFile = (dir: string, name: string) => join(dir, name, STACK_FILE);

/** The committed file's text and JSON, or undefined when there is none (or it is not JSON). */
export async function readCommitted(dir: string, name: string): Promise<{ text: string; json: Record<string, any> } | undefined> {
  const text = await readFile(stackFile(dir, name), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/**
 * The input hash recorded in a committed file, read from its first 4 KiB only: keys are sorted,
 * so `//` (and the hash inside it) comes before every resource.
 */
export async function committedInputHash(dir: string, name: string): Promise<string | undefined> {
  const handle = await open(stackFile(dir, name), 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return /"inputHash": "([0-9a-f]{64})"/.exec(buf.subarray(0, bytesRead).toString('utf8'))?.[1];
  } finally {
    await handle.close();
  }
}

export interface Synthesised {
  model: StackModel;
  /** The stack's JSON text: new, or the committed one when its input hash matched. */
  text: string;
  /** skipped: input hash unchanged, not synthesised; unchanged: synthesised, same bytes; written: file replaced. */
  status: 'skipped' | 'unchanged' | 'written';
}

/** Synthesises a model, unless the committed file already records the same input hash. */
export async function synthesiseModel(dir: string, model: StackModel, opts: { force?: boolean } = {}): Promise<{ text: string; fresh: boolean }> {
  if (!opts.force && (await committedInputHash(dir, model.name)) === model.inputHash) {
    const committed = await readFile(stackFile(dir, model.name), 'utf8');
    return { text: committed, fresh: false };
  }
  // cdktf and the providers load only when something must actually be synthesised.
  const { synthStack } = await import('./synth.js');
  return { text: synthStack(model), fresh: true };
}

/** `fleetspec stacks synth`: every (or the named) stack written to `dir`, changed files only. */
export async function synthesiseAll(index: SpecIndex, dir: string, opts: { only?: readonly StackName[]; force?: boolean; write?: boolean } = {}): Promise<Synthesised[]> {
  const out: Synthesised[] = [];
  for (const model of stackModels(index, opts.only)) {
    const { text, fresh } = await synthesiseModel(dir, model, opts);
    if (!fresh) {
      out.push({ model, text, status: 'skipped' });
      continue;
    }
    const previous = await readFile(stackFile(dir, model.name), 'utf8').catch(() => undefined);
    if (previous === text) out.push({ model, text, status: 'unchanged' });
    else {
      if (opts.write !== false) await writeAtomic(stackFile(dir, model.name), text);
      out.push({ model, text, status: 'written' });
    }
  }
  return out;
}
