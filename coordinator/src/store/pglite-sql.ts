import { mkdirSync } from 'node:fs'
import { PGlite, type Transaction } from '@electric-sql/pglite'
import { lockFolder } from './folder-lock.ts'
import type { Sql, SqlConnection } from './sql.ts'
import { engineError, StoreError } from './store-error.ts'

type Queryable = Pick<Transaction, 'query'>

/** Queries on `db`; `transaction` absent means `db` is a transaction already, which an inner one joins. */
function sqlOver(db: Queryable, where: string, transaction?: Sql['transaction']): Sql {
  const sql: Sql = {
    async query<Row extends object>(text: string, params: readonly unknown[] = []) {
      try {
        const result = await db.query<Row>(text, params as unknown[])
        return result.rows
      } catch (error) {
        throw engineError(error, where)
      }
    },
    transaction: transaction ?? ((fn) => fn(sql)),
  }
  return sql
}

/**
 * PGlite (PostgreSQL compiled to WebAssembly) with its data in `folder`, created when missing. One
 * process only: PGlite serialises every query and transaction itself, so a transaction's statements
 * never interleave with another's.
 */
export async function openPglite(folder: string): Promise<SqlConnection> {
  const describe = `PGlite at ${folder}`
  let db: PGlite
  let unlock = () => {}
  try {
    mkdirSync(folder, { recursive: true })
    unlock = lockFolder(folder, describe)
    db = await PGlite.create(folder)
  } catch (error) {
    unlock()
    if (error instanceof StoreError) throw error
    const said = error instanceof Error ? error.message : String(error)
    throw new StoreError('unavailable', `cannot open ${describe}: ${said}`, { cause: error })
  }
  const transaction: Sql['transaction'] = (fn) =>
    db
      .transaction((tx) => fn(sqlOver(tx, describe)))
      .catch((error: unknown) => {
        throw engineError(error, describe)
      })
  return {
    ...sqlOver(db, describe, transaction),
    describe,
    async close() {
      try {
        await db.close()
      } finally {
        unlock()
      }
    },
  }
}
