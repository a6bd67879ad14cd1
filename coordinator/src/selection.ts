/**
 * Which participants train in a round: a seeded shuffle of those online, so a run is reproducible
 * and every participant gets its turn. mulberry32 is fine here: selection is not a secret.
 */
export function selectParticipants(
  online: Iterable<string>,
  count: number,
  seed: number,
  round: number,
): string[] {
  const pool = [...online].sort()
  const random = mulberry32((seed ^ Math.imul(round, 0x9e3779b1)) >>> 0)
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[pool[i], pool[j]] = [pool[j] as string, pool[i] as string]
  }
  return pool.slice(0, count).sort()
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
