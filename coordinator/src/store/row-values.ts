import { StoreError } from './store-error.ts'

/** The engines parse columns differently (pg: int8 a string, bytea a Buffer); rows leave the store alike. */

export function iso(value: unknown): string {
  if (value instanceof Date) return value.toISOString()
  return new Date(String(value)).toISOString()
}

export function isoOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : iso(value)
}

/** A copy, so no caller holds a Buffer from pg's pool (or a view into PGlite's memory). */
export function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array))
    throw new TypeError(`expected bytea as a Uint8Array, got ${typeof value}`)
  return new Uint8Array(value)
}

/** int8 (bigserial) comes back from pg as a string; ids stay below 2^53. */
export function integer(value: unknown): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new TypeError(`expected an integer, got ${String(value)}`)
  return n
}

export function time(value: Date | string): string {
  const at = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(at.getTime())) throw new TypeError(`expected a time, got ${String(value)}`)
  return at.toISOString()
}

/** The one row an UPDATE … RETURNING or a keyed SELECT found, or a not-found StoreError naming it. */
export function one<Row>(rows: readonly Row[], what: string): Row {
  const row = rows[0]
  if (row === undefined) throw new StoreError('not-found', `${what}: no such row`)
  return row
}

/** JSON for a jsonb parameter: pg would send a JS array as a PostgreSQL array, so everything goes as text. */
export function json(value: unknown): string {
  const text = JSON.stringify(value)
  if (text === undefined) throw new TypeError(`expected a JSON value, got ${typeof value}`)
  return text
}
