import { type Dataset, subset } from './dataset.ts'
import { permutation, seededRandom } from './prng.ts'

/**
 * Splits off round(n_c·valFraction) examples of each class c for validation, drawn by the seed,
 * but never a class's last example: training must see every class the site has.
 */
export function stratifiedSplit(
  data: Dataset,
  valFraction: number,
  seed: number,
): { train: Dataset; val: Dataset } {
  if (!(valFraction >= 0 && valFraction < 1))
    throw new Error(`stratifiedSplit: expected valFraction in [0, 1), got ${valFraction}`)
  const byClass = new Map<number, number[]>()
  for (let i = 0; i < data.n; i++) {
    const y = data.y[i] as number
    const list = byClass.get(y)
    if (list) list.push(i)
    else byClass.set(y, [i])
  }
  const random = seededRandom(seed)
  const train: number[] = []
  const val: number[] = []
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(label) as number[]
    const order = permutation(members.length, random)
    const take = Math.min(Math.round(members.length * valFraction), members.length - 1)
    for (const [j, k] of order.entries()) (j < take ? val : train).push(members[k] as number)
  }
  train.sort((a, b) => a - b)
  val.sort((a, b) => a - b)
  return { train: subset(data, train), val: subset(data, val) }
}
