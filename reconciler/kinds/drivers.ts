// The kinds with a live side, each reconciled by the driver in its folder. dns and vms are
// planned by their Terraform stacks and tickets through GitHub; they join here when built.
import type { Driver } from './driver.js';
import { hostsDriver } from './hosts/driver.js';
import { modelsDriver } from './models/driver.js';
import { portsDriver } from './ports/driver.js';
import { rolesDriver } from './roles/driver.js';

export const DRIVERS: readonly Driver[] = [hostsDriver, modelsDriver, rolesDriver, portsDriver] as Driver[];
