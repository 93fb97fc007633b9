// VMs are planned and applied through the vms Terraform stack.
import { stackDriver } from '../../stacks/driver.js';

export const vmsDriver = stackDriver('vms');
