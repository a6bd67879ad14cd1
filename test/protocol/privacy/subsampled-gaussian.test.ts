import { DEFAULT_RDP_ORDERS, gaussianRdp, subsampledGaussianRdp } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { protocolRefusal } from './protocol-refusal.ts'
import { logMomentByQuadrature } from './renyi-quadrature.ts'

/** log A_α from the closed forms: RDP·(α − 1). */
function logMoment(q: number, z: number, alpha: number): number {
  return (subsampledGaussianRdp({ samplingRate: q, noiseMultiplier: z }, [alpha])[0] as number) * (alpha - 1)
}

describe('the default Rényi orders', () => {
  it('are dp_accounting’s: 1.1 to 10.9 by 0.1, 11 to 63, then 128, 256, 512 and 1024', () => {
    expect(DEFAULT_RDP_ORDERS).toHaveLength(99 + 53 + 4)
    expect(DEFAULT_RDP_ORDERS.slice(0, 3)).toEqual([1.1, 1.2, 1.3])
    expect(DEFAULT_RDP_ORDERS[98]).toBeCloseTo(10.9, 12)
    expect(DEFAULT_RDP_ORDERS.slice(99, 101)).toEqual([11, 12])
    expect(DEFAULT_RDP_ORDERS.slice(-6)).toEqual([62, 63, 128, 256, 512, 1024])
    // 1 + 10/10 … 1 + 90/10 are exact integers, so they take the integer-order formula as in dp_accounting.
    expect(DEFAULT_RDP_ORDERS.filter((a) => a < 11 && Number.isInteger(a))).toEqual([
      2, 3, 4, 5, 6, 7, 8, 9, 10,
    ])
    expect(Object.isFrozen(DEFAULT_RDP_ORDERS)).toBe(true)
  })
})

describe('Rényi DP of the Gaussian mechanism', () => {
  it('is α / (2z²) (Mironov 2017, Prop. 7)', () => {
    expect(gaussianRdp(2.75, [3.25])[0]).toBeCloseTo(3.25 / (2 * 2.75 ** 2), 14)
    // TF Privacy's test_compute_rdp_no_sampling: q = 1, z = 10, order 20 → 0.1.
    expect(subsampledGaussianRdp({ samplingRate: 1, noiseMultiplier: 10 }, [20])).toEqual([0.1])
  })

  it('is infinite without noise, and zero when nothing is sampled', () => {
    expect(gaussianRdp(0, [2, 32])).toEqual([Infinity, Infinity])
    expect(subsampledGaussianRdp({ samplingRate: 0.5, noiseMultiplier: 0 }, [2, 2.5])).toEqual([
      Infinity,
      Infinity,
    ])
    expect(subsampledGaussianRdp({ samplingRate: 0, noiseMultiplier: 0 }, [2, 2.5])).toEqual([0, 0])
    expect(
      subsampledGaussianRdp({ samplingRate: 0, noiseMultiplier: 1 }, DEFAULT_RDP_ORDERS).every(
        (r) => r === 0,
      ),
    ).toBe(true)
  })
})

