import type { Dataset } from '@fedtune/model'
import type { HeadChoice, HeldOut } from './held-out.ts'
import {
  type FederatedChoice,
  type FederationRecipe,
  type RoundProgress,
  simulateFederation,
  trainingPart,
} from './simulate-federation.ts'
import { type ReferenceRecipe, trainReference } from './train-reference.ts'

export type Site = { readonly name: string; readonly data: Dataset }

export type SimulationProgress = {
  readonly stage: 'federated' | 'centralized' | 'centralized with DP' | 'local-only'
  /** Rounds or epochs done of this stage. */
  readonly done: number
  readonly total: number
  /** The hospital, for local-only. */
  readonly site?: string
}

export type SimulationReport = {
  readonly federated: FederatedChoice
  /** All hospitals' training data pooled in one place. */
  readonly centralized: HeadChoice
  /** Under example-level privacy: the same DP-SGD on the pooled data (`privateReference`); else null. */
  readonly centralizedPrivate: FederatedChoice | null
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
  const centralizedPrivate =
    federation.privacy?.settings.unit === 'example'
      ? privateReference(
          federation,
          parts.map((p) => p.data),
          heldOut,
          ({ round, rounds }) => onProgress?.({ stage: 'centralized with DP', done: round, total: rounds }),
        )
      : null
  const localOnly = parts
    .filter((p) => p.data.n > 0)
    .map(({ site, data }) => ({
      site,
      choice: trainReference(reference, data, heldOut, ({ epoch, epochs }) =>
        onProgress?.({ stage: 'local-only', done: epoch, total: epochs, site }),
      ),
    }))
  return { federated, centralized, centralizedPrivate, localOnly }
}

/**
 * The centralized reference under example-level DP: every hospital's training part pooled in one
 * place and trained by the federation's own recipe as a federation of one, so with DP-SGD at the
 * same C, q and z (z depends on ε, δ, q and the steps, not on n), the same steps per round and the
 * same rounds, hence the same ε at the same δ; the noise σ = z·C on each step's sum is divided by
 * q·n of the pool, so it weighs less than at any one hospital. The server's optimizer applies to its
 * update as to the federation's mean. Its validation choice and budget rule are the federation's.
 */
export function privateReference(
  federation: FederationRecipe,
  parts: readonly Dataset[],
  heldOut: HeldOut,
  onRound?: (p: RoundProgress) => void,
): FederatedChoice {
  if (federation.privacy?.settings.unit !== 'example')
    throw new Error('privateReference: expected a federation with example-level privacy')
  // The parts are held out already: the pool trains on all of them.
  return simulateFederation({ ...federation, valFraction: 0 }, [pool(parts)], heldOut, onRound)
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
