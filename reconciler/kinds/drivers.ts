// The kinds with a live side, each reconciled by the driver in its folder. dns (with zones)
// and vms are Terraform stacks; tickets are GitHub issues.
import type { Driver } from './driver.js';
import { dnsDriver } from './dns/driver.js';
import { hostsDriver } from './hosts/driver.js';
import { instructionsDriver } from './instructions/driver.js';
import { modelsDriver } from './models/driver.js';
import { portsDriver } from './ports/driver.js';
import { rolesDriver } from './roles/driver.js';
import { ticketsDriver } from './tickets/driver.js';
import { vmsDriver } from './vms/driver.js';

export const DRIVERS: readonly Driver[] = [hostsDriver, modelsDriver, rolesDriver, instructionsDriver, portsDriver, dnsDriver, vmsDriver, ticketsDriver] as Driver[];
