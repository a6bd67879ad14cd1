import { type BestRound, nextBest, patienceRunOut } from '@fedtune/coordinator'
import { type ClinicalMetrics, selectionValue } from '@fedtune/model'
import type { HeadSpec } from '@fedtune/protocol'
import { type HeadChoice, type HeldOut, scoreHead, withPrior } from './held-out.ts'

export type ValidationChoice = {
  /**
   * A candidate head after round (or epoch) `step` and the prior it predicts with. Returns its
   * validation figure by the task's metric (null without a validation set) and whether patience ran out.
   */
  offer(step: number, raw: Float32Array, prior: number[] | null): { value: number | null; stop: boolean }
  /** The chosen head and its test metrics; throws when nothing was offered. */
  choice(): HeadChoice
}

type Kept = {
  readonly step: number
  readonly raw: Float32Array
  readonly weights: Float32Array
  readonly prior: number[] | null
  readonly validation: ClinicalMetrics | null
}

/**
 * The coordinator's choice of a run's head (coordinator/src/rounds/best-round.ts): the best step by
 * the validation metric, ties to the earlier, stopping after `patience` steps without a better one;
 * without a validation set, the last step. Test metrics are computed for the chosen head only, so
 * test never influences the choice.
 */
export function validationChoice(spec: HeadSpec, inputDim: number, heldOut: HeldOut): ValidationChoice {
  let best: BestRound = null
  let ran = 0
  let kept: Kept | null = null
  return {
    offer(step, raw, prior) {
      ran = step
      const weights = withPrior(spec, inputDim, raw, prior)
      if (heldOut.validation === null) {
        kept = { step, raw, weights, prior, validation: null }
        return { value: null, stop: false }
      }
      const validation = scoreHead(spec, inputDim, weights, heldOut.validation, heldOut.ordinal)
      const value = validation === null ? null : selectionValue(validation, heldOut.metric)
      const next = nextBest(best, step, value)
      // The first step is kept even when its figure is undefined, so there is always a head to report.
      if (next !== best || kept === null) kept = { step, raw, weights, prior, validation }
      best = next
      return { value, stop: patienceRunOut(best, step, heldOut.patience) }
    },
    choice() {
      if (kept === null) throw new Error('validationChoice: expected at least one head offered')
      const { test, ordinal } = heldOut
      return {
        chosen: kept.step,
        ran,
        validation: kept.validation,
        test: scoreHead(spec, inputDim, kept.weights, test, ordinal),
        testUniform: kept.prior === null ? null : scoreHead(spec, inputDim, kept.raw, test, ordinal),
        prior: kept.prior,
        weights: kept.weights,
      }
    },
  }
}
