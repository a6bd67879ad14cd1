/** A right-aligned text table of image counts: one row per site, one column per class, and a total. */
export function countTable(
  classes: readonly string[],
  rows: readonly { readonly name: string; readonly counts: Readonly<Record<string, number>> }[],
): string {
  const header = ['', ...classes, 'total']
  const body = rows.map((row) => {
    const counts = classes.map((c) => row.counts[c] ?? 0)
    return [row.name, ...counts.map(String), String(counts.reduce((a, b) => a + b, 0))]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] as string).length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ')
  return [header, ...body].map(line).join('\n')
}
