import pg from 'pg'
import { redactLocation } from './location.ts'
import type { Sql, SqlConnection } from './sql.ts'
import { engineError, StoreError } from './store-error.ts'

type Queryable = Pick<pg.PoolClient, 'query'>

/** Queries on `client`; `transaction` absent means `client` is a transaction already, which an inner one joins. */
function sqlOver(client: Queryable, where: string, transaction?: Sql['transaction']): Sql {
  const sql: Sql = {
    async query<Row extends object>(text: string, params: readonly unknown[] = []) {
      try {
        const result = await client.query<Row & pg.QueryResultRow>(text, params as unknown[])
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
 * A pool of connections to the PostgreSQL server at `url`. A transaction takes a client of its own for
 * its whole length, so concurrent transactions are isolated by the server. The first connection is made
 * here, so an unreachable server fails at open, not at the first round.
 */
export async function openPostgres(url: string): Promise<SqlConnection> {
  const describe = `PostgreSQL at ${redactLocation(url)}`
  let pool: pg.Pool | null = null
  try {
    pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 })
    // An idle client whose server went away emits 'error' on the pool; without a listener Node would
    // exit. The next query fails with the reason, which is where the caller hears of it.
    pool.on('error', () => {})
    const client = await pool.connect()
    client.release()
  } catch (error) {
    await pool?.end()
    const said = error instanceof Error ? error.message : String(error)
    throw new StoreError('unavailable', `cannot connect to ${describe}: ${said}`, { cause: error })
  }
  const connected = pool
  const transaction: Sql['transaction'] = async (fn) => {
    const client = await connected.connect().catch((error: unknown) => {
      throw engineError(error, describe)
    })
    // A client whose ROLLBACK failed is in an unknown state: the pool destroys it instead of reusing it.
    let broken: Error | undefined
    try {
      const sql = sqlOver(client, describe)
      await sql.query('BEGIN')
      const result = await fn(sql)
      await sql.query('COMMIT')
      return result
    } catch (error) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackError) {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
      }
      throw error
    } finally {
      client.release(broken)
    }
  }
  return {
    ...sqlOver(connected, describe, transaction),
    describe,
    close: () => connected.end(),
  }
}
