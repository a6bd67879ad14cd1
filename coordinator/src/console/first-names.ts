/** How many names a live view lists before it only counts the rest. */
export const LISTED_NAMES = 50

/** The first `LISTED_NAMES` of `names` (sorted), and how many more there are. */
export function firstNames(names: readonly string[]): { readonly names: string[]; readonly more: number } {
  const sorted = [...names].sort()
  return { names: sorted.slice(0, LISTED_NAMES), more: Math.max(0, sorted.length - LISTED_NAMES) }
}
