/** A GitHub-flavoured markdown table; columns after the first are right-aligned (they hold numbers). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'))
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** "0.894 ± 0.006" over seeds (sample standard deviation), or the bare value for one. */
export function meanSd(values: readonly number[], digits = 3): string {
  const n = values.length
  if (n === 0) return '–'
  const mean = values.reduce((a, b) => a + b, 0) / n
  if (n === 1) return mean.toFixed(digits)
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1))
  return `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}`
}
