/**
 * The label mix π the coordinator hands participants for the logit-adjusted loss under
 * `labelPrior: "federation"`: the class shares of the last aggregate's label counts. Before any
 * aggregate nothing is known and π is uniform (the loss is then plain cross-entropy). A class no
 * participant holds keeps a share of 10⁻⁶, renormalized, so that log π stays finite.
 */
export function federationPrior(counts: readonly number[] | null, classes: number): number[] {
  const total = counts?.reduce((a, b) => a + b, 0) ?? 0
  if (!counts || total === 0) return new Array<number>(classes).fill(1 / classes)
  if (counts.length !== classes)
    throw new Error(`federationPrior: expected ${classes} label counts, got ${counts.length}`)
  const raw = counts.map((n) => Math.max(n / total, 1e-6))
  const norm = raw.reduce((a, b) => a + b, 0)
  return raw.map((p) => p / norm)
}
