import { FEDAVG, type ServerOptimizer, serverStep } from '@fedtune/coordinator'
import { fedAvg } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

const adam: ServerOptimizer = { optimizer: 'adam', learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-3 }

describe('server optimizer', () => {
  it('sgd at learning rate 1 is FedAvg: the global head plus the weighted mean update', () => {
    const global = new Float32Array([1, -2, 0.5])
    const contributions = [
      { delta: new Float32Array([0.3, 0.1, -0.2]), examples: 30 },
      { delta: new Float32Array([-0.1, 0.5, 0.4]), examples: 10 },
    ]
    const mean = [0, 1, 2].map(
      (i) => contributions.reduce((s, c) => s + c.examples * (c.delta[i] as number), 0) / 40,
    )
    const { weights, state } = serverStep(FEDAVG, null, global, mean)
    expect(Array.from(weights)).toEqual(Array.from(fedAvg(global, contributions)))
    expect(state).toBeNull()
  })

  it('adam (FedAdam, Reddi et al. 2021) steps by η·m/(√v + τ) and carries m and v to the next round', () => {
    const global = new Float32Array([0, 0])
    const first = serverStep(adam, null, global, [0.2, -0.001])
    // m = 0.1·Δ, v = 0.01·Δ², no bias correction: the step is η·0.1Δ/(0.1|Δ| + τ)
    expect(first.weights[0]).toBeCloseTo((0.1 * 0.02) / (0.02 + 1e-3), 6)
    expect(first.weights[1]).toBeCloseTo((0.1 * -0.0001) / (0.0001 + 1e-3), 6)
    expect(Array.from(first.state?.m ?? [])).toEqual([Math.fround(0.02), Math.fround(-0.0001)])
    const second = serverStep(adam, first.state, first.weights, [0.2, -0.001])
    const m = 0.9 * 0.02 + 0.1 * 0.2
    const v = 0.99 * 0.0004 + 0.01 * 0.04
    expect(second.weights[0]).toBeCloseTo((first.weights[0] as number) + (0.1 * m) / (Math.sqrt(v) + 1e-3), 5)
  })

  it('adam moves a coordinate with a tiny but steady update as far as one with a large update', () => {
    let step: ReturnType<typeof serverStep> = { weights: new Float32Array(2), state: null }
    for (let r = 0; r < 50; r++)
      step = serverStep({ ...adam, epsilon: 1e-8 }, step.state, step.weights, [1, 1e-4])
    expect((step.weights[1] as number) / (step.weights[0] as number)).toBeCloseTo(1, 2)
  })

  it('with weight decay λ, shrinks the weights by 1 − η·λ apart from the moments (AdamW), biases included', () => {
    const global = new Float32Array([2, -1])
    const plain = serverStep(adam, null, global, [0.2, -0.001])
    const decayed = serverStep({ ...adam, weightDecay: 0.5 }, null, global, [0.2, -0.001])
    // η = 0.1, λ = 0.5: each weight keeps 0.95 of itself, then the same Adam step
    for (const i of [0, 1])
      expect(decayed.weights[i]).toBeCloseTo((plain.weights[i] as number) - 0.05 * (global[i] as number), 6)
    expect(Array.from(decayed.state?.m ?? [])).toEqual(Array.from(plain.state?.m ?? []))
    // no update at all: the weights decay geometrically towards 0
    let w = serverStep({ ...adam, weightDecay: 0.5 }, null, global, [0, 0]).weights
    expect(Array.from(w)).toEqual([Math.fround(1.9), Math.fround(-0.95)])
    w = serverStep({ ...adam, weightDecay: 0 }, null, w, [0, 0]).weights
    expect(Array.from(w)).toEqual([Math.fround(1.9), Math.fround(-0.95)])
  })

  it('refuses a weight decay that would flip the weights (η·λ ≥ 1) rather than stepping with it', () => {
    expect(() => serverStep({ ...adam, weightDecay: 10 }, null, new Float32Array(2), [0, 0])).toThrow(
      /0 ≤ η·λ < 1, got λ = 10 at η = 0.1/,
    )
  })

  it('refuses moments of another size rather than stepping with them', () => {
    const state = { m: new Float32Array(3), v: new Float32Array(3) }
    expect(() => serverStep(adam, state, new Float32Array(2), [0, 0])).toThrow(/moments of 2 values, got 3/)
  })
})
