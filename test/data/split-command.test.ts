import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Medmnist, SplitManifest } from '../../cli/src/data/index.ts'
import { DataError, readMedmnist, runDataCommand, runDataSplit } from '../../cli/src/data/index.ts'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const pneumoniaPath = fileURLToPath(new URL('../../../shared/datasets/pneumoniamnist.npz', import.meta.url))
const retinaPath = fileURLToPath(new URL('../../../shared/datasets/retinamnist.npz', import.meta.url))
const pneumoniaBytes = readFileSync(pneumoniaPath)
const pneumonia = readMedmnist(pneumoniaBytes, 'pneumoniamnist')

let scratch: string
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fedtune-data-'))
})
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

/** Runs the command with its output captured (and the repo root as the working directory). */
async function split(argv: readonly string[], cwd = repoRoot): Promise<string[]> {
  const lines: string[] = []
  await runDataSplit(argv, { log: (line) => lines.push(line), cwd })
  return lines
}

async function readManifest(out: string): Promise<SplitManifest> {
  return JSON.parse(await readFile(join(out, 'split.json'), 'utf8')) as SplitManifest
}

/** site → class folder → sorted file names, as found on disk. */
async function tree(folder: string): Promise<Record<string, Record<string, string[]>>> {
  const result: Record<string, Record<string, string[]>> = {}
  for (const site of (await readdir(folder, { withFileTypes: true })).filter((e) => e.isDirectory())) {
    const classes: Record<string, string[]> = {}
    for (const className of await readdir(join(folder, site.name)))
      classes[className] = (await readdir(join(folder, site.name, className))).sort()
    result[site.name] = classes
  }
  return result
}

/** Every PNG under `out` must decode to the bytes of the image its name points to, in its label's folder. */
async function expectPixelsMatch(out: string, data: Medmnist): Promise<number> {
  let checked = 0
  for (const [site, classes] of Object.entries(await tree(out))) {
    for (const [className, files] of Object.entries(classes)) {
      for (const file of files) {
        const match = /^(train|val|test)-(\d+)\.png$/.exec(file)
        expect(match, `${site}/${className}/${file}`).not.toBeNull()
        const splitName = match?.[1] as 'train' | 'val' | 'test'
        const index = Number(match?.[2])
        const source = data.splits[splitName]
        expect(data.classes[source.labels[index] as number]).toBe(className)
        const png = PNG.sync.read(await readFile(join(out, site, className, file)))
        expect([png.width, png.height]).toEqual([source.width, source.height])
        const size = source.width * source.height
        const decoded = new Uint8Array(size * source.channels)
        // pngjs decodes to RGBA; a gray image repeats its value in R, G and B.
        for (let p = 0; p < size; p++)
          for (let c = 0; c < source.channels; c++)
            decoded[p * source.channels + c] = png.data[p * 4 + c] as number
        const original = source.images.subarray(
          index * size * source.channels,
          (index + 1) * size * source.channels,
        )
        expect(Buffer.from(decoded).equals(Buffer.from(original))).toBe(true)
        checked++
      }
    }
  }
  return checked
}

async function refusal(run: () => Promise<unknown>): Promise<DataError> {
  try {
    await run()
  } catch (error) {
    if (error instanceof DataError) return error
    throw error
  }
  throw new Error('expected a DataError, but the command succeeded')
}

