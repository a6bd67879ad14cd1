/** Examples per class in `labels` (one integer in 0..classes−1 each), indexed by class. */
export function labelCounts(labels: ArrayLike<number>, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number
    counts[y] = (counts[y] as number) + 1
  }
  return counts
}
