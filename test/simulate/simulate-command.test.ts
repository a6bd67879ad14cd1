import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSimulateCommand } from '../../cli/src/simulate/simulate-command.ts'
import { testIo } from '../cli/test-io.ts'
import { SHARED, splitPneumonia } from '../pneumonia-split.ts'

const backboneDir = join(SHARED, 'backbones', 'mobilenet_v2_0.35_224')
let scratch: string
let data: string
let digest: string

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fedtune-simulate-'))
  data = join(scratch, 'data')
  await splitPneumonia(data, { hospitals: 3, perHospital: 16, testLimit: 24, valLimit: 20, seed: 4 })
  digest = (await readBackboneFolder(backboneDir)).digest
  await initBackend()
}, 120_000)
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true })
})

/** A task file over the split, written beside it; `evaluation` as given. */
async function taskFile(
  name: string,
  evaluation: unknown,
  head: object = {},
  more: object = {},
): Promise<string> {
  const path = join(scratch, `${name}.json`)
  const task = {
    name,
    backbone: { source: backboneDir, sha256: digest },
    head: { layers: [], labels: ['normal', 'pneumonia'], seed: 2, ...head },
    training: { rounds: 6 },
    ...(evaluation === undefined ? {} : { evaluation }),
    ...more,
  }
  await writeFile(path, JSON.stringify(task))
  return path
}

const both = () => ({ validation: join(data, 'validation'), test: join(data, 'test') })

