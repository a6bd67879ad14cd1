/** A source of uniform numbers in [0, 1), like Math.random; injected so every split is reproducible. */
export type Random = () => number

/**
 * Mulberry32 (Tommy Ettinger, 2017): a 32-bit-state generator, plenty for shuffling a few thousand
 * indices reproducibly. Not for anything secret.
 */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

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
