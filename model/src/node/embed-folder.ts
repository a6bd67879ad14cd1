import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { type ImageView, ORIGINAL_ONLY } from '@fedtune/protocol'
import type { Backbone } from '../backbone.ts'
import type { Dataset } from '../dataset.ts'
import { embed } from '../embed.ts'
import type { Pixels } from '../pixels.ts'
import { writeFileAtomic } from './atomic-write.ts'
import { DataLayoutError } from './data-folder-error.ts'
import { decodeImage } from './decode-image.ts'
import { embeddingCacheDir } from './embedding-cache.ts'
import { readFloat32File } from './float32-file.ts'
import { ImageError } from './image-error.ts'
import { scanImageFolder } from './scan-image-folder.ts'
import { sha256Hex } from './sha256.ts'

/** A file left out of the dataset because it could not be decoded, and why (ImageError's reason). */
export type SkippedFile = { readonly path: string; readonly reason: string }

/**
 * Embeds every image under `dir` (class subfolders, or the files `labelsFile` lists: scanImageFolder)
 * once, in `views` (the mean of their embeddings; the original alone by default). Each embedding is
 * cached as <embeddingCacheDir: cacheDir/embeddings/<backbone digest>[/<views key>]>/<sha256 of the
 * image file>.f32, written atomically as soon as its batch is done, so a crash loses at most one
 * batch, a rerun only reads files, a list of views never reads another's, and a renamed or
 * duplicated image is not embedded twice. A file that is not an image we can decode
 * (an ImageError: truncated, unsupported, inconsistent) is left out and listed in `skipped`; if
 * every file is, that is an error. Any other failure still throws.
 */
export async function embedFolder(
  backbone: Backbone & { readonly digest: string },
  dir: string,
  opts: {
    readonly cacheDir: string
    readonly labels?: readonly string[]
    /** A labels file (CSV) labelling a flat export, instead of class subfolders. */
    readonly labelsFile?: string | undefined
    readonly batchSize?: number
    /** The views whose embeddings are averaged (the task's `backbone.views`). */
    readonly views?: readonly ImageView[] | undefined
    readonly onProgress?: (done: number, total: number) => void
  },
): Promise<{
  dataset: Dataset
  classes: string[]
  fromCache: number
  unlisted: number
  skipped: SkippedFile[]
}> {
  const { classes, files, unlisted } = await scanImageFolder(dir, opts.labels, {
    labelsFile: opts.labelsFile,
  })
  const dim = backbone.embeddingDim
  const views = opts.views ?? ORIGINAL_ONLY
  const cache = embeddingCacheDir(opts.cacheDir, backbone.digest, views)
  const batchSize = opts.batchSize ?? 32
  const x = new Float32Array(files.length * dim)
  const skipped: SkippedFile[] = []
  const kept = new Array<boolean>(files.length).fill(true)
  let fromCache = 0
  let done = 0
  for (let start = 0; start < files.length; start += batchSize) {
    const pending: { row: number; key: string; pixels: Pixels }[] = []
    for (let row = start; row < Math.min(start + batchSize, files.length); row++) {
      const file = (files[row] as { path: string }).path
      const bytes = new Uint8Array(await readFile(file))
      const key = path.join(cache, `${sha256Hex(bytes)}.f32`)
      const cached = await readFloat32File(key, dim)
      if (cached) {
        x.set(cached, row * dim)
        fromCache++
      } else
        try {
          pending.push({ row, key, pixels: await decodeImage(bytes, file) })
        } catch (error) {
          if (!(error instanceof ImageError)) throw error
          skipped.push({ path: file, reason: error.reason })
          kept[row] = false
        }
    }
    if (pending.length > 0) {
      const values = embed(
        backbone,
        pending.map((p) => p.pixels),
        views,
      )
      for (const [k, p] of pending.entries()) {
        const vector = values.subarray(k * dim, (k + 1) * dim)
        x.set(vector, p.row * dim)
        await writeFileAtomic(p.key, new Uint8Array(vector.slice().buffer))
      }
    }
    done = Math.min(start + batchSize, files.length)
    opts.onProgress?.(done, files.length)
  }
  if (skipped.length === files.length)
    throw new DataLayoutError(
      `${dir}: none of its ${files.length} files could be decoded; the first: ${skipped[0]?.path}: ${skipped[0]?.reason}`,
    )
  if (skipped.length === 0)
    return {
      dataset: { x, y: Int32Array.from(files, (f) => f.label), n: files.length, dim },
      classes,
      fromCache,
      unlisted,
      skipped,
    }
  const rows = files.flatMap((_, row) => (kept[row] ? [row] : []))
  const kx = new Float32Array(rows.length * dim)
  for (const [k, row] of rows.entries()) kx.set(x.subarray(row * dim, (row + 1) * dim), k * dim)
  const ky = Int32Array.from(rows, (row) => (files[row] as { label: number }).label)
  return { dataset: { x: kx, y: ky, n: rows.length, dim }, classes, fromCache, unlisted, skipped }
}
