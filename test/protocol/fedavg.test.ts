import { applyWeightedSum, fedAvg, weightedSum } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

describe('FedAvg', () => {
  it('weights every delta by its example count, not one vote per participant', () => {
    const global = new Float32Array([1, 1])
    const next = fedAvg(global, [
      { delta: new Float32Array([1, 0]), examples: 300 },
      { delta: new Float32Array([-1, 4]), examples: 100 },
    ])
    // (300·1 + 100·(−1)) / 400 = 0.5 and (0 + 100·4) / 400 = 1
    expect(Array.from(next)).toEqual([1.5, 2])
  })

  it('equals the example-weighted mean of the participants’ local weights', () => {
    const global = new Float32Array([0.25, -2, 7])
    const locals = [new Float32Array([1, 2, 3]), new Float32Array([-1, 0, 5]), new Float32Array([4, 4, 4])]
    const examples = [10, 30, 60]
    const next = fedAvg(
      global,
      locals.map((w, k) => ({
        delta: w.map((v, i) => v - (global[i] as number)),
        examples: examples[k] as number,
      })),
    )
    for (let i = 0; i < 3; i++) {
      const mean = locals.reduce((s, w, k) => s + (w[i] as number) * (examples[k] as number), 0) / 100
      expect(next[i]).toBeCloseTo(mean, 5)
    }
  })

  it('does not depend on the order in which updates arrived', () => {
    const a = { delta: new Float32Array([0.1, 0.7]), examples: 3 }
    const b = { delta: new Float32Array([0.3, -0.2]), examples: 5 }
    const c = { delta: new Float32Array([1e-3, 9]), examples: 11 }
    const g = new Float32Array(2)
    expect(fedAvg(g, [a, b, c])).toEqual(fedAvg(g, [c, a, b]))
  })

  it('exposes the sum vector [Σ n·Δ, Σ n] that secure aggregation will reveal', () => {
    const sum = weightedSum(2, [
      { delta: new Float32Array([1, 2]), examples: 2 },
      { delta: new Float32Array([3, 4]), examples: 1 },
    ])
    expect(Array.from(sum)).toEqual([5, 8, 3])
    expect(Array.from(applyWeightedSum(new Float32Array([0, 0]), sum))).toEqual(
      [5 / 3, 8 / 3].map(Math.fround),
    )
  })

  it('refuses deltas of the wrong length and non-positive example counts', () => {
    expect(() => fedAvg(new Float32Array(2), [{ delta: new Float32Array(3), examples: 1 }])).toThrow(
      /expected deltas of 2/,
    )
    expect(() => fedAvg(new Float32Array(2), [{ delta: new Float32Array(2), examples: 0 }])).toThrow(
      /positive example count/,
    )
    expect(() => fedAvg(new Float32Array(2), [])).toThrow(/positive total example count/)
  })
})
