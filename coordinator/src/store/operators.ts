import type { StoreClock } from './clock.ts'
import { iso, isoOrNull, one } from './row-values.ts'
import type { Sql } from './sql.ts'
import { storeErrorFrom } from './store-error.ts'

export const OPERATOR_ROLES = ['admin', 'operator', 'viewer'] as const
export type OperatorRole = (typeof OPERATOR_ROLES)[number]

export type Operator = {
  readonly name: string
  readonly role: OperatorRole
  readonly passwordHash: string
  readonly createdAt: string
  readonly disabledAt: string | null
}

export type OperatorRow = {
  name: string
  role: OperatorRole
  password_hash: string
  created_at: Date
  disabled_at: Date | null
}

export function operatorFrom(row: OperatorRow): Operator {
  return {
    name: row.name,
    role: row.role,
    passwordHash: row.password_hash,
    createdAt: iso(row.created_at),
    disabledAt: isoOrNull(row.disabled_at),
  }
}

export type Operators = {
  /** A new operator; a name already taken is a `conflict`. */
  add(operator: {
    readonly name: string
    readonly role: OperatorRole
    readonly passwordHash: string
  }): Promise<Operator>
  byName(name: string): Promise<Operator | null>
  list(): Promise<readonly Operator[]>
  setRole(name: string, role: OperatorRole): Promise<Operator>
  setPassword(name: string, passwordHash: string): Promise<Operator>
  /** Disables the account and, in the same transaction, revokes its sessions and API tokens. */
  disable(name: string): Promise<Operator>
}

export function operatorsOver(sql: Sql, now: StoreClock): Operators {
  const update = async (name: string, set: string, params: readonly unknown[], what: string) => {
    try {
      const rows = await sql.query<OperatorRow>(`update operators set ${set} where name = $1 returning *`, [
        name,
        ...params,
      ])
      return operatorFrom(one(rows, `${what} of operator "${name}"`))
    } catch (error) {
      throw storeErrorFrom(error, `${what} of operator "${name}"`)
    }
  }
  return {
    async add({ name, role, passwordHash }) {
      try {
        const rows = await sql.query<OperatorRow>(
          'insert into operators (name, role, password_hash, created_at) values ($1, $2, $3, $4::timestamptz) returning *',
          [name, role, passwordHash, now().toISOString()],
        )
        return operatorFrom(one(rows, `adding operator "${name}"`))
      } catch (error) {
        throw storeErrorFrom(error, `adding operator "${name}"`)
      }
    },
    async byName(name) {
      const rows = await sql.query<OperatorRow>('select * from operators where name = $1', [name])
      return rows[0] === undefined ? null : operatorFrom(rows[0])
    },
    async list() {
      const rows = await sql.query<OperatorRow>('select * from operators order by name')
      return rows.map(operatorFrom)
    },
    setRole: (name, role) => update(name, 'role = $2', [role], 'setting the role'),
    setPassword: (name, passwordHash) =>
      update(name, 'password_hash = $2', [passwordHash], 'setting the password'),
    async disable(name) {
      const at = now().toISOString()
      try {
        return await sql.transaction(async (tx) => {
          const rows = await tx.query<OperatorRow>(
            'update operators set disabled_at = coalesce(disabled_at, $2::timestamptz) where name = $1 returning *',
            [name, at],
          )
          const operator = operatorFrom(one(rows, `disabling operator "${name}"`))
          await tx.query(
            'update sessions set revoked_at = $2::timestamptz where operator = $1 and revoked_at is null',
            [name, at],
          )
          await tx.query(
            'update api_tokens set revoked_at = $2::timestamptz where operator = $1 and revoked_at is null',
            [name, at],
          )
          return operator
        })
      } catch (error) {
        throw storeErrorFrom(error, `disabling operator "${name}"`)
      }
    },
  }
}
