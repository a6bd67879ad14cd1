import { readFile } from 'node:fs/promises'
import { decodeImage, ImageError, scanImageFolder } from '@fedtune/model/node'

/** What `--check` found in the image folder, without the backbone: every file read and decoded. */
export type DataCheck = {
  readonly classes: readonly string[]
  /** Images that decode, per class (in `classes` order). */
  readonly perClass: readonly number[]
  /** Files that do not decode as a PNG, JPEG or DICOM image: a run leaves them out (and lists them). */
  readonly undecodable: readonly { readonly file: string; readonly reason: string }[]
}

/**
 * Reads and decodes every image under `dir` (one subfolder per class; with `labels`, each subfolder
 * must be one of the task's labels), counting the images per class. A folder laid out wrong throws
 * with what was expected (scanImageFolder); an image that does not decode is listed, not thrown,
 * so that one check reports all of them.
 */
export async function checkDataFolder(
  dir: string,
  labels?: readonly string[],
  labelsFile?: string,
): Promise<DataCheck> {
  const { classes, files } = await scanImageFolder(
    dir,
    labels,
    labelsFile === undefined ? {} : { labelsFile },
  )
  const perClass = classes.map(() => 0)
  const undecodable: { file: string; reason: string }[] = []
  for (const { path, label } of files) {
    try {
      await decodeImage(new Uint8Array(await readFile(path)), path)
      perClass[label] = (perClass[label] as number) + 1
    } catch (error) {
      if (!(error instanceof ImageError)) throw error
      undecodable.push({ file: path, reason: error.message })
    }
  }
  return { classes, perClass, undecodable }
}
