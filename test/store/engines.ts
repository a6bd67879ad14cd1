import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '@fedtune/coordinator/store'
import { afterAll, beforeAll } from 'vitest'
import { type PostgresServer, startPostgresServer } from './postgres-server.ts'

/** One of the two engines the store runs on, handing out empty, migrated databases. */
export type Engine = {
  readonly name: 'pglite' | 'postgres'
  /** The location of a fresh database of its own, already migrated. */
  fresh(): Promise<string>
  /** The location of a database nothing has opened yet. */
  empty(): Promise<string>
}

/**
 * Both engines for one test file: a PostgreSQL server started once for the file, and for PGlite a
 * migrated folder made once and copied per test (creating a PGlite cluster takes ~3 s, copying one ~0.1 s).
 * Everything is stopped and removed after the file.
 */
export function useEngines(): readonly Engine[] {
  const root = mkdtempSync(join(tmpdir(), 'fedtune-store-'))
  let server: PostgresServer | null = null
  let template: string | null = null
  let count = 0
  beforeAll(async () => {
    server = await startPostgresServer()
    template = join(root, 'template')
    const store = await openStore(template)
    await store.close()
  })
  afterAll(() => {
    try {
      server?.stop()
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
  const started = (): PostgresServer => {
    if (server === null) throw new Error('the PostgreSQL server starts in beforeAll')
    return server
  }
  return [
    {
      name: 'pglite',
      async fresh() {
        if (template === null) throw new Error('the PGlite template is made in beforeAll')
        const folder = join(root, `db-${++count}`)
        cpSync(template, folder, { recursive: true })
        return folder
      },
      async empty() {
        return join(root, `db-${++count}`)
      },
    },
    {
      name: 'postgres',
      fresh: () => started().createDatabase(`db_${++count}`),
      empty: () => started().createDatabase(`db_${++count}`),
    },
  ]
}