describe('fedtune data split', () => {
  it('writes capped hospital, validation and test folders whose PNGs decode to the npz pixels, and a matching split.json', async () => {
    const out = join(scratch, 'small')
    const lines = await split([
      '--dataset',
      pneumoniaPath,
      '--out',
      out,
      '--per-hospital',
      '20',
      '--test-limit',
      '30',
      '--val-limit',
      '12',
    ])

    const written = await tree(out)
    expect(Object.keys(written).sort()).toEqual([
      'hospital-1',
      'hospital-2',
      'hospital-3',
      'test',
      'validation',
    ])
    expect(await expectPixelsMatch(out, pneumonia)).toBe(3 * 20 + 12 + 30)

    const manifest = await readManifest(out)
    expect(manifest).toMatchObject({
      format: 'fedtune-data-split/2',
      dataset: 'pneumoniamnist',
      sha256: createHash('sha256').update(pneumoniaBytes).digest('hex'),
      seed: 1,
      partition: 'iid',
      alpha: null,
      perHospital: 20,
      valLimit: 12,
      testLimit: 30,
      classes: ['normal', 'pneumonia'],
    })
    for (const site of [...manifest.hospitals, manifest.validation, manifest.test]) {
      const sorted = (files: Readonly<Record<string, readonly string[]>>) =>
        Object.fromEntries(Object.entries(files).map(([c, names]) => [c, [...names].sort()]))
      expect(written[site.name]).toEqual(sorted(site.files))
      for (const className of manifest.classes)
        expect(site.counts[className]).toBe(written[site.name]?.[className]?.length ?? 0)
    }
    expect(manifest.hospitals.map((h) => h.total)).toEqual([20, 20, 20])
    expect(manifest.test.total).toBe(30)
    expect(manifest.validation.total).toBe(12)
    // Only train images reach hospitals, only val images the validation folder, only test images the test folder.
    expect(
      manifest.hospitals.flatMap((h) => Object.values(h.files).flat()).every((f) => f.startsWith('train-')),
    ).toBe(true)
    expect(
      Object.values(manifest.validation.files)
        .flat()
        .every((f) => f.startsWith('val-')),
    ).toBe(true)
    expect(
      Object.values(manifest.test.files)
        .flat()
        .every((f) => f.startsWith('test-')),
    ).toBe(true)

    expect(lines.filter((line) => /^ {2}hospital-\d: 20 images/.test(line))).toHaveLength(3)
    const table = lines
      .slice(lines.indexOf('') + 2)
      .join('\n')
      .split('\n')
    expect(table[0]).toMatch(/^\s+normal\s+pneumonia\s+total$/)
    expect(table.slice(1, 4).map((row) => row.split(/\s+/)[0])).toEqual([
      'hospital-1',
      'hospital-2',
      'hospital-3',
    ])
    // 30 test images keep the test split's 234 : 390 shares: 11.25 → 11 normal, 18.75 → 19 pneumonia.
    expect(table.find((row) => row.startsWith('test'))).toMatch(/^test\s+11\s+19\s+30$/)
    // 12 of the val split's 135 : 389: 3.1 → 3 normal, 8.9 → 9 pneumonia.
    expect(table.find((row) => row.startsWith('validation'))).toMatch(/^validation\s+3\s+9\s+12$/)
    expect(lines.at(-1)).toBe(
      `In the task file: "evaluation": { "validation": "${join(out, 'validation')}", "test": "${join(out, 'test')}" }`,
    )
    // 20 of ~1570 IID images at 26.6 % normal: 5 normal, 15 pneumonia in every hospital.
    for (const row of table.slice(1, 4)) expect(row).toMatch(/^hospital-\d\s+5\s+15\s+20$/)
  })

  it('the full official val and test splits keep their 135 : 389 and 234 : 390 normal and pneumonia images', async () => {
    const out = join(scratch, 'full-test')
    await split(['--dataset', pneumoniaPath, '--out', out, '--per-hospital', '10'])
    const manifest = await readManifest(out)
    expect(manifest.validation.counts).toEqual({ normal: 135, pneumonia: 389 })
    expect((await readdir(join(out, 'validation', 'pneumonia'))).length).toBe(389)
    expect(manifest.test.counts).toEqual({ normal: 234, pneumonia: 390 })
    expect((await readdir(join(out, 'test', 'normal'))).length).toBe(234)
    expect((await readdir(join(out, 'test', 'pneumonia'))).length).toBe(390)
  })

  it('the same options give the same split, and another seed a different one', async () => {
    const options = [
      '--dataset',
      pneumoniaPath,
      '--partition',
      'dirichlet',
      '--per-hospital',
      '15',
      '--test-limit',
      '5',
    ]
    await split([...options, '--out', join(scratch, 'seed-a')])
    await split([...options, '--out', join(scratch, 'seed-b')])
    await split([...options, '--out', join(scratch, 'seed-c'), '--seed', '2'])
    const [a, b, c] = await Promise.all(
      ['seed-a', 'seed-b', 'seed-c'].map((d) => readManifest(join(scratch, d))),
    )
    expect(b).toEqual(a)
    expect(c?.hospitals).not.toEqual(a?.hospitals)
    expect(a?.alpha).toBe(0.5)
  })

  it('a hospital without examples of a class has no folder for it', async () => {
    const out = join(scratch, 'skewed')
    const options = ['--dataset', pneumoniaPath, '--out', out, '--partition', 'dirichlet', '--alpha', '0.05']
    await split([...options, '--per-hospital', '30', '--test-limit', '5', '--hospitals', '5'])
    const manifest = await readManifest(out)
    const written = await tree(out)
    let missing = 0
    for (const hospital of manifest.hospitals) {
      const present = manifest.classes.filter((c) => (hospital.counts[c] ?? 0) > 0)
      expect(Object.keys(written[hospital.name] ?? {}).sort()).toEqual(present)
      missing += manifest.classes.length - present.length
    }
    expect(missing).toBeGreaterThan(0)
  })

  it("--include-val is refused: the val split is the validation folder now, never a hospital's", async () => {
    const out = join(scratch, 'with-val')
    const error = await refusal(() => split(['--dataset', pneumoniaPath, '--out', out, '--include-val']))
    expect(error.code).toBe('bad-option')
    expect(error.message).toMatch(
      /--include-val: no longer an option\. The official val split is now always written to <out>\/validation\/, the coordinator's validation set \(task file evaluation\.validation\)/,
    )
    expect(existsSync(out)).toBe(false)
  })

  it('RGB images (RetinaMNIST) are written as colour PNGs with the original bytes', async () => {
    const out = join(scratch, 'retina')
    await split([
      '--dataset',
      retinaPath,
      '--out',
      out,
      '--hospitals',
      '2',
      '--per-hospital',
      '8',
      '--test-limit',
      '6',
      '--val-limit',
      '4',
    ])
    const retina = readMedmnist(readFileSync(retinaPath), 'retinamnist')
    expect(await expectPixelsMatch(out, retina)).toBe(2 * 8 + 4 + 6)
  })

  it('defaults to ../shared/datasets/pneumoniamnist.npz and .fedtune/data/<name>, both from the working directory', async () => {
    const cwd = join(scratch, 'cwd')
    await mkdir(cwd)
    // From the repo root, ../shared/datasets holds the default data set.
    await split(['--per-hospital', '10', '--test-limit', '3', '--out', join(scratch, 'default-dataset')])
    expect((await readManifest(join(scratch, 'default-dataset'))).file).toBe('pneumoniamnist.npz')
    await split(['--dataset', pneumoniaPath, '--per-hospital', '10', '--test-limit', '3'], cwd)
    expect((await readManifest(join(cwd, '.fedtune/data/pneumoniamnist'))).dataset).toBe('pneumoniamnist')
  })
})

