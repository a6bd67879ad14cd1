import { lstat, readFile, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { type LineProblem, MANIFEST_FORMAT, readLabelsManifest } from '../labels-manifest.ts'
import { DataFolderError, DataLayoutError } from './data-folder-error.ts'
import { isInside, listFiles } from './list-files.ts'

/**
 * A labels file larger than this is refused unread: a row is a path and a label, so 64 MiB is about
 * a million files, beyond what a site embeds; a bigger file is most likely not a labels file.
 */
export const MAX_LABELS_FILE_BYTES = 64 * 1024 * 1024

/**
 * The files a labels file lists in the data folder `dir` (resolved: `root`), with their labels
 * (readLabelsManifest says the format), sorted by path. Each must be a file inside the folder, a
 * symbolic link included. Every problem, of the file's rows or of the files they name, is
 * reported with its line in one DataFolderError. Files in the folder that the labels file does
 * not list (the labels file itself aside) are left out and counted in `unlisted`.
 */
export async function scanLabelsFile(
  dir: string,
  root: string,
  labelsFile: string,
  labels?: readonly string[],
): Promise<{ classes: string[]; files: { path: string; label: number }[]; unlisted: number }> {
  const text = await readLabelsText(labelsFile)
  const { classes, entries, problems } = readLabelsManifest(text, labels)
  const found: LineProblem[] = [...problems]
  const files: { path: string; label: number }[] = []
  const listed = new Set<string>()
  for (const entry of entries) {
    const file = path.join(dir, ...entry.path.split('/'))
    const name = JSON.stringify(entry.path)
    const real = await realpath(file).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR' && error.code !== 'ELOOP') throw error
      const link = await lstat(file).then(
        (s) => s.isSymbolicLink(),
        () => false,
      )
      found.push({
        line: entry.line,
        message: link ? `${name} is a broken symbolic link` : `no such file ${name} in the data folder`,
      })
      return undefined
    })
    if (real === undefined) continue
    if (!isInside(root, real)) {
      found.push({
        line: entry.line,
        message: `${name} leads outside the data folder through a symbolic link (to ${real}); only files inside it are read`,
      })
      continue
    }
    const kind = await stat(real)
    if (!kind.isFile()) {
      found.push({
        line: entry.line,
        message: `${name} is ${kind.isDirectory() ? 'a folder' : 'not a regular file'}; expected a file`,
      })
      continue
    }
    listed.add(real)
    files.push({ path: file, label: entry.label })
  }
  if (found.length > 0)
    throw new DataFolderError(
      labelsFile,
      found.sort((a, b) => a.line - b.line).map((p) => `line ${p.line}: ${p.message}`),
    )
  if (files.length === 0)
    throw new DataLayoutError(
      `${labelsFile}: lists no files; expected ${MANIFEST_FORMAT}, then one row per file`,
    )
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const self = await realpath(labelsFile)
  const all = await listFiles(dir, root)
  const unlisted = all.files.filter((f) => !listed.has(f.real) && f.real !== self).length
  return { classes, files, unlisted }
}

/** The labels file's text, refused when missing, too large or not UTF-8. */
async function readLabelsText(file: string): Promise<string> {
  let size: number
  try {
    const s = await stat(file)
    if (!s.isFile())
      throw new DataLayoutError(`${file}: not a file; expected a labels file, ${MANIFEST_FORMAT}`)
    size = s.size
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
    throw new DataLayoutError(`${file}: no such labels file`)
  }
  if (size > MAX_LABELS_FILE_BYTES)
    throw new DataLayoutError(
      `${file}: ${(size / 2 ** 20).toFixed(1)} MiB, more than the ${MAX_LABELS_FILE_BYTES / 2 ** 20} MiB a labels file may hold (a row per file: a path and a label); is it the right file?`,
    )
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(await readFile(file))
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    throw new DataLayoutError(`${file}: not UTF-8 text; save it from the spreadsheet as "CSV UTF-8"`)
  }
}
