import { mkdirSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeImage, scanImageFolder } from '@fedtune/model/node'
import * as tf from '@tensorflow/tfjs'
import { readZip } from '../cli/src/data/zip.ts'

/**
 * A downloaded model, as a user would take it: the zip unpacked into a folder, loaded with
 * tf.loadLayersModel through the smallest IOHandler that reads files (nothing of fedtune's), and the
 * images it is checked on.
 */

/** Unpacks a model zip (GET /api/runs/:id/model) into `dir`; returns `dir`. */
export function unpackModel(zip: Uint8Array, dir: string, what = 'the model zip'): string {
  mkdirSync(dir, { recursive: true })
  for (const [name, bytes] of readZip(zip, what)) writeFileSync(join(dir, name), bytes)
  return dir
}

/** An IOHandler reading model.json and its one weights file from a folder. */
export function fileHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const group = manifest[0] as tf.io.WeightsManifestConfig[number]
        const bytes = await readFile(join(dir, group.paths[0] as string))
        return [group.weights, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)]
      })
    },
  }
}

/** A labelled image folder's images, decoded, with their labels (the coordinator's held-out set). */
export async function labelledImages(folder: string, labels: readonly string[]) {
  const { files } = await scanImageFolder(folder, labels)
  const pixels = await Promise.all(files.map(async (f) => decodeImage(await readFile(f.path), f.path)))
  return { files, pixels, labels: Int32Array.from(files, (f) => f.label) }
}