describe('fedtune data split refuses to overwrite', () => {
  it('a non-empty output folder without --force', async () => {
    const out = join(scratch, 'occupied')
    await mkdir(out)
    await writeFile(join(out, 'notes.txt'), 'mine')
    const error = await refusal(() => split(['--dataset', pneumoniaPath, '--out', out]))
    expect(error.code).toBe('out-dir-not-empty')
    expect(error.message).toMatch(
      /expected an empty or new folder, but .*occupied holds notes\.txt; pass --force/,
    )
  })

  it('a folder without split.json even with --force', async () => {
    const out = join(scratch, 'foreign')
    await mkdir(join(out, 'hospital-1'), { recursive: true })
    const error = await refusal(() => split(['--dataset', pneumoniaPath, '--out', out, '--force']))
    expect(error.message).toMatch(/no split\.json, so nothing in it was written by fedtune data split/)
    expect(existsSync(join(out, 'hospital-1'))).toBe(true)
  })

  it('with --force replaces a previous split but keeps files it did not write', async () => {
    const out = join(scratch, 'replace')
    const small = ['--dataset', pneumoniaPath, '--out', out, '--per-hospital', '10', '--test-limit', '4']
    await split([...small, '--hospitals', '4', '--val-limit', '6'])
    await writeFile(join(out, 'README.txt'), 'kept')
    await split([...small, '--hospitals', '2', '--val-limit', '3', '--force'])
    const written = await tree(out)
    expect(Object.keys(written).sort()).toEqual(['hospital-1', 'hospital-2', 'test', 'validation'])
    expect(await readFile(join(out, 'README.txt'), 'utf8')).toBe('kept')
    expect(await expectPixelsMatch(out, pneumonia)).toBe(2 * 10 + 3 + 4)
  })

  it('with --force stops, keeping the old split.json, when a hospital folder holds a file of someone else', async () => {
    const out = join(scratch, 'mixed')
    const small = [
      ...['--dataset', pneumoniaPath, '--out', out, '--per-hospital', '10', '--test-limit', '4'],
      ...['--val-limit', '2'],
    ]
    await split(small)
    await writeFile(join(out, 'hospital-1', 'notes.txt'), 'mine')
    const error = await refusal(() => split([...small, '--force']))
    expect(error.message).toMatch(/still holds hospital-1 with files its split\.json did not list/)
    expect(await readFile(join(out, 'hospital-1', 'notes.txt'), 'utf8')).toBe('mine')
    expect(existsSync(join(out, 'split.json'))).toBe(true)
    await rm(join(out, 'hospital-1', 'notes.txt'))
    await split([...small, '--force'])
    expect(await expectPixelsMatch(out, pneumonia)).toBe(3 * 10 + 2 + 4)
  })

  it('with --force ignores a split.json that points outside the folder', async () => {
    const out = join(scratch, 'hostile')
    await mkdir(out)
    const hostile = {
      format: 'fedtune-data-split/2',
      hospitals: [{ name: '../../etc', files: {} }],
      test: {},
    }
    await writeFile(join(out, 'split.json'), JSON.stringify(hostile))
    const error = await refusal(() => split(['--dataset', pneumoniaPath, '--out', out, '--force']))
    expect(error.message).toMatch(/expected a fedtune split\.json .*got site name "\.\.\/\.\.\/etc"/)
  })
})

