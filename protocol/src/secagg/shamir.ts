import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { gfDiv, gfMul, mulByTable, mulTable } from './gf256.ts'

/**
 * One holder's share of a secret: the value y = f(x) of the byte-wise polynomials at the holder's x.
 * x is a non-zero field element (1..255) because f(0) is the secret itself.
 */
export type Share = { readonly x: number; readonly y: Uint8Array }

/**
 * Shamir's secret sharing (Shamir, CACM 1979) over GF(2^8), independently for each byte: byte b of the
 * secret is the constant term of a random polynomial of degree threshold − 1, and the share for x is
 * every polynomial evaluated at x. Any `threshold` shares recover the secret; fewer reveal nothing
 * about it. SecAgg shares the masking key and self-mask seed this way (Bonawitz et al., CCS 2017, §4).
 *
 * `randomBytes` is injected so tests are deterministic; it must be a CSPRNG in production. Evaluation
 * is Horner's rule with constant-time products ({@link mulByTable}) since the coefficients are secret.
 */
export function shamirSplit(
  secret: Uint8Array,
  threshold: number,
  xs: readonly number[],
  randomBytes: (n: number) => Uint8Array,
): Share[] {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 255)
    throw new ProtocolError(
      'invalid-spec',
      `shamirSplit: expected a threshold from 1 to 255, got ${describe(threshold)}`,
    )
  if (xs.length < threshold)
    throw new ProtocolError(
      'invalid-spec',
      `shamirSplit: expected at least threshold = ${threshold} share x-coordinates, got ${xs.length}`,
    )
  checkXs(xs, 'shamirSplit')
  const length = secret.length
  const randomLength = (threshold - 1) * length
  // Coefficients of degree 1..t−1; coefficient d of byte b is at (d − 1)·length + b.
  const coefficients = randomBytes(randomLength)
  if (!(coefficients instanceof Uint8Array) || coefficients.length !== randomLength)
    throw new ProtocolError(
      'wrong-size',
      `shamirSplit: randomBytes(${randomLength}) returned ${describe(coefficients)}`,
    )
  return xs.map((x) => {
    const byX = mulTable(x)
    const y = new Uint8Array(length)
    if (threshold > 1) y.set(coefficients.subarray((threshold - 2) * length, (threshold - 1) * length))
    for (let d = threshold - 2; d >= 1; d--) {
      const offset = (d - 1) * length
      for (let b = 0; b < length; b++)
        y[b] = mulByTable(byX, y[b] as number) ^ (coefficients[offset + b] as number)
    }
    if (threshold > 1)
      for (let b = 0; b < length; b++) y[b] = mulByTable(byX, y[b] as number) ^ (secret[b] as number)
    else y.set(secret)
    return { x, y }
  })
}

/**
 * The secret behind `shares`, by Lagrange interpolation at 0 over the first `threshold` of them:
 * f(0) = ⊕_j y_j · Π_{m≠j} x_m / (x_m ⊕ x_j) (subtraction is XOR in characteristic 2).
 *
 * The coefficients depend only on the public x's and come from tables; the products with the shares'
 * bytes are constant-time. All shares are checked (range, distinct x, equal length) even though only
 * `threshold` are used, so a malformed share fails loudly rather than sometimes being ignored. With
 * inconsistent shares (e.g. a holder who lied) the result is simply another value; SecAgg's
 * semi-honest model does not authenticate shares.
 */
export function shamirCombine(shares: readonly Share[], threshold: number): Uint8Array {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 255)
    throw new ProtocolError(
      'invalid-spec',
      `shamirCombine: expected a threshold from 1 to 255, got ${describe(threshold)}`,
    )
  if (shares.length < threshold)
    throw new ProtocolError(
      'malformed',
      `shamirCombine: expected at least threshold = ${threshold} shares, got ${shares.length}`,
    )
  const first = shares[0] as Share
  const length = first.y.length
  for (const [i, share] of shares.entries())
    if (!(share.y instanceof Uint8Array) || share.y.length !== length)
      throw new ProtocolError(
        'wrong-size',
        `shamirCombine: expected share ${i} to be ${length} bytes like share 0, got ${describe(share.y)}`,
      )
  checkXs(
    shares.map((s) => s.x),
    'shamirCombine',
  )
  const secret = new Uint8Array(length)
  for (let j = 0; j < threshold; j++) {
    const xj = (shares[j] as Share).x
    let numerator = 1
    let denominator = 1
    for (let m = 0; m < threshold; m++) {
      if (m === j) continue
      const xm = (shares[m] as Share).x
      numerator = gfMul(numerator, xm)
      denominator = gfMul(denominator, xm ^ xj)
    }
    const byLambda = mulTable(gfDiv(numerator, denominator))
    const y = (shares[j] as Share).y
    for (let b = 0; b < length; b++) secret[b] = (secret[b] as number) ^ mulByTable(byLambda, y[b] as number)
  }
  return secret
}

/** x-coordinates must be distinct integers 1..255: x = 0 would hand out the secret, a repeat is no new point. */
function checkXs(xs: readonly number[], what: string): void {
  const seen = new Uint8Array(256)
  for (const [i, x] of xs.entries()) {
    if (!Number.isInteger(x) || x < 1 || x > 255)
      throw new ProtocolError(
        'malformed',
        `${what}: expected x-coordinate ${i} from 1 to 255, got ${describe(x)}`,
      )
    if (seen[x])
      throw new ProtocolError('malformed', `${what}: expected distinct x-coordinates, got ${x} twice`)
    seen[x] = 1
  }
}
