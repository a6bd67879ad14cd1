import { DataError } from './data-error.ts'
import type { NpyArray } from './npy.ts'
import { readNpz } from './npz.ts'

export type SplitName = 'train' | 'val' | 'test'
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test']

/** One official split: `count` images of height×width×channels bytes each, C order, and one label per image. */
export type ImageSplit = {
  readonly images: Uint8Array
  readonly count: number
  readonly height: number
  readonly width: number
  readonly channels: 1 | 3
  readonly labels: Uint8Array
}

export type Medmnist = {
  readonly name: string
  /** Class names indexed by label; also the folder names a hospital's images go into. */
  readonly classes: readonly string[]
  readonly splits: Readonly<Record<SplitName, ImageSplit>>
}

/** Folder-safe names of the labels in MedMNIST v2's `info.py`, for the data sets in ../shared/datasets. */
const KNOWN_CLASSES: Readonly<Record<string, readonly string[]>> = {
  pneumoniamnist: ['normal', 'pneumonia'],
  breastmnist: ['malignant', 'normal-or-benign'],
  retinamnist: ['grade-0', 'grade-1', 'grade-2', 'grade-3', 'grade-4'],
}

/** The data sets whose labels are grades in order (MedMNIST v2's "ordinal regression" task). */
export const ORDINAL_DATASETS: ReadonlySet<string> = new Set(['retinamnist'])

/**
 * Reads a MedMNIST `.npz`: `<split>_images` of shape (N, H, W) or (N, H, W, 3) and `<split>_labels`
 * of shape (N, 1) or (N,) for train, val and test. `name` (the file name without `.npz`) picks the
 * class names; an unknown data set gets `class-<i>` for every label that occurs.
 */
export function readMedmnist(bytes: Uint8Array, name: string): Medmnist {
  const source = `${name}.npz`
  const arrays = readNpz(bytes, source)
  const splits = {} as Record<SplitName, ImageSplit>
  for (const split of SPLIT_NAMES) splits[split] = readSplit(arrays, split, source)
  const known = KNOWN_CLASSES[name]
  let maxLabel = 0
  for (const split of SPLIT_NAMES)
    for (const label of splits[split].labels) maxLabel = Math.max(maxLabel, label)
  if (known !== undefined && maxLabel >= known.length)
    throw new DataError(
      'bad-dataset',
      `${source}: expected labels 0..${known.length - 1} (${known.join(', ')}), got label ${maxLabel}`,
    )
  const classes = known ?? Array.from({ length: maxLabel + 1 }, (_, i) => `class-${i}`)
  return { name, classes, splits }
}

function readSplit(arrays: Map<string, NpyArray>, split: SplitName, source: string): ImageSplit {
  const images = arrays.get(`${split}_images`)
  const labels = arrays.get(`${split}_labels`)
  if (images === undefined || labels === undefined)
    throw new DataError(
      'bad-dataset',
      `${source}: expected arrays ${split}_images and ${split}_labels, got ${[...arrays.keys()].join(', ') || 'no arrays'}`,
    )
  const [count, height, width, channels = 1, ...rest] = images.shape
  if (
    count === undefined ||
    height === undefined ||
    width === undefined ||
    rest.length > 0 ||
    images.shape.length < 3 ||
    (channels !== 1 && channels !== 3)
  )
    throw new DataError(
      'bad-dataset',
      `${source}: expected ${split}_images of shape (N, H, W) or (N, H, W, 3), got (${images.shape.join(', ')})`,
    )
  const labelShapeOk =
    labels.shape[0] === count &&
    (labels.shape.length === 1 || (labels.shape.length === 2 && labels.shape[1] === 1))
  if (!labelShapeOk)
    throw new DataError(
      'bad-dataset',
      `${source}: expected ${split}_labels of shape (${count}, 1) to match ${count} images, got (${labels.shape.join(', ')})`,
    )
  return { images: images.data, count, height, width, channels, labels: labels.data }
}
