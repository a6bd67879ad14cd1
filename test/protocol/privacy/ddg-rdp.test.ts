import {
  composeEvent,
  DEFAULT_RDP_ORDERS,
  type DistributedDiscreteGaussian,
  ddgRdp,
  ddgTau,
  emptyRdpAccount,
  epsilonSpent,
  gaussianRdp,
  ProtocolError,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

function ddgEpsilon(round: DistributedDiscreteGaussian, rounds: number, delta: number) {
  return epsilonSpent(
    composeEvent(emptyRdpAccount(), { kind: 'distributed-discrete-gaussian', ...round, rounds }),
    delta,
  )
}

describe('the distributed discrete Gaussian (Kairouz, Liu & Steinke, ICML 2021)', () => {
  it('τ is 10·Σ_{k=1}^{m−1} e^{−2π²σ²k/(k+1)}: 0 for one participant, 10·e^{−π²σ²} for two', () => {
    expect(ddgTau(0.5, 1)).toBe(0)
    expect(ddgTau(1, 2)).toBeCloseTo(10 * Math.exp(-(Math.PI ** 2)), 18)
    expect(ddgTau(0.5, 3)).toBeCloseTo(
      10 * (Math.exp(-(Math.PI ** 2) / 2) + Math.exp(-(2 * Math.PI ** 2 * 0.5 * 2) / 3)),
      15,
    )
    expect(ddgTau(4, 1000)).toBeLessThan(1e-16 * 999)
  })

  it.each([
    // [Δ₂, σ², m, d, rounds, ε at δ = 1e-5, order]: the authors' accounting (google-research/federated,
    // distributed_dp/accounting_utils.py, compute_rdp_dgaussian with q = 1 and Δ₁ = Δ₂·min(√d, Δ₂), as its
    // ddgauss_epsilon takes after rounding), converted to ε by dp_accounting's compute_epsilon over its
    // default orders; evaluated in Python for this test.
    [2, 0.5, 10, 100, 1, 7.6507752691839315, 4],
    [2, 0.5, 10, 100, 100, 184.3302269109977, 1.3],
    [4, 1.0, 5, 50, 1, 9.381182478622481, 3.5],
    [1024, 1024 ** 2 / 100, 100, 1000, 100, 96.11630842505602, 1.5],
  ])(
    'Δ₂ = %s, σ² = %s, m = %s, d = %s, %s rounds → ε = %s (order %s), as the authors’ code computes',
    (l2, s2, m, d, rounds, epsilon, order) => {
      const spent = ddgEpsilon(
        { l2Sensitivity: l2, sigmaSquared: s2, participants: m, dimension: d },
        rounds,
        1e-5,
      )
      expect(Math.abs(spent.epsilon - epsilon) / epsilon).toBeLessThan(1e-12)
      expect(spent.order).toBe(order)
    },
  )

  it('one participant is the discrete Gaussian: Δ²/(2σ²)-zCDP, α·Δ²/(2σ²) at every order', () => {
    // Canonne, Kamath & Steinke 2020, Thm. 14; dp_accounting's DiscreteGaussianDpEvent.
    const rdp = ddgRdp({ l2Sensitivity: 3, sigmaSquared: 7, participants: 1, dimension: 20 })
    rdp.forEach((r, k) => {
      expect(r).toBeCloseTo(((DEFAULT_RDP_ORDERS[k] as number) * 9) / (2 * 7), 13)
    })
  })

  it('approaches the continuous Gaussian with the same total noise as σ² grows with Δ₂/σ fixed', () => {
    // Δ₂ = 2σ and m = 4 survivors: the sum carries variance 4σ², a Gaussian noise multiplier of 2σ/Δ₂ = 1.
    const orders = [1.5, 2, 8, 32]
    const gaussian = gaussianRdp(1, orders)
    const gap = (sigmaSquared: number) =>
      Math.max(
        ...ddgRdp(
          { l2Sensitivity: 2 * Math.sqrt(sigmaSquared), sigmaSquared, participants: 4, dimension: 1000 },
          orders,
        ).map((r, k) => r - (gaussian[k] as number)),
      )
    const gaps = [0.25, 0.5, 1, 2, 4].map(gap)
    for (let k = 1; k < gaps.length; k++) expect(gaps[k]).toBeLessThan(gaps[k - 1] as number)
    expect(gaps[0]).toBeGreaterThan(1) // τd dominates at σ² = 1/4
    expect(gaps[4]).toBeLessThan(1e-12) // τ < 1e-16 at σ² = 4: indistinguishable
    expect(gaps.every((g) => g >= 0)).toBe(true) // never better than the continuous Gaussian
  })

  it('the τ term is not negligible for small σ²: 20 survivors at σ² = 0.3 spend far more than a Gaussian', () => {
    const round = { l2Sensitivity: 3, sigmaSquared: 0.3, participants: 20, dimension: 1000 }
    const tau = ddgTau(round.sigmaSquared, round.participants)
    expect(tau).toBeCloseTo(1.6063788426722478, 12)
    const z = Math.sqrt(round.participants * round.sigmaSquared) / round.l2Sensitivity
    const discrete = ddgEpsilon(round, 1, 1e-5).epsilon
    const continuous = epsilonSpent(
      composeEvent(emptyRdpAccount(), {
        kind: 'subsampled-gaussian',
        samplingRate: 1,
        noiseMultiplier: z,
        steps: 1,
      }),
      1e-5,
    ).epsilon
    expect(discrete).toBeGreaterThan(100 * continuous)
  })

  it('never exceeds Theorem 1’s concentrated-DP bound, α·ε²/2 with ε = min(√(Δ₂²/(mσ²) + 2τd), Δ₂/√(mσ²) + τ√d)', () => {
    for (const round of [
      { l2Sensitivity: 2, sigmaSquared: 0.5, participants: 10, dimension: 100 },
      { l2Sensitivity: 3, sigmaSquared: 0.3, participants: 20, dimension: 1000 },
      { l2Sensitivity: 50, sigmaSquared: 40, participants: 3, dimension: 10 },
    ]) {
      const a = round.l2Sensitivity ** 2 / (round.participants * round.sigmaSquared)
      const tau = ddgTau(round.sigmaSquared, round.participants)
      const cdp = Math.min(
        Math.sqrt(a + 2 * tau * round.dimension),
        Math.sqrt(a) + tau * Math.sqrt(round.dimension),
      )
      ddgRdp(round).forEach((r, k) => {
        expect(r).toBeLessThanOrEqual(((DEFAULT_RDP_ORDERS[k] as number) * cdp ** 2) / 2 + 1e-9)
      })
    }
  })

  it('uses a tighter L1 bound when the rounding step gives one, never a looser one than min(√d·Δ₂, Δ₂²)', () => {
    // At σ² = 0.6 the middle term of Prop. 14, the one with Δ₁, is the smallest.
    const round = { l2Sensitivity: 3, sigmaSquared: 0.6, participants: 20, dimension: 1000 }
    const byDefault = ddgRdp(round, [2])[0] as number
    const tighter = ddgRdp({ ...round, l1Sensitivity: 3 }, [2])[0] as number
    expect(tighter).toBeLessThan(byDefault)
    expect(ddgRdp({ ...round, l1Sensitivity: 9 }, [2])[0]).toBeCloseTo(byDefault, 14) // Δ₂² = 9 < √1000·3
  })

  it('refuses σ² below 1/4 (the theorem needs σ ≥ 1/2), no survivors and a non-positive sensitivity', () => {
    const round = { l2Sensitivity: 3, sigmaSquared: 1, participants: 20, dimension: 1000 }
    expect(() => ddgRdp({ ...round, sigmaSquared: 0.2 })).toThrow(
      'privacy: sigmaSquared: expected a finite variance ≥ 1/4 per participant (σ ≥ 1/2, as the DDG theorem requires), got 0.2',
    )
    expect(() => ddgRdp({ ...round, participants: 0 })).toThrow(
      'privacy: participants: expected a whole number ≥ 1, got 0',
    )
    expect(() => ddgRdp({ ...round, l2Sensitivity: 0 })).toThrow(ProtocolError)
    expect(() => ddgRdp({ ...round, dimension: 2.5 })).toThrow(
      'privacy: dimension: expected a whole number ≥ 1, got 2.5',
    )
  })
})
