import { createHmac } from 'node:crypto'
import { ProtocolError } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import {
  binomialCdf,
  neighbourhoods,
  ringOrder,
  secaggParameters,
  survivorGroups,
} from '../../../protocol/src/secagg/neighbours.ts'

const ids = Array.from({ length: 12 }, (_, i) => `participant-${String(i).padStart(2, '0')}`)
const seed = Uint8Array.from({ length: 32 }, (_, i) => i)

describe('SecAgg+ neighbourhoods', () => {
  it('give each id itself and its (k − 1)/2 ring neighbours either side, sorted', () => {
    const graph = neighbourhoods(ids, 5, seed)
    expect([...graph.keys()]).toEqual(ids)
    // The ring, computed independently: ids ordered by HMAC-SHA-512(seed, id) from node:crypto.
    const ring = [...ids].sort((a, b) =>
      Buffer.compare(
        createHmac('sha512', seed).update(a).digest(),
        createHmac('sha512', seed).update(b).digest(),
      ),
    )
    for (const [i, id] of ring.entries()) {
      const expected = [-2, -1, 0, 1, 2]
        .map((d) => ring[(i + d + ring.length) % ring.length] as string)
        .sort()
      expect(graph.get(id)).toEqual(expected)
    }
  })

  it('are symmetric: v is in u’s neighbourhood exactly when u is in v’s', () => {
    for (const k of [1, 3, 5, 7, 11]) {
      const graph = neighbourhoods(ids, k, seed)
      for (const [u, neighbours] of graph) {
        expect(neighbours).toHaveLength(k)
        expect(neighbours).toContain(u)
        for (const v of neighbours) expect(graph.get(v)).toContain(u)
      }
    }
  })

  it('are the complete graph when k ≥ n, whatever its parity', () => {
    for (const k of [12, 13, 100]) {
      const graph = neighbourhoods(ids, k, seed)
      for (const neighbours of graph.values()) expect(neighbours).toEqual([...ids].sort())
    }
  })

  it('are fixed by the seed and change with it', () => {
    expect(neighbourhoods(ids, 3, seed)).toEqual(neighbourhoods([...ids].reverse(), 3, seed))
    const other = neighbourhoods(ids, 3, Uint8Array.of(1, 2, 3))
    expect([...other.values()]).not.toEqual([...neighbourhoods(ids, 3, seed).values()])
  })

  it('refuse an even k below n, repeated or empty ids, and an empty seed', () => {
    expect(() => neighbourhoods(ids, 4, seed)).toThrow(ProtocolError)
    expect(() => neighbourhoods(ids, 4, seed)).toThrow(
      /odd neighbourhood size k ≥ 1 \(or k ≥ n = 12\), got number 4/,
    )
    expect(() => neighbourhoods(ids, 0, seed)).toThrow(/got number 0/)
    expect(() => neighbourhoods(['a', 'b', 'a'], 3, seed)).toThrow(/distinct ids/)
    expect(() => neighbourhoods(['a', ''], 1, seed)).toThrow(/non-empty string ids, got ""/)
    expect(() => neighbourhoods(ids, 3, new Uint8Array(0))).toThrow(/non-empty seed/)
  })
})

describe('the groups survivors fall into', () => {
  // 20 participants on a ring, each joined to the 2 nearest either side (k = 5).
  const many = Array.from({ length: 20 }, (_, i) => `p${String(i).padStart(2, '0')}`)
  const graph = neighbourhoods(many, 5, seed)
  const ring = ringOrder(many, seed)
  const without = (...positions: number[]) => new Set(ring.filter((_, i) => !positions.includes(i)))

  it('are one group when nobody or one run of dropouts is missing: the ring is still a path', () => {
    expect(survivorGroups(new Set(many), graph)).toEqual([[...many].sort()])
    expect(survivorGroups(without(3, 4), graph)).toHaveLength(1)
    expect(survivorGroups(without(3, 4, 5, 6, 7), graph)).toHaveLength(1)
  })

  it('split where two runs of (k − 1)/2 neighbours on the ring are missing, and not for shorter runs', () => {
    const split = survivorGroups(without(0, 1, 10, 11), graph)
    expect(split.map((g) => g.length)).toEqual([8, 8])
    expect(split[0]).toEqual(ring.slice(2, 10).sort())
    expect(survivorGroups(without(0, 1, 10), graph)).toHaveLength(1)
    expect(survivorGroups(without(0, 5, 10, 15), graph)).toHaveLength(1)
    expect(survivorGroups(without(0, 1, 5, 6, 12, 13), graph).map((g) => g.length)).toEqual([6, 5, 3])
  })

  it('are never split in the complete graph (k ≥ n)', () => {
    const complete = neighbourhoods(many, 20, seed)
    expect(survivorGroups(new Set(many.slice(0, 2)), complete)).toHaveLength(1)
  })
})

