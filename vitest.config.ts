import { defineConfig } from 'vitest/config';
import type { Reporter, TestModule } from 'vitest/node';

/** Ends the run with a plain "N passed, N failed, N skipped" line that any CI log reader understands. */
const summaryLine: Reporter = {
  onTestRunEnd(testModules: readonly TestModule[]) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else counts.skipped++;
      }
    }
    console.log(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  },
};

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'reconciler/**/*.test.ts'],
    // Fixtures are data, never tests.
    exclude: ['node_modules/**', 'dist/**', 'test/fixtures/**'],
    testTimeout: 30_000,
    // Set-up starts real components (PGlite, PostgreSQL databases, sshd, git http-backend): on a
    // loaded 2-core machine PGlite's first open alone has taken over 30 s.
    hookTimeout: 120_000,
    reporters: ['default', summaryLine],
    // A prepared embedded store that new PGlite stores are copied from, as a built fleetspec does.
    globalSetup: ['test/store-template.setup.ts'],
  },
});
