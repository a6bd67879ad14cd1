/**
 * Why the store refused or failed. A code is for programs, the message for people (what was asked, what
 * the database said). `conflict`, `not-found`, `wrong-state`, `used` and `expired` are refusals of one
 * request; `unavailable` and `migration` mean the database itself cannot be used.
 */
export type StoreErrorCode =
  /** A unique key taken: an operator's name, a participant's name or identity key in a task, a round committed twice. */
  | 'conflict'
  /** A row asked for, or referred to, that does not exist (an unknown operator, task, run, participant, invite). */
  | 'not-found'
  /** A value the schema's checks refuse (a role, state or kind outside its list, a round out of sequence). */
  | 'invalid'
  /** A change the row's current state does not allow (approving a revoked participant, restarting a finished run). */
  | 'wrong-state'
  /** An invite code presented a second time: a code is single-use. */
  | 'used'
  /** An invite code presented after its expiry. */
  | 'expired'
  /** An UPDATE, DELETE or TRUNCATE of the audit log, which the database refuses. */
  | 'append-only'
  /** The database cannot be reached, opened or written. */
  | 'unavailable'
  /** The schema cannot be brought to this version: a migration failed, or the database is newer. */
  | 'migration'

export class StoreError extends Error {
  override readonly name = 'StoreError'
  readonly code: StoreErrorCode

  constructor(code: StoreErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** PostgreSQL's SQLSTATE of a failed statement, from `pg` and PGlite alike (both set `code`). */
export function sqlState(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null
  const code = (error as { readonly code: unknown }).code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null
}

/** The SQLSTATE the audit trigger raises (class FT is ours; see migrations/0001-initial.ts). */
export const APPEND_ONLY_STATE = 'FT001'

/**
 * A database error turned into a StoreError with a code the caller can branch on: 23505 (unique) is a
 * conflict, 23503 (foreign key) a reference to a row that does not exist, 23514/23502/22P02 a value the
 * schema refuses (PostgreSQL's error codes, Appendix A). Anything else (the connection, the disk) is
 * `unavailable`. `what` says what was being done, in words.
 */
export function storeErrorFrom(error: unknown, what: string): StoreError {
  // The engine's edge already named the database; say what was being done when it became unavailable.
  if (error instanceof StoreError)
    return error.code === 'unavailable'
      ? new StoreError('unavailable', `${what}: ${error.message}`, { cause: error.cause })
      : error
  const state = sqlState(error)
  const said = error instanceof Error ? error.message : String(error)
  const detail =
    typeof error === 'object' && error !== null && 'detail' in error && typeof error.detail === 'string'
      ? ` (${error.detail})`
      : ''
  const message = `${what}: ${said}${detail}`
  if (state === '23505') return new StoreError('conflict', message, { cause: error })
  if (state === '23503') return new StoreError('not-found', message, { cause: error })
  if (state === '23514' || state === '23502' || state === '22P02' || state === '22023')
    return new StoreError('invalid', message, { cause: error })
  if (state === APPEND_ONLY_STATE) return new StoreError('append-only', message, { cause: error })
  return new StoreError('unavailable', message, { cause: error })
}

/**
 * What a failed statement becomes at the engine's edge: a refusal of the data (SQLSTATE classes 22 and
 * 23, and ours) stays as the database said it, for the repository to name what was refused; anything else
 * (a lost connection, a full disk, a server shutting down) is `unavailable`, naming the database.
 */
export function engineError(error: unknown, where: string): unknown {
  const state = sqlState(error)
  if (error instanceof StoreError || (state !== null && /^(22|23|FT)/.test(state))) return error
  const said = error instanceof Error ? error.message : String(error)
  return new StoreError('unavailable', `${where}: ${said}`, { cause: error })
}
