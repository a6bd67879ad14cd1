import { DataError } from './data-error.ts'
import type { PartitionKind } from './split-options.ts'

/** /2 added the validation folder (and dropped includeVal); /1 manifests are still read for --force. */
export const MANIFEST_FORMAT = 'fedtune-data-split/2'
const READABLE_FORMATS: readonly string[] = ['fedtune-data-split/1', MANIFEST_FORMAT]
export const MANIFEST_FILE = 'split.json'

/** One folder the split wrote (`hospital-<i>`, `validation` or `test`): its images by class, as file names. */
export type SiteManifest = {
  readonly name: string
  readonly total: number
  /** Images per class name, every class listed (0 for a class the site has no folder for). */
  readonly counts: Readonly<Record<string, number>>
  /** File names per class; `<split>-<index>.png`, the index into that official split of the .npz. */
  readonly files: Readonly<Record<string, readonly string[]>>
}

/**
 * `split.json`: enough to reproduce the split (data set digest, seed, options), to report it (counts)
 * and to undo it (the exact files), so `--force` deletes nothing fedtune did not write.
 */
export type SplitManifest = {
  readonly format: typeof MANIFEST_FORMAT
  readonly dataset: string
  readonly file: string
  readonly sha256: string
  readonly seed: number
  readonly partition: PartitionKind
  readonly alpha: number | null
  readonly perHospital: number | null
  readonly valLimit: number | null
  readonly testLimit: number | null
  readonly classes: readonly string[]
  readonly hospitals: readonly SiteManifest[]
  /** The official val split: the coordinator's validation set. */
  readonly validation: SiteManifest
  readonly test: SiteManifest
}

/** What `--force` needs from a previous split.json: the files it wrote, checked to stay inside the folder. */
export type WrittenFiles = {
  readonly folders: readonly {
    readonly site: string
    readonly files: Readonly<Record<string, readonly string[]>>
  }[]
}

const SITE = /^(hospital-[1-9]\d*|validation|test)$/
const CLASS = /^[a-z0-9][a-z0-9-]*$/
const FILE = /^(train|val|test)-\d+\.png$/

/**
 * Parses a previous split.json at the edge. Every name must match the patterns this tool writes,
 * so an edited or foreign manifest cannot point the removal outside the output folder.
 */
export function parseWrittenFiles(value: unknown, source: string): WrittenFiles {
  const fail = (what: string): never => {
    throw new DataError(
      'out-dir-not-empty',
      `${source}: expected a fedtune split.json (${MANIFEST_FORMAT}), ${what}`,
    )
  }
  if (typeof value !== 'object' || value === null) return fail(`got ${typeof value}`)
  const record = value as Record<string, unknown>
  if (typeof record.format !== 'string' || !READABLE_FORMATS.includes(record.format))
    return fail(`got format ${JSON.stringify(record.format)}`)
  if (!Array.isArray(record.hospitals)) return fail('got no hospitals list')
  // A /1 manifest has no validation folder.
  const sites: unknown[] = [
    ...record.hospitals,
    ...(record.format === MANIFEST_FORMAT ? [record.validation] : []),
    record.test,
  ]
  const folders = sites.map((site) => {
    if (typeof site !== 'object' || site === null) return fail('got a site that is not an object')
    const { name, files } = site as Record<string, unknown>
    if (typeof name !== 'string' || !SITE.test(name)) return fail(`got site name ${JSON.stringify(name)}`)
    if (typeof files !== 'object' || files === null) return fail(`got no files for ${name}`)
    const checked: Record<string, readonly string[]> = {}
    for (const [className, list] of Object.entries(files)) {
      if (!CLASS.test(className)) return fail(`got class folder ${JSON.stringify(className)} in ${name}`)
      if (!Array.isArray(list) || !list.every((f) => typeof f === 'string' && FILE.test(f)))
        return fail(`got a file list for ${name}/${className} with names this tool does not write`)
      checked[className] = list as string[]
    }
    return { site: name, files: checked }
  })
  return { folders }
}
