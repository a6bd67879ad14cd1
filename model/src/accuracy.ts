/** Fraction of rows whose arg-max probability is the label (first maximum wins ties). */
export function accuracy(probs: Float32Array, labels: Int32Array, classes: number): number {
  const n = labels.length
  if (probs.length !== n * classes)
    throw new Error(`accuracy: expected ${n}x${classes} probabilities, got ${probs.length}`)
  if (n === 0) return 0
  let correct = 0
  for (let i = 0; i < n; i++) {
    let best = 0
    for (let c = 1; c < classes; c++)
      if ((probs[i * classes + c] as number) > (probs[i * classes + best] as number)) best = c
    if (best === labels[i]) correct++
  }
  return correct / n
}
