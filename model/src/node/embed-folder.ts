import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Backbone } from '../backbone.ts'
import type { Dataset } from '../dataset.ts'
import { embed } from '../embed.ts'
import type { Pixels } from '../pixels.ts'
import { writeFileAtomic } from './atomic-write.ts'
import { decodeImage } from './decode-image.ts'
import { readFloat32File } from './float32-file.ts'
import { scanImageFolder } from './scan-image-folder.ts'
import { sha256Hex } from './sha256.ts'

/**
 * Embeds every image under `dir` (class subfolders, or the files `labelsFile` lists: scanImageFolder) once. Each embedding is cached as
 * cacheDir/embeddings/<backbone digest>/<sha256 of the image file>.f32, written atomically as soon
 * as its batch is done, so a crash loses at most one batch, a rerun only reads files, and a
 * renamed or duplicated image is not embedded twice.
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
    readonly onProgress?: (done: number, total: number) => void
  },
): Promise<{ dataset: Dataset; classes: string[]; fromCache: number; unlisted: number }> {
  const { classes, files, unlisted } = await scanImageFolder(dir, opts.labels, {
    labelsFile: opts.labelsFile,
  })
  const dim = backbone.embeddingDim
  const cache = path.join(opts.cacheDir, 'embeddings', backbone.digest)
  const batchSize = opts.batchSize ?? 32
  const x = new Float32Array(files.length * dim)
  const y = Int32Array.from(files, (f) => f.label)
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
      } else pending.push({ row, key, pixels: decodeImage(bytes, file) })
    }
    if (pending.length > 0) {
      const values = embed(
        backbone,
        pending.map((p) => p.pixels),
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
  return { dataset: { x, y, n: files.length, dim }, classes, fromCache, unlisted }
}
