import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    // Each test process dies with vitest, however vitest ends.
    setupFiles: ['test/setup/die-with-vitest.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // 2 cores, and the integration tests start servers, SSH daemons and workers: one file at a time.
    fileParallelism: false,
    pool: 'forks',
  },
});
