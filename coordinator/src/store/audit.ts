import type { StoreClock } from './clock.ts'
import { integer, iso, json, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { storeErrorFrom } from './store-error.ts'

export type AuditOutcome = 'ok' | 'refused' | 'failed'

/** One line of history. The database refuses to change or remove it (migrations/0001-initial.ts). */
export type AuditEntry = {
  readonly id: number
  readonly at: string
  /** An operator's name, a participant's name, or 'system'. */
  readonly actor: string
  readonly address: string | null
  readonly action: string
  readonly target: string | null
  readonly task: string | null
  readonly run: number | null
  readonly outcome: AuditOutcome
  readonly detail: Readonly<Record<string, unknown>>
}

type AuditRow = {
  id: number | string
  at: Date
  actor: string
  address: string | null
  action: string
  target: string | null
  task: string | null
  run: number | null
  outcome: AuditOutcome
  detail: Record<string, unknown>
}

function entryFrom(row: AuditRow): AuditEntry {
  return {
    id: integer(row.id),
    at: iso(row.at),
    actor: row.actor,
    address: row.address,
    action: row.action,
    target: row.target,
    task: row.task,
    run: row.run,
    outcome: row.outcome,
    detail: row.detail,
  }
}

export type AuditFilter = {
  readonly run?: number
  readonly task?: string
  readonly actor?: string
  readonly action?: string
  /** At most this many entries (default 100, at most 1000). */
  readonly limit?: number
  /** Only entries after this id: pass the last id seen to read the next page, oldest first. */
  readonly after?: number
  /** Only entries before this id: pass the last id seen to read the next page, newest first. */
  readonly before?: number
  /** The newest entries first (default: in the order they were appended). */
  readonly newestFirst?: boolean
}

export type Audit = {
  append(entry: {
    readonly actor: string
    readonly action: string
    readonly outcome: AuditOutcome
    readonly address?: string | null
    readonly target?: string | null
    readonly task?: string | null
    readonly run?: number | null
    readonly detail?: Readonly<Record<string, unknown>>
  }): Promise<AuditEntry>
  /** Entries in the order they were appended (or newest first), filtered, a page at a time. */
  list(filter?: AuditFilter): Promise<readonly AuditEntry[]>
  /**
   * Calls `listener` with every entry appended from now on, once it is kept (an entry appended in a
   * transaction, once that commits); returns the unsubscribe. For the operators' live console.
   */
  subscribe(listener: AuditListener): () => void
}

export type AuditListener = (entry: AuditEntry) => void

/** Who hears of appended entries: `listeners`, told through `tell` (held back until a transaction commits). */
export type AuditHooks = {
  readonly listeners: Set<AuditListener>
  readonly tell: (entry: AuditEntry) => void
}

/** Hooks that tell every listener at once; a listener that throws costs only its own call. */
export function auditHooks(): AuditHooks {
  const listeners = new Set<AuditListener>()
  return {
    listeners,
    tell: (entry) => {
      for (const listener of listeners)
        try {
          listener(entry)
        } catch (error) {
          // a console that failed on an entry must not fail the append, which is kept already
          process.emitWarning(`an audit listener failed on entry ${entry.id}: ${(error as Error).message}`)
        }
    },
  }
}

export const AUDIT_PAGE_MAX = 1000

export function auditOver(sql: Sql, now: StoreClock, hooks: AuditHooks = auditHooks()): Audit {
  return {
    subscribe(listener) {
      hooks.listeners.add(listener)
      return () => hooks.listeners.delete(listener)
    },
    async append(e) {
      try {
        const rows = await sql.query<AuditRow>(
          `insert into audit (at, actor, address, action, target, task, run, outcome, detail)
           values ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) returning *`,
          [
            now().toISOString(),
            e.actor,
            e.address ?? null,
            e.action,
            e.target ?? null,
            e.task ?? null,
            e.run ?? null,
            e.outcome,
            json(e.detail ?? {}),
          ],
        )
        const entry = entryFrom(one(rows, `auditing ${e.action}`))
        hooks.tell(entry)
        return entry
      } catch (error) {
        throw storeErrorFrom(error, `appending "${e.action}" by "${e.actor}" to the audit log`)
      }
    },
    async list(filter = {}) {
      const limit = filter.limit ?? 100
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX)
        throw new RangeError(`audit.list: expected a limit from 1 to ${AUDIT_PAGE_MAX}, got ${limit}`)
      const rows = await sql.query<AuditRow>(
        `select * from audit
         where ($1::integer is null or run = $1) and ($2::text is null or task = $2)
           and ($3::text is null or actor = $3) and ($4::text is null or action = $4)
           and id > $5 and ($6::bigint is null or id < $6)
         order by id ${filter.newestFirst === true ? 'desc' : 'asc'} limit $7`,
        [
          filter.run ?? null,
          filter.task ?? null,
          filter.actor ?? null,
          filter.action ?? null,
          filter.after ?? 0,
          filter.before ?? null,
          limit,
        ],
      )
      return rows.map(entryFrom)
    },
  }
}
