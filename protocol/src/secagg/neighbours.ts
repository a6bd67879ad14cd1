import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { hmacSha512, utf8 } from './hkdf.ts'

/**
 * Each participant's neighbourhood for SecAgg+ (Bell et al., CCS 2020): instead of sharing keys with all
 * n − 1 others, u shares with the k − 1 nearest on a ring, which makes the cost O(k) per participant
 * instead of O(n). The ring is a Harary graph H(k−1, n) with the ids placed in the order of
 * HMAC-SHA-512(seed, id) — a fresh `seed` per round gives a fresh placement that no participant chose.
 *
 * Every neighbourhood holds the id itself and the (k − 1)/2 ids either side of it (k odd), so the
 * relation is symmetric; with k ≥ n everyone is everyone's neighbour (plain SecAgg). Each list is
 * sorted in string order, the order that gives share x-coordinates (x = 1 + index).
 */
export function neighbourhoods(ids: readonly string[], k: number, seed: Uint8Array): Map<string, string[]> {
  const n = ids.length
  const unique = new Set(ids)
  if (unique.size !== n)
    throw new ProtocolError('malformed', `neighbourhoods: expected distinct ids, got a repeat among ${n}`)
  for (const id of ids)
    if (typeof id !== 'string' || id.length === 0)
      throw new ProtocolError(
        'malformed',
        `neighbourhoods: expected non-empty string ids, got ${describe(id)}`,
      )
  if (!Number.isInteger(k) || k < 1 || (k < n && k % 2 === 0))
    throw new ProtocolError(
      'invalid-spec',
      `neighbourhoods: expected an odd neighbourhood size k ≥ 1 (or k ≥ n = ${n}), got ${describe(k)}`,
    )
  if (!(seed instanceof Uint8Array) || seed.length === 0)
    throw new ProtocolError('wrong-size', `neighbourhoods: expected a non-empty seed, got ${describe(seed)}`)

  const result = new Map<string, string[]>()
  if (k >= n) {
    const everyone = [...ids].sort()
    for (const id of ids) result.set(id, [...everyone])
    return result
  }
  const ring = ringOrder(ids, seed)
  const half = (k - 1) / 2
  for (const [i, id] of ring.entries()) {
    const neighbourhood: string[] = []
    for (let d = -half; d <= half; d++) neighbourhood.push(ring[(i + d + n) % n] as string)
    result.set(id, neighbourhood.sort())
  }
  // Report in the caller's order.
  return new Map(ids.map((id) => [id, result.get(id) as string[]]))
}

/** The ids in ring order: sorted by HMAC-SHA-512(seed, id), ties (never seen) by id. */
export function ringOrder(ids: readonly string[], seed: Uint8Array): string[] {
  return ids
    .map((id) => ({ id, position: hmacSha512(seed, utf8(id)) }))
    .sort((a, b) => compareBytes(a.position, b.position) || (a.id < b.id ? -1 : 1))
    .map((entry) => entry.id)
}

/**
 * The groups into which `survivors` (U3) fall in the neighbourhood graph, largest first: two
 * survivors are in one group when a chain of neighbours, all survivors, joins them. Masks pair
 * only neighbours, so once the self-masks and the dropped participants' pair masks are removed,
 * the masks left inside each group cancel on their own: from what it legitimately receives, the
 * coordinator could compute the sum of every group apart. The round may reveal one sum only, so
 * more than one group must stop it before any share is revealed (SecaggServer.closeMaskedInput,
 * and each participant again in SecaggParticipant.unmask).
 */
export function survivorGroups(
  survivors: ReadonlySet<string>,
  neighbours: ReadonlyMap<string, readonly string[]>,
): string[][] {
  const groups: string[][] = []
  const seen = new Set<string>()
  for (const start of [...survivors].sort()) {
    if (seen.has(start)) continue
    const group = [start]
    seen.add(start)
    for (let i = 0; i < group.length; i++)
      for (const v of neighbours.get(group[i] as string) ?? [])
        if (survivors.has(v) && !seen.has(v)) {
          seen.add(v)
          group.push(v)
        }
    groups.push(group.sort())
  }
  return groups.sort((a, b) => b.length - a.length)
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++)
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  return a.length - b.length
}

