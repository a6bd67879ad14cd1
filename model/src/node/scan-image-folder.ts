import { readdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { DataFolderError, DataLayoutError } from './data-folder-error.ts'
import { listFiles } from './list-files.ts'
import { scanLabelsFile } from './scan-labels-file.ts'

const LAYOUT =
  'expected one subfolder per class holding its images, e.g. <dir>/normal/*.png and <dir>/pneumonia/*.dcm, or a labels file (--labels) for an export not sorted by class'

/** A data folder's files to embed, each with its label index into `classes`. */
export type ScannedFolder = {
  readonly classes: string[]
  readonly files: { path: string; label: number }[]
  /** Files in the folder that a labels file does not list, left out; 0 with class subfolders. */
  readonly unlisted: number
}

/**
 * Lists a data folder's files and their labels, in one of two layouts.
 *
 * Class subfolders (no `labelsFile`): each top-level subfolder is a class and every file under it,
 * at any depth (patient/study/series folders are normal in hospital exports), whatever its name
 * ends with, is an example of it; the decoder decides what it can read. With `labels` (the task's
 * classes) each subfolder must be one of them and its label is that index; classes a site lacks
 * are fine (label skew is the federated norm). Without `labels` the classes are the subfolders in
 * sorted order.
 *
 * A labels file (`labelsFile`): see scanLabelsFile; files it does not list are left out and counted.
 *
 * Either way hidden files are skipped, the order is sorted by path, and nothing outside the folder
 * is read: a symbolic link leading out of it is refused, with every other such link, in one error.
 */
export async function scanImageFolder(
  dir: string,
  labels?: readonly string[],
  opts: { readonly labelsFile?: string | undefined } = {},
): Promise<ScannedFolder> {
  const root = await dataFolder(dir)
  if (opts.labelsFile !== undefined) return scanLabelsFile(dir, root, opts.labelsFile, labels)
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'))
  const folders: string[] = []
  const strays: string[] = []
  for (const e of entries) {
    const isFolder = e.isDirectory() || (e.isSymbolicLink() && (await isFolderLink(path.join(dir, e.name))))
    if (isFolder) folders.push(e.name)
    else if (e.isFile() || e.isSymbolicLink()) strays.push(e.name)
  }
  folders.sort()
  if (folders.length === 0) throw new DataLayoutError(`${dir}: no class subfolders found; ${LAYOUT}`)
  if (strays.length > 0)
    throw new DataLayoutError(
      `${dir}: found files outside the class subfolders (${strays.sort().slice(0, 3).join(', ')}); ${LAYOUT}`,
    )
  const classes = labels ? [...labels] : folders
  for (const folder of folders)
    if (!classes.includes(folder))
      throw new DataLayoutError(
        `${path.join(dir, folder)}: "${folder}" is not a class of this task; expected subfolders named ${classes.map((c) => `"${c}"`).join(', ')}, or a labels file (--labels) for an export not sorted by class`,
      )
  const { files: listed, refused } = await listFiles(dir, root)
  if (refused.length > 0)
    throw new DataFolderError(
      dir,
      refused,
      'only files inside the data folder are read: copy the files in, or remove the links',
    )
  const files: { path: string; label: number }[] = []
  for (const folder of folders) {
    const inFolder = listed.filter((f) => f.relative.startsWith(`${folder}/`))
    if (inFolder.length === 0)
      throw new DataLayoutError(`${path.join(dir, folder)}: the class folder "${folder}" holds no files`)
    for (const f of inFolder) files.push({ path: f.path, label: classes.indexOf(folder) })
  }
  return { classes, files, unlisted: 0 }
}

/** The data folder resolved (symbolic links and all), or an error that says it is not one. */
async function dataFolder(dir: string): Promise<string> {
  try {
    const root = await realpath(dir)
    if ((await stat(root)).isDirectory()) return root
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
    throw new DataLayoutError(`${dir}: no such folder; expected the data folder`)
  }
  throw new DataLayoutError(`${dir}: a file, expected the data folder`)
}

async function isFolderLink(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory()
  } catch (error) {
    // a broken link at the top is a stray, named in the refusal
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return false
    throw error
  }
}
