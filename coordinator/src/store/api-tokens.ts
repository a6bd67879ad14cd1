import type { StoreClock } from './clock.ts'
import { type Operator, type OperatorRow, operatorFrom } from './operators.ts'
import { iso, isoOrNull, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { storeErrorFrom } from './store-error.ts'

/** A script's bearer token (only its hash is kept), revocable, with when it was last used. */
export type ApiToken = {
  readonly id: number
  readonly operator: string
  readonly label: string
  readonly tokenHash: string
  readonly createdAt: string
  readonly revokedAt: string | null
  readonly lastUsedAt: string | null
}

type ApiTokenRow = {
  id: number
  operator: string
  label: string
  token_hash: string
  created_at: Date
  revoked_at: Date | null
  last_used_at: Date | null
}

function tokenFrom(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    operator: row.operator,
    label: row.label,
    tokenHash: row.token_hash,
    createdAt: iso(row.created_at),
    revokedAt: isoOrNull(row.revoked_at),
    lastUsedAt: isoOrNull(row.last_used_at),
  }
}

export type ApiTokens = {
  /** A new token for an existing operator (else `not-found`); a hash already stored is a `conflict`. */
  add(token: {
    readonly operator: string
    readonly label: string
    readonly tokenHash: string
  }): Promise<ApiToken>
  byId(id: number): Promise<ApiToken | null>
  /** The token with this hash, revoked or not (to tell a revoked token from one never issued). */
  byHash(tokenHash: string): Promise<ApiToken | null>
  /**
   * The token and its operator when the token is unrevoked and its operator not disabled; records the
   * use (last_used_at) in the same statement.
   */
  use(tokenHash: string): Promise<{ readonly token: ApiToken; readonly operator: Operator } | null>
  /** Every token, or one operator's, newest last. */
  list(operator?: string): Promise<readonly ApiToken[]>
  /** Revokes a token (`not-found` when there is none with that id); revoking twice keeps the first time. */
  revoke(id: number): Promise<ApiToken>
}

export function apiTokensOver(sql: Sql, now: StoreClock): ApiTokens {
  return {
    async add(t) {
      try {
        const rows = await sql.query<ApiTokenRow>(
          'insert into api_tokens (operator, label, token_hash, created_at) values ($1, $2, $3, $4::timestamptz) returning *',
          [t.operator, t.label, t.tokenHash, now().toISOString()],
        )
        return tokenFrom(one(rows, `adding a token for "${t.operator}"`))
      } catch (error) {
        throw storeErrorFrom(error, `adding an API token for operator "${t.operator}"`)
      }
    },
    async byId(id) {
      const rows = await sql.query<ApiTokenRow>('select * from api_tokens where id = $1', [id])
      return rows[0] === undefined ? null : tokenFrom(rows[0])
    },
    async byHash(tokenHash) {
      const rows = await sql.query<ApiTokenRow>('select * from api_tokens where token_hash = $1', [tokenHash])
      return rows[0] === undefined ? null : tokenFrom(rows[0])
    },
    async use(tokenHash) {
      return sql.transaction(async (tx) => {
        const rows = await tx.query<ApiTokenRow>(
          `update api_tokens t set last_used_at = $2::timestamptz
           from operators o
           where t.token_hash = $1 and t.revoked_at is null and o.name = t.operator and o.disabled_at is null
           returning t.*`,
          [tokenHash, now().toISOString()],
        )
        const token = rows[0]
        if (token === undefined) return null
        const operators = await tx.query<OperatorRow>('select * from operators where name = $1', [
          token.operator,
        ])
        return {
          token: tokenFrom(token),
          operator: operatorFrom(one(operators, `operator of token ${token.id}`)),
        }
      })
    },
    async list(operator) {
      const rows =
        operator === undefined
          ? await sql.query<ApiTokenRow>('select * from api_tokens order by id')
          : await sql.query<ApiTokenRow>('select * from api_tokens where operator = $1 order by id', [
              operator,
            ])
      return rows.map(tokenFrom)
    },
    async revoke(id) {
      const rows = await sql.query<ApiTokenRow>(
        'update api_tokens set revoked_at = coalesce(revoked_at, $2::timestamptz) where id = $1 returning *',
        [id, now().toISOString()],
      )
      return tokenFrom(one(rows, `revoking API token ${id}`))
    },
  }
}