/**
 * SecAgg+ parameters for a round of `participants` with a per-participant probability `dropoutRate`
 * of dropping out (independently), chosen as in Bell et al., CCS 2020, §4 but for the semi-honest
 * coordinator:
 *
 * - t = ⌊k/2⌋ + 1, an honest majority of each neighbourhood: the coordinator needs t shares to rebuild
 *   a key, and since t > k/2, two disjoint coalitions cannot both rebuild one (so nobody learns both
 *   the self-mask seed and the masking key of the same peer).
 * - k, the smallest odd number ≥ 3 for which a neighbourhood is still decodable with probability
 *   1 − `failureProbability`: u's k − 1 neighbours survive as Binomial(k − 1, 1 − dropoutRate), u
 *   itself is counted present, and we need P[Binomial(k − 1, 1 − dropoutRate) + 1 < t] ≤
 *   failureProbability.
 * - and the survivors stay one group (`survivorGroups`) with probability 1 − `failureProbability`:
 *   on the ring each survivor neighbours the (k − 1)/2 = h nearest either side, so the survivors
 *   split only where two runs of h consecutive participants all drop; over the C(n, 2) pairs of
 *   places such runs could start, C(n, 2)·dropoutRate^(2h) ≤ failureProbability. Decodability is the
 *   stricter bound at every rate and size the tests try, but the round's privacy rests on this
 *   one, so it is required in its own right.
 * - k is capped at n: with k = n every participant neighbours every other (the original SecAgg), which
 *   is returned if no smaller odd k reaches the target — then the failure bound may not hold, as no
 *   neighbourhood can be larger than the round. The search stops at 255, the largest neighbourhood
 *   Shamir over GF(2^8) allows (MAX_NEIGHBOURHOOD in context.ts): past it no k is usable, and each
 *   step costs O(k), so searching on to n would be quadratic in the round's size (a task file with
 *   100,000 participants at 90 % dropout took two minutes to parse).
 */
/** Shamir x-coordinates 1..255 in GF(2^8)*; context.ts, which imports this file, names it MAX_NEIGHBOURHOOD. */
const SHAMIR_MAX_NEIGHBOURHOOD = 255

export function secaggParameters(spec: {
  readonly participants: number
  readonly dropoutRate: number
  readonly failureProbability?: number
}): { k: number; t: number } {
  const { participants: n, dropoutRate, failureProbability = 1e-6 } = spec
  if (!Number.isInteger(n) || n < 1)
    throw new ProtocolError(
      'invalid-spec',
      `secaggParameters: expected a positive integer participant count, got ${describe(n)}`,
    )
  if (!(dropoutRate >= 0 && dropoutRate < 1))
    throw new ProtocolError(
      'invalid-spec',
      `secaggParameters: expected a dropout rate in [0, 1), got ${describe(dropoutRate)}`,
    )
  if (!(failureProbability > 0 && failureProbability < 1))
    throw new ProtocolError(
      'invalid-spec',
      `secaggParameters: expected a failure probability in (0, 1), got ${describe(failureProbability)}`,
    )
  for (let k = 3; k < n && k <= SHAMIR_MAX_NEIGHBOURHOOD; k += 2) {
    const t = Math.floor(k / 2) + 1
    const decodable = binomialCdf(t - 2, k - 1, 1 - dropoutRate) <= failureProbability
    const oneGroup = ((n * (n - 1)) / 2) * dropoutRate ** (k - 1) <= failureProbability
    if (decodable && oneGroup) return { k, t }
  }
  return { k: n, t: Math.floor(n / 2) + 1 }
}

/** P[Binomial(trials, p) ≤ at], summed in log space so large k neither overflows nor underflows. */
export function binomialCdf(at: number, trials: number, p: number): number {
  if (at < 0) return 0
  if (at >= trials) return 1
  if (p === 0) return 1
  if (p === 1) return 0
  const logP = Math.log(p)
  const logQ = Math.log1p(-p)
  let logChoose = 0 // log C(trials, i), updated incrementally
  let total = 0
  for (let i = 0; i <= at; i++) {
    if (i > 0) logChoose += Math.log(trials - i + 1) - Math.log(i)
    total += Math.exp(logChoose + i * logP + (trials - i) * logQ)
  }
  return Math.min(1, total)
}
