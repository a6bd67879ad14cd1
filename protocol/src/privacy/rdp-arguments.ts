import { ProtocolError } from '../errors.ts'

/*
 * The accountant's input checks, shared by its files: each names the argument, what it expected and
 * what arrived. A privacy figure computed from a NaN or a negative noise would be a silent lie, so
 * every entry point checks before it computes.
 */

export function refuse(what: string, expected: string, got: unknown): never {
  throw new ProtocolError('invalid-spec', `privacy: ${what}: expected ${expected}, got ${String(got)}`)
}

/** Rényi orders: a non-empty list of finite numbers above 1. */
export function checkOrders(orders: readonly number[]): void {
  if (!Array.isArray(orders) || orders.length === 0)
    refuse('orders', 'a non-empty list of Rényi orders', orders)
  for (const order of orders)
    if (typeof order !== 'number' || !Number.isFinite(order) || order <= 1)
      refuse('orders', 'finite Rényi orders above 1', order)
}

export function checkProbability(what: string, value: number): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) refuse(what, 'a number in [0, 1]', value)
}

export function checkNonNegative(what: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    refuse(what, 'a finite number ≥ 0', value)
}

export function checkPositive(what: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    refuse(what, 'a finite number > 0', value)
}

export function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) refuse(what, 'a whole number ≥ 0', value)
}

export function checkAtLeastOne(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) refuse(what, 'a whole number ≥ 1', value)
}

/** δ of an (ε, δ) statement: strictly between 0 and 1 (δ = 0 is pure DP, which Rényi DP cannot give). */
export function checkDelta(delta: number): void {
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) refuse('delta', 'a number in (0, 1)', delta)
}
