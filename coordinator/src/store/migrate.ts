import { initial } from './migrations/0001-initial.ts'
import { runFolder } from './migrations/0002-run-folder.ts'
import type { Migration } from './migrations/migration.ts'
import type { Sql } from './sql.ts'
import { StoreError, storeErrorFrom } from './store-error.ts'

/** Every migration, in order. A new one is appended with the next version; none is ever edited. */
export const MIGRATIONS: readonly Migration[] = [initial, runFolder]

/**
 * Any constant serves: two coordinators starting on one server queue on this lock, so one applies the
 * migrations and the other finds them applied. A transaction-level lock is released at COMMIT or ROLLBACK.
 */
const MIGRATION_LOCK = 0x66656474 // "fedt"

export type AppliedMigration = { readonly version: number; readonly name: string; readonly appliedAt: string }

/**
 * Brings the schema up to the last of `migrations`, in one transaction under an advisory lock: each
 * migration not yet recorded in schema_migrations is applied in order and recorded. A database that
 * records a migration this code does not know (written by a newer fedtune) is refused untouched.
 * Returns the versions applied now (none when the schema was current).
 */
export async function migrate(
  sql: Sql,
  opts: { readonly migrations?: readonly Migration[]; readonly now?: () => Date; readonly where: string },
): Promise<readonly number[]> {
  const migrations = opts.migrations ?? MIGRATIONS
  const now = opts.now ?? (() => new Date())
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new TypeError(`migrate: expected migration ${i + 1} at position ${i}, got version ${m.version}`)
  })
  try {
    return await sql.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      await tx.query(`create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`)
      const recorded = await tx.query<{ version: number; name: string }>(
        'select version, name from schema_migrations order by version',
      )
      const unknown = recorded.filter((r) => migrations[r.version - 1]?.name !== r.name)
      if (unknown.length > 0) {
        const list = unknown.map((r) => `${r.version} (${r.name})`).join(', ')
        throw new StoreError(
          'migration',
          `${opts.where} records migration ${list}, which this fedtune does not know (it knows 1 to ${migrations.length}): ` +
            'the database was written by a newer fedtune; upgrade fedtune, or open another database',
        )
      }
      const done = new Set(recorded.map((r) => r.version))
      const applied: number[] = []
      for (const migration of migrations) {
        if (done.has(migration.version)) continue
        for (const statement of migration.statements) {
          try {
            await tx.query(statement)
          } catch (error) {
            // The engine's edge names the database already; the cause is what the database said.
            const cause = error instanceof StoreError && error.cause !== undefined ? error.cause : error
            const said = cause instanceof Error ? cause.message : String(cause)
            throw new StoreError(
              'migration',
              `${opts.where}: migration ${migration.version} (${migration.name}) failed: ${said}`,
              { cause: error },
            )
          }
        }
        await tx.query(
          'insert into schema_migrations (version, name, applied_at) values ($1, $2, $3::timestamptz)',
          [migration.version, migration.name, now().toISOString()],
        )
        applied.push(migration.version)
      }
      return applied
    })
  } catch (error) {
    if (error instanceof StoreError) throw error
    throw new StoreError('migration', storeErrorFrom(error, `${opts.where}: cannot migrate`).message, {
      cause: error,
    })
  }
}

/** The migrations recorded in the database, in order. */
export async function appliedMigrations(sql: Sql): Promise<readonly AppliedMigration[]> {
  const rows = await sql.query<{ version: number; name: string; applied_at: Date }>(
    'select version, name, applied_at from schema_migrations order by version',
  )
  return rows.map((r) => ({
    version: r.version,
    name: r.name,
    appliedAt: new Date(r.applied_at).toISOString(),
  }))
}
