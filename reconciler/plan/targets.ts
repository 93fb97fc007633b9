// `plan --target KIND/NAME`, as Terraform's -target: the plan narrowed to the named resources.
// fleetspec tracks no dependencies between resources, so nothing is added to what is named;
// within a Terraform stack, terraform itself adds what a targeted resource depends on.
import { closest } from '../diagnostics.js';
import { KINDS } from '../kinds/index.js';
import type { SpecIndex } from '../kinds/kind.js';
import type { StackName } from '../stacks/model.js';
import { STACK_OF_KIND, stackAddresses } from '../stacks/model.js';
import type { NotRead, ResourceChange } from './plan.js';

export interface Target {
  kind: string;
  name: string;
}

/** A target that names no kind, or nothing of its kind: the message, and the closest name when one is near. */
export class TargetError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

const FOLDERS = KINDS.map((k) => k.folder);

/** `ports/consilio` → {kind: ports, name: consilio}; an unknown kind is a TargetError. */
export function parseTarget(text: string): Target {
  const slash = text.indexOf('/');
  const [kind, name] = slash < 0 ? [text, ''] : [text.slice(0, slash), text.slice(slash + 1)];
  if (!FOLDERS.includes(kind)) {
    const near = closest(kind, FOLDERS);
    throw new TargetError(`--target ${text}: no kind ${kind}`, `${near ? `did you mean ${near}/${name || 'NAME'}? ` : ''}kinds: ${FOLDERS.join(', ')}`);
  }
  if (!name) throw new TargetError(`--target ${text}: no name`, `write KIND/NAME, e.g. ${kind}/${'NAME'}`);
  return { kind, name };
}

/** What a set of targets plans: which drivers run, the stacks' addresses, and which entries of theirs are kept. */
export interface TargetScope {
  targets: Target[];
  /** Driver folders with something targeted. */
  folders: Set<string>;
  /** Terraform addresses per stack (StacksContext.targets). */
  stacks: Partial<Record<StackName, string[]>>;
  /** Whether an entry of a non-stack driver is targeted: the name itself, or a part of it (a range's allocations, `consilio/api`). */
  matches(entry: { kind: string; name: string }): boolean;
}

export function targetScope(targets: readonly Target[], index: SpecIndex): TargetScope {
  const folders = new Set<string>();
  const stacks: Partial<Record<StackName, string[]>> = {};
  for (const t of targets) {
    const stack = STACK_OF_KIND[t.kind];
    folders.add(stack ?? t.kind);
    if (stack) (stacks[stack] ??= []).push(...stackAddresses(index, t.kind, t.name));
  }
  for (const [stack, addresses] of Object.entries(stacks)) stacks[stack as StackName] = [...new Set(addresses)].sort();
  const matches = (e: { kind: string; name: string }) => targets.some((t) => t.kind === e.kind && (e.name === t.name || e.name.startsWith(`${t.name}/`)));
  return { targets: [...targets], folders, stacks, matches };
}

/**
 * Targets that name nothing: no spec of that kind and name, nor anything the drivers read
 * (a port range only the store still holds can be targeted, to delete it).
 */
export function unmatchedTargets(scope: TargetScope, index: SpecIndex, changes: readonly ResourceChange[], unknown: readonly NotRead[]): TargetError | undefined {
  for (const t of scope.targets) {
    if (index.get(t.kind, t.name)) continue;
    const stack = STACK_OF_KIND[t.kind];
    const read = [...changes, ...unknown];
    if (!stack && read.some((e) => e.kind === t.kind && (e.name === t.name || e.name.startsWith(`${t.name}/`)))) continue;
    // A record or VM only Terraform's state still holds: its address is planned for deletion.
    if (stack && read.some((e) => e.kind === stack && stackAddresses(index, t.kind, t.name).includes(e.name))) continue;
    const names = new Set([...index.all(t.kind).map((r) => r.name), ...(stack ? [] : [...changes, ...unknown].filter((e) => e.kind === t.kind).map((e) => e.name))]);
    const near = closest(t.name, names);
    return new TargetError(
      `--target ${t.kind}/${t.name}: no ${t.kind} named ${t.name} in the specs${stack ? '' : ' or live'}`,
      near ? `did you mean ${t.kind}/${near}?` : `fleetspec validate lists the specs; ${t.kind} has ${names.size ? [...names].sort().slice(0, 10).join(', ') : 'no resources'}`,
    );
  }
  return undefined;
}
