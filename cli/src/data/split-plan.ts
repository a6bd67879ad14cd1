import type { Medmnist, SplitName } from './medmnist.ts'
import { partitionDirichlet, partitionIid, subsampleStratified } from './partition.ts'
import { seededRandom } from './seeded-random.ts'
import type { SiteManifest } from './split-manifest.ts'
import type { SplitOptions } from './split-options.ts'

/** One image of the .npz: its official split and its position in it. */
export type ImageRef = { readonly split: SplitName; readonly index: number }

/** A folder to write (`hospital-<i>`, `validation` or `test`) and the images that go in it. */
export type SitePlan = { readonly name: string; readonly images: readonly ImageRef[] }

export type SplitPlan = {
  readonly hospitals: readonly SitePlan[]
  readonly validation: SitePlan
  readonly test: SitePlan
}

export type PlanOptions = Pick<
  SplitOptions,
  'hospitals' | 'partition' | 'alpha' | 'seed' | 'perHospital' | 'testLimit' | 'valLimit'
>

/**
 * Decides which image goes where, without touching the disk. The official train split is
 * partitioned among the hospitals; the official val split becomes the coordinator's validation set
 * and the test split its test set, each whole or a seeded, class-stratified subset (`valLimit`,
 * `testLimit`), so choosing on validation never sees a test image. The caps draw from their own
 * seeded streams and keep each site's class shares, so `perHospital` shrinks the partition rather
 * than changing it.
 */
export function planSplit(data: Medmnist, options: PlanOptions): SplitPlan {
  const pool: ImageRef[] = []
  for (let index = 0; index < data.splits.train.count; index++) pool.push({ split: 'train', index })
  const labels = pool.map(({ split, index }) => data.splits[split].labels[index] as number)
  const parts =
    options.partition === 'iid'
      ? partitionIid(labels, options.hospitals, options.seed)
      : partitionDirichlet(labels, options.hospitals, options.alpha ?? 0.5, options.seed)
  const hospitals = parts.map((part, h) => {
    const kept =
      options.perHospital === null
        ? part
        : subsampleStratified(
            part,
            labels,
            options.perHospital,
            seededRandom(options.seed, `per-hospital-${h}`),
          )
    return { name: `hospital-${h + 1}`, images: kept.map((i) => pool[i] as ImageRef) }
  })
  return {
    hospitals,
    validation: heldOutSite(data, 'validation', 'val', options.valLimit, options.seed),
    test: heldOutSite(data, 'test', 'test', options.testLimit, options.seed),
  }
}

/** A whole official split, or a seeded subset of `limit` with its class shares. */
function heldOutSite(
  data: Medmnist,
  name: string,
  split: Exclude<SplitName, 'train'>,
  limit: number | null,
  seed: number,
): SitePlan {
  const indices = Array.from({ length: data.splits[split].count }, (_, i) => i)
  const kept =
    limit === null
      ? indices
      : subsampleStratified(indices, data.splits[split].labels, limit, seededRandom(seed, `${split}-limit`))
  return { name, images: kept.map((index) => ({ split, index })) }
}

/** The file an image is written to, relative to its site folder: `<class>/<split>-<index>.png`. */
export function imageFileName(ref: ImageRef): string {
  return `${ref.split}-${ref.index}.png`
}

/** A site's counts and file names per class, as split.json records them. */
export function describeSite(data: Medmnist, site: SitePlan): SiteManifest {
  const counts: Record<string, number> = {}
  const files: Record<string, string[]> = {}
  for (const name of data.classes) {
    counts[name] = 0
    files[name] = []
  }
  for (const ref of site.images) {
    const name = data.classes[data.splits[ref.split].labels[ref.index] as number] as string
    counts[name] = (counts[name] ?? 0) + 1
    files[name]?.push(imageFileName(ref))
  }
  for (const name of data.classes) if (files[name]?.length === 0) delete files[name]
  return { name: site.name, total: site.images.length, counts, files }
}
