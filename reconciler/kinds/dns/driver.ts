// DNS records, zones and tunnel ingress are planned and applied through the dns Terraform stack.
import { stackDriver } from '../../stacks/driver.js';

export const dnsDriver = stackDriver('dns');
