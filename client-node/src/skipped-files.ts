import path from 'node:path'
import { type SkippedFile, writeFileAtomic } from '@fedtune/model/node'
import { escapeText } from '@fedtune/protocol'

/** Lines printed per run; the rest are only in the list file. */
export const SKIPPED_SHOWN = 20

/** The file under the cache folder that lists every skipped file of the last preparation, tab-separated. */
export function skippedListFile(cacheDir: string): string {
  return path.join(cacheDir, 'skipped-files.tsv')
}

/**
 * Says which files were left out and why: a count, the first SKIPPED_SHOWN with their reasons, and
 * where the whole list was written (path TAB reason per line). Returns the lines to print.
 */
export async function reportSkipped(
  skipped: readonly SkippedFile[],
  total: number,
  cacheDir: string,
): Promise<string[]> {
  if (skipped.length === 0) return []
  const file = skippedListFile(cacheDir)
  const oneLine = (s: string) => s.replace(/[\t\r\n]+/g, ' ')
  await writeFileAtomic(
    file,
    new TextEncoder().encode(skipped.map((s) => `${oneLine(s.path)}\t${oneLine(s.reason)}\n`).join('')),
  )
  const lines = [
    `skipped ${skipped.length} of ${total} files that could not be decoded (all listed in ${file}):`,
  ]
  for (const s of skipped.slice(0, SKIPPED_SHOWN))
    lines.push(`  ${escapeText(s.path, 200)}: ${escapeText(s.reason, 300)}`)
  if (skipped.length > SKIPPED_SHOWN) lines.push(`  … and ${skipped.length - SKIPPED_SHOWN} more`)
  return lines
}
