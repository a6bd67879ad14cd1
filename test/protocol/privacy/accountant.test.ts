import {
  composeEvent,
  composeEvents,
  DEFAULT_RDP_ORDERS,
  emptyRdpAccount,
  epsilonSpent,
  eventRdp,
  gaussianRdp,
  type PrivacyEvent,
  ProtocolError,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

/** ε of `steps` DP-SGD steps at (q, z), at δ, over `orders` (dp_accounting's by default). */
function dpSgd(
  q: number,
  z: number,
  steps: number,
  delta: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
) {
  const event: PrivacyEvent = { kind: 'subsampled-gaussian', samplingRate: q, noiseMultiplier: z, steps }
  return epsilonSpent(composeEvent(emptyRdpAccount(orders), event), delta)
}

/** TF Privacy's compute_dp_sgd_privacy orders (compute_dp_sgd_privacy_lib.py). */
const TF_PRIVACY_ORDERS = [
  1.25,
  1.5,
  1.75,
  2,
  2.25,
  2.5,
  3,
  3.5,
  4,
  4.5,
  ...Array.from({ length: 59 }, (_, i) => 5 + i),
].concat([128, 256, 512])

describe('the accountant’s known answers', () => {
  // The three figures issue 16 pins. The digits beyond are Google dp_accounting's own output for the
  // same question (RdpAccountant with its default orders; rdp_privacy_accountant.py from
  // google/differential-privacy at b5b0286, run with numpy 2.4 and scipy 1.17), which this matches to 1e-12.
  it('q = 0.01, z = 1.0, 1000 steps, δ = 1e-5 → ε ≈ 2.10 (dp_accounting: 2.101366525420273, order 7.8)', () => {
    const spent = dpSgd(0.01, 1.0, 1000, 1e-5)
    expect(spent.epsilon.toFixed(2)).toBe('2.10')
    expect(spent.epsilon).toBeCloseTo(2.101366525420273, 11)
    expect(spent.order).toBe(7.8)
  })

  it('q = 1, z = 5, 100 rounds, δ = 1e-5 → ε ≈ 10.73 (dp_accounting: 10.725509696418232, order 3.3)', () => {
    const spent = dpSgd(1, 5, 100, 1e-5)
    expect(spent.epsilon.toFixed(2)).toBe('10.73')
    expect(spent.epsilon).toBeCloseTo(10.725509696418232, 11)
    expect(spent.order).toBe(3.3)
  })

  it('one full-batch step with z = 4.530877117 at δ = 1e-6 → ε = 1.00 (dp_accounting: 1.0000002896457596)', () => {
    // z was chosen in dp_accounting's tests to give exactly (1, 1e-6) over a fine grid of orders
    // (rdp-conversion.test.ts); over the default 156 orders the best is α = 22.
    const spent = dpSgd(1, 4.530877117, 1, 1e-6)
    expect(spent.epsilon.toFixed(2)).toBe('1.00')
    expect(spent.epsilon).toBeCloseTo(1.0000002896457596, 12)
    expect(spent.order).toBe(22)
  })

  it.each([
    // tensorflow/privacy compute_dp_sgd_privacy_test.py, test_compute_dp_sgd_privacy: (n, batch, z, epochs,
    // δ) → (ε, order), with q = batch/n, steps = ⌈epochs·n/batch⌉ and TF Privacy's orders.
    [60000, 150, 1.3, 15, 1e-5, 0.7242234026109595, 19],
    [100000, 100, 1.0, 30, 1e-7, 1.4154988495444842, 13],
    [100000000, 1024, 0.1, 10, 1e-7, 5907982.3113978775, 1.25],
  ])(
    'TF Privacy: n = %s, batch %s, z = %s, %s epochs, δ = %s → ε = %s at order %s',
    (n, batch, z, epochs, delta, epsilon, order) => {
      const spent = dpSgd(batch / n, z, Math.ceil((epochs * n) / batch), delta, TF_PRIVACY_ORDERS)
      expect(Math.abs(spent.epsilon - epsilon) / epsilon).toBeLessThan(1e-9)
      expect(spent.order).toBe(order)
    },
  )

  it('Opacus: q = 0.04, z = 1.5, 2250 steps, δ = 1e-5 → 7.32911117143, which this bounds from above within 3e-4', () => {
    // pytorch/opacus opacus/tests/accountants_test.py, test_rdp_accountant, with Opacus's orders. Its best
    // order is fractional (3.9), where Opacus sums the two series with signed binomial coefficients (the
    // exact moment) and dp_accounting, like this accountant, with their absolute values (an upper bound).
    const opacusOrders = [
      ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
      ...Array.from({ length: 52 }, (_, i) => 12 + i),
    ]
    const spent = dpSgd(0.04, 1.5, 2250, 1e-5, opacusOrders)
    expect(spent.epsilon).toBeGreaterThanOrEqual(7.32911117143)
    expect(spent.epsilon - 7.32911117143).toBeLessThan(3e-4)
    expect(spent.order).toBe(3.9)
  })

  it('TF Privacy: one step at q = 0 and one at q = 1 with z = 10 spend 0.1 at order 20', () => {
    // rdp_accountant_test.py, test_compute_heterogeneous_rdp_different_sampling_probabilities.
    const account = composeEvents(emptyRdpAccount([20]), [
      { kind: 'subsampled-gaussian', samplingRate: 0, noiseMultiplier: 10, steps: 1 },
      { kind: 'subsampled-gaussian', samplingRate: 1, noiseMultiplier: 10, steps: 1 },
    ])
    expect(account.rdp).toEqual([0.1])
  })
})

describe('composition', () => {
  it('adds Rényi curves order by order, whatever the mix of events', () => {
    const orders = [1.5, 3.25, 8, 64]
    const dpSgdRound: PrivacyEvent = {
      kind: 'subsampled-gaussian',
      samplingRate: 0.02,
      noiseMultiplier: 1.1,
      steps: 40,
    }
    const secureRound: PrivacyEvent = {
      kind: 'distributed-discrete-gaussian',
      l2Sensitivity: 64,
      sigmaSquared: 900,
      participants: 12,
      dimension: 500,
      rounds: 1,
    }
    const account = composeEvents(emptyRdpAccount(orders), [dpSgdRound, secureRound, dpSgdRound])
    const a = eventRdp(dpSgdRound, orders)
    const b = eventRdp(secureRound, orders)
    account.rdp.forEach((r, k) => {
      expect(r).toBeCloseTo(2 * (a[k] as number) + (b[k] as number), 14)
    })
  })

  it('counts steps and rounds as repeated events: 6 steps at once equal 1 + 2 + 3', () => {
    // As dp_accounting's test_rdp_composition (a Gaussian, 6 = 1 + 2 + 3), with z = 3.25 at order 2.75.
    const orders = [2.75]
    const step = (steps: number): PrivacyEvent => ({
      kind: 'subsampled-gaussian',
      samplingRate: 1,
      noiseMultiplier: 3.25,
      steps,
    })
    const once = composeEvent(emptyRdpAccount(orders), step(6)).rdp[0] as number
    const piecewise = composeEvents(emptyRdpAccount(orders), [step(1), step(2), step(3)]).rdp[0] as number
    expect(once).toBeCloseTo(6 * (gaussianRdp(3.25, orders)[0] as number), 14)
    expect(piecewise).toBeCloseTo(once, 14)
  })

  it('is a value: composing returns a new account and leaves the old one as it was', () => {
    const empty = emptyRdpAccount()
    const spent = composeEvent(empty, {
      kind: 'subsampled-gaussian',
      samplingRate: 0.01,
      noiseMultiplier: 1,
      steps: 10,
    })
    expect(empty.rdp.every((r) => r === 0)).toBe(true)
    expect(spent.rdp.some((r) => r > 0)).toBe(true)
    expect(Object.isFrozen(spent.rdp)).toBe(true)
    expect(epsilonSpent(empty, 1e-5)).toEqual({ epsilon: 0, order: 1.1 })
  })

  it('zero steps spend nothing, even without noise', () => {
    const account = composeEvent(emptyRdpAccount(), {
      kind: 'subsampled-gaussian',
      samplingRate: 0.5,
      noiseMultiplier: 0,
      steps: 0,
    })
    expect(epsilonSpent(account, 1e-5).epsilon).toBe(0)
  })

  it('with no noise ε is infinite', () => {
    expect(dpSgd(0.01, 0, 1, 1e-5).epsilon).toBe(Infinity)
  })
})

describe('ε moves the right way', () => {
  it('more steps spend more', () => {
    const spent = [1, 10, 100, 1000, 10000].map((steps) => dpSgd(0.01, 1.0, steps, 1e-5).epsilon)
    for (let k = 1; k < spent.length; k++) expect(spent[k]).toBeGreaterThan(spent[k - 1] as number)
  })

  it('more noise spends less', () => {
    const spent = [0.6, 0.8, 1, 1.5, 3, 10].map((z) => dpSgd(0.01, z, 1000, 1e-5).epsilon)
    for (let k = 1; k < spent.length; k++) expect(spent[k]).toBeLessThan(spent[k - 1] as number)
  })

  it('a higher sampling rate spends more, and a larger δ buys a smaller ε', () => {
    expect(dpSgd(0.02, 1, 1000, 1e-5).epsilon).toBeGreaterThan(dpSgd(0.01, 1, 1000, 1e-5).epsilon)
    expect(dpSgd(0.01, 1, 1000, 1e-3).epsilon).toBeLessThan(dpSgd(0.01, 1, 1000, 1e-5).epsilon)
  })
})

describe('bad events', () => {
  it('are refused with what was expected and what arrived', () => {
    const account = emptyRdpAccount()
    expect(() =>
      composeEvent(account, {
        kind: 'subsampled-gaussian',
        samplingRate: 0.1,
        noiseMultiplier: 1,
        steps: 1.5,
      }),
    ).toThrow('privacy: steps: expected a whole number ≥ 0, got 1.5')
    expect(() => composeEvent(account, { kind: 'laplace' } as unknown as PrivacyEvent)).toThrow(
      'privacy: event.kind: expected "subsampled-gaussian" or "distributed-discrete-gaussian", got laplace',
    )
    expect(() => emptyRdpAccount([0.5])).toThrow(ProtocolError)
  })
})
