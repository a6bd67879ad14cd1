import { DataError } from './data-error.ts'
import { sampleDirichlet } from './dirichlet.ts'
import type { Random } from './seeded-random.ts'
import { seededRandom, shuffle } from './seeded-random.ts'

/** For each hospital, the ascending indices (into the labels given) of the examples it holds. */
export type Partition = number[][]

/**
 * IID split, stratified: each class's examples are shuffled and dealt round-robin, continuing the
 * deal across classes, so hospital sizes differ by at most one and so do their per-class counts.
 */
export function partitionIid(labels: ArrayLike<number>, hospitals: number, seed: number): Partition {
  checkArguments(labels, hospitals, seed, 1)
  const random = seededRandom(seed, 'partition-iid')
  const parts: Partition = Array.from({ length: hospitals }, () => [])
  // A random first hospital, so the one extra example of an uneven deal does not always go to hospital 1.
  let next = Math.floor(random() * hospitals)
  for (const members of byClass(labels)) {
    for (const index of shuffle(members, random)) {
      ;(parts[next] as number[]).push(index)
      next = (next + 1) % hospitals
    }
  }
  return parts.map((p) => p.sort((a, b) => a - b))
}

export type DirichletOptions = {
  /** Every hospital must end up with at least this many examples; draws are repeated until it does. */
  readonly minPerHospital?: number
  readonly maxAttempts?: number
}

/**
 * Label-skewed split as in NIID-Bench (Li et al., "Federated Learning on Non-IID Data Silos: An
 * Experimental Study", ICDE 2022, `noniid-labeldir`): for each class, proportions over hospitals are
 * drawn from Dir(α) and that class's shuffled examples are cut at the cumulative proportions. As
 * there, a hospital already holding N/hospitals examples gets no more (it keeps sizes from running
 * away), and the whole draw is repeated until every hospital holds at least `minPerHospital`
 * (default 10, NIID-Bench's `min_require_size`). Small α gives hospitals dominated by one class;
 * large α approaches IID.
 */
export function partitionDirichlet(
  labels: ArrayLike<number>,
  hospitals: number,
  alpha: number,
  seed: number,
  options: DirichletOptions = {},
): Partition {
  const minPerHospital = options.minPerHospital ?? 10
  const maxAttempts = options.maxAttempts ?? 1000
  if (!(Number.isFinite(alpha) && alpha > 0))
    throw new DataError('bad-option', `partitionDirichlet: expected alpha > 0, got ${alpha}`)
  checkArguments(labels, hospitals, seed, minPerHospital)
  const random = seededRandom(seed, 'partition-dirichlet')
  const classes = byClass(labels)
  const fairShare = labels.length / hospitals
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const parts: Partition = Array.from({ length: hospitals }, () => [])
    for (const members of classes) {
      shuffle(members, random)
      const p = sampleDirichlet(alpha, hospitals, random, (h) => (parts[h] as number[]).length < fairShare)
      let start = 0
      let cumulative = 0
      for (let h = 0; h < hospitals; h++) {
        cumulative += p[h] as number
        // numpy's (cumsum(p) * n).astype(int) cut points; the last hospital takes the remainder.
        const stop =
          h === hospitals - 1
            ? members.length
            : Math.min(members.length, Math.floor(cumulative * members.length))
        for (let i = start; i < stop; i++) (parts[h] as number[]).push(members[i] as number)
        start = Math.max(start, stop)
      }
    }
    if (parts.every((part) => part.length >= minPerHospital))
      return parts.map((part) => part.sort((a, b) => a - b))
  }
  throw new DataError(
    'impossible-partition',
    `partitionDirichlet: no draw in ${maxAttempts} gave each of ${hospitals} hospitals at least ${minPerHospital} of ${labels.length} examples at alpha ${alpha}; use a larger alpha or fewer hospitals`,
  )
}

/**
 * At most `count` of `indices`, keeping each class's share: quotas by largest remainder (Hamilton's
 * method), each class's examples chosen at random. A capped hospital keeps the mix (or the skew) the
 * partition gave it, instead of whatever a plain random subset of 20 happens to hold. Ascending order.
 */
export function subsampleStratified(
  indices: readonly number[],
  labels: ArrayLike<number>,
  count: number,
  random: Random,
): number[] {
  if (indices.length <= count) return [...indices]
  const groups = byClass(indices.map((i) => labels[i] as number)).map((group) =>
    group.map((j) => indices[j] as number),
  )
  const exact = groups.map((group) => (group.length * count) / indices.length)
  const quotas = exact.map(Math.floor)
  const byRemainder = exact
    .map((e, g) => [e - Math.floor(e), g] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
  const left = count - quotas.reduce((a, b) => a + b, 0)
  for (let k = 0; k < left; k++) {
    const g = byRemainder[k]?.[1] as number
    quotas[g] = (quotas[g] as number) + 1
  }
  return groups.flatMap((group, g) => shuffle(group, random).slice(0, quotas[g])).sort((a, b) => a - b)
}

function checkArguments(labels: ArrayLike<number>, hospitals: number, seed: number, minimum: number): void {
  if (!Number.isSafeInteger(hospitals) || hospitals < 1)
    throw new DataError('bad-option', `partition: expected a whole number of hospitals ≥ 1, got ${hospitals}`)
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new DataError(
      'bad-option',
      `partition: expected a whole-number seed from 0 to 4294967295, got ${seed}`,
    )
  if (labels.length < hospitals * minimum)
    throw new DataError(
      'impossible-partition',
      `partition: ${hospitals} hospitals with at least ${minimum} examples each need ${hospitals * minimum} examples, got ${labels.length}`,
    )
}

/** Example indices grouped by label, in ascending label order (labels absent from the data are skipped). */
function byClass(labels: ArrayLike<number>): number[][] {
  const groups = new Map<number, number[]>()
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number
    let group = groups.get(label)
    if (group === undefined) {
      group = []
      groups.set(label, group)
    }
    group.push(i)
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, group]) => group)
}
