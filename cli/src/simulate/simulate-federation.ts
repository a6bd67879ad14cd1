import {
  federationPrior,
  type ServerOptimizer,
  type ServerState,
  serverStep,
  type TrainingPrior,
} from '@fedtune/coordinator'
import {
  type Dataset,
  initHead,
  labelCounts,
  stratifiedSplit,
  trainHead,
  trainHeadPrivately,
} from '@fedtune/model'
import {
  addInto,
  decodeSecureSum,
  emptyEvaluationCounts,
  encodeExamplePrivateContribution,
  encodeParticipantPrivateContribution,
  encodeSecureContribution,
  type FixedPoint,
  type HeadSpec,
  secureVectorLength,
  type TrainingSettings,
} from '@fedtune/protocol'
import { type HeadChoice, type HeldOut, predictionPrior } from './held-out.ts'
import { type PrivacySpent, type SimulatedPrivacy, simulationSource } from './simulated-privacy.ts'
import { validationChoice } from './validation-choice.ts'

/** A federation's recipe: the task file's head and training, after parsing. */
export type FederationRecipe = {
  readonly spec: HeadSpec
  readonly inputDim: number
  /** The local training of one round (epochs = the task's localEpochs). */
  readonly training: Omit<TrainingSettings, 'seed' | 'prior'>
  readonly labelPrior: TrainingPrior
  readonly server: ServerOptimizer
  readonly rounds: number
  /** The task's head.seed: the head's initialization and every round's seed. */
  readonly seed: number
  /** The secure aggregation's clipping and scale (the task's, or the defaults for plaintext-debug). */
  readonly fixedPoint: FixedPoint
  /** The hospital client's default (--val-fraction): held out locally, never trained on. */
  readonly valFraction: number
  /**
   * The task's differential privacy (its `fixedPoint` replaces the one above); absent or null: none.
   * Unit "example": each hospital trains with DP-SGD (trainHeadPrivately) and sends
   * encodeExamplePrivateContribution; unit "participant": trainHead, then
   * encodeParticipantPrivateContribution adds its share of the distributed discrete Gaussian. Either
   * way the mean is uniform over contributors, and a round whose worst case would pass the target ε
   * is not run (the coordinator's rule). The noise is drawn from `simulationSource`, seeded by the
   * task's seed, the hospital and the round.
   */
  readonly privacy?: SimulatedPrivacy | null
}

/** A federation's chosen head and, for a private task, what its rounds spent. */
export type FederatedChoice = HeadChoice & { readonly privacy: PrivacySpent | null }

export type RoundProgress = { readonly round: number; readonly rounds: number; readonly value: number | null }

/** The client's hold-out (client-node/src/prepare.ts, seed 0): what a hospital trains on. */
export function trainingPart(site: Dataset, valFraction: number): Dataset {
  return stratifiedSplit(site, valFraction, 0).train
}

/**
 * A federation in one process, doing per hospital and round what the real participant and
 * coordinator do: the client's stratified hold-out, `trainHead` from the global weights with the
 * round's settings, prior and per-round seed (coordinator/src/rounds/federation.ts),
 * Δ = w_local − w_global (model/src/local-round.ts), the fixed-point vector secure aggregation sums
 * (clipped to the task's L2 bound, n·Δ rounded to 1/scale), the sum mod 2^32 and the server step
 * (coordinator/src/rounds/round.ts). Only the sockets and the masks are left out: the masks cancel
 * in the sum, bit for bit (test/protocol/secagg). Every aggregated round's head, with the prior at
 * prediction folded in, is offered to the coordinator's validation choice.
 */
export function simulateFederation(
  recipe: FederationRecipe,
  sites: readonly Dataset[],
  heldOut: HeldOut,
  onRound?: (p: RoundProgress) => void,
): FederatedChoice {
  const { spec, inputDim } = recipe
  const privacy = recipe.privacy ?? null
  const fixedPoint = privacy?.fixedPoint ?? recipe.fixedPoint
  const classes = spec.labels.length
  const train = sites.map((site) => trainingPart(site, recipe.valFraction))
  // A site's label counts do not change between rounds: counted once.
  const siteCounts = train.map((data) => labelCounts(data.y, classes))
  // The simulation chooses on the validation set it holds; the participants' own evaluation of the received head adds nothing to that.
  const noEvaluation = emptyEvaluationCounts(classes)
  const chooser = validationChoice(spec, inputDim, heldOut)
  let global = initHead(spec, inputDim, recipe.seed)
  let server: ServerState = null
  let federationCounts: number[] | null = null
  const params = global.length
  /** Survivors of every round released so far: what the coordinator's accountant composes. */
  const accounted: number[] = []
  let stopped: PrivacySpent['stopped'] = null
  for (let round = 1; round <= recipe.rounds; round++) {
    if (
      privacy &&
      privacy.budget.epsilonAfter([...accounted, privacy.budget.worstSurvivors]) > privacy.budget.target
    ) {
      stopped = 'privacy budget'
      break
    }
    const seed = (recipe.seed + round * 7919) >>> 0
    const prior =
      recipe.labelPrior === 'local'
        ? null
        : recipe.labelPrior === 'federation'
          ? federationPrior(federationCounts, classes)
          : [...recipe.labelPrior.fixed]
    const masked = new Uint32Array(secureVectorLength(params, classes, privacy !== null))
    for (const [site, data] of train.entries()) {
      if (data.n === 0) continue
      const settings = { ...recipe.training, prior, seed }
      const p = privacy?.settings
      const random = () => simulationSource(recipe.seed, site, round)
      const { weights } =
        p?.unit === 'example'
          ? trainHeadPrivately(spec, inputDim, global, data, settings, p, random())
          : trainHead(spec, inputDim, global, data, settings)
      const delta = new Float32Array(weights.length)
      for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (global[i] as number)
      if (p === undefined) {
        const counts = siteCounts[site] as number[]
        const contribution = { delta, examples: data.n, labelCounts: counts, evaluation: noEvaluation }
        addInto(masked, encodeSecureContribution(contribution, fixedPoint))
      } else if (p.unit === 'example') addInto(masked, encodeExamplePrivateContribution(delta, fixedPoint))
      else addInto(masked, encodeParticipantPrivateContribution(delta, p, fixedPoint, random()))
    }
    const sum = decodeSecureSum(masked, params, classes, fixedPoint, privacy !== null)
    // Under privacy `examples` counts the contributors: the mean is uniform over them.
    accounted.push(sum.examples)
    const step = serverStep(
      recipe.server,
      server,
      global,
      sum.weightedSum.map((x) => x / sum.examples),
    )
    global = step.weights
    server = step.state
    federationCounts = sum.labelCounts
    const predictWith = predictionPrior(recipe.training.loss, heldOut.prior, sum.labelCounts, classes)
    const { value, stop } = chooser.offer(round, global, predictWith)
    onRound?.({ round, rounds: recipe.rounds, value })
    if (stop) {
      stopped = 'patience'
      break
    }
  }
  return { ...chooser.choice(), privacy: privacy && spent(privacy, accounted, stopped) }
}

function spent(
  privacy: SimulatedPrivacy,
  accounted: readonly number[],
  stopped: PrivacySpent['stopped'],
): PrivacySpent {
  return {
    unit: privacy.settings.unit,
    epsilon: privacy.budget.epsilonAfter(accounted),
    delta: privacy.budget.delta,
    target: privacy.budget.target,
    noiseMultiplier: privacy.settings.noiseMultiplier,
    clipNorm: privacy.settings.clipNorm,
    rounds: accounted.length,
    stopped,
  }
}
