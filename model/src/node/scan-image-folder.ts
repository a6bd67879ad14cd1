import { readdir } from 'node:fs/promises'
import path from 'node:path'

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.dcm'])
const LAYOUT =
  'expected one subfolder per class holding its images, e.g. <dir>/normal/*.png and <dir>/pneumonia/*.png'

/**
 * Lists a class-per-subfolder image tree. With `labels` (the task's classes) each subfolder must
 * be one of them and its label is that index; classes a site lacks are fine (label skew is the
 * federated norm). Without `labels` the classes are the subfolders in sorted order.
 */
export async function scanImageFolder(
  dir: string,
  labels?: readonly string[],
): Promise<{ classes: string[]; files: { path: string; label: number }[] }> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'))
  const folders = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
  if (folders.length === 0) throw new Error(`${dir}: no class subfolders found; ${LAYOUT}`)
  const strays = entries.filter((e) => !e.isDirectory()).map((e) => e.name)
  if (strays.length > 0)
    throw new Error(
      `${dir}: found files outside the class subfolders (${strays.slice(0, 3).join(', ')}); ${LAYOUT}`,
    )
  const classes = labels ? [...labels] : folders
  for (const folder of folders)
    if (!classes.includes(folder))
      throw new Error(
        `${path.join(dir, folder)}: "${folder}" is not a class of this task; expected subfolders named ${classes.map((c) => `"${c}"`).join(', ')}`,
      )
  const files: { path: string; label: number }[] = []
  for (const folder of folders) {
    const names = (await readdir(path.join(dir, folder), { withFileTypes: true }))
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const images = names.filter((e) => !e.isDirectory())
    if (images.length === 0)
      throw new Error(`${path.join(dir, folder)}: the class folder "${folder}" holds no images`)
    for (const e of names) {
      const file = path.join(dir, folder, e.name)
      if (e.isDirectory()) throw new Error(`${file}: nested folders are not supported; ${LAYOUT}`)
      if (!IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
        throw new Error(`${file}: not an image file; expected .png, .jpg or .jpeg files in the class folders`)
      files.push({ path: file, label: classes.indexOf(folder) })
    }
  }
  return { classes, files }
}
