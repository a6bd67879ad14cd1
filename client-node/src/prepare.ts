import { type Dataset, stratifiedSplit } from '@fedtune/model'
import { downloadBackbone, embedFolder, type FetchUrl, loadBackbone, progressTo } from '@fedtune/model/node'
import type { TaskInfo } from '@fedtune/protocol'

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
  readonly cacheDir: string
  readonly valFraction: number
  readonly seed: number
  readonly print: (line: string) => void
  readonly progress: NodeJS.WriteStream | undefined
  /** How the backbone is fetched: through the client's proxy, with its trust (connection.ts); global fetch without. */
  readonly fetchUrl?: FetchUrl | undefined
}

/**
 * Everything a hospital does once per task: fetch and verify the backbone, embed its images with
 * it (cached by backbone digest and file content), and hold out a local validation split. Images
 * and embeddings stay here; only the head update ever leaves.
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
    const bar = progressTo('embedding images', opts.progress)
    const { dataset, fromCache } = await embedFolder(backbone, opts.dataDir, {
      cacheDir: opts.cacheDir,
      labels: task.head.labels,
      onProgress: (done, n) => bar.update(done, n),
    })
    bar.done(`${fromCache} from cache`)
    const { train, val } = stratifiedSplit(dataset, opts.valFraction, opts.seed)
    const counts = task.head.labels.map((_, c) => train.y.reduce((n, y) => n + (y === c ? 1 : 0), 0))
    opts.print(
      `data ${opts.dataDir}: ${dataset.n} images (${fromCache} embeddings from cache); training on ${train.n} (${task.head.labels
        .map((l, c) => `${l} ${counts[c]}`)
        .join(', ')}), validating on ${val.n}`,
    )
    return { train, val, classes: task.head.labels, counts }
  } finally {
    backbone.dispose()
  }
}
