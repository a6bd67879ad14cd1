import { permutation, seededRandom } from '@fedtune/model'

/**
 * Which participants train in a round: a seeded shuffle of those online, so a run is reproducible
 * and every participant gets its turn. A non-cryptographic generator is fine: selection is no secret.
 */
export function selectParticipants(
  online: Iterable<string>,
  count: number,
  seed: number,
  round: number,
): string[] {
  const pool = [...online].sort()
  const order = permutation(pool.length, seededRandom((seed ^ Math.imul(round, 0x9e3779b1)) >>> 0))
  return Array.from(order.subarray(0, count), (i) => pool[i] as string).sort()
}
