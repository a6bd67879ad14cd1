import { seededRandom as seededUniform } from '@fedtune/model'
/** A source of uniform numbers in [0, 1), like Math.random; injected so every split is reproducible. */
export type Random = () => number

/** Mulberry32, the project's one seeded generator (from @fedtune/model). Not for anything secret. */
export const mulberry32: (seed: number) => Random = seededUniform

/**
 * An independent stream per purpose, so that e.g. capping hospitals with --per-hospital does not
 * change which images the partition itself assigned. Mixes the seed with an FNV-1a hash of `purpose`.
 */
export function seededRandom(seed: number, purpose = ''): Random {
  let h = 0x811c9dc5
  for (const ch of `${purpose}#${seed}`) h = Math.imul(h ^ (ch.codePointAt(0) as number), 0x01000193)
  return mulberry32(h ^ Math.imul(seed >>> 0, 0x9e3779b1))
}

/** Fisher–Yates, in place. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
  return items
}
