import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { localTraining, readTaskFile } from '@fedtune/coordinator'
import { readBackboneFolder } from '@fedtune/model/node'
import { IMAGE_VIEWS } from '@fedtune/protocol'
import { runDataSplit } from 'fedtune/data'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RECIPE } from '../../bench/recipe.ts'
import { runSimulateCommand } from '../../cli/src/simulate/simulate-command.ts'
import { runTaskCommand } from '../../cli/src/task-command.ts'
import { SHARED, splitPneumonia } from '../pneumonia-split.ts'
import { testIo } from './test-io.ts'

/**
 * `fedtune task init`: a task file for a consortium's folders with the README's measured recipe,
 * its digest, labels and evaluation folders read from disk, checked as the coordinator reads it.
 */
const backbone = join(SHARED, 'backbones', 'mobilenet_v2_0.35_224')
let scratch: string
let data: string

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fedtune-task-init-'))
  data = join(scratch, 'chest-xrays')
  await splitPneumonia(data, { hospitals: 3, perHospital: 16, testLimit: 24, valLimit: 20, seed: 8 })
}, 120_000)
afterAll(() => rm(scratch, { recursive: true, force: true }))

/** `fedtune task init` on the split and the test backbone, writing `out`, with `more` options. */
function initSplit(out: string, ...more: string[]) {
  return init(['--data', data, '--backbone', backbone, '--out', out, ...more])
}

async function init(args: string[]) {
  const t = testIo()
  const code = await runTaskCommand(['init', ...args], t.io)
  return { code, stdout: t.stdout(), stderr: t.stderr() }
}