describe('fedtune data split options', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown option', ['--hospital', '3'], /Unknown option '--hospital'/],
    [
      'a non-numeric hospital count',
      ['--hospitals', 'three'],
      /--hospitals: expected a whole number ≥ 1, got "three"/,
    ],
    ['zero hospitals', ['--hospitals', '0'], /--hospitals: expected a whole number ≥ 1, got "0"/],
    [
      'alpha of zero',
      ['--partition', 'dirichlet', '--alpha', '0'],
      /--alpha: expected a number > 0, got "0"/,
    ],
    [
      'a negative alpha',
      ['--partition', 'dirichlet', '--alpha', '-1'],
      /--alpha: expected a number > 0, got "-1"/,
    ],
    ['alpha with an IID partition', ['--alpha', '0.1'], /--alpha: only applies to --partition dirichlet/],
    [
      'an unknown partition',
      ['--partition', 'label-skew'],
      /--partition: expected iid or dirichlet, got "label-skew"/,
    ],
    [
      'a fractional seed',
      ['--seed', '1.5'],
      /--seed: expected a whole number from 0 to 4294967295, got "1.5"/,
    ],
    ['a zero cap', ['--per-hospital', '0'], /--per-hospital: expected a whole number ≥ 1, got "0"/],
    [
      'a non-numeric test limit',
      ['--test-limit', 'all'],
      /--test-limit: expected a whole number ≥ 1, got "all"/,
    ],
    ['a zero validation limit', ['--val-limit', '0'], /--val-limit: expected a whole number ≥ 1, got "0"/],
    [
      'a missing dataset file',
      ['--dataset', 'no-such.npz'],
      /--dataset: expected a MedMNIST \.npz file, but there is no file at .*no-such\.npz/,
    ],
    [
      'a dataset that is not .npz',
      ['--dataset', 'images.zip'],
      /--dataset: expected a path to a \.npz file, got "images\.zip"/,
    ],
    ['a stray argument', ['pneumonia'], /Unexpected argument 'pneumonia'/],
    ['more hospitals than images', ['--hospitals', '5000'], /5000 hospitals .* need 5000 examples, got 4708/],
  ]
  for (const [what, argv, message] of cases) {
    it(`refuses ${what} with a message saying what was expected`, async () => {
      const error = await refusal(() => split([...argv, '--out', join(scratch, 'never')]))
      expect(error.code).toMatch(/bad-option|impossible-partition/)
      expect(error.message).toMatch(message)
      expect(existsSync(join(scratch, 'never'))).toBe(false)
    })
  }

  it('--help prints every option with its default and an example, and writes nothing', async () => {
    const [usage] = await split(['--help', '--out', join(scratch, 'never')])
    for (const option of [
      '--dataset',
      '--out',
      '--hospitals',
      '--partition',
      '--alpha',
      '--seed',
      '--per-hospital',
      '--test-limit',
      '--val-limit',
      '--force',
    ])
      expect(usage).toContain(option)
    expect(usage).toMatch(
      /<out>\/validation\/<class>\/val-<index>\.png +the official val split: the coordinator's validation/,
    )
    expect(usage).not.toContain('--include-val')
    expect(usage).toMatch(/default: 3\)/)
    expect(usage).toMatch(/Example:\n {2}fedtune data split/)
    expect(existsSync(join(scratch, 'never'))).toBe(false)
  })

  it('fedtune data --help lists split, and an unknown subcommand is refused', async () => {
    const lines: string[] = []
    await runDataCommand(['--help'], { log: (line) => lines.push(line) })
    expect(lines.join('\n')).toMatch(/Usage: fedtune data <command>[\s\S]*split/)
    await expect(runDataCommand(['shuffle'], { log: () => {} })).rejects.toThrow(
      /fedtune data: expected a command \(split\), got "shuffle"/,
    )
  })
})
