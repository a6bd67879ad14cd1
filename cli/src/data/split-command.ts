import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { countTable } from './count-table.ts'
import { DataError } from './data-error.ts'
import type { Medmnist } from './medmnist.ts'
import { readMedmnist } from './medmnist.ts'
import { prepareOutFolder } from './out-folder.ts'
import { encodePng } from './png.ts'
import type { SiteManifest, SplitManifest } from './split-manifest.ts'
import { MANIFEST_FILE, MANIFEST_FORMAT } from './split-manifest.ts'
import { parseSplitOptions, SPLIT_USAGE } from './split-options.ts'
import type { SitePlan } from './split-plan.ts'
import { describeSite, imageFileName, planSplit } from './split-plan.ts'

/** Where the command prints and what relative paths resolve from; tests pass their own. */
export type DataIo = { readonly log?: (line: string) => void; readonly cwd?: string }

/**
 * `fedtune data split`: a MedMNIST .npz → `<out>/hospital-<i>/<class>/*.png`,
 * `<out>/validation/<class>/*.png`, `<out>/test/<class>/*.png` and `<out>/split.json`. Throws DataError (with a message for people) on any bad option or input.
 */
export async function runDataSplit(argv: readonly string[], io: DataIo = {}): Promise<void> {
  const log = io.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  const options = parseSplitOptions(argv, io.cwd ?? process.cwd())
  if (options === null) {
    log(SPLIT_USAGE.trimEnd())
    return
  }
  const bytes = await readFile(options.dataset).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT' || cause.code === 'EISDIR')
      throw new DataError(
        'bad-option',
        `--dataset: expected a MedMNIST .npz file, but there is no file at ${options.dataset} (the data sets are in ../shared/datasets)`,
      )
    throw cause
  })
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const data = readMedmnist(bytes, options.name)
  const plan = planSplit(data, options)
  const hospitals = plan.hospitals.map((site) => describeSite(data, site))
  const validation = describeSite(data, plan.validation)
  const test = describeSite(data, plan.test)
  const manifest: SplitManifest = {
    format: MANIFEST_FORMAT,
    dataset: options.name,
    file: basename(options.dataset),
    sha256,
    seed: options.seed,
    partition: options.partition,
    alpha: options.alpha,
    perHospital: options.perHospital,
    valLimit: options.valLimit,
    testLimit: options.testLimit,
    classes: data.classes,
    hospitals,
    validation,
    test,
  }

  await prepareOutFolder(options.out, options.force, [
    MANIFEST_FILE,
    'validation',
    'test',
    ...hospitals.map((h) => h.name),
  ])
  await mkdir(options.out, { recursive: true })
  // The manifest goes first: if writing the images is interrupted, --force can still clean up after it.
  await writeFile(join(options.out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`)
  log(
    `${options.name}: ${data.classes.length} classes (${data.classes.join(', ')}), writing to ${options.out}`,
  )
  const sites: [SitePlan, SiteManifest][] = [
    ...plan.hospitals.map((site, i): [SitePlan, SiteManifest] => [site, hospitals[i] as SiteManifest]),
    [plan.validation, validation],
    [plan.test, test],
  ]
  for (const [site, described] of sites) {
    await writeSite(data, site, options.out)
    const mix = data.classes.map((c) => `${c} ${described.counts[c] ?? 0}`).join(', ')
    log(`  ${site.name}: ${described.total} images (${mix})`)
  }
  const how = options.partition === 'iid' ? 'iid' : `dirichlet alpha ${options.alpha}`
  log('')
  log(`Images per site (${how}, seed ${options.seed}):`)
  log(countTable(data.classes, [...hospitals, validation, test]))
  log('')
  log(
    `In the task file: "evaluation": { "validation": "${join(options.out, 'validation')}", "test": "${join(options.out, 'test')}" }`,
  )
}

/** Class folders are created only for classes the site has, so an empty folder never stands for "no data". */
async function writeSite(data: Medmnist, site: SitePlan, out: string): Promise<void> {
  const created = new Set<string>()
  const pending: Promise<void>[] = []
  for (const ref of site.images) {
    const split = data.splits[ref.split]
    const className = data.classes[split.labels[ref.index] as number] as string
    const folder = join(out, site.name, className)
    if (!created.has(folder)) {
      await mkdir(folder, { recursive: true })
      created.add(folder)
    }
    const size = split.height * split.width * split.channels
    const pixels = split.images.subarray(ref.index * size, (ref.index + 1) * size)
    pending.push(
      writeFile(
        join(folder, imageFileName(ref)),
        encodePng(pixels, split.width, split.height, split.channels),
      ),
    )
    // Bounded so a full data set does not hold thousands of open files at once.
    if (pending.length >= 64) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
}