describe('fedtune task init', () => {
  it('writes the README’s recipe for a data split: the backbone’s digest, the split’s labels and evaluation folders', async () => {
    const out = join(scratch, 'recipe.json')
    const { code, stdout, stderr } = await initSplit(out)
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toMatch(
      /^wrote .*recipe\.json: task "chest-xrays", 2 labels \(normal, pneumonia\), 3 hospitals, the federated-gradients recipe, 8 views, 200 rounds$/m,
    )
    expect(stdout).toMatch(/^no privacy section: the task gives no differential-privacy guarantee/m)
    expect(stdout).toContain(`fedtune simulate --task`)

    // the coordinator's own reader takes it, and it is bench/recipe.ts's RECIPE, field for field
    const task = await readTaskFile(out)
    expect(task.backbone.sha256).toBe((await readBackboneFolder(backbone)).digest)
    expect(task.backbone.views).toEqual(RECIPE.views)
    expect(task.head.labels).toEqual(['normal', 'pneumonia'])
    expect(task.head.layers).toEqual(RECIPE.layers)
    expect(task.head.inputCentre).toBe(RECIPE.inputCentre)
    expect(localTraining(task.training)).toEqual(RECIPE.training)
    // RECIPE's Adam has no weight decay; the task's reader writes its default, 0
    expect(task.training.server).toEqual({ weightDecay: 0, ...RECIPE.server })
    expect(task.training.rounds).toBe(RECIPE.rounds)
    expect(task.training.labelPrior).toBe('federation')
    expect(task.evaluation).toMatchObject({
      validation: join(data, 'validation'),
      test: join(data, 'test'),
      metric: RECIPE.metric,
      patience: RECIPE.patience,
    })
    // every hospital each round; a round survives one dropping out
    expect(task.participation).toMatchObject({ participantsPerRound: 3, minParticipants: 2 })
  })

  it('writes a file fedtune simulate runs on the same folders', async () => {
    const out = join(scratch, 'short.json')
    const made = await initSplit(out, '--views', '1', '--rounds', '4')
    expect(made.code).toBe(0)
    expect(made.stdout).toMatch(/the federated-gradients recipe, 1 view, 4 rounds$/m)
    const t = testIo()
    const code = await runSimulateCommand(
      ['--task', out, '--data', data, '--cache', join(scratch, 'cache'), '--reference-epochs', '2'],
      t.io,
      null,
    )
    expect(t.stderr()).not.toMatch(/fedtune simulate:/)
    expect(code).toBe(0)
    expect(t.stdout()).toMatch(
      /^chest-xrays: 3 hospitals \(hospital-1 16, hospital-2 16, hospital-3 16\); validation 20, test 24 images$/m,
    )
    expect(t.stdout()).toMatch(/federated, 3 hospitals\s+[01]\.\d{3}/)
  }, 180_000)

  it('--recipe fedavg: the task file’s defaults, one view, 60 rounds; --labels, --ordinal and --name as given', async () => {
    const out = join(scratch, 'fedavg.json')
    const { code } = await initSplit(
      out,
      '--recipe',
      'fedavg',
      '--labels',
      'pneumonia,normal',
      '--ordinal',
      '--name',
      'grades',
    )
    expect(code).toBe(0)
    const written = JSON.parse(await readFile(out, 'utf8'))
    expect(written.training).toEqual({ rounds: 60 })
    expect(written.backbone.views).toEqual(['original'])
    expect(written.head).toEqual({ labels: ['pneumonia', 'normal'], ordinal: true, layers: [] })
    expect(written.name).toBe('grades')
    const task = await readTaskFile(out)
    expect(task.training).toMatchObject({ optimizer: 'adam', learningRate: 0.001, batchSize: 32 })
    expect(task.evaluation?.patience).toBeNull()
  })

  it('without a validation folder: nothing to centre on or choose by, and says so', async () => {
    const bare = join(scratch, 'no-validation')
    for (const site of ['hospital-1', 'hospital-2', 'test'])
      await cp(join(data, site), join(bare, site), { recursive: true })
    const out = join(scratch, 'bare.json')
    const { code, stdout } = await init(['--data', bare, '--backbone', backbone, '--out', out])
    expect(code).toBe(0)
    expect(stdout).toMatch(
      /^warning: no validation\/ folder in .*: the run keeps its last round's head and does not centre its inputs/m,
    )
    const task = await readTaskFile(out)
    expect(task.head.inputCentre).toBe('none')
    expect(task.evaluation).toMatchObject({ validation: null, test: join(bare, 'test') })
    expect(task.participation).toMatchObject({ participantsPerRound: 2, minParticipants: 2 })
  })

  it('names a backbone by its model.json URL as given, with the digest of what the URL serves', async () => {
    const server = createServer((req, res) => {
      const name = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/models\/v2\//, '')
      readFile(join(backbone, name)).then(
        (bytes) => res.writeHead(200).end(bytes),
        () => res.writeHead(404).end(),
      )
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/v2/model.json`
      const out = join(scratch, 'by-url.json')
      const made = await init(['--data', data, '--backbone', url, '--out', out])
      expect(made.stderr).toBe('')
      expect(made.code).toBe(0)
      const task = await readTaskFile(out)
      expect(task.backbone.source).toBe(url)
      expect(task.backbone.sha256).toBe((await readBackboneFolder(backbone)).digest)
      const missing = await init([
        '--data',
        data,
        '--backbone',
        url.replace('model.json', 'none.json'),
        '--out',
        join(scratch, 'x.json'),
      ])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/^fedtune task init: --backbone: .*404/)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('takes a split’s labels in its data set’s order, and says when split.json knows they are grades', async () => {
    const retina = join(scratch, 'retina')
    await runDataSplit(
      [
        '--dataset',
        join(SHARED, 'datasets', 'retinamnist.npz'),
        '--out',
        retina,
        '--hospitals',
        '2',
        '--per-hospital',
        '30',
        '--test-limit',
        '10',
        '--val-limit',
        '10',
      ],
      { log: () => {} },
    )
    const grades = ['grade-0', 'grade-1', 'grade-2', 'grade-3', 'grade-4']
    const plain = await init([
      '--data',
      retina,
      '--backbone',
      backbone,
      '--out',
      join(scratch, 'retina.json'),
    ])
    expect(plain.code).toBe(0)
    expect(plain.stdout).toMatch(
      /^note: split\.json says these labels are grades in order; --ordinal adds QWK/m,
    )
    expect((await readTaskFile(join(scratch, 'retina.json'))).head).toMatchObject({
      labels: grades,
      ordinal: false,
    })
    const ordinal = await init([
      '--data',
      retina,
      '--backbone',
      backbone,
      '--ordinal',
      '--out',
      join(scratch, 'retina-ordinal.json'),
    ])
    expect(ordinal.stdout).not.toMatch(/^note:/m)
    expect((await readTaskFile(join(scratch, 'retina-ordinal.json'))).head).toMatchObject({
      labels: grades,
      ordinal: true,
    })
    // a pneumonia split says nothing of grades
    expect((await initSplit(join(scratch, 'pneumonia.json'))).stdout).not.toMatch(/^note:/m)
  }, 120_000)

  describe('refuses, saying what it expected', () => {
    it('to replace a file without --force, and leaves it as it was', async () => {
      const out = join(scratch, 'kept.json')
      await writeFile(out, '{"mine": true}\n')
      const { code, stderr } = await initSplit(out)
      expect(code).toBe(1)
      expect(stderr).toMatch(/kept\.json exists; --force replaces it, or choose another --out/)
      expect(await readFile(out, 'utf8')).toBe('{"mine": true}\n')
      expect((await initSplit(out, '--force')).code).toBe(0)
      expect(JSON.parse(await readFile(out, 'utf8')).name).toBe('chest-xrays')
    })

    it('one hospital’s label folders instead of a folder of hospitals', async () => {
      const { code, stderr } = await init([
        '--data',
        join(data, 'hospital-1'),
        '--backbone',
        backbone,
        '--out',
        join(scratch, 'x.json'),
      ])
      expect(code).toBe(2)
      expect(stderr).toMatch(
        /look like one hospital's label folders; expected <data>\/<hospital>\/<label>\/\*\.png/,
      )
    })

    it('--labels that leave out a label folder the data holds', async () => {
      const { code, stderr } = await init([
        '--data',
        data,
        '--backbone',
        backbone,
        '--labels',
        'normal,covid',
        '--out',
        join(scratch, 'x.json'),
      ])
      expect(code).toBe(2)
      expect(stderr).toMatch(/label folders that --labels does not name: "pneumonia"/)
    })

    it('a backbone folder that is not a TensorFlow.js model, and bad options', async () => {
      const wrong = await init(['--data', data, '--backbone', data, '--out', join(scratch, 'x.json')])
      expect(wrong.code).toBe(1)
      expect(wrong.stderr).toMatch(/^fedtune task init: --backbone: /)
      for (const [args, message] of [
        [['--views', '3'], /--views: expected 1, 4 or 8, got "3"/],
        [['--recipe', 'fedprox'], /--recipe: expected federated-gradients or fedavg, got "fedprox"/],
        [['--rounds', '0'], /--rounds: expected a whole number from 1 to 100000, got "0"/],
        [['--name', 'a b'], /--name: expected \[A-Za-z0-9._-\], up to 64, got "a b"/],
        [['--labels', 'only'], /--labels: expected at least two distinct labels/],
      ] as const) {
        const r = await init(['--data', data, '--backbone', backbone, ...args])
        expect(r.code).toBe(2)
        expect(r.stderr).toMatch(message)
      }
      const missing = await init(['--data', data])
      expect(missing).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--backbone <folder\|url> is required/),
      })
    })

    it('--help prints every option', async () => {
      const { code, stdout } = await init(['--help'])
      expect(code).toBe(0)
      for (const option of [
        '--data',
        '--backbone',
        '--out',
        '--name',
        '--labels',
        '--ordinal',
        '--recipe',
        '--views',
        '--rounds',
        '--force',
      ])
        expect(stdout).toContain(option)
      // and no view is left out of what --views 8 means
      expect(IMAGE_VIEWS).toHaveLength(8)
    })
  })
})
