import { centreDataset, type Dataset, stratifiedSplit, viewsNote } from '@fedtune/model'
import {
  DataFolderError,
  downloadBackbone,
  embedFolder,
  type FetchUrl,
  loadBackbone,
  progressTo,
  shownProblems,
} from '@fedtune/model/node'
import type { TaskInfo } from '@fedtune/protocol'
import type { Logger } from './log.ts'
import { reportSkipped } from './skipped-files.ts'

export type PreparedData = {
  readonly train: Dataset
  readonly val: Dataset
  readonly classes: readonly string[]
  /** Examples per label index in the training part, for the operator and the logs. */
  readonly counts: readonly number[]
}

export type PrepareOptions = {
  readonly coordinatorUrl: string
  readonly dataDir: string
  /** A labels file (CSV: path, label) labelling a flat export in dataDir, instead of class subfolders. */
  readonly labelsFile?: string | undefined
  readonly cacheDir: string
  readonly valFraction: number
  readonly seed: number
  readonly log: Logger
  readonly progress: NodeJS.WriteStream | undefined
  /** How the backbone is fetched: through the client's proxy, with its trust (connection.ts); global fetch without. */
  readonly fetchUrl?: FetchUrl | undefined
}

/**
 * Everything a hospital does once per task: fetch and verify the backbone, embed its images with
 * it in the task's views (cached by backbone digest, views and file content), and hold out a local
 * validation split. Images and embeddings stay here; only the head update ever leaves.
 */
export async function prepare(task: TaskInfo, opts: PrepareOptions): Promise<PreparedData> {
  const base = new URL(task.backbone.path, opts.coordinatorUrl).href
  const download = progressTo('downloading backbone (bytes)', opts.progress)
  const dir = await downloadBackbone(
    base,
    task.backbone,
    opts.cacheDir,
    (done, total) => download.update(done, total),
    opts.fetchUrl,
  )
  download.done()
  const backbone = await loadBackbone(dir, task.backbone.digest)
  try {
    if (backbone.embeddingDim !== task.backbone.embeddingDim)
      throw new Error(
        `backbone: the task says ${task.backbone.embeddingDim}-d embeddings, the downloaded model gives ${backbone.embeddingDim}`,
      )
    const views = task.backbone.views
    const note = viewsNote(views)
    if (note !== null) opts.log.info('views', { views }, note)
    const bar = progressTo('embedding images', opts.progress)
    const { dataset, fromCache, unlisted, skipped } = await embedFolder(backbone, opts.dataDir, {
      cacheDir: opts.cacheDir,
      labels: task.head.labels,
      labelsFile: opts.labelsFile,
      views,
      onProgress: (done, n) => bar.update(done, n),
    }).catch((error: unknown) => {
      if (!(error instanceof DataFolderError)) throw error
      // One printed line a problem, so that all of them reach the hospital whatever cuts long messages.
      for (const problem of shownProblems(error.problems))
        opts.log.error('data-problem', { problem }, `  ${problem}`)
      throw new Error(`${error.summary}; the problems are listed above`)
    })
    bar.done(`${fromCache} from cache`)
    if (opts.labelsFile !== undefined)
      opts.log.info(
        'labels',
        { labels: opts.labelsFile, unlisted },
        `labels from ${opts.labelsFile}${unlisted > 0 ? `; ${unlisted} other file${unlisted === 1 ? '' : 's'} in the folder, not listed there, left out` : ''}`,
      )
    const lines = await reportSkipped(skipped, dataset.n + skipped.length, opts.cacheDir)
    for (const line of lines) opts.log.warn('skipped-files', { skipped: skipped.length }, line)
    // the task's input centre (the coordinator's validation mean), subtracted before the head sees anything
    const { train, val } = stratifiedSplit(
      centreDataset(dataset, task.inputCentre),
      opts.valFraction,
      opts.seed,
    )
    const counts = task.head.labels.map((_, c) => train.y.reduce((n, y) => n + (y === c ? 1 : 0), 0))
    opts.log.info(
      'data-ready',
      {
        data: opts.dataDir,
        images: dataset.n,
        fromCache,
        train: train.n,
        trainPerClass: counts,
        validation: val.n,
      },
      `data ${opts.dataDir}: ${dataset.n} images (${fromCache} embeddings from cache); training on ${train.n} (${task.head.labels
        .map((l, c) => `${l} ${counts[c]}`)
        .join(', ')}), validating on ${val.n}`,
    )
    return { train, val, classes: task.head.labels, counts }
  } finally {
    backbone.dispose()
  }
}
