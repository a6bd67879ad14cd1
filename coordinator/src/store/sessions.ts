import type { StoreClock } from './clock.ts'
import { type Operator, operatorFrom } from './operators.ts'
import { iso, isoOrNull, one, time } from './row-values.ts'
import type { Sql } from './sql.ts'
import { storeErrorFrom } from './store-error.ts'

/** A signed-in operator's session. Only hashes are kept: a stolen database yields no usable cookie. */
export type Session = {
  readonly tokenHash: string
  readonly operator: string
  readonly csrfHash: string
  readonly createdAt: string
  readonly expiresAt: string
  readonly revokedAt: string | null
  readonly address: string | null
}

type SessionRow = {
  token_hash: string
  operator: string
  csrf_hash: string
  created_at: Date
  expires_at: Date
  revoked_at: Date | null
  address: string | null
}

function sessionFrom(row: SessionRow): Session {
  return {
    tokenHash: row.token_hash,
    operator: row.operator,
    csrfHash: row.csrf_hash,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    revokedAt: isoOrNull(row.revoked_at),
    address: row.address,
  }
}

export type Sessions = {
  /** A new session for an existing operator (else `not-found`); a token hash already stored is a `conflict`. */
  create(session: {
    readonly tokenHash: string
    readonly operator: string
    readonly csrfHash: string
    readonly expiresAt: Date | string
    readonly address: string | null
  }): Promise<Session>
  byTokenHash(tokenHash: string): Promise<Session | null>
  /** The session and its operator when the session is unrevoked, unexpired and its operator not disabled. */
  active(tokenHash: string): Promise<{ readonly session: Session; readonly operator: Operator } | null>
  /** Revokes one session; false when there was no such unrevoked session. */
  revoke(tokenHash: string): Promise<boolean>
  /** Revokes every session of an operator; the number revoked. */
  revokeAll(operator: string): Promise<number>
  list(operator: string): Promise<readonly Session[]>
}

export function sessionsOver(sql: Sql, now: StoreClock): Sessions {
  return {
    async create(s) {
      try {
        const rows = await sql.query<SessionRow>(
          `insert into sessions (token_hash, operator, csrf_hash, created_at, expires_at, address)
           values ($1, $2, $3, $4::timestamptz, $5::timestamptz, $6) returning *`,
          [s.tokenHash, s.operator, s.csrfHash, now().toISOString(), time(s.expiresAt), s.address],
        )
        return sessionFrom(one(rows, `creating a session for "${s.operator}"`))
      } catch (error) {
        throw storeErrorFrom(error, `creating a session for operator "${s.operator}"`)
      }
    },
    async byTokenHash(tokenHash) {
      const rows = await sql.query<SessionRow>('select * from sessions where token_hash = $1', [tokenHash])
      return rows[0] === undefined ? null : sessionFrom(rows[0])
    },
    async active(tokenHash) {
      const rows = await sql.query<
        SessionRow & { o_name: string; o_role: string; o_password_hash: string; o_created_at: Date }
      >(
        `select s.*, o.name as o_name, o.role as o_role, o.password_hash as o_password_hash, o.created_at as o_created_at
         from sessions s join operators o on o.name = s.operator
         where s.token_hash = $1 and s.revoked_at is null and s.expires_at > $2::timestamptz and o.disabled_at is null`,
        [tokenHash, now().toISOString()],
      )
      const row = rows[0]
      if (row === undefined) return null
      const operator = operatorFrom({
        name: row.o_name,
        role: row.o_role as Operator['role'],
        password_hash: row.o_password_hash,
        created_at: row.o_created_at,
        disabled_at: null,
      })
      return { session: sessionFrom(row), operator }
    },
    async revoke(tokenHash) {
      const rows = await sql.query(
        'update sessions set revoked_at = $2::timestamptz where token_hash = $1 and revoked_at is null returning token_hash',
        [tokenHash, now().toISOString()],
      )
      return rows.length === 1
    },
    async revokeAll(operator) {
      const rows = await sql.query(
        'update sessions set revoked_at = $2::timestamptz where operator = $1 and revoked_at is null returning token_hash',
        [operator, now().toISOString()],
      )
      return rows.length
    },
    async list(operator) {
      const rows = await sql.query<SessionRow>(
        'select * from sessions where operator = $1 order by created_at',
        [operator],
      )
      return rows.map(sessionFrom)
    },
  }
}
