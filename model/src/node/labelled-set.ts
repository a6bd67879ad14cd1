import type { ImageView } from '@fedtune/protocol'
import type { Backbone } from '../backbone.ts'
import type { Dataset } from '../dataset.ts'
import { embedFolder } from './embed-folder.ts'
import { progressTo } from './progress-bar.ts'

/**
 * Embeds a labelled image folder (one subfolder per label; one the task does not know is refused
 * by scanImageFolder) with a progress bar, and says (`print`) what it holds: its images per label
 * and, if any, how many could not be decoded and the first of them. `what` names it ("the
 * validation set", "hospital-2"); `views` are the task's `backbone.views` (embedFolder). With `warn`
 * (an evaluation set, not a hospital's data, which may well lack a label) a label with no image is
 * warned about, with the counts. The coordinator's
 * evaluation sets and `fedtune simulate`'s hospitals and sets are embedded by this one function.
 */
export async function embedLabelledSet(o: {
  readonly backbone: Backbone & { readonly digest: string }
  readonly what: string
  readonly dir: string
  readonly labels: readonly string[]
  readonly cacheDir: string
  /** The views whose embeddings are averaged: the task's `backbone.views`, required so no caller forgets them. */
  readonly views: readonly ImageView[]
  readonly bars: NodeJS.WriteStream | undefined
  readonly onProgress?: ((what: string, done: number, total: number) => void) | undefined
  readonly print: (line: string) => void
  readonly warn?: ((message: string) => void) | undefined
}): Promise<Dataset> {
  const bar = progressTo(`embedding ${o.what}`, o.bars)
  const { dataset, fromCache, skipped } = await embedFolder(o.backbone, o.dir, {
    cacheDir: o.cacheDir,
    labels: o.labels,
    views: o.views,
    onProgress: (done, total) => {
      bar.update(done, total)
      o.onProgress?.(`embedding ${o.what}`, done, total)
    },
  })
  bar.done(`${fromCache} from cache`)
  const first = skipped[0]
  o.print(
    `${o.what} ${o.dir}: ${dataset.n} images (${perLabel(dataset.y, o.labels)})${first ? `; skipped ${skipped.length} that could not be decoded, the first: ${first.path}: ${first.reason}` : ''}`,
  )
  const missing = o.warn && missingLabelWarning(o.what, o.dir, dataset.y, o.labels)
  if (missing) o.warn?.(missing)
  return dataset
}

/** "normal 234, pneumonia 390": images per label, in the task's order. */
export function perLabel(y: Int32Array, labels: readonly string[]): string {
  const counts = new Array<number>(labels.length).fill(0)
  for (const c of y) counts[c] = (counts[c] ?? 0) + 1
  return labels.map((label, c) => `${label} ${counts[c]}`).join(', ')
}

/**
 * The warning for an evaluation set with no image of some label, or null: its recall and AUC for
 * that label are undefined and its accuracy says nothing of it. `what` names the set ("the test set").
 */
export function missingLabelWarning(
  what: string,
  dir: string,
  y: Int32Array,
  labels: readonly string[],
): string | null {
  const present = new Set(y)
  const missing = labels.filter((_, c) => !present.has(c))
  if (missing.length === 0) return null
  return `${what} ${dir} has no image of ${missing.map((l) => `"${l}"`).join(', ')} (images per label: ${perLabel(y, labels)}); its figures say nothing of ${missing.length === 1 ? 'that label' : 'those labels'}`
}
