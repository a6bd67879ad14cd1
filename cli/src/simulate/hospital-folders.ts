import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { escapeText } from '@fedtune/protocol'
import { CommandError } from '../command-io.ts'

export const DATA_LAYOUT = '<data>/<hospital>/<label>/*.png (or .jpg), one folder per hospital'

/** The held-out folders `fedtune data split` writes beside the hospitals. */
const HELD_OUT_NAMES = ['validation', 'test']

/**
 * The hospital folders of `--data`: its subfolders, less the task's own evaluation folders (a
 * `fedtune data split` folder holds validation/ and test/ beside hospital-<i>/) and hidden ones,
 * sorted by name. A folder of label folders (one hospital's data) or of no folders is refused with
 * the layout that was expected, and so is a validation/ or test/ the task does not name: training
 * on held-out images would make every figure a lie.
 */
export async function hospitalFolders(
  data: string,
  labels: readonly string[],
  evaluationFolders: readonly string[],
): Promise<{ readonly name: string; readonly path: string }[]> {
  const shown = escapeText(data, 200)
  const info = await stat(data).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return null
    throw cause
  })
  if (info === null) throw new CommandError(`--data: no folder at ${shown}; expected ${DATA_LAYOUT}`, 2)
  if (!info.isDirectory()) throw new CommandError(`--data: ${shown} is a file; expected ${DATA_LAYOUT}`, 2)
  const skipped = new Set(evaluationFolders.map((f) => resolve(f)))
  const all = (await readdir(data, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, path: join(data, e.name) }))
  const folders = all
    .filter((f) => !skipped.has(resolve(f.path)))
    .sort((a, b) => a.name.localeCompare(b.name))
  const heldOut = folders.filter((f) => HELD_OUT_NAMES.includes(f.name))
  const one = heldOut.length === 1
  if (heldOut.length > 0)
    throw new CommandError(
      `--data: ${heldOut.map((f) => escapeText(f.path, 200)).join(' and ')} look${one ? 's' : ''} like held-out images (fedtune data split writes them), not a hospital, but the task does not name ${one ? 'it' : 'them'} in evaluation.validation or evaluation.test; name ${one ? 'it' : 'them'} there, or move ${one ? 'it' : 'them'} out of --data`,
      2,
    )
  const labelFolders = folders.filter((f) => labels.includes(f.name))
  if (labelFolders.length > 0)
    throw new CommandError(
      `--data: ${shown} holds label folders (${labelFolders.map((f) => escapeText(f.name, 40)).join(', ')}) directly, which is one hospital's data; expected ${DATA_LAYOUT}, e.g. ${join(shown, 'hospital-1', labels[0] ?? '<label>')}/`,
      2,
    )
  if (folders.length === 0)
    throw new CommandError(
      `--data: ${shown} has no hospital folders${all.length > 0 ? " (besides the task's evaluation folders)" : ''}; expected ${DATA_LAYOUT}`,
      2,
    )
  return folders
}
