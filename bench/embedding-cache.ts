import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { type Backbone, type Dataset, embed, type Pixels } from '@fedtune/model'
import { progressBar, readFloat32File, sha256Hex, writeFileAtomic } from '@fedtune/model/node'
import { type ImageView, ORIGINAL_ONLY } from '@fedtune/protocol'
import { type ImageSplit, readMedmnist, type SplitName } from 'fedtune/data'

export type EmbeddedSplits = Readonly<Record<SplitName, Dataset>> & {
  readonly classes: readonly string[]
  /** How many of the three splits were read from the cache rather than embedded now. */
  readonly fromCache: number
}

/**
 * The official train/val/test splits of a MedMNIST .npz as backbone embeddings, through the same
 * `preprocess`/`embed` the clients use; with several `views` (task.backbone.views), the mean of each
 * view's embedding. Each view is cached as <cacheDir>/<backbone digest>/<npz sha256>/<split>.f32 (the
 * original) or <split>.<view>.f32, so a changed backbone or data file can never be served stale
 * embeddings and a views list reuses every view already embedded; each split is written atomically as
 * soon as it is done, so an interrupted run keeps the finished splits. The mean is taken as `embed`
 * takes it (float32 sums in the views' order, then one division), so it is the embedding a client
 * with those views computes.
 */
export async function embeddedSplits(
  backbone: Backbone & { readonly digest: string },
  npzPath: string,
  cacheDir: string,
  views: readonly ImageView[] = ORIGINAL_ONLY,
): Promise<EmbeddedSplits> {
  const bytes = new Uint8Array(await readFile(npzPath))
  const data = readMedmnist(bytes, path.basename(npzPath, '.npz'))
  const folder = path.join(cacheDir, backbone.digest, sha256Hex(bytes))
  const dim = backbone.embeddingDim
  const out = {} as Record<SplitName, Dataset>
  let fromCache = 0
  for (const name of ['train', 'val', 'test'] as const) {
    const split = data.splits[name]
    const perView: Float32Array[] = []
    for (const view of views) {
      const file = path.join(folder, view === 'original' ? `${name}.f32` : `${name}.${view}.f32`)
      let x = await readFloat32File(file, split.count * dim)
      if (x) fromCache++
      else {
        x = embedSplit(backbone, split, name, view)
        await writeFileAtomic(file, new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
      }
      perView.push(x)
    }
    out[name] = { x: meanOfViews(perView), y: Int32Array.from(split.labels), n: split.count, dim }
  }
  return { ...out, classes: data.classes, fromCache }
}

/**
 * Each example's embeddings from several backbones side by side (`a`'s dim, then `b`'s): one input of
 * dim a + b, for the validation grid's "both backbones" column. The examples must be the same, in
 * the same order (the same split of the same data set).
 */
export function concatenated(parts: readonly EmbeddedSplits[]): EmbeddedSplits {
  const [first] = parts
  if (first === undefined) throw new Error('concatenated: expected at least one set of splits')
  const join = (name: SplitName): Dataset => {
    const sets = parts.map((p) => p[name])
    const n = first[name].n
    for (const d of sets)
      if (d.n !== n || d.y.some((y, i) => y !== first[name].y[i]))
        throw new Error(`concatenated: the ${name} splits hold other examples (${n} against ${d.n})`)
    const dim = sets.reduce((sum, d) => sum + d.dim, 0)
    const x = new Float32Array(n * dim)
    for (let i = 0; i < n; i++) {
      let at = i * dim
      for (const d of sets) {
        x.set(d.x.subarray(i * d.dim, (i + 1) * d.dim), at)
        at += d.dim
      }
    }
    return { x, y: first[name].y, n, dim }
  }
  return {
    train: join('train'),
    val: join('val'),
    test: join('test'),
    classes: first.classes,
    fromCache: Math.min(...parts.map((p) => p.fromCache)),
  }
}

/** The element-wise mean of the views' embeddings as `embed` computes it: float32 sums in order, one division. */
export function meanOfViews(perView: readonly Float32Array[]): Float32Array {
  const [first, ...rest] = perView
  if (first === undefined) throw new Error('meanOfViews: expected at least one view')
  if (rest.length === 0) return first
  const sum = Float32Array.from(first)
  for (const x of rest) for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (x[i] as number)
  for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) / perView.length
  return sum
}

/** Images per `embed` call: one progress tick each, and `embed` batches within it. */
const CHUNK = 64

function embedSplit(backbone: Backbone, split: ImageSplit, name: string, view: ImageView): Float32Array {
  const dim = backbone.embeddingDim
  const x = new Float32Array(split.count * dim)
  const bar = progressBar(`embedding ${name}${view === 'original' ? '' : ` (${view})`}`, split.count)
  for (let start = 0; start < split.count; start += CHUNK) {
    const images = npzPixels(split, start, Math.min(start + CHUNK, split.count))
    x.set(embed(backbone, images, [view]), start * dim)
    bar.tick(images.length)
  }
  bar.done(`${split.count} images`)
  return x
}

/** Images [from, to) of a split as `Pixels`, views into the npz bytes (no copy). */
export function npzPixels(split: ImageSplit, from: number, to: number): Pixels[] {
  const size = split.height * split.width * split.channels
  return Array.from({ length: to - from }, (_, k) => ({
    width: split.width,
    height: split.height,
    channels: split.channels,
    data: split.images.subarray((from + k) * size, (from + k + 1) * size),
  }))
}