describe('fedtune simulate', () => {
  it('runs the federation and both references on a data split folder and prints the comparison', async () => {
    const task = await taskFile('sim', { ...both(), metric: 'auc', patience: 4 })
    const t = testIo()
    const cache = join(scratch, 'cache')
    const code = await runSimulateCommand(
      ['--task', task, '--data', data, '--cache', cache, '--reference-epochs', '3'],
      t.io,
      undefined,
    )
    expect(t.stderr()).not.toMatch(/fedtune simulate:/)
    expect(code).toBe(0)
    const out = t.stdout()
    // The split's validation/ and test/ are the task's evaluation folders, not hospitals.
    expect(out).toMatch(
      /^sim: 3 hospitals \(hospital-1 16, hospital-2 16, hospital-3 16\); validation 20, test 24 images$/m,
    )
    expect(out).toMatch(/Each head chosen on validation AUC, patience 4; figures are on test\./)
    expect(out).toMatch(/test ACC\s+balanced ACC\s+AUC\s+val AUC\s+chosen/)
    const figure = String.raw`[01]\.\d{3}`
    expect(out).toMatch(
      new RegExp(
        String.raw`federated, 3 hospitals\s+${figure}\s+${figure}\s+${figure}\s+${figure}\s+round \d of \d`,
      ),
    )
    expect(out).toMatch(
      new RegExp(String.raw`centralized \(all hospitals pooled\)\s+${figure}.*epoch \d of 3`),
    )
    expect(out).toMatch(new RegExp(String.raw`local-only \(mean over 3 hospitals\)\s+${figure}`))

    // The same run as JSON, from the embedding cache: the same figures, every chosen head within its run.
    const j = testIo()
    expect(
      await runSimulateCommand(
        ['--task', task, '--data', data, '--cache', cache, '--reference-epochs', '3', '--json'],
        j.io,
        undefined,
      ),
    ).toBe(0)
    const report = JSON.parse(j.stdout())
    expect(report.hospitals).toEqual([
      { name: 'hospital-1', images: 16 },
      { name: 'hospital-2', images: 16 },
      { name: 'hospital-3', images: 16 },
    ])
    expect(report.rows.map((r: { setting: string }) => r.setting)).toEqual([
      'federated, 3 hospitals',
      'centralized (all hospitals pooled)',
      'local-only (mean over 3 hospitals)',
    ])
    const federated = report.federated
    expect(federated.chosen).toBeGreaterThanOrEqual(1)
    expect(federated.chosen).toBeLessThanOrEqual(federated.ran)
    expect(federated.ran).toBeLessThanOrEqual(6)
    expect(federated.test.examples).toBe(24)
    expect(federated.validation.examples).toBe(20)
    // The task's loss is logit-adjusted and its prior "federation": the head predicts with the
    // federation's smoothed label mix, which sums to 1.
    expect(federated.prior).toHaveLength(2)
    expect(federated.prior[0] + federated.prior[1]).toBeCloseTo(1, 6)
    expect(report.rows[0].figures.accuracy).toBe(federated.test.accuracy)
    expect(report.localOnly).toHaveLength(3)
    expect(out).toContain(report.rows[0].figures.auc.toFixed(3))
  }, 180_000)

  it('with an ordinal task adds QWK, and without validation reports the last round', async () => {
    // The same hospitals and test images without the validation folder (embeddings from the cache).
    const noValidation = join(scratch, 'no-validation')
    for (const folder of ['hospital-1', 'hospital-2', 'hospital-3', 'test'])
      await cp(join(data, folder), join(noValidation, folder), { recursive: true })
    const task = await taskFile(
      'ordinal',
      { test: join(noValidation, 'test'), prior: 'uniform' },
      { ordinal: true },
    )
    const t = testIo()
    const args = [
      '--task',
      task,
      '--data',
      noValidation,
      '--cache',
      join(scratch, 'cache'),
      '--reference-epochs',
      '2',
    ]
    expect(await runSimulateCommand(args, t.io, null)).toBe(0)
    expect(t.stdout()).toMatch(/No evaluation\.validation: every head is the last round \(epoch\)\./)
    expect(t.stdout()).toMatch(/test ACC\s+balanced ACC\s+AUC\s+QWK\s+chosen/)
    expect(t.stdout()).toMatch(/federated, 3 hospitals .* last of 6/)
    expect(t.stdout()).toMatch(/local-only \(mean over 3 hospitals\) .* last of 2/)
  }, 180_000)

  it('runs a private task under its privacy: the statement, ε spent, the centralized DP-SGD reference', async () => {
    const privacy = { unit: 'example', epsilon: 5, delta: 1e-3, clipNorm: 1 }
    const task = await taskFile(
      'private',
      { ...both(), metric: 'auc' },
      {},
      {
        training: { rounds: 4, optimizer: 'sgd', learningRate: 1, batchSize: 65536 },
        participation: { participantsPerRound: 3, minParticipants: 3 },
        privacy,
      },
    )
    const args = [
      '--task',
      task,
      '--data',
      data,
      '--cache',
      join(scratch, 'cache'),
      '--reference-epochs',
      '2',
    ]
    const t = testIo()
    expect(await runSimulateCommand(args, t.io, null)).toBe(0)
    const out = t.stdout()
    expect(out).toMatch(
      /Differential privacy for each example .*\(ε = 5\.00, δ = 1e-3\) over at most 4 rounds/,
    )
    expect(out).toMatch(/chosen\s+ε spent/)
    expect(out).toMatch(/federated, 3 hospitals .* round \d of 4\s+\d\.\d\d$/m)
    expect(out).toMatch(/centralized \(all hospitals pooled, no DP\) .* epoch \d of 2\s+–$/m)
    expect(out).toMatch(/centralized DP-SGD \(pooled; same C, q, z, steps\) .* round \d of 4\s+\d\.\d\d$/m)
    expect(out).toMatch(/^federated: ε \d\.\d\d of 5\.00 \(δ 1e-3\) over 4 rounds, z [\d.]+, C 1$/m)
    // a private task with a validation set centres every embedding on that set's mean, as the coordinator does
    expect(t.stderr()).toContain(
      "input centre: the validation set's mean embedding, subtracted before the head everywhere",
    )

    const j = testIo()
    expect(await runSimulateCommand([...args, '--json'], j.io, null)).toBe(0)
    const report = JSON.parse(j.stdout())
    expect(report.privacy).toMatchObject({ unit: 'example', epsilon: 5, rounds: 4, stepsPerRound: 1 })
    expect(report.federated.privacy.rounds).toBe(4)
    expect(report.federated.privacy.epsilon).toBeLessThanOrEqual(5)
    expect(report.centralizedPrivate.privacy.epsilon).toBe(report.federated.privacy.epsilon)
    // The same seed, the same noise: a private simulation is reproducible.
    const again = testIo()
    expect(await runSimulateCommand([...args, '--json'], again.io, null)).toBe(0)
    expect(JSON.parse(again.stdout()).federated).toEqual(report.federated)
  }, 180_000)
})

describe('fedtune simulate with several views', () => {
  it('embeds every hospital and evaluation set in the task’s views, says so once, and caches them apart', async () => {
    const task = await taskFile(
      'views',
      both(),
      {},
      {
        backbone: { source: backboneDir, sha256: digest, views: ['original', 'horizontal-flip'] },
        training: { rounds: 1 },
      },
    )
    const t = testIo()
    const cache = join(scratch, 'cache-views')
    const args = ['--task', task, '--data', data, '--cache', cache, '--reference-epochs', '1']
    expect(await runSimulateCommand(args, t.io, null)).toBe(0)
    expect(t.stderr().match(/^each image is embedded in .*$/gm)).toEqual([
      'each image is embedded in 2 views (original, horizontal-flip): 2 backbone passes per image, averaged into one embedding',
    ])
    // 3 hospitals of 16, 20 validation and 24 test images, averaged over both views; none alone
    const digestDir = join(cache, 'embeddings', digest)
    expect(await readdir(digestDir)).toEqual(['views-original+horizontal-flip'])
    expect(await readdir(join(digestDir, 'views-original+horizontal-flip'))).toHaveLength(92)
  }, 180_000)
})

