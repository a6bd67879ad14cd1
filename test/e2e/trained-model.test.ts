import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { issueInvite, type RoundRecord } from '@fedtune/coordinator'
import { accuracy, classify, type ModelCard, rocAuc } from '@fedtune/model'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandIo } from '../../cli/src/command-io.ts'
import { readZip } from '../../cli/src/data/zip.ts'
import { runPredictCommand } from '../../cli/src/predict-command.ts'
import { fedtuneProcess } from '../cli/fedtune-process.ts'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'
import { fileHandler, labelledImages, unpackModel } from '../model-folder.ts'
import { splitPneumonia } from '../pneumonia-split.ts'
import { bearerFor } from '../test-store.ts'

/**
 * Issue 13, item 2, "the model, ready to use": a real secure run of three hospital processes on
 * PneumoniaMNIST chest X-rays; its model downloaded over HTTP is ONE TF.js layers model that
 * tf.loadLayersModel loads in Node and that gets the coordinator's own test accuracy on the same
 * images (the best round's head by validation AUC, its prior and its input centre folded in); `fedtune model export` and
 * `fedtune predict` as processes; and the refusals.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const _shared = join(repo, '..', 'shared')
const bin = join(repo, 'cli', 'bin', 'fedtune.js')
const HOSPITALS = 3
const ROUNDS = 2
const LABELS = ['normal', 'pneumonia']

let c: MainCoordinator
let work: string
let data: string
let viewer: string
let records: RoundRecord[]

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-model-'))
  data = join(work, 'data')
  await splitPneumonia(data, { hospitals: HOSPITALS, perHospital: 40, testLimit: 120, seed: 7 })
  carveValidation(join(data, 'test'), join(data, 'validation'))
  c = await startMainCoordinator({
    // inputs centred on the validation set's mean embedding: the hospitals get it with the task, the
    // export folds it into the hidden layer's bias, and the model must still match the coordinator
    head: {
      layers: [{ type: 'dense', units: 32, activation: 'relu' }],
      labels: LABELS,
      seed: 3,
      inputCentre: 'validation',
    },
    training: { rounds: ROUNDS, localEpochs: 2, batchSize: 16, optimizer: 'adam', learningRate: 0.001 },
    participation: {
      minParticipants: HOSPITALS,
      participantsPerRound: HOSPITALS,
      roundDeadlineSeconds: 240,
      joinTimeoutSeconds: 240,
    },
    // the default loss (logit-adjusted) and prior ("federation"): each head predicts with its round's label mix
    evaluation: { validation: join(data, 'validation'), test: join(data, 'test') },
  })
  const clients: ChildProcess[] = []
  const exits: Promise<number>[] = []
  for (let i = 1; i <= HOSPITALS; i++) {
    const { code } = await issueInvite(c.store, {
      task: 'main',
      participant: `hospital-${i}`,
      createdBy: 'test',
    })
    const child = spawn(
      process.execPath,
      [
        bin,
        'client',
        '--coordinator',
        c.url,
        '--data',
        join(data, `hospital-${i}`),
        '--cache',
        join(work, `cache-${i}`),
        '--name',
        `hospital-${i}`,
        '--invite',
        code,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    clients.push(child)
    exits.push(new Promise((resolve) => child.once('exit', (code) => resolve(code ?? -1))))
  }
  await c.federation.done
  expect(await Promise.all(exits)).toEqual([0, 0, 0])
  records = [...c.records]
  viewer = (await bearerFor(c.store, 'viewer', 'vera')).authorization
}, 600_000)

afterAll(async () => {
  await c?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

const get = (path: string) => fetch(`${c.url}${path}`, { headers: { authorization: viewer } })

/** The model zip of `path`, unpacked into a new folder. */
async function download(path: string): Promise<{ dir: string; response: Response }> {
  const response = await get(path)
  expect(response.status).toBe(200)
  const dir = unpackModel(
    new Uint8Array(await response.arrayBuffer()),
    mkdtempSync(join(work, 'model-')),
    path,
  )
  return { dir, response }
}

