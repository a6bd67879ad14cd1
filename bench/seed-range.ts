/**
 * The seeds a bench runs, from its `--seeds` (how many) and `--first-seed` options, both positive
 * integers; `lastSeed` is the last one run.
 */
export function seedRange(values: { readonly seeds: string; readonly 'first-seed': string }): {
  readonly firstSeed: number
  readonly lastSeed: number
} {
  const seeds = Number(values.seeds)
  if (!Number.isInteger(seeds) || seeds < 1)
    throw new Error(`--seeds: expected a positive integer, got ${values.seeds}`)
  const firstSeed = Number(values['first-seed'])
  if (!Number.isInteger(firstSeed) || firstSeed < 1)
    throw new Error(`--first-seed: expected a positive integer, got ${values['first-seed']}`)
  return { firstSeed, lastSeed: firstSeed + seeds - 1 }
}
