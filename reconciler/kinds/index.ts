// Every kind fleetspec knows, in the order plans list them.
import { dns } from './dns/index.js';
import { hosts } from './hosts/index.js';
import { instructions } from './instructions/index.js';
import type { KindModule } from './kind.js';
import { models } from './models/index.js';
import { ports } from './ports/index.js';
import { roles } from './roles/index.js';
import { tickets } from './tickets/index.js';
import { vms } from './vms/index.js';
import { zones } from './zones/index.js';

export const KINDS: readonly KindModule<any>[] = [hosts, models, roles, instructions, tickets, ports, zones, dns, vms];

export const kindByName = new Map(KINDS.map((k) => [k.kind, k]));
export const kindByFolder = new Map(KINDS.map((k) => [k.folder, k]));

export type { Finding, KindModule, Resource, SpecIndex } from './kind.js';
