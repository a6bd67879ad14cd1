import type { Medmnist, SplitName } from './medmnist.ts'
import { partitionDirichlet, partitionIid, subsampleStratified } from './partition.ts'
import { seededRandom } from './seeded-random.ts'
import type { SiteManifest } from './split-manifest.ts'
import type { SplitOptions } from './split-options.ts'

/** One image of the .npz: its official split and its position in it. */
export type ImageRef = { readonly split: SplitName; readonly index: number }

/** A folder to write (`hospital-<i>` or `test`) and the images that go in it. */
export type SitePlan = { readonly name: string; readonly images: readonly ImageRef[] }

export type SplitPlan = { readonly hospitals: readonly SitePlan[]; readonly test: SitePlan }

export type PlanOptions = Pick<
  SplitOptions,
  'hospitals' | 'partition' | 'alpha' | 'seed' | 'perHospital' | 'testLimit' | 'includeVal'
>

/**
 * Decides which image goes where, without touching the disk. The pool that is partitioned is the
 * official train split, plus val with `includeVal`; the official test split stays whole (or a
 * seeded, class-stratified subset with `testLimit`) for the coordinator's held-out evaluation. The
 * caps draw from their own seeded streams and keep each site's class shares, so `perHospital`
 * shrinks the partition rather than changing it.
 */
export function planSplit(data: Medmnist, options: PlanOptions): SplitPlan {
  const pool: ImageRef[] = []
  const poolSplits: readonly SplitName[] = options.includeVal ? ['train', 'val'] : ['train']
  for (const split of poolSplits)
    for (let index = 0; index < data.splits[split].count; index++) pool.push({ split, index })
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
  const testIndices = Array.from({ length: data.splits.test.count }, (_, i) => i)
  const testKept =
    options.testLimit === null
      ? testIndices
      : subsampleStratified(
          testIndices,
          data.splits.test.labels,
          options.testLimit,
          seededRandom(options.seed, 'test-limit'),
        )
  return { hospitals, test: { name: 'test', images: testKept.map((index) => ({ split: 'test', index })) } }
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
