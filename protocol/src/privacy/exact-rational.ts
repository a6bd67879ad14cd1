import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'

/** A non-negative rational num/den in lowest terms, den ≥ 1: how a noise variance is given exactly. */
export type Rational = { readonly num: bigint; readonly den: bigint }

/**
 * `x` as an exact rational in lowest terms. A double is a dyadic rational m/2^k, and that is the value
 * taken: 7.3 is 8219069319951155/2^50, not 73/10. Pass a {@link Rational} for a value a double cannot
 * hold exactly. `what` names the argument in the error.
 */
export function exactRational(x: number | Rational, what: string): Rational {
  if (typeof x === 'number') {
    if (!(Number.isFinite(x) && x >= 0))
      throw new ProtocolError('invalid-spec', `${what}: expected a finite number ≥ 0, got ${describe(x)}`)
    // Doubling a double is exact (no overflow below 2^1023), and one with a fraction becomes an integer
    // within 1074 doublings: the first integer gives the numerator over the smallest power of two.
    let m = x
    let k = 0
    while (!Number.isInteger(m)) {
      m *= 2
      k++
    }
    return { num: BigInt(m), den: 1n << BigInt(k) }
  }
  const { num, den } = x
  if (typeof num !== 'bigint' || typeof den !== 'bigint' || num < 0n || den < 1n)
    throw new ProtocolError(
      'invalid-spec',
      `${what}: expected { num, den } bigints with num ≥ 0 and den ≥ 1, got ${describe(x)}`,
    )
  const g = gcd(num, den)
  return { num: num / g, den: den / g }
}

/** The greatest common divisor of two non-negative integers (Euclid). */
export function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

/** ⌊√n⌋ for an integer n ≥ 0, by Newton's method on integers (never a float square root). */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n
  // Start above the root (2^⌈bits/2⌉ > √n); Newton's iterates then decrease monotonically to ⌊√n⌋.
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2))
  for (;;) {
    const y = (x + n / x) >> 1n
    if (y >= x) return x
    x = y
  }
}
