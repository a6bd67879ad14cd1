import { type Dataset, initHead, stratifiedSplit, trainHead } from '@fedtune/model'
import { fedAvg, type HeadSpec, type TrainingSettings } from '@fedtune/protocol'

export type Simulation = {
  readonly spec: HeadSpec
  readonly inputDim: number
  /** Each hospital's data, before the client's own validation hold-out. */
  readonly sites: readonly Dataset[]
  readonly training: Omit<TrainingSettings, 'seed'>
  readonly rounds: number
  readonly seed: number
  /** The hospital client's default (client-node/src/main.ts): 10 % held out locally, never trained on. */
  readonly valFraction?: number
  /** Called with the global head after every round, e.g. to trace validation accuracy. */
  readonly afterRound?: (round: number, weights: Float32Array) => void
}

/**
 * FedAvg in one process, doing per hospital and round exactly what the real participant and
 * coordinator do: the client's stratified hold-out (client-node/src/prepare.ts), `trainHead` from the
 * global weights with the round's settings and the coordinator's per-round seed
 * (coordinator/src/federation.ts), Δ = w_local − w_global (client-node/src/local-round.ts) and
 * `fedAvg` weighted by example count. Only the sockets and the secure aggregation are left out;
 * the latter reveals the same weighted sum.
 */
export function simulateFedAvg(sim: Simulation): Float32Array {
  const train = sim.sites.map((site) => stratifiedSplit(site, sim.valFraction ?? 0.1, 0).train)
  let global = initHead(sim.spec, sim.inputDim, sim.seed)
  for (let round = 1; round <= sim.rounds; round++) {
    const seed = (sim.seed + round * 7919) >>> 0
    const contributions = train.map((data) => {
      const { weights } = trainHead(sim.spec, sim.inputDim, global, data, { ...sim.training, seed })
      const delta = new Float32Array(weights.length)
      for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (global[i] as number)
      return { delta, examples: data.n }
    })
    global = fedAvg(global, contributions)
    sim.afterRound?.(round, global)
  }
  return global
}