describe('SecAgg+ parameters', () => {
  /** P[Binomial(m, p) ≤ at] by direct summation with exact binomial coefficients (fine for m ≤ 60). */
  function directCdf(at: number, m: number, p: number): number {
    let total = 0
    let choose = 1
    for (let i = 0; i <= at; i++) {
      total += choose * p ** i * (1 - p) ** (m - i)
      choose = (choose * (m - i)) / (i + 1)
    }
    return total
  }

  it('take t = ⌊k/2⌋ + 1 and the smallest odd k ≥ 3 whose neighbourhoods decode with probability 1 − 10^−6', () => {
    for (const dropoutRate of [0.01, 0.05, 0.1, 0.2]) {
      const { k, t } = secaggParameters({ participants: 1000, dropoutRate })
      expect(k % 2).toBe(1)
      expect(t).toBe(Math.floor(k / 2) + 1)
      const failure = (size: number) => directCdf(Math.floor(size / 2) - 1, size - 1, 1 - dropoutRate)
      expect(failure(k)).toBeLessThanOrEqual(1e-6)
      if (k > 3) expect(failure(k - 2)).toBeGreaterThan(1e-6)
    }
    // With 10% dropout, neighbourhoods of 21 and threshold 11.
    expect(secaggParameters({ participants: 1000, dropoutRate: 0.1 })).toEqual({ k: 21, t: 11 })
  })

  it('also keep the survivors one group with probability 1 − 10^−6: two runs of (k − 1)/2 dropouts are that unlikely', () => {
    for (const participants of [100, 1000, 10_000])
      for (const dropoutRate of [0.01, 0.05, 0.1, 0.2, 0.3]) {
        const { k } = secaggParameters({ participants, dropoutRate })
        if (k >= participants) continue
        const pairs = (participants * (participants - 1)) / 2
        expect(pairs * dropoutRate ** (k - 1)).toBeLessThanOrEqual(1e-6)
      }
  })

  it('need only k = 3 when nobody drops out, and grow with a looser or tighter failure target', () => {
    expect(secaggParameters({ participants: 100, dropoutRate: 0 })).toEqual({ k: 3, t: 2 })
    const loose = secaggParameters({ participants: 1000, dropoutRate: 0.1, failureProbability: 1e-2 })
    const tight = secaggParameters({ participants: 1000, dropoutRate: 0.1, failureProbability: 1e-12 })
    expect(loose.k).toBeLessThan(21)
    expect(tight.k).toBeGreaterThan(21)
  })

  it('cap k at n: small rounds become plain SecAgg with everyone as neighbour', () => {
    expect(secaggParameters({ participants: 10, dropoutRate: 0.3 })).toEqual({ k: 10, t: 6 })
    expect(secaggParameters({ participants: 2, dropoutRate: 0 })).toEqual({ k: 2, t: 2 })
    expect(secaggParameters({ participants: 1, dropoutRate: 0 })).toEqual({ k: 1, t: 1 })
  })

  it('refuse a dropout rate outside [0, 1), a failure target outside (0, 1) and no participants', () => {
    expect(() => secaggParameters({ participants: 10, dropoutRate: 1 })).toThrow(
      /dropout rate in \[0, 1\), got number 1/,
    )
    expect(() => secaggParameters({ participants: 10, dropoutRate: Number.NaN })).toThrow(/got number NaN/)
    expect(() => secaggParameters({ participants: 10, dropoutRate: 0.1, failureProbability: 0 })).toThrow(
      /failure probability in \(0, 1\), got number 0/,
    )
    expect(() => secaggParameters({ participants: 0, dropoutRate: 0.1 })).toThrow(
      /participant count, got number 0/,
    )
  })

  it('sum the binomial tail like direct summation, without overflow for large k', () => {
    for (const [at, m, p] of [
      [3, 10, 0.5],
      [0, 20, 0.9],
      [10, 20, 0.9],
      [25, 60, 0.7],
    ] as const)
      expect(binomialCdf(at, m, p)).toBeCloseTo(directCdf(at, m, p), 12)
    expect(binomialCdf(3, 10, 0.5)).toBeCloseTo(176 / 1024, 14)
    expect(binomialCdf(-1, 10, 0.5)).toBe(0)
    expect(binomialCdf(10, 10, 0.5)).toBe(1)
    const large = binomialCdf(1000, 3000, 0.5)
    expect(large).toBeGreaterThanOrEqual(0)
    expect(large).toBeLessThan(1e-60)
  })
})
