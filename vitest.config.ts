import { defineConfig } from 'vitest/config'

/**
 * Folders whose files share their worker's modules (`isolate: false`): pure logic and servers in
 * the test's own process; no child processes, browsers or signals. Isolated, each of their ~140
 * files evaluated the whole module graph again (protocol, tfjs, fastify, PGlite): 2026-12-05, this
 * 2-core machine, the whole suite took 492 and 534 s this way, 640 s all isolated.
 */
const SHARED = ['protocol', 'model', 'coordinator', 'security', 'data', 'client-web', 'console']

/** What both projects run with. */
const common = {
  // Generous: on a 2-core machine at load ~18 a CLI test that takes 5 s idle takes ~40 s. A passing
  // run never waits for these; they only bound how long a hung test takes to fail.
  testTimeout: 180_000,
  hookTimeout: 300_000,
  pool: 'forks',
  // a stubbed global or environment variable never outlives its test (files share workers)
  unstubGlobals: true,
  unstubEnvs: true,
} as const

export default defineConfig({
  test: {
    // Once for the run, for both projects: one PostgreSQL server with a migrated template database
    // each test coordinator's database is cloned from; one migrated PGlite template folder, which
    // test/test-store.ts copies per test.
    globalSetup: ['test/global-postgres.ts', 'test/global-setup.ts'],
    // Two files at a time. Vitest's default here is availableParallelism() - 1, one file at a time on
    // 2 cores; most files wait on sockets, child processes and databases rather than compute, so two
    // at once took the whole suite from ~800 s to 572 s (2026-12-02, quiet 2-core machine, all passing).
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...common,
          name: 'shared',
          include: SHARED.map((d) => `test/${d}/**/*.test.ts`),
          isolate: false,
        },
      },
      {
        test: {
          ...common,
          name: 'isolated',
          include: ['test/**/*.test.ts'],
          exclude: SHARED.map((d) => `test/${d}/**`),
        },
      },
    ],
  },
})
