import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { expFractionTrial, expMinusOneTrial } from './bernoulli.ts'
import { type RandomSource, uniformBelow } from './random-source.ts'

/** The largest scale taken: t·k stays an exact double in Algorithm 1's tosses. */
export const MAX_LAPLACE_SCALE = 2 ** 40

/**
 * The discrete Laplace distribution of integer scale t: P[Y = y] ∝ exp(−|y|/t) on ℤ (Canonne, Kamath &
 * Steinke, NeurIPS 2020, Algorithm 2 with s = 1). Y = sign · (U + t·V): U uniform on [0, t) kept with
 * probability exp(−U/t), V geometric with P[V ≥ v] = exp(−v), a fair sign, and −0 refused so that zero
 * is not counted twice.
 */
export function discreteLaplace(t: number, random: RandomSource): number {
  if (!(Number.isInteger(t) && t >= 1 && t <= MAX_LAPLACE_SCALE))
    throw new ProtocolError(
      'invalid-spec',
      `discreteLaplace: expected an integer scale from 1 to 2^40, got ${describe(t)}`,
    )
  return laplaceDraw(t, random)
}

/** {@link discreteLaplace} without the argument check, for a sampler that checked t once. */
export function laplaceDraw(t: number, random: RandomSource): number {
  for (;;) {
    const u = t === 1 ? 0 : uniformBelow(t, random)
    if (!expFractionTrial(u, t, random)) continue
    let v = 0
    while (expMinusOneTrial(random)) v++
    const y = u + t * v
    const negative = (random.nextUint32() & 1) === 1
    if (negative && y === 0) continue
    return negative ? -y : y
  }
}
