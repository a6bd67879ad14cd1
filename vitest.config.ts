import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL server for the run, with a migrated template database each test coordinator's
    // database is cloned from; one migrated PGlite template folder, which test/test-store.ts copies per test.
    globalSetup: ['test/global-postgres.ts', 'test/global-setup.ts'],
    // Generous: on a 2-core machine at load ~18 a CLI test that takes 5 s idle takes ~40 s. A passing
    // run never waits for these; they only bound how long a hung test takes to fail.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Two files at a time. Vitest's default here is availableParallelism() - 1, one file at a time on
    // 2 cores; most files wait on sockets, child processes and databases rather than compute, so two
    // at once took the whole suite from ~800 s to 572 s (2026-12-02, quiet 2-core machine, all passing).
    maxWorkers: 2,
  },
})
