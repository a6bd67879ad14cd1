import type { Dataset } from '@fedtune/model'
import type { HeadChoice, HeldOut } from './held-out.ts'
import { type FederationRecipe, simulateFederation, trainingPart } from './simulate-federation.ts'
import { type ReferenceRecipe, trainReference } from './train-reference.ts'

export type Site = { readonly name: string; readonly data: Dataset }

export type SimulationProgress = {
  readonly stage: 'federated' | 'centralized' | 'local-only'
  /** Rounds or epochs done of this stage. */
  readonly done: number
  readonly total: number
  /** The hospital, for local-only. */
  readonly site?: string
}

export type SimulationReport = {
  readonly federated: HeadChoice
  /** All hospitals' training data pooled in one place. */
  readonly centralized: HeadChoice
  /** Each hospital on its own data alone. */
  readonly localOnly: readonly { readonly site: string; readonly choice: HeadChoice }[]
}

/**
 * The federation and its two references on the same embeddings and the same held-out sets. Every
 * reference trains on what the federation trains on (each hospital's data minus the client's
 * hold-out), so the differences are the federation's alone.
 */
export function runSimulation(input: {
  readonly federation: FederationRecipe
  readonly reference: ReferenceRecipe
  readonly sites: readonly Site[]
  readonly heldOut: HeldOut
  readonly onProgress?: (p: SimulationProgress) => void
}): SimulationReport {
  const { federation, reference, sites, heldOut, onProgress } = input
  const federated = simulateFederation(
    federation,
    sites.map((s) => s.data),
    heldOut,
    ({ round, rounds }) => onProgress?.({ stage: 'federated', done: round, total: rounds }),
  )
  const parts = sites.map((s) => ({ site: s.name, data: trainingPart(s.data, federation.valFraction) }))
  const centralized = trainReference(
    reference,
    pool(parts.map((p) => p.data)),
    heldOut,
    ({ epoch, epochs }) => onProgress?.({ stage: 'centralized', done: epoch, total: epochs }),
  )
  const localOnly = parts
    .filter((p) => p.data.n > 0)
    .map(({ site, data }) => ({
      site,
      choice: trainReference(reference, data, heldOut, ({ epoch, epochs }) =>
        onProgress?.({ stage: 'local-only', done: epoch, total: epochs, site }),
      ),
    }))
  return { federated, centralized, localOnly }
}

/** The data sets one after the other: the centralized reference's training set. */
export function pool(parts: readonly Dataset[]): Dataset {
  const dim = parts[0]?.dim
  if (dim === undefined) throw new Error('pool: expected at least one data set')
  const n = parts.reduce((sum, p) => sum + p.n, 0)
  const x = new Float32Array(n * dim)
  const y = new Int32Array(n)
  let at = 0
  for (const p of parts) {
    if (p.dim !== dim) throw new Error(`pool: expected embeddings of ${dim}, got ${p.dim}`)
    x.set(p.x, at * dim)
    y.set(p.y, at)
    at += p.n
  }
  return { x, y, n, dim }
}
