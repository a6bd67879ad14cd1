import { openStore } from '@fedtune/coordinator/store'
import type { TestProject } from 'vitest/node'
import { startPostgresServer } from './store/postgres-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The unix socket folder of the PostgreSQL server every test coordinator's database lives on. */
    postgresSocket: string
  }
}

/**
 * One real PostgreSQL server (Debian's postgresql, on a unix socket in a temp folder) for the whole
 * run, with a migrated template database: each test coordinator gets a database of its own, cloned
 * from the template in milliseconds (test/harness.ts, `testDatabase`).
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const server = await startPostgresServer()
  const store = await openStore(await server.createDatabase('fedtune_template'))
  await store.close()
  project.provide('postgresSocket', server.socketDir)
  return () => server.stop()
}
