import { type ApiTokens, apiTokensOver } from './api-tokens.ts'
import { type Audit, type AuditEntry, type AuditHooks, auditHooks, auditOver } from './audit.ts'
import type { StoreClock } from './clock.ts'
import { type Invites, invitesOver } from './invites.ts'
import { parseLocation, redactLocation } from './location.ts'
import { type AppliedMigration, appliedMigrations, migrate } from './migrate.ts'
import type { Migration } from './migrations/migration.ts'
import { type Operators, operatorsOver } from './operators.ts'
import { type Participants, participantsOver } from './participants.ts'
import { openPglite } from './pglite-sql.ts'
import { openPostgres } from './postgres-sql.ts'
import { type Rounds, roundsOver } from './rounds.ts'
import { type Runs, runsOver } from './runs.ts'
import { type Sessions, sessionsOver } from './sessions.ts'
import type { Sql, SqlConnection } from './sql.ts'
import { type Tasks, tasksOver } from './tasks.ts'

export type StoreOptions = {
  /** The store's clock (default: the real one). */
  readonly now?: StoreClock
  /** For tests of the migration machinery; the real list by default. */
  readonly migrations?: readonly Migration[]
}

/** One repository per table, over the store or over one transaction of it. */
export type Repositories = {
  readonly operators: Operators
  readonly sessions: Sessions
  readonly tokens: ApiTokens
  readonly tasks: Tasks
  readonly runs: Runs
  readonly rounds: Rounds
  readonly participants: Participants
  readonly invites: Invites
  readonly audit: Audit
}

/** The coordinator's database: one repository per table, over PGlite or a PostgreSQL server alike. */
export type Store = Repositories & {
  readonly engine: 'pglite' | 'postgres'
  /** Where the store is, with any password hidden. */
  readonly where: string
  /**
   * Runs `fn` in one transaction over repositories of its own: everything it does commits together or
   * not at all (a round with its audit entry and its run's new state, say). Inside `fn` use only `tx`:
   * on PGlite the store itself waits for the transaction to end.
   */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>
  /** The migrations recorded in the database, in order. */
  migrations(): Promise<readonly AppliedMigration[]>
  /** The SQL underneath, for what no repository does yet (and for tests that try the database itself). */
  readonly sql: Sql
  close(): Promise<void>
}

/**
 * Opens the store at `location` and brings its schema up to date: a folder (or `pglite:<folder>`) is
 * embedded PGlite, created when missing; `postgres://…` or `postgresql://…` is a PostgreSQL server. A
 * database that cannot be reached, opened or migrated throws a StoreError (`unavailable` or `migration`)
 * that names the location (password hidden) and the cause: the coordinator stops at start with it.
 */
export async function openStore(location: string, opts: StoreOptions = {}): Promise<Store> {
  const parsed = parseLocation(location)
  const now = opts.now ?? (() => new Date())
  const connection: SqlConnection =
    parsed.engine === 'pglite' ? await openPglite(parsed.folder) : await openPostgres(parsed.url)
  try {
    await migrate(connection, {
      where: connection.describe,
      now,
      ...(opts.migrations === undefined ? {} : { migrations: opts.migrations }),
    })
  } catch (error) {
    await connection.close()
    throw error
  }
  const sql: Sql = connection
  const hooks = auditHooks()
  return {
    engine: parsed.engine,
    where: parsed.engine === 'pglite' ? parsed.folder : redactLocation(parsed.url),
    ...repositoriesOver(sql, now, hooks),
    transaction: async (fn) => {
      // entries appended in the transaction are told once it commits, never if it rolls back
      const held: AuditEntry[] = []
      const result = await sql.transaction((tx) =>
        fn(repositoriesOver(tx, now, { listeners: hooks.listeners, tell: (e) => held.push(e) })),
      )
      for (const entry of held) hooks.tell(entry)
      return result
    },
    migrations: () => appliedMigrations(sql),
    sql,
    close: () => connection.close(),
  }
}

function repositoriesOver(sql: Sql, now: StoreClock, hooks: AuditHooks): Repositories {
  return {
    operators: operatorsOver(sql, now),
    sessions: sessionsOver(sql, now),
    tokens: apiTokensOver(sql, now),
    tasks: tasksOver(sql, now),
    runs: runsOver(sql, now),
    rounds: roundsOver(sql, now),
    participants: participantsOver(sql, now),
    invites: invitesOver(sql, now),
    audit: auditOver(sql, now, hooks),
  }
}
