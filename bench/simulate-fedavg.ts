import {
  FEDAVG,
  federationPrior,
  type ServerOptimizer,
  type ServerState,
  serverStep,
} from '@fedtune/coordinator'
import { type Dataset, initHead, labelCounts, stratifiedSplit, trainHead } from '@fedtune/model'
import {
  addInto,
  decodeSecureSum,
  emptyEvaluationCounts,
  encodeSecureContribution,
  fixedPointFor,
  type HeadSpec,
  secureVectorLength,
  type TrainingSettings,
} from '@fedtune/protocol'

export type Simulation = {
  readonly spec: HeadSpec
  readonly inputDim: number
  /** Each hospital's data, before the client's own validation hold-out. */
  readonly sites: readonly Dataset[]
  readonly training: Omit<TrainingSettings, 'seed' | 'prior'>
  /** The task file's training.labelPrior (default 'local'). */
  readonly labelPrior?: 'local' | 'federation'
  /** The task file's training.server (default FedAvg). */
  readonly server?: ServerOptimizer
  readonly rounds: number
  readonly seed: number
  /** The hospital client's default (cli/src/client-command.ts): 10 % held out locally, never trained on. */
  readonly valFraction?: number
  /** Called with the global head after every round, e.g. to trace validation accuracy. */
  readonly afterRound?: (round: number, weights: Float32Array) => void
}

/**
 * A federation in one process, doing per hospital and round exactly what the real participant and
 * coordinator do: the client's stratified hold-out (client-node/src/prepare.ts), `trainHead` from the
 * global weights with the round's settings, prior and per-round seed (coordinator/src/rounds/federation.ts),
 * Δ = w_local − w_global (model/src/local-round.ts), the fixed-point encoding secure
 * aggregation sums (clipping at the task default L2 10, n·Δ rounded to 1/scale), the sum mod 2^32
 * and the server step (coordinator/src/rounds/round.ts). Only the sockets and the masks are left out: the
 * masks cancel in the sum, bit for bit (test/protocol/secagg).
 */
export function simulateFedAvg(sim: Simulation): Float32Array {
  const train = sim.sites.map((site) => stratifiedSplit(site, sim.valFraction ?? 0.1, 0).train)
  const classes = sim.spec.labels.length
  let global = initHead(sim.spec, sim.inputDim, sim.seed)
  let server: ServerState = null
  let federationCounts: number[] | null = null
  // A site's label counts do not change between rounds: counted once.
  const siteCounts = train.map((data) => labelCounts(data.y, classes))
  const maxExamples = Math.max(100_000, ...train.map((d) => d.n))
  const fixedPoint = fixedPointFor({ participants: train.length, maxExamples, clipNorm: 10 })
  const params = global.length
  for (let round = 1; round <= sim.rounds; round++) {
    const seed = (sim.seed + round * 7919) >>> 0
    const prior = sim.labelPrior === 'federation' ? federationPrior(federationCounts, classes) : null
    const masked = new Uint32Array(secureVectorLength(params, classes))
    for (const [site, data] of train.entries()) {
      const { weights } = trainHead(sim.spec, sim.inputDim, global, data, { ...sim.training, prior, seed })
      const delta = new Float32Array(weights.length)
      for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (global[i] as number)
      const counts = siteCounts[site] as number[]
      // no participant evaluation in the simulation: the coordinator-side figures are what it reports
      const evaluation = emptyEvaluationCounts(classes)
      const contribution = { delta, examples: data.n, labelCounts: counts, evaluation }
      addInto(masked, encodeSecureContribution(contribution, fixedPoint))
    }
    const sum = decodeSecureSum(masked, params, classes, fixedPoint)
    const step = serverStep(
      sim.server ?? FEDAVG,
      server,
      global,
      sum.weightedSum.map((x) => x / sum.examples),
    )
    global = step.weights
    server = step.state
    federationCounts = sum.labelCounts
    sim.afterRound?.(round, global)
  }
  return global
}
