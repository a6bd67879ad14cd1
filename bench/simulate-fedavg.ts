import {
  FEDAVG,
  federationPrior,
  type ServerOptimizer,
  type ServerState,
  serverStep,
} from '@fedtune/coordinator'
import { type Dataset, initHead, stratifiedSplit, trainHead } from '@fedtune/model'
import { type HeadSpec, type TrainingSettings, weightedSum } from '@fedtune/protocol'

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
  /** The hospital client's default (client-node/src/main.ts): 10 % held out locally, never trained on. */
  readonly valFraction?: number
  /** Called with the global head after every round, e.g. to trace validation accuracy. */
  readonly afterRound?: (round: number, weights: Float32Array) => void
}

/**
 * A federation in one process, doing per hospital and round exactly what the real participant and
 * coordinator do: the client's stratified hold-out (client-node/src/prepare.ts), `trainHead` from the
 * global weights with the round's settings, prior and per-round seed (coordinator/src/federation.ts),
 * Δ = w_local − w_global (client-node/src/local-round.ts), the example-weighted sum and the server
 * step (coordinator/src/round.ts). Only the sockets and the secure aggregation are left out; the
 * latter reveals the same weighted sum.
 */
export function simulateFedAvg(sim: Simulation): Float32Array {
  const train = sim.sites.map((site) => stratifiedSplit(site, sim.valFraction ?? 0.1, 0).train)
  const classes = sim.spec.labels.length
  let global = initHead(sim.spec, sim.inputDim, sim.seed)
  let server: ServerState = null
  let labelCounts: number[] | null = null
  for (let round = 1; round <= sim.rounds; round++) {
    const seed = (sim.seed + round * 7919) >>> 0
    const prior = sim.labelPrior === 'federation' ? federationPrior(labelCounts, classes) : null
    const contributions = train.map((data) => {
      const { weights } = trainHead(sim.spec, sim.inputDim, global, data, { ...sim.training, prior, seed })
      const delta = new Float32Array(weights.length)
      for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (global[i] as number)
      return { delta, examples: data.n }
    })
    const sum = weightedSum(global.length, contributions)
    const total = sum[global.length] as number
    const step = serverStep(
      sim.server ?? FEDAVG,
      server,
      global,
      sum.map((x) => x / total),
    )
    global = step.weights
    server = step.state
    labelCounts = new Array<number>(classes).fill(0)
    for (const data of train) for (const y of data.y) labelCounts[y] = (labelCounts[y] as number) + 1
    sim.afterRound?.(round, global)
  }
  return global
}