describe('fedtune simulate refuses', () => {
  beforeAll(async () => {
    // the split's hospitals alone, without its validation and test folders
    for (const site of ['hospital-1', 'hospital-2', 'hospital-3'])
      await cp(join(data, site), join(scratch, 'hospitals-only', site), { recursive: true })
  })

  async function refusal(argv: string[]): Promise<string> {
    const t = testIo()
    const code = await runSimulateCommand(argv, t.io, null)
    expect(code).toBeGreaterThan(0)
    expect(t.stdout()).toBe('')
    return t.stderr()
  }

  it('a data folder of label folders, saying the layout it expected', async () => {
    const task = await taskFile('flat', both())
    const message = await refusal(['--task', task, '--data', join(data, 'hospital-1')])
    expect(message).toMatch(
      /--data: .*hospital-1 holds label folders \(normal, pneumonia\) directly, which is one hospital's data; expected <data>\/<hospital>\/<label>\/\*\.png \(or \.jpg\), one folder per hospital/,
    )
  })

  it("a data split's validation folder the task does not name, instead of training on it", async () => {
    const task = await taskFile('unnamed', { test: join(data, 'test') })
    expect(await refusal(['--task', task, '--data', data])).toMatch(
      /--data: .*validation looks like held-out images \(fedtune data split writes them\), not a hospital, but the task does not name it in evaluation\.validation or evaluation\.test/,
    )
  })

  it('a data folder without hospital folders', async () => {
    const task = await taskFile('bare', both())
    const empty = join(scratch, 'empty')
    await mkdir(empty)
    await writeFile(join(empty, 'notes.txt'), 'no folders here')
    expect(await refusal(['--task', task, '--data', empty])).toMatch(
      /--data: .*empty has no hospital folders; expected <data>\/<hospital>\/<label>\/\*\.png/,
    )
    expect(await refusal(['--task', task, '--data', join(scratch, 'missing')])).toMatch(
      /--data: no folder at .*missing/,
    )
  })

  it('a task without an evaluation section, and missing options', async () => {
    const task = await taskFile('blind', undefined)
    expect(await refusal(['--task', task, '--data', data])).toMatch(
      /has no evaluation section: simulate chooses each head on evaluation\.validation and reports it on evaluation\.test/,
    )
    expect(await refusal(['--data', data])).toMatch(/--task <task\.json> is required/)
    expect(await refusal(['--task', task])).toMatch(
      /--data <folder> is required: <data>\/<hospital>\/<label>/,
    )
    expect(await refusal(['--task', task, '--data', data, '--reference-epochs', '0'])).toMatch(
      /--reference-epochs: expected a whole number from 1 to 10000, got "0"/,
    )
  })

  it('an evaluation folder with a class the task does not know; one with no image of a class is warned about with the counts', async () => {
    // a copy of the test set with a third class folder, and one without any pneumonia image
    const odd = join(scratch, 'odd-test')
    await cp(join(data, 'test'), odd, { recursive: true })
    await cp(join(data, 'test', 'normal'), join(odd, 'covid'), { recursive: true })
    const unknown = await taskFile('unknown-class', { validation: join(data, 'validation'), test: odd })
    expect(await refusal(['--task', unknown, '--data', join(scratch, 'hospitals-only')])).toMatch(
      /the test set: .*"covid"/,
    )
    const partial = join(scratch, 'normal-only')
    await cp(join(data, 'test', 'normal'), join(partial, 'normal'), { recursive: true })
    const warned = await taskFile('missing-class', { validation: join(data, 'validation'), test: partial })
    const t = testIo()
    const code = await runSimulateCommand(
      [
        '--task',
        warned,
        '--data',
        join(scratch, 'hospitals-only'),
        '--cache',
        join(scratch, 'cache'),
        '--reference-epochs',
        '1',
      ],
      t.io,
      null,
    )
    expect(code).toBe(0)
    expect(t.stderr()).toMatch(
      /warning: the test set .* has no image of "pneumonia" \(images per label: normal \d+, pneumonia 0\)/,
    )
  }, 180_000)

  it("a task file that does not parse, with the reader's message", async () => {
    const path = join(scratch, 'broken.json')
    await writeFile(path, '{ "name": ')
    expect(await refusal(['--task', path, '--data', data])).toMatch(/task file .*broken\.json/)
  })

  it('--help prints the layout and every option', async () => {
    const t = testIo()
    expect(await runSimulateCommand(['--help'], t.io, null)).toBe(0)
    for (const option of ['--task', '--data', '--cache', '--reference-epochs', '--val-fraction', '--json'])
      expect(t.stdout()).toContain(option)
    expect(t.stdout()).toContain('<data>/<hospital>/<label>/*.png')
  })
})
