import type { ImportSource } from './source.js';

export const ticketsSource: ImportSource = {
  name: 'tickets',
  async read() {
    throw new Error('not built yet');
  },
};