describe('Rényi DP of the Poisson-subsampled Gaussian', () => {
  it('matches dp_accounting’s known values for q = 0.01, z = 2.5, 50 steps (rtol 1e-4, as there)', () => {
    // rdp_privacy_accountant_test.py, test_compute_rdp_poisson_sampled_gaussian (google/differential-privacy).
    const orders = [1.5, 2.5, 5, 50, 100]
    const expected = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2]
    const rdp = subsampledGaussianRdp({ samplingRate: 0.01, noiseMultiplier: 2.5 }, orders).map((r) => r * 50)
    rdp.forEach((r, k) => {
      expect(Math.abs(r - (expected[k] as number)) / (expected[k] as number)).toBeLessThan(1e-4)
    })
  })

  it('matches TF Privacy’s compute_rdp(q = 0.1, z = 2, 10 steps, order 5) = 0.07737', () => {
    // rdp_accountant_test.py, test_compute_rdp_scalar (tensorflow/privacy), to 5 places as there.
    const rdp = (subsampledGaussianRdp({ samplingRate: 0.1, noiseMultiplier: 2 }, [5])[0] as number) * 10
    expect(rdp).toBeCloseTo(0.07737, 5)
  })

  it.each([
    // [q, z, α]: dp_accounting's test_compute_log_a_equals_mp cases, and DP-SGD-sized ones.
    [1e-6, 0.1, 256],
    [1e-6, 1, 27],
    [1e-3, 1, 2],
    [0.01, 10, 20],
    [0.99, 0.1, 256],
    [0.01, 1, 8],
    [0.1, 2, 5],
  ])(
    'at integer order: q = %s, z = %s, α = %s equals the numerical integral of the Rényi moment',
    (q, z, alpha) => {
      const closed = logMoment(q, z, alpha)
      const integral = logMomentByQuadrature(q, z, alpha)
      // The binomial sum is exact; what is left is rounding (A_α ≈ 1 + 1e-9 keeps only ~7 digits of log A).
      expect(Math.abs(closed - integral)).toBeLessThanOrEqual(1e-9 * Math.abs(integral) + 1e-14)
    },
  )

  it.each([
    [1e-7, 0.1, 1.01],
    [1e-5, 0.1, 256.1],
    [1e-4, 1, 1.5],
    [0.1, 100, 20.5],
    [0.999, 100, 256.1],
    [0.01, 1, 7.8],
    [0.04, 1.5, 3.9],
    [0.2, 0.8, 12.3],
  ])(
    'at fractional order: q = %s, z = %s, α = %s bounds the integral from above, within 1e-4',
    (q, z, alpha) => {
      const closed = logMoment(q, z, alpha)
      const integral = logMomentByQuadrature(q, z, alpha)
      // The two-series sum with |C(α, i)| (dp_accounting's choice) over-counts slightly, never under.
      expect(closed).toBeGreaterThanOrEqual(integral - 1e-12 * Math.abs(integral) - 1e-15)
      // dp_accounting's own tolerance against its multi-precision integral: rtol 1e-4, atol 1e-8.
      expect(closed - integral).toBeLessThanOrEqual(1e-4 * Math.abs(integral) + 1e-8)
    },
  )

  it('grows with the sampling rate and the order, and shrinks as noise grows', () => {
    const orders = [2, 4.5, 8, 32, 256]
    const at = (q: number, z: number) =>
      subsampledGaussianRdp({ samplingRate: q, noiseMultiplier: z }, orders)
    for (const [low, high] of [
      [at(0.001, 1), at(0.01, 1)],
      [at(0.01, 1), at(0.1, 1)],
      [at(0.1, 1), at(1, 1)],
      [at(0.01, 2), at(0.01, 1)],
      [at(0.01, 10), at(0.01, 2)],
    ])
      (low as number[]).forEach((r, k) => {
        expect(r).toBeLessThan((high as number[])[k] as number)
      })
    const curve = at(0.01, 1)
    for (let k = 1; k < curve.length; k++) expect(curve[k]).toBeGreaterThan(curve[k - 1] as number)
  })

  it('never exceeds the plain Gaussian at any order where its series settles: subsampling only helps', () => {
    const plain = gaussianRdp(1.3)
    const subsampled = subsampledGaussianRdp({ samplingRate: 0.3, noiseMultiplier: 1.3 })
    subsampled.forEach((r, k) => {
      if (Number.isFinite(r)) expect(r).toBeLessThanOrEqual(plain[k] as number)
    })
    expect(subsampled.filter(Number.isFinite).length).toBeGreaterThan(140)
  })

  it('is +∞ at a low fractional order whose series does not settle in 1000 terms: that order is passed over', () => {
    // For q = 0.1, z = 1 the upper series' terms fall only like i^(−α−1) (its exponential parts cancel),
    // so at α = 1.5 they are still above e^(−30) of the sum after 1000 terms. dp_accounting excludes the
    // order the same way (rdp_privacy_accountant.py, _compute_log_a_frac): never a partial sum.
    const [low, integer] = subsampledGaussianRdp({ samplingRate: 0.1, noiseMultiplier: 1 }, [1.5, 2])
    expect(low).toBe(Infinity)
    expect(integer).toBeCloseTo(0.017036863236176605, 14)
  })

  it('refuses a sampling rate outside [0, 1], a negative noise and orders at or below 1, naming them', () => {
    expect(protocolRefusal(() => subsampledGaussianRdp({ samplingRate: 1.5, noiseMultiplier: 1 }))).toBe(
      'privacy: samplingRate: expected a number in [0, 1], got 1.5',
    )
    expect(
      protocolRefusal(() => subsampledGaussianRdp({ samplingRate: Number.NaN, noiseMultiplier: 1 })),
    ).toContain('samplingRate')
    expect(protocolRefusal(() => subsampledGaussianRdp({ samplingRate: 0.1, noiseMultiplier: -1 }))).toBe(
      'privacy: noiseMultiplier: expected a finite number ≥ 0, got -1',
    )
    expect(protocolRefusal(() => gaussianRdp(1, [1]))).toBe(
      'privacy: orders: expected finite Rényi orders above 1, got 1',
    )
    expect(protocolRefusal(() => gaussianRdp(1, []))).toContain('a non-empty list of Rényi orders')
  })
})