const heldOut = () => labelledImages(join(data, 'test'), LABELS)

/** Every other image of each label of `test` moved to `validation`, as the coordinator's validation set. */
function carveValidation(test: string, validation: string): void {
  for (const label of LABELS) {
    mkdirSync(join(validation, label), { recursive: true })
    const files = readdirSync(join(test, label)).sort()
    for (const [i, file] of files.entries())
      if (i % 2 === 1) renameSync(join(test, label, file), join(validation, label, file))
  }
}

/** The round the run's last record names the best by validation AUC: the model exported by default. */
const bestRecord = () => records.find((r) => r.round === records.at(-1)?.best?.round) as RoundRecord

describe('GET /api/runs/:id/model', () => {
  it('answers the best round by validation as one zip to download: model.json, weights.bin, model-card.json, README.md', async () => {
    expect(records.map((r) => r.status)).toEqual(['aggregated', 'aggregated'])
    const best = bestRecord()
    expect(best.validation?.auc).toBe(Math.max(...records.map((r) => r.validation?.auc ?? 0)))
    const response = await get(`/api/runs/${c.run.id}/model`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/zip')
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="main-run${c.run.id}-round${best.round}-model.zip"`,
    )
    const files = readZip(new Uint8Array(await response.arrayBuffer()), 'the download')
    expect([...files.keys()]).toEqual(['model.json', 'weights.bin', 'model-card.json', 'README.md'])
    const readme = new TextDecoder().decode(files.get('README.md'))
    expect(readme).toContain('Labels, in output order: normal, pneumonia')
    expect(readme).toContain('secure aggregation')
  })

  it('is one layers model, its prior folded in, that tf.loadLayersModel loads in Node and that gets the coordinator’s test accuracy and AUC on the same images', async () => {
    const { dir } = await download(`/api/runs/${c.run.id}/model`)
    const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')) as ModelCard
    const before = tf.memory().numTensors
    const model = await tf.loadLayersModel(fileHandler(dir))
    try {
      expect(model.inputs[0]?.shape).toEqual([null, 224, 224, 3])
      expect(model.outputs[0]?.shape).toEqual([null, 2])
      const { pixels, labels } = await heldOut()
      // the card's preprocessing, which is the coordinator's: RGB, bilinear half-pixel resize, x / 127.5 - 1
      const probs = classify(model, pixels, card.preprocessing.inputSize)
      const best = bestRecord()
      // the logit-adjusted head predicts with its round's label mix, as the coordinator measured it
      expect(best.prior).toHaveLength(2)
      expect(card.prior).toEqual(best.prior)
      expect(best.test?.examples).toBe(pixels.length)
      expect(accuracy(probs, labels, 2)).toBeCloseTo(best.test?.accuracy as number, 10)
      expect(rocAuc(probs, labels, 2)).toBeCloseTo(best.test?.auc as number, 4)
      expect(card.test).toEqual(best.test)
      expect(card.validation).toEqual(best.validation)
      expect(card.chosen).toEqual({
        by: 'best-validation',
        metric: 'auc',
        why: `the best validation AUC (${best.validation?.auc?.toFixed(3)}) of the 2 rounds kept`,
      })
    } finally {
      model.dispose()
    }
    expect(tf.memory().numTensors).toBe(before)
  })

  it('comes with a card saying the task, rounds, labels, preprocessing, examples summed, validation and test metrics and privacy settings', async () => {
    const { dir } = await download(`/api/runs/${c.run.id}/model?round=1`)
    const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')) as ModelCard
    const first = records[0] as RoundRecord
    const task = c.run.settings as { aggregation: Record<string, unknown>; backbone: { sha256: string } }
    expect(card).toMatchObject({
      format: 'fedtune-model-card/2',
      task: { id: 'main', name: 'main' },
      run: { id: c.run.id, round: 1, roundsCompleted: 1, roundsPlanned: ROUNDS },
      labels: LABELS,
      preprocessing: { inputSize: 224, channels: 3, scaling: { formula: 'x / 127.5 - 1', range: [-1, 1] } },
      training: { examples: first.examples, contributors: HOSPITALS, labelCounts: first.labelCounts },
      chosen: { by: 'asked', metric: null },
      prior: first.prior,
      validation: first.validation,
      test: first.test,
      privacy: {
        aggregation: 'secure',
        secureAggregation: {
          neighbours: task.aggregation.neighbours,
          threshold: task.aggregation.threshold,
          clipNorm: task.aggregation.clipNorm,
          fixedPoint: task.aggregation.fixedPoint,
        },
        differentialPrivacy: 'none',
      },
      backbone: { name: 'mobilenet_v2_0.35_224', sha256: task.backbone.sha256, embeddingDim: 1280 },
      head: { inputCentre: { on: 'validation', folded: true } },
      fedtuneVersion: '0.1.0',
    })
    // each hospital keeps a share of its 40 images for its own validation: the rest is what it trained on
    expect(first.examples).toBeGreaterThan(HOSPITALS * 30)
    expect(first.examples).toBeLessThanOrEqual(HOSPITALS * 40)
    expect(Date.parse(card.createdAt)).not.toBeNaN()
  })
})

describe('which round a download gives', () => {
  it('the best round by validation when a later one is worse, the round asked for, and the last one when no round has a validation figure', async () => {
    const kept = await c.store.rounds.list<RoundRecord>(c.run.id)
    const [one, two] = kept
    if (one?.headFile == null || two?.headFile == null) throw new Error('expected two kept heads')
    const modelOf = async (run: number, query = '') => {
      const { dir, response } = await download(`/api/runs/${run}/model${query}`)
      return {
        file: response.headers.get('content-disposition'),
        card: JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')) as ModelCard,
        weights: readFileSync(join(dir, 'weights.bin')),
      }
    }
    // a run whose validation peaked at round 1 and fell at round 2: the records say so, as the coordinator keeps them
    // (its folder is the first run's: the input centre the exported model folds in is kept there)
    const folder = (await c.store.runs.get(c.run.id))?.folder
    if (folder == null) throw new Error('expected the first run to have a folder')
    const peaked = await c.store.runs.create({ task: 'main', settings: c.run.settings })
    await c.store.runs.setFolder(peaked.id, folder)
    const best = { round: 1, value: 0.95 }
    await c.store.rounds.commit(peaked.id, { ...one.record, best }, one.headFile)
    await c.store.rounds.commit(peaked.id, { ...two.record, best }, two.headFile)
    const chosen = await modelOf(peaked.id)
    expect(chosen.file).toBe(`attachment; filename="main-run${peaked.id}-round1-model.zip"`)
    expect(chosen.card.run.round).toBe(1)
    expect(chosen.card.chosen).toEqual({
      by: 'best-validation',
      metric: 'auc',
      why: 'the best validation AUC (0.950) of the 2 rounds kept',
    })
    const first = await modelOf(peaked.id, '?round=1')
    const last = await modelOf(peaked.id, '?round=2')
    // the default is round 1's head, byte for byte, not the last round's
    expect(chosen.weights.equals(first.weights)).toBe(true)
    expect(chosen.weights.equals(last.weights)).toBe(false)
    expect(last.card.chosen).toEqual({
      by: 'asked',
      metric: null,
      why: "the round asked for; the best validation AUC is round 1's (0.950)",
    })
    // a run none of whose rounds had a validation figure: its last aggregated round
    const unmeasured = await c.store.runs.create({ task: 'main', settings: c.run.settings })
    await c.store.runs.setFolder(unmeasured.id, folder)
    await c.store.rounds.commit(unmeasured.id, { ...one.record, best: null }, one.headFile)
    await c.store.rounds.commit(unmeasured.id, { ...two.record, best: null }, two.headFile)
    const fallback = await modelOf(unmeasured.id)
    expect(fallback.file).toBe(`attachment; filename="main-run${unmeasured.id}-round2-model.zip"`)
    expect(fallback.card.chosen).toMatchObject({ by: 'last-round', metric: null })
    expect(fallback.weights.equals(last.weights)).toBe(true)
  })
})

describe('a download that has no head to give says why', () => {
  it('an unknown run, a round beyond the run, a failed round, a run with no aggregated round', async () => {
    const unknown = await get('/api/runs/999999/model')
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toEqual({
      error: 'not-found',
      message: 'expected a run of this coordinator, got 999999',
    })
    const beyond = await get(`/api/runs/${c.run.id}/model?round=7`)
    expect(beyond.status).toBe(404)
    expect(((await beyond.json()) as { message: string }).message).toBe(
      `round 7 never ran: run ${c.run.id} is finished after round 2; the run has completed 2 rounds (2 aggregated)`,
    )
    const zero = await get(`/api/runs/${c.run.id}/model?round=0`)
    expect(zero.status).toBe(400)
    expect(((await zero.json()) as { message: string }).message).toMatch(/round 0 is the untrained head/)

    // A second run of the task whose round 1 failed, kept in the store as the coordinator keeps one.
    const run = await c.store.runs.create({ task: 'main', settings: c.run.settings })
    const failed = {
      ...(records[0] as RoundRecord),
      status: 'failed',
      reason: 'only 1 of 3 participants sent an update (need 3)',
      validation: null,
      test: null,
    } as const
    await c.store.rounds.commit(run.id, failed, null)
    for (const path of [`/api/runs/${run.id}/model?round=1`, `/api/runs/${run.id}/rounds/1/head`]) {
      const answer = await get(path)
      expect(answer.status, path).toBe(409)
      expect(await answer.json(), path).toEqual({
        error: 'no-head',
        message: 'round 1 failed: only 1 of 3 participants sent an update (need 3); no head was produced',
      })
    }
    const none = await get(`/api/runs/${run.id}/model`)
    expect(none.status).toBe(409)
    expect(((await none.json()) as { message: string }).message).toBe(
      `run ${run.id} has no aggregated round yet: the run has completed 1 round (0 aggregated), and it is preparing`,
    )
    // round 2 kept, but its head file removed from the run's folder since
    await c.store.rounds.commit(
      run.id,
      { ...(records[1] as RoundRecord) },
      join(work, 'removed', 'round-0002.f32'),
    )
    const gone = await get(`/api/runs/${run.id}/model`)
    expect(gone.status).toBe(410)
    expect(await gone.json()).toEqual({
      error: 'gone',
      message: `run ${run.id}'s head after round 2 was kept in a file that is no longer there; its round's row remains`,
    })
    const notYet = await get(`/api/runs/${run.id}/rounds/3/head`)
    expect(notYet.status).toBe(404)
    expect(((await notYet.json()) as { message: string }).message).toBe(
      'round 3 has not run yet; the run has completed 2 rounds (1 aggregated)',
    )
  })
})

function fedtune(...args: string[]) {
  return fedtuneProcess(args, {
    env: { FEDTUNE_COORDINATOR: c.url, FEDTUNE_TOKEN: viewer.slice('Bearer '.length) },
  })
}

describe('fedtune model export and fedtune predict, as processes', () => {
  it('export writes the folder; predict prints one line per image, names the unreadable one and still predicts the others', async () => {
    const out = join(work, 'exported')
    const exported = await fedtune('model', 'export', '--run', String(c.run.id), '--out', out)
    expect(exported.stderr).toBe('')
    expect(exported.code).toBe(0)
    expect(exported.stdout).toContain(
      `wrote the model of run ${c.run.id} (task main) after round ${bestRecord().round} (the best validation AUC`,
    )
    const { files } = await heldOut()
    const images = files.slice(0, 3).map((f) => f.path)
    const broken = join(work, 'broken.png')
    writeFileSync(broken, 'not a picture')
    const predicted = await fedtune('predict', '--model', out, ...images, broken)
    expect(predicted.code).toBe(1)
    const lines = predicted.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    for (const [i, line] of lines.entries()) {
      const [file, label, probability] = line.split('\t')
      expect(file).toBe(images[i])
      expect(LABELS).toContain(label)
      expect(Number(probability)).toBeGreaterThanOrEqual(0.5)
    }
    expect(predicted.stderr).toContain('backend: wasm')
    expect(predicted.stderr).toContain(`${broken}: expected a PNG, JPEG or DICOM image`)
    expect(predicted.stderr).toContain('3 images predicted by the model of run')

    const json = await fedtune('predict', '--json', '--model', out, join(data, 'test'))
    expect(json.code).toBe(0)
    const answer = JSON.parse(json.stdout) as {
      predictions: { file: string; label: string }[]
      errors: unknown[]
    }
    expect(answer.predictions).toHaveLength(files.length)
    expect(answer.errors).toEqual([])
    const held = bestRecord().test?.accuracy as number
    const right = answer.predictions.filter((p, i) => LABELS.indexOf(p.label) === files[i]?.label).length
    expect(right / files.length).toBeCloseTo(held, 10)
  })
})

describe('fedtune predict refuses a model folder it cannot trust', () => {
  const predict = async (...argv: string[]) => {
    const out: string[] = []
    const err: string[] = []
    const io: CommandIo = {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      stdin: process.stdin,
      env: {},
    }
    const code = await runPredictCommand(argv, io, undefined)
    return { code, stdout: out.join(''), stderr: err.join('') }
  }

  it('a folder without model.json', async () => {
    const { dir } = await download(`/api/runs/${c.run.id}/model`)
    rmSync(join(dir, 'model.json'))
    const { files } = await heldOut()
    const answer = await predict('--model', dir, (files[0] as { path: string }).path)
    expect(answer.code).toBe(1)
    expect(answer.stdout).toBe('')
    expect(answer.stderr).toContain(`${join(dir, 'model.json')}: missing; expected the TF.js model here`)
  })

  it('a card whose labels do not match the model’s output size', async () => {
    const { dir } = await download(`/api/runs/${c.run.id}/model`)
    const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(
      join(dir, 'model-card.json'),
      JSON.stringify({ ...card, labels: ['normal', 'pneumonia', 'covid'] }),
    )
    const { files } = await heldOut()
    const answer = await predict('--model', dir, (files[0] as { path: string }).path)
    expect(answer.code).toBe(1)
    expect(answer.stderr).toContain(
      'the model outputs [[null,2]], but model-card.json names 3 labels (normal, pneumonia, covid)',
    )
  })

  it('a path that does not exist, and no images at all', async () => {
    const { dir } = await download(`/api/runs/${c.run.id}/model`)
    const missing = await predict('--model', dir, join(work, 'nowhere.png'))
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(`${join(work, 'nowhere.png')}: cannot read it (ENOENT)`)
    const empty = join(work, 'empty')
    mkdirSync(empty)
    const none = await predict('--model', dir, empty)
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('no .png, .jpg, .jpeg or .dcm files in')
  })
})

describe('fedtune predict reads a card of the format before', () => {
  it('a model exported before validation and test sets (card format 1, one held-out set) still predicts', async () => {
    const { dir } = await download(`/api/runs/${c.run.id}/model`)
    const {
      chosen: _chosen,
      prior: _prior,
      validation: _validation,
      test,
      ...rest
    } = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')) as ModelCard
    const figures = test && { accuracy: test.accuracy, auc: test.auc, examples: test.examples }
    writeFileSync(
      join(dir, 'model-card.json'),
      JSON.stringify({ ...rest, format: 'fedtune-model-card/1', heldOut: figures }),
    )
    const { files } = await heldOut()
    const out: string[] = []
    const io: CommandIo = { stdout: (t) => void out.push(t), stderr: () => {}, stdin: process.stdin, env: {} }
    expect(
      await runPredictCommand(['--model', dir, (files[0] as { path: string }).path], io, undefined),
    ).toBe(0)
    expect(LABELS).toContain(out.join('').split('\t')[1])
  })
})
