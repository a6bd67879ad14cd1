import { gaussianRdp, rdpToDelta, rdpToEpsilon, subsampledGaussianRdp } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { logErfc } from '../../../protocol/src/privacy/log-space.ts'
import { protocolRefusal } from './protocol-refusal.ts'

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** erfc from the accountant's own log erfc (checked against mpmath in log-space.test.ts). */
const erfc = (x: number) => Math.exp(logErfc(x))

describe('Rényi DP to (ε, δ) (Canonne, Kamath & Steinke 2020, Prop. 12, as dp_accounting)', () => {
  it('a constant curve (pure DP) picks the largest order: ε = 1.32783806176 at δ = 1e-5, order 32', () => {
    // dp_accounting's test_compute_epsilon_delta_pure_dp (and TF Privacy's test_get_privacy_spent_check_target_delta).
    const orders = range(2, 32)
    const rdp = orders.map(() => 1.1)
    const spent = rdpToEpsilon(orders, rdp, 1e-5)
    expect(spent.epsilon).toBeCloseTo(1.32783806176, 9)
    expect(spent.order).toBe(32)
    const back = rdpToDelta(orders, rdp, 1.32783806176)
    expect(back.delta).toBeCloseTo(1e-5, 12)
    expect(back.order).toBe(32)
  })

  it('the Gaussian with z = 4.530877117 is (1, 1e-6)-DP over a fine grid of orders', () => {
    // dp_accounting's test_compute_epsilon_delta_gaussian: orders 1.001 to 99.999 by 0.001 (it starts at
    // 1.000, which this accountant does not take: RDP at α = 1 is the KL divergence, not an order > 1).
    const orders = range(1001, 99999).map((i) => 0.001 * i)
    const rdp = gaussianRdp(4.530877117, orders)
    expect(rdpToEpsilon(orders, rdp, 1e-6).epsilon).toBeCloseTo(1, 7)
    expect(rdpToDelta(orders, rdp, 1).delta / 1e-6).toBeCloseTo(1, 4)
  })

  it('lies between the exact Gaussian δ and the standard tail bound for every ε (z = 1)', () => {
    // dp_accounting's test_delta_bounds_gaussian: the exact δ(ε) of the Gaussian mechanism (Balle & Wang,
    // ICML 2018, Thm. 8) is a lower bound, exp(−(ε − 1/2)²/2) an upper one, for a dense set of orders.
    const orders = range(11, 504).map((x) => 0.1 * x)
    const rdp = gaussianRdp(1, orders)
    for (let e = 0; e < 50; e += 0.5) {
      const delta = rdpToDelta(orders, rdp, e).delta
      const exact = erfc((e - 0.5) / Math.SQRT2) / 2 - (Math.exp(e) * erfc((e + 0.5) / Math.SQRT2)) / 2
      expect(exact).toBeLessThanOrEqual(delta * (1 + 1e-12) + 1e-300)
      if (e >= 0.5) expect(delta).toBeLessThanOrEqual(Math.exp(-0.5 * (e - 0.5) ** 2) + 1e-300)
    }
  })

  it('ε and δ are inverse to each other, for many sampling rates, noises and δ', () => {
    // dp_accounting's test_epsilon_delta_consistency, orders 2 to 49.
    const orders = range(2, 49)
    for (const q of [0.01, 0.1, 0.8, 1])
      for (const z of [0.1, 1, 10, 100]) {
        const rdp = subsampledGaussianRdp({ samplingRate: q, noiseMultiplier: z }, orders)
        for (const delta of [0.99, 0.9, 0.1, 0.01, 1e-3, 1e-5, 1e-9, 1e-12]) {
          const { epsilon, order } = rdpToEpsilon(orders, rdp, delta)
          const back = rdpToDelta(orders, rdp, epsilon)
          if (epsilon === Number.POSITIVE_INFINITY) expect(back.delta).toBe(1)
          else if (epsilon === 0) expect(back.delta).toBeLessThanOrEqual(delta)
          else {
            expect(back.delta / delta).toBeCloseTo(1, 6)
            expect(back.order).toBe(order)
          }
        }
      }
  })

  it('is never below the classic bound’s improvement: never above rdp + log(1/δ)/(α − 1), never below 0', () => {
    const orders = [1.5, 2, 3, 10, 64]
    const rdp = subsampledGaussianRdp({ samplingRate: 0.02, noiseMultiplier: 0.9 }, orders).map(
      (r) => r * 300,
    )
    const classic = Math.min(...orders.map((a, k) => (rdp[k] as number) + Math.log(1 / 1e-5) / (a - 1)))
    const spent = rdpToEpsilon(orders, rdp, 1e-5)
    expect(spent.epsilon).toBeLessThan(classic)
    expect(spent.epsilon).toBeGreaterThan(0)
  })

  it('is 0 when δ already covers the whole divergence: δ ≥ √(1 − e^(−rdp))', () => {
    const orders = [2, 4]
    const rdp = [1e-12, 2e-12] // √(1 − e^(−1e-12)) ≈ 1e-6
    expect(rdpToEpsilon(orders, rdp, 1e-5)).toEqual({ epsilon: 0, order: 2 })
    expect(rdpToEpsilon(orders, [0, 0], 1e-9).epsilon).toBe(0)
    // A curve rounding left a hair below zero counts as zero, not as a negative privacy loss.
    expect(rdpToEpsilon(orders, [-1e-18, 0], 1e-9).epsilon).toBe(0)
  })

  it('is infinite for an infinite curve (no noise)', () => {
    const orders = [2, 3]
    expect(rdpToEpsilon(orders, [Infinity, Infinity], 1e-5).epsilon).toBe(Infinity)
    expect(rdpToDelta(orders, [Infinity, Infinity], 5).delta).toBe(1)
  })

  it('passes over orders at or below 1.01, where the bound is unstable', () => {
    expect(rdpToEpsilon([1.005], [0.5], 1e-5).epsilon).toBe(Infinity)
  })

  it('refuses δ outside (0, 1), a curve of the wrong length and NaN, saying what arrived', () => {
    expect(protocolRefusal(() => rdpToEpsilon([2], [1], 0))).toBe(
      'privacy: delta: expected a number in (0, 1), got 0',
    )
    expect(protocolRefusal(() => rdpToEpsilon([2], [1], 1))).toBe(
      'privacy: delta: expected a number in (0, 1), got 1',
    )
    expect(protocolRefusal(() => rdpToEpsilon([2, 3], [1], 1e-5))).toBe(
      'privacy: rdp: expected one value per order (2), got 1 values',
    )
    expect(protocolRefusal(() => rdpToEpsilon([2], [Number.NaN], 1e-5))).toBe(
      'privacy: rdp: expected numbers (+∞ allowed), got NaN',
    )
    expect(protocolRefusal(() => rdpToDelta([2], [1], -1))).toBe(
      'privacy: epsilon: expected a finite number ≥ 0, got -1',
    )
  })
})
