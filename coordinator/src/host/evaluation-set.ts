import {
  type Backbone,
  type ClinicalMetrics,
  type Dataset,
  evaluatePredictions,
  foldPrior,
  predictHead,
} from '@fedtune/model'
import { embedFolder, progressTo } from '@fedtune/model/node'
import type { HeadSpec } from '@fedtune/protocol'

/** One of the coordinator's own image sets: the validation set chooses the best round, the test set is reported. */
export type EvaluationSetName = 'validation' | 'test'

/**
 * Embeds the task's `name` set from `dir` (one subfolder per label; a subfolder the task does not
 * know is refused by scanImageFolder), with a progress bar. Says how many images it holds, what
 * could not be decoded, and warns (`warn`) when a label has no image, with the counts per label.
 */
export async function embedEvaluationSet(o: {
  readonly backbone: Backbone & { readonly digest: string }
  readonly name: EvaluationSetName
  readonly dir: string
  readonly labels: readonly string[]
  readonly cacheDir: string
  readonly bars: NodeJS.WriteStream | undefined
  readonly onProgress?: ((what: string, done: number, total: number) => void) | undefined
  readonly print: (line: string) => void
  readonly warn: (message: string) => void
}): Promise<Dataset> {
  const bar = progressTo(`embedding the ${o.name} set`, o.bars)
  const { dataset, fromCache, skipped } = await embedFolder(o.backbone, o.dir, {
    cacheDir: o.cacheDir,
    labels: o.labels,
    onProgress: (done, total) => {
      bar.update(done, total)
      o.onProgress?.(`embedding the ${o.name} set`, done, total)
    },
  })
  bar.done(`${fromCache} from cache`)
  const first = skipped[0]
  o.print(
    `${o.name} set ${o.dir}: ${dataset.n} images (${perLabel(dataset.y, o.labels)})${first ? `; skipped ${skipped.length} that could not be decoded, the first: ${first.path}: ${first.reason}` : ''}`,
  )
  const missing = missingLabelWarning(o.name, o.dir, dataset.y, o.labels)
  if (missing !== null) o.warn(missing)
  return dataset
}

/** "normal 234, pneumonia 390": images per label, in the task's order. */
export function perLabel(y: Int32Array, labels: readonly string[]): string {
  const counts = new Array<number>(labels.length).fill(0)
  for (const c of y) counts[c] = (counts[c] ?? 0) + 1
  return labels.map((label, c) => `${label} ${counts[c]}`).join(', ')
}

/**
 * The warning for a set with no image of some label, or null: its recall and AUC for that label
 * are undefined and its accuracy says nothing of it.
 */
export function missingLabelWarning(
  name: EvaluationSetName,
  dir: string,
  y: Int32Array,
  labels: readonly string[],
): string | null {
  const present = new Set(y)
  const missing = labels.filter((_, c) => !present.has(c))
  if (missing.length === 0) return null
  return `the ${name} set ${dir} has no image of ${missing.map((l) => `"${l}"`).join(', ')} (images per label: ${perLabel(y, labels)}); its figures say nothing of ${missing.length === 1 ? 'that label' : 'those labels'}`
}

/**
 * The metrics of a head on an embedded set, predicting with `prior` folded into its output bias
 * (null: plain softmax): exact, from the scores themselves.
 */
export function evaluateOn(
  spec: HeadSpec,
  dataset: Dataset,
  options: { readonly ordinal: boolean },
): (weights: Float32Array, prior: readonly number[] | null) => ClinicalMetrics {
  const classes = spec.labels.length
  return (weights, prior) => {
    const head = prior === null ? weights : foldPrior(spec, dataset.dim, weights, prior)
    const probs = predictHead(spec, dataset.dim, head, dataset.x, dataset.n)
    return evaluatePredictions(probs, dataset.y, classes, options)
  }
}
