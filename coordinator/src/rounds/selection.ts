import { permutation, seededRandom } from '@fedtune/model'
import type { ParticipantKind } from '@fedtune/protocol'
import type { Roster } from './roster.ts'

/** How many places a round has, and how many of them browsers may take at most. */
export type Places = { readonly count: number; readonly maxBrowsers: number }

/**
 * Which participants train in a round: a seeded shuffle of those online, so a run is reproducible
 * and every participant gets its turn. Walking the shuffle, a browser past the `maxBrowsers`th is
 * passed over, so its place goes to the next hospital; with no browsers online this is the plain
 * first `count` of the shuffle. A non-cryptographic generator is fine: selection is no secret.
 */
export function selectParticipants(
  online: Pick<ReadonlyMap<string, ParticipantKind>, 'keys' | 'get'>,
  places: Places,
  seed: number,
  round: number,
): string[] {
  const pool = [...online.keys()].sort()
  const order = permutation(pool.length, seededRandom((seed ^ Math.imul(round, 0x9e3779b1)) >>> 0))
  const chosen: string[] = []
  let browsers = 0
  for (const i of order) {
    if (chosen.length === places.count) break
    const name = pool[i] as string
    if (online.get(name) === 'browser') {
      if (browsers === places.maxBrowsers) continue
      browsers++
    }
    chosen.push(name)
  }
  return chosen.sort()
}

/** How many of those online one round could take: every hospital, but at most `maxBrowsers` browsers. */
export function selectable(online: Pick<Roster, 'size' | 'browsers'>, maxBrowsers: number): number {
  return online.size - online.browsers + Math.min(online.browsers, maxBrowsers)
}
