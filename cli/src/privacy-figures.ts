/*
 * How `fedtune privacy` prints its figures: ε to compare with a published one, z to copy into a task
 * file, noise and δ as they are.
 */

/** ε to five significant digits (2.1014, 10.726, 1.0000): enough to compare with a published figure. */
export function epsilonText(epsilon: number): string {
  return Number.isFinite(epsilon) ? epsilon.toPrecision(5) : '∞'
}

/**
 * z to six significant digits, rounded up: printed noise a user copies must still meet the budget, and
 * the accountant's z meets it with at most 1e-6 to spare.
 */
export function noiseText(z: number): string {
  const scale = 10 ** (5 - Math.floor(Math.log10(z)))
  return (Math.ceil(z * scale) / scale).toPrecision(6)
}

/** A derived quantity (a noise standard deviation, a batch, a variance) to four significant digits. */
export function figureText(x: number): string {
  return Math.abs(x) >= 1e6 ? x.toExponential(3) : Number(x.toPrecision(4)).toString()
}
