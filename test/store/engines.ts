import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, inject } from 'vitest'
import { testStoreFolder } from '../test-store.ts'

/** One of the two engines the store runs on, handing out empty, migrated databases. */
export type Engine = {
  readonly name: 'pglite' | 'postgres'
  /** The location of a fresh database of its own, already migrated. */
  fresh(): Promise<string>
  /** The location of a database nothing has opened yet. */
  empty(): Promise<string>
}

/**
 * Both engines, on what the whole `vitest run` shares (test/global-postgres.ts, test/global-setup.ts):
 * the run's PostgreSQL server, where each database is new, cloned from the migrated template for
 * `fresh` and from PostgreSQL's own empty one for `empty`; and for PGlite a copy of the run's migrated
 * template folder (creating a PGlite cluster takes seconds, copying one a fraction of that), or a
 * folder that does not exist yet. A file's PGlite folders are removed after it.
 */
export function useEngines(): readonly Engine[] {
  const root = mkdtempSync(join(inject('storeRoot'), 'engines-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  let count = 0
  const postgres = async (template: 'fedtune_template' | 'template1'): Promise<string> => {
    const socket = inject('postgresSocket')
    const url = (db: string) => `postgres://postgres@localhost/${db}?host=${encodeURIComponent(socket)}`
    // unique across the run's worker processes, which share the server, and the files one of them runs
    const name = `e_${process.pid}_${randomBytes(4).toString('hex')}_${++count}`
    const admin = new pg.Client({ connectionString: url('postgres') })
    await admin.connect()
    try {
      await admin.query(`create database ${name} template ${template}`)
    } finally {
      await admin.end()
    }
    return url(name)
  }
  return [
    {
      name: 'pglite',
      fresh: () => testStoreFolder(),
      async empty() {
        return join(root, `db-${++count}`)
      },
    },
    {
      name: 'postgres',
      fresh: () => postgres('fedtune_template'),
      empty: () => postgres('template1'),
    },
  ]
}
