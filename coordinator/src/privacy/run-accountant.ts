import {
  DEFAULT_RDP_ORDERS,
  ddgNoiseForEpsilon,
  eventRdp,
  noiseForEpsilon,
  type PrivacySettings,
  rdpToEpsilon,
} from '@fedtune/protocol'
import type { RoundPrivacy } from './round-privacy.ts'

/*
 * The coordinator's one door to the Rényi DP accountant (protocol/src/privacy): what one round of a
 * private task costs, ε over the rounds a run released, and the noise a target ε needs. Nothing else
 * in the coordinator calls the accountant.
 */

/** One round of a private task as the accountant sees it, in the units its mechanism works in. */
export type RoundMechanism =
  /** Each participant's DP-SGD: `stepsPerRound` Poisson-subsampled Gaussian steps (example unit). */
  | {
      readonly unit: 'example'
      readonly samplingRate: number
      readonly noiseMultiplier: number
      readonly stepsPerRound: number
    }
  /**
   * The distributed discrete Gaussian (participant unit), in the secure sum's integer grid: each
   * survivor adds N_Z(0, σ²) to each of `dimension` coordinates of an update of L2 norm at most
   * `l2Sensitivity` (ring-fit.ts's plan).
   */
  | {
      readonly unit: 'participant'
      readonly sigmaSquared: number
      readonly l2Sensitivity: number
      readonly dimension: number
      /** The fewest survivors a round is aggregated with: the worst case of the next round. */
      readonly minParticipants: number
    }

/**
 * A private run's budget as the round logic reads it: ε at the task's δ after any rounds, each
 * accounted with the survivors whose updates it released. Unit "example" costs the same each round
 * (q, z and the steps are public and fixed); unit "participant" is accounted per round with its own
 * survivors (fewer survivors, less noise in the sum), the worst case of a round to come being
 * `minParticipants`. Each distinct round's Rényi curve is computed once.
 */
export function runAccountant(settings: PrivacySettings, mechanism: RoundMechanism): RoundPrivacy {
  const orders = DEFAULT_RDP_ORDERS
  const curves = new Map<number, readonly number[]>()
  /** The Rényi curve of one round released with `survivors` survivors. */
  const roundCurve = (survivors: number): readonly number[] => {
    const key = mechanism.unit === 'example' ? 0 : survivors
    let curve = curves.get(key)
    if (curve === undefined) {
      curve =
        mechanism.unit === 'example'
          ? eventRdp(
              {
                kind: 'subsampled-gaussian',
                samplingRate: mechanism.samplingRate,
                noiseMultiplier: mechanism.noiseMultiplier,
                steps: mechanism.stepsPerRound,
              },
              orders,
            )
          : eventRdp(
              {
                kind: 'distributed-discrete-gaussian',
                rounds: 1,
                participants: survivors,
                sigmaSquared: mechanism.sigmaSquared,
                l2Sensitivity: mechanism.l2Sensitivity,
                dimension: mechanism.dimension,
              },
              orders,
            )
      curves.set(key, curve)
    }
    return curve
  }
  return {
    unit: settings.unit,
    target: settings.epsilon,
    delta: settings.delta,
    worstSurvivors: mechanism.unit === 'participant' ? mechanism.minParticipants : 1,
    epsilonAfter(survivors) {
      if (survivors.length === 0) return 0
      // Rényi DP composes by adding curves order by order (Mironov, CSF 2017, Prop. 1).
      const total = orders.map(() => 0)
      for (const count of survivors) {
        const curve = roundCurve(count)
        for (let k = 0; k < total.length; k++) total[k] = (total[k] as number) + (curve[k] as number)
      }
      return rdpToEpsilon(orders, total, settings.delta).epsilon
    },
  }
}

/** The noise a budget needs, or why none up to the largest allowed meets it. */
export type NoiseFound =
  | { readonly ok: true; readonly value: number }
  | { readonly ok: false; readonly maxNoiseMultiplier: number; readonly epsilonAtMax: number }

/**
 * The smallest noise multiplier z with which `steps` DP-SGD steps at Poisson rate `samplingRate`
 * stay within (ε, δ): every round a participant could train (example unit; with q = 1 and one step a
 * round, also the plain Gaussian mechanism over the rounds).
 */
export function exampleNoise(plan: {
  readonly epsilon: number
  readonly delta: number
  readonly samplingRate: number
  readonly steps: number
}): NoiseFound {
  const found = noiseForEpsilon(plan)
  return found.ok
    ? { ok: true, value: found.noiseMultiplier }
    : { ok: false, maxNoiseMultiplier: found.maxNoiseMultiplier, epsilonAtMax: found.epsilonAtMax }
}

/**
 * The smallest per-participant variance σ² (integer grid units²) with which `rounds` rounds of the
 * distributed discrete Gaussian, each over `participants` survivors, stay within (ε, δ).
 */
export function participantVariance(plan: {
  readonly epsilon: number
  readonly delta: number
  readonly rounds: number
  readonly participants: number
  readonly l2Sensitivity: number
  readonly dimension: number
}): NoiseFound {
  const found = ddgNoiseForEpsilon(plan)
  if (found.ok) return { ok: true, value: found.sigmaSquared }
  // the refusal in noise-multiplier terms: √(m·σ²) over the sensitivity
  return {
    ok: false,
    maxNoiseMultiplier: Math.sqrt(plan.participants * found.maxSigmaSquared) / plan.l2Sensitivity,
    epsilonAtMax: found.epsilonAtMax,
  }
}
