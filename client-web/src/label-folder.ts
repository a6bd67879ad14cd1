/**
 * Which class each chosen file belongs to. Pure (no DOM types): a file is anything with a name and,
 * from a folder picker, its path below the chosen folder.
 */
export type PickedFile = { readonly name: string; readonly webkitRelativePath?: string }

/** One chosen image and the class it was filed under. */
export type LabelledFile<F extends PickedFile = File> = { readonly file: F; readonly label: number }

const IMAGE = /\.(png|jpe?g)$/i

export type FolderChoice<F extends PickedFile> = {
  readonly images: LabelledFile<F>[]
  /** Files skipped, with why: not an image, or in a folder named after no class of the task. */
  readonly skipped: { readonly path: string; readonly why: string }[]
}

/**
 * Files from a folder picker (`webkitdirectory`), labelled by the folder right below the chosen one,
 * which must be named after one of the task's classes: chosen/normal/a.png → "normal". Hidden files
 * and files of other types are skipped and reported, not guessed at.
 */
export function labelFolder<F extends PickedFile>(
  files: readonly F[],
  labels: readonly string[],
): FolderChoice<F> {
  const images: LabelledFile<F>[] = []
  const skipped: { path: string; why: string }[] = []
  for (const file of files) {
    const path = file.webkitRelativePath || file.name
    const parts = path.split('/')
    const base = parts.at(-1) ?? ''
    if (base.startsWith('.')) continue
    if (!IMAGE.test(base)) {
      skipped.push({ path, why: 'not a PNG or JPEG file' })
      continue
    }
    // chosen/<class>/.../file: the class is the first folder under the chosen one.
    const folder = parts.length >= 3 ? (parts[1] as string) : undefined
    const label = folder === undefined ? -1 : labels.indexOf(folder)
    if (label < 0) {
      skipped.push({
        path,
        why:
          folder === undefined
            ? 'not inside a class folder'
            : `folder "${folder}" is not one of ${labels.join(', ')}`,
      })
      continue
    }
    images.push({ file, label })
  }
  return { images, skipped }
}

/** Images per class, for the page to show and to refuse a choice that lacks a class entirely. */
export function countByLabel(images: readonly { readonly label: number }[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (const { label } of images) counts[label] = (counts[label] as number) + 1
  return counts
}
