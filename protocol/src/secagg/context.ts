import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { participantId } from './identity.ts'
import { neighbourhoods } from './neighbours.ts'

/**
 * Everything both sides of one secure-aggregation round agree on before it starts. Built by
 * {@link roundContext} from the roster the coordinator announces, so participant and coordinator
 * derive the same neighbourhoods from the same inputs.
 */
export type SecaggContext = {
  readonly taskId: string
  readonly round: number
  /** Every participant of the round, sorted (string order, which is also the masks' sign order). */
  readonly ids: readonly string[]
  /** Long-term Ed25519 identity public key by id; advertisements are verified against these. */
  readonly identityKeys: ReadonlyMap<string, Uint8Array>
  /**
   * N(u) for every u: its neighbourhood, sorted and including u itself. Symmetric (v ∈ N(u) ⇔
   * u ∈ N(v)), which the pairwise masks need to cancel. A holder's Shamir x is 1 + its index here.
   */
  readonly neighbours: ReadonlyMap<string, readonly string[]>
  /** t: shares needed to reconstruct a secret; more than half of every neighbourhood. */
  readonly threshold: number
  /** Length of the masked vectors in 32-bit words. */
  readonly dim: number
}

export type RoundContextOptions = {
  readonly taskId: string
  readonly round: number
  readonly identityKeys: readonly Uint8Array[]
  /** k: neighbourhood size including the participant itself (odd; k ≥ n means everyone). */
  readonly neighbourCount: number
  /** Seeds the ring order of the neighbourhoods (`neighbourhoods` in neighbours.ts). */
  readonly neighbourSeed: Uint8Array
  readonly threshold: number
  readonly dim: number
}

/** Largest neighbourhood: Shamir x-coordinates are 1 + an index into it and must fit GF(2^8)*. */
export const MAX_NEIGHBOURHOOD = 255
/** Largest vector, in words (64 MiB): a bound for parsing, far above any head. */
export const MAX_DIM = 1 << 24

/**
 * The round's context from its roster and parameters. Throws ProtocolError('invalid-spec') when the
 * parameters could not give a private and correct round: a threshold of half a neighbourhood or less
 * (two disjoint coalitions could then both reconstruct, Bell et al., CCS 2020, §3), a neighbourhood
 * too large for GF(2^8) x-coordinates, duplicate identities, or asymmetric neighbourhoods.
 */
export function roundContext(options: RoundContextOptions): SecaggContext {
  const { taskId, round, threshold, dim, neighbourCount } = options
  if (typeof taskId !== 'string' || taskId.length === 0)
    throw new ProtocolError('invalid-spec', `secagg: expected a task id, got ${describe(taskId)}`)
  if (!Number.isInteger(round) || round < 0)
    throw new ProtocolError('invalid-spec', `secagg: expected a round number, got ${describe(round)}`)
  if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM)
    throw new ProtocolError(
      'invalid-spec',
      `secagg: expected dim from 1 to ${MAX_DIM} words, got ${describe(dim)}`,
    )
  const identityKeys = new Map<string, Uint8Array>()
  for (const key of options.identityKeys) {
    const id = participantId(key)
    if (identityKeys.has(id))
      throw new ProtocolError('invalid-spec', `secagg: identity ${id} is listed twice in the roster`)
    identityKeys.set(id, key)
  }
  const ids = [...identityKeys.keys()].sort()
  const neighbours = new Map<string, readonly string[]>()
  for (const [id, list] of neighbourhoods(ids, neighbourCount, options.neighbourSeed)) {
    neighbours.set(id, [...new Set([id, ...list])].sort())
  }
  for (const id of ids) {
    const own = neighbours.get(id)
    if (own === undefined)
      throw new ProtocolError('invalid-spec', `secagg: participant ${id} has no neighbourhood`)
    if (own.length > MAX_NEIGHBOURHOOD)
      throw new ProtocolError(
        'invalid-spec',
        `secagg: expected neighbourhoods of at most ${MAX_NEIGHBOURHOOD}, got ${own.length} for ${id}`,
      )
    if (threshold * 2 <= own.length || threshold > own.length || !Number.isInteger(threshold))
      throw new ProtocolError(
        'invalid-spec',
        `secagg: expected a threshold above half of and at most the neighbourhood size ${own.length}, got ${describe(threshold)}`,
      )
    for (const v of own)
      if (!neighbours.get(v)?.includes(id))
        throw new ProtocolError('invalid-spec', `secagg: ${v} is a neighbour of ${id} but not the reverse`)
  }
  return { taskId, round, ids, identityKeys, neighbours, threshold, dim }
}
