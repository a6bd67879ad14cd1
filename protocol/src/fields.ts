import { describe } from './describe.ts'
import { ProtocolError } from './errors.ts'

/** Small readers for parsing `unknown` at the edge; each names the field it rejects. */
export function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value))
    throw new ProtocolError('malformed', `${what}: expected an object, got ${describe(value)}`)
  return value as Record<string, unknown>
}

export function str(obj: Record<string, unknown>, key: string, what: string, pattern?: RegExp): string {
  const v = obj[key]
  if (typeof v !== 'string' || v.length === 0 || v.length > 256 || (pattern && !pattern.test(v)))
    throw new ProtocolError(
      'malformed',
      `${what}.${key}: expected ${pattern ? `a string matching ${pattern}` : 'a non-empty string'}, got ${describe(v)}`,
    )
  return v
}

export function int(
  obj: Record<string, unknown>,
  key: string,
  what: string,
  min: number,
  max: number,
): number {
  const v = obj[key]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ProtocolError(
      'malformed',
      `${what}.${key}: expected an integer from ${min} to ${max}, got ${describe(v)}`,
    )
  return v
}

export function num(
  obj: Record<string, unknown>,
  key: string,
  what: string,
  min: number,
  max: number,
): number {
  const v = obj[key]
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new ProtocolError(
      'malformed',
      `${what}.${key}: expected a number from ${min} to ${max}, got ${describe(v)}`,
    )
  return v
}

/** A metric that may be absent (`null`), e.g. AUC when the validation split has one class. */
export function optNum(
  obj: Record<string, unknown>,
  key: string,
  what: string,
  min: number,
  max: number,
): number | null {
  return obj[key] === null || obj[key] === undefined ? null : num(obj, key, what, min, max)
}

export function bool(obj: Record<string, unknown>, key: string, what: string): boolean {
  const v = obj[key]
  if (typeof v !== 'boolean')
    throw new ProtocolError('malformed', `${what}.${key}: expected true or false, got ${describe(v)}`)
  return v
}

export function oneOf<T extends string>(
  obj: Record<string, unknown>,
  key: string,
  what: string,
  allowed: readonly T[],
): T {
  const v = obj[key]
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new ProtocolError(
      'malformed',
      `${what}.${key}: expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(v)}`,
    )
  return v as T
}
