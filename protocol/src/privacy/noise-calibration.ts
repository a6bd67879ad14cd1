import { eventRdp } from './accountant.ts'
import type { DistributedDiscreteGaussian } from './ddg-rdp.ts'
import { checkAtLeastOne, checkDelta, checkPositive } from './rdp-arguments.ts'
import { type EpsilonAtOrder, rdpToEpsilon } from './rdp-conversion.ts'
import { DEFAULT_RDP_ORDERS } from './rdp-orders.ts'

/**
 * The most noise a plan may ask for, as a noise multiplier (noise standard deviation over the L2
 * sensitivity): past 1000 the signal is gone, so a budget that needs more is refused as impossible.
 */
export const MAX_NOISE_MULTIPLIER = 1000
/** The least noise multiplier searched: a budget that 0.01 already meets is answered with 0.01. */
export const MIN_NOISE_MULTIPLIER = 0.01
/** The search stops when the smallest noise known to meet the budget is within this factor of one that does not. */
const RELATIVE_TOLERANCE = 1e-6

type Budget = { readonly epsilon: number; readonly delta: number }

export type NoiseForEpsilon =
  | { readonly ok: true; readonly noiseMultiplier: number; readonly epsilon: number; readonly order: number }
  | {
      readonly ok: false
      readonly reason: 'impossible'
      readonly maxNoiseMultiplier: number
      readonly epsilonAtMax: number
    }

/**
 * The smallest noise multiplier z (to 1e-6 relative, never below {@link MIN_NOISE_MULTIPLIER}) with which
 * `steps` steps of DP-SGD at `samplingRate` stay within (ε, δ), with the ε it actually spends and its
 * order; or `impossible` with the ε spent even at the largest z allowed. ε falls as z grows at every
 * order, so bisection finds it.
 */
export function noiseForEpsilon(plan: {
  readonly epsilon: number
  readonly delta: number
  readonly samplingRate: number
  readonly steps: number
  readonly maxNoiseMultiplier?: number
  readonly orders?: readonly number[]
}): NoiseForEpsilon {
  const budget = checkBudget(plan)
  const max = plan.maxNoiseMultiplier ?? MAX_NOISE_MULTIPLIER
  checkPositive('maxNoiseMultiplier', max)
  const orders = plan.orders ?? DEFAULT_RDP_ORDERS
  const spent = (z: number) =>
    rdpToEpsilon(
      orders,
      eventRdp(
        {
          kind: 'subsampled-gaussian',
          samplingRate: plan.samplingRate,
          noiseMultiplier: z,
          steps: plan.steps,
        },
        orders,
      ),
      budget.delta,
    )
  const found = smallestMeeting(spent, budget.epsilon, Math.min(MIN_NOISE_MULTIPLIER, max), max)
  if (!found.ok)
    return { ok: false, reason: 'impossible', maxNoiseMultiplier: max, epsilonAtMax: found.atMax.epsilon }
  return { ok: true, noiseMultiplier: found.value, epsilon: found.spent.epsilon, order: found.spent.order }
}

export type DdgNoiseForEpsilon =
  | { readonly ok: true; readonly sigmaSquared: number; readonly epsilon: number; readonly order: number }
  | {
      readonly ok: false
      readonly reason: 'impossible'
      readonly maxSigmaSquared: number
      readonly epsilonAtMax: number
    }

/**
 * The smallest variance σ² each participant adds (to 1e-6 relative, never below the theorem's 1/4) such
 * that `rounds` rounds of the distributed discrete Gaussian, each summed over `participants` survivors,
 * stay within (ε, δ); or `impossible` when even the largest noise allowed (a total noise multiplier
 * √(mσ²)/Δ₂ of `maxNoiseMultiplier`) spends more. Plan with the fewest survivors a round may have: fewer
 * participants carry less noise in their sum.
 */
export function ddgNoiseForEpsilon(
  plan: Omit<DistributedDiscreteGaussian, 'sigmaSquared'> & {
    readonly epsilon: number
    readonly delta: number
    readonly rounds: number
    readonly maxNoiseMultiplier?: number
    readonly orders?: readonly number[]
  },
): DdgNoiseForEpsilon {
  const budget = checkBudget(plan)
  checkPositive('l2Sensitivity', plan.l2Sensitivity)
  checkAtLeastOne('participants', plan.participants)
  const max = plan.maxNoiseMultiplier ?? MAX_NOISE_MULTIPLIER
  checkPositive('maxNoiseMultiplier', max)
  const orders = plan.orders ?? DEFAULT_RDP_ORDERS
  const spent = (sigmaSquared: number) =>
    rdpToEpsilon(
      orders,
      eventRdp(
        {
          kind: 'distributed-discrete-gaussian',
          rounds: plan.rounds,
          participants: plan.participants,
          dimension: plan.dimension,
          l2Sensitivity: plan.l2Sensitivity,
          ...(plan.l1Sensitivity === undefined ? {} : { l1Sensitivity: plan.l1Sensitivity }),
          sigmaSquared,
        },
        orders,
      ),
      budget.delta,
    )
  const least = 0.25
  const most = Math.max(least, (max * plan.l2Sensitivity) ** 2 / plan.participants)
  const found = smallestMeeting(spent, budget.epsilon, least, most)
  if (!found.ok)
    return { ok: false, reason: 'impossible', maxSigmaSquared: most, epsilonAtMax: found.atMax.epsilon }
  return { ok: true, sigmaSquared: found.value, epsilon: found.spent.epsilon, order: found.spent.order }
}

function checkBudget(plan: Budget): Budget {
  checkPositive('epsilon', plan.epsilon)
  checkDelta(plan.delta)
  return { epsilon: plan.epsilon, delta: plan.delta }
}

type Search =
  | { readonly ok: true; readonly value: number; readonly spent: EpsilonAtOrder }
  | { readonly ok: false; readonly atMax: EpsilonAtOrder }

/**
 * The least x in [low, high] with spent(x).epsilon ≤ target, for spent non-increasing in x: geometric
 * bisection (the noise scale is what matters, not its digits) until high/low ≤ 1 + 1e-6, answering the
 * end known to meet the target.
 */
function smallestMeeting(
  spent: (x: number) => EpsilonAtOrder,
  target: number,
  low: number,
  high: number,
): Search {
  let atHigh = spent(high)
  if (atHigh.epsilon > target) return { ok: false, atMax: atHigh }
  const atLow = spent(low)
  if (atLow.epsilon <= target) return { ok: true, value: low, spent: atLow }
  let below = low
  let above = high
  while (above / below > 1 + RELATIVE_TOLERANCE) {
    const mid = Math.sqrt(below * above)
    const atMid = spent(mid)
    if (atMid.epsilon <= target) {
      above = mid
      atHigh = atMid
    } else below = mid
  }
  return { ok: true, value: above, spent: atHigh }
}
