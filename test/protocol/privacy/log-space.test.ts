import { describe, expect, it } from 'vitest'
import { logAddExp, logErfc } from '../../../protocol/src/privacy/log-space.ts'

describe('log-space arithmetic for the accountant', () => {
  it.each([
    // log(erfc(x)) from mpmath 1.3.0 at 30 digits (mpmath.log(mpmath.erfc(x))), rounded to doubles.
    [-5, 0.6931471805591766],
    [-2, 0.6908055736465877],
    [-1.5, 0.6760545027339606],
    [-0.5, 0.41903914777555956],
    [0, 0],
    [0.5, -0.7350111298370844],
    [1, -1.8496055099332482],
    [1.999, -5.360524027545017],
    [2, -5.364941264616638],
    [2.5, -7.806815272727264],
    [3, -10.720363041981113],
    [6, -38.37756117322339],
    [10, -102.87988902484489],
    [27, -732.8688865078974],
    [100, -10005.177585122665],
    [1000, -1000007.4801207219],
  ])('log erfc(%s) is right to 1e-13 relative, far past where erfc itself underflows', (x, expected) => {
    expect(Math.abs(logErfc(x) - expected)).toBeLessThanOrEqual(1e-13 * Math.abs(expected) + 1e-15)
  })

  it('log erfc is continuous where it switches from the series to the continued fraction', () => {
    expect(Math.abs(logErfc(2 - 1e-12) - logErfc(2))).toBeLessThan(1e-10)
    expect(Math.abs(logErfc(-2 + 1e-12) - logErfc(-2))).toBeLessThan(1e-10)
    expect(logErfc(Number.POSITIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY)
    expect(logErfc(Number.NEGATIVE_INFINITY)).toBe(Math.LN2)
  })

  it('adds in log space without overflow, with −∞ as zero', () => {
    expect(logAddExp(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12)
    expect(logAddExp(Number.NEGATIVE_INFINITY, 3)).toBe(3)
    expect(logAddExp(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 15)
  })
})
