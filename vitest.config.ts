import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'reconciler/**/*.test.ts'],
    // Fixtures are data, never tests.
    exclude: ['node_modules/**', 'dist/**', 'test/fixtures/**'],
    testTimeout: 30_000,
  },
});
