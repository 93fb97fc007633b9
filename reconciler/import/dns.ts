import type { ImportSource } from './source.js';

export const dnsSource: ImportSource = {
  name: 'dns',
  async read() {
    throw new Error('not built yet');
  },
};
