import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RoundRecord } from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import { openStore } from '@fedtune/coordinator/store'
import { centreDataset, classify, type ModelCard, meanEmbedding, predictHead } from '@fedtune/model'
import { embedFolder, loadBackbone } from '@fedtune/model/node'
import type { TaskInfo } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import type { Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiClient } from '../../cli/src/api-client.ts'
import { exportRun } from '../../cli/src/run-export.ts'
import {
  connectTo,
  enrolIn,
  realTaskFile,
  sayHello,
  startMainCoordinator,
  type Target,
  testDatabase,
  testParticipant,
} from '../harness.ts'
import { fileHandler, labelledImages } from '../model-folder.ts'
import { SHARED, splitPneumonia } from '../pneumonia-split.ts'
import { bearerFor } from '../test-store.ts'
import { downloadRunModel, roundHeadAsMeasured } from './run-model.ts'

/**
 * `head.inputCentre`: a private task with a validation set centres its head's inputs on that set's
 * mean embedding. The coordinator computes μ once when its run starts, keeps it in the run's folder,
 * sends it to every participant with the task, measures its heads on centred embeddings, goes on
 * with the same μ after a restart, and exports a model with μ folded into the head, which predicts
 * on raw images what the run's centred head predicts.
 */
const LABELS = ['normal', 'pneumonia']
let work: string
let validation: string

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-centre-'))
  await splitPneumonia(join(work, 'data'), {
    hospitals: 1,
    perHospital: 2,
    testLimit: 4,
    valLimit: 8,
    seed: 5,
  })
  validation = join(work, 'data', 'validation')
}, 120_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

const privateTask = {
  head: { labels: LABELS },
  training: { rounds: 1 },
  participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
  privacy: { unit: 'example', epsilon: 3 },
}

/** The coordinator of `task` over `folder`'s run and cache and `database`: the same each time it is (re)started. */
function coordinatorOf(
  folder: string,
  database: string,
  task: Parameters<typeof startCoordinator>[0]['task'],
  print: (line: string) => void = () => {},
) {
  return startCoordinator({
    task,
    port: 0,
    outDir: join(folder, 'run'),
    database,
    cacheDir: join(folder, 'cache'),
    quiet: true,
    print,
  })
}

/** The task `c` tells a participant in its hello ack. */
async function taskOf(target: Target, participant: string): Promise<TaskInfo> {
  let joined: TaskInfo | undefined
  await sayHello(connectTo(target), {
    participant,
    onJoined: (t) => {
      joined = t
    },
  })
  if (joined === undefined) throw new Error('expected the hello to be answered with the task')
  return joined
}

describe('a private task with a validation set', () => {
  it('sends every participant its validation set’s mean embedding, and exports a model that predicts on raw images what the centred head does', async () => {
    const c = await startMainCoordinator({ ...privateTask, evaluation: { validation } })
    const backbone = await loadBackbone(join(SHARED, 'backbones', 'mobilenet_v2_0.35_224'))
    try {
      const raw = (await embedFolder(backbone, validation, { cacheDir: join(work, 'cache'), labels: LABELS }))
        .dataset
      const mean = meanEmbedding(raw)
      // both participants of its one round get it with the task
      const acks = await Promise.all([testParticipant(c, 'a').joined, testParticipant(c, 'b').joined])
      const [joined, other] = acks.map((ack) => {
        if (!ack.ok) throw new Error(`expected the hello to be accepted, got ${ack.reason}`)
        return ack.task
      }) as [TaskInfo, TaskInfo]
      expect(other.inputCentre).toEqual(joined.inputCentre)
      expect(joined.inputCentre).toHaveLength(backbone.embeddingDim)
      for (const [j, v] of (joined.inputCentre ?? []).entries()) expect(v).toBeCloseTo(mean[j] as number, 4)
      // MobileNet's embeddings share a large mean: that is what centring removes
      expect(Math.hypot(...(joined.inputCentre ?? []))).toBeGreaterThan(5)
      // kept with the run, as sent
      const kept = JSON.parse(readFileSync(join(c.outDir, 'input-centre.json'), 'utf8')) as {
        centre: number[]
      }
      expect(kept.centre).toEqual(joined.inputCentre)
      expect(await c.line(/^input centre:/)).toMatch(/the validation set's mean embedding \(norm \d+\.\d\d\)/)

      // their aggregated round, then its model
      await c.running.host.whenIdle()
      const viewer = await bearerFor(c.store, 'viewer')
      const served = await c.app.inject({
        method: 'GET',
        url: `/api/runs/${c.run.id}/input-centre`,
        headers: viewer,
      })
      expect(served.statusCode).toBe(200)
      expect(served.json()).toEqual({ centre: joined.inputCentre })
      // `fedtune run export` keeps it beside the raw heads, which were trained after it
      const exported = join(work, 'exported')
      await exportRun(
        apiClient({ baseUrl: c.url, token: viewer.authorization.replace(/^Bearer /, '') }),
        c.run.id,
        exported,
        { force: false },
      )
      expect(JSON.parse(readFileSync(join(exported, 'input-centre.json'), 'utf8'))).toEqual({
        centre: joined.inputCentre,
      })
      const record = c.records.find((r) => r.round === 1 && r.status === 'aggregated') as RoundRecord
      expect(record).toBeDefined()
      const dir = await downloadRunModel(c, 1, join(work, 'model'))
      const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')) as ModelCard
      expect(card.head.inputCentre).toMatchObject({ on: 'validation', folded: true })
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(
        "the head was trained on embeddings centred on the validation set's mean embedding",
      )

      // the run's own head on centred embeddings, its round's prior folded in as the coordinator measures it
      const spec = { layers: [], labels: LABELS }
      const dim = backbone.embeddingDim
      const weights = roundHeadAsMeasured(c, record, spec, dim)
      const centred = centreDataset(raw, Float32Array.from(joined.inputCentre ?? []))
      const want = predictHead(spec, dim, weights, centred.x, centred.n)
      // the exported model on the raw images, with no extra step
      const { pixels, labels } = await labelledImages(validation, LABELS)
      expect([...labels]).toEqual([...raw.y])
      const model = await tf.loadLayersModel(fileHandler(dir))
      try {
        const got = classify(model, pixels, card.preprocessing.inputSize)
        expect(got).toHaveLength(want.length)
        for (const [i, p] of got.entries()) expect(p).toBeCloseTo(want[i] as number, 4)
      } finally {
        model.dispose()
      }
    } finally {
      backbone.dispose()
      await c.close()
    }
  }, 120_000)

  it('says no centre (null) when it asks for none, and without privacy by default', async () => {
    for (const file of [
      { ...privateTask, head: { labels: LABELS, inputCentre: 'none' }, evaluation: { validation } },
      { head: { labels: LABELS }, evaluation: { validation } },
    ]) {
      const c = await startMainCoordinator(file)
      try {
        expect((await taskOf(c, 'hospital-x')).inputCentre).toBeNull()
        expect(readdirSync(c.outDir)).not.toContain('input-centre.json')
        const served = await c.app.inject({
          method: 'GET',
          url: `/api/runs/${c.run.id}/input-centre`,
          headers: await bearerFor(c.store, 'viewer'),
        })
        expect(served.statusCode).toBe(404)
        expect(served.json().message).toBe(
          `run ${c.run.id} has no input centre (its head sees the embeddings as they are)`,
        )
      } finally {
        await c.close()
      }
    }
  }, 120_000)
})

describe('a restarted coordinator', () => {
  it('goes on with the centre its run started with, even when the validation set changed, and says so', async () => {
    const folder = mkdtempSync(join(work, 'restart-'))
    const task = await realTaskFile('centred', { ...privateTask, evaluation: { validation } }, folder)
    const database = await testDatabase()
    const sockets: Socket[] = []
    const start = (lines: string[]) => coordinatorOf(folder, database, task, (line) => void lines.push(line))
    const target = (c: Awaited<ReturnType<typeof start>>): Target => ({
      url: c.url,
      sockets,
      enrol: (name, kind, key) => enrolIn(c.store, 'centred', name, kind, key),
    })
    const first = await start([])
    let before: TaskInfo
    try {
      before = await taskOf(target(first), 'h')
    } finally {
      for (const s of sockets.splice(0)) s.disconnect()
      await first.close()
    }
    // one validation image fewer: its mean moves, the run's centre does not
    const label = join(validation, 'normal')
    const gone = readdirSync(label).sort()[0] as string
    rmSync(join(label, gone))
    const lines: string[] = []
    const again = await start(lines)
    try {
      const after = await taskOf(target(again), 'h')
      expect(after.inputCentre).toEqual(before.inputCentre)
      expect(lines.some((l) => /mean embedding differs from the one this run started with/.test(l))).toBe(
        true,
      )
    } finally {
      for (const s of sockets.splice(0)) s.disconnect()
      await again.close()
    }
  }, 120_000)
})

describe('a run kept before head.inputCentre existed', () => {
  it('carries on uncentred under a task file saying "none", and is another setting under one asking for the validation mean', async () => {
    const folder = mkdtempSync(join(work, 'older-'))
    const centred = await realTaskFile('older', { ...privateTask, evaluation: { validation } }, folder)
    const uncentred = { ...centred, head: { ...centred.head, inputCentre: 'none' as const } }
    const database = await testDatabase()
    const store = await openStore(database)
    let runId: number
    try {
      // the settings as an older coordinator kept them: no head.inputCentre
      const { inputCentre: _, ...oldHead } = centred.head
      const settings = JSON.parse(JSON.stringify({ ...centred, head: oldHead }))
      await store.tasks.submit({ name: 'older', file: settings, submittedBy: 'test' })
      runId = (await store.runs.create({ task: 'older', settings })).id
    } finally {
      await store.close()
    }
    const start = (task: typeof centred) => coordinatorOf(folder, database, task)
    await expect(start(centred)).rejects.toThrow(
      new RegExp(
        `^task "older" has an unfinished run \\(${runId}\\) with other settings than this task file \\(head`,
      ),
    )
    const c = await start(uncentred)
    const sockets: Socket[] = []
    try {
      expect(c.run.id).toBe(runId)
      const joined = await taskOf(
        { url: c.url, sockets, enrol: (name, kind, key) => enrolIn(c.store, 'older', name, kind, key) },
        'h',
      )
      expect(joined.inputCentre).toBeNull()
    } finally {
      for (const s of sockets.splice(0)) s.disconnect()
      await c.close()
    }
  }, 120_000)
})

describe('a task with several views', () => {
  it('embeds its validation set in those views: the centre it sends is the mean of the view-averaged embeddings', async () => {
    const views = ['original', 'horizontal-flip'] as const
    const c = await startMainCoordinator({
      backbone: { views },
      head: { labels: LABELS, inputCentre: 'validation' },
      evaluation: { validation },
    })
    const backbone = await loadBackbone(join(SHARED, 'backbones', 'mobilenet_v2_0.35_224'))
    try {
      const cacheDir = join(work, 'cache-views')
      const averaged = (await embedFolder(backbone, validation, { cacheDir, labels: LABELS, views })).dataset
      const original = (await embedFolder(backbone, validation, { cacheDir, labels: LABELS })).dataset
      const joined = await taskOf(c, 'hospital-v')
      expect(joined.backbone.views).toEqual(views)
      const centre = joined.inputCentre ?? []
      expect(centre).toHaveLength(backbone.embeddingDim)
      for (const [j, v] of meanEmbedding(averaged).entries()) expect(centre[j]).toBeCloseTo(v, 4)
      const fromOriginal = meanEmbedding(original)
      expect(Math.max(...centre.map((v, j) => Math.abs(v - (fromOriginal[j] as number))))).toBeGreaterThan(
        1e-3,
      )
      expect(await c.line(/^each image is embedded in/)).toBe(
        'each image is embedded in 2 views (original, horizontal-flip): 2 backbone passes per image, averaged into one embedding',
      )
    } finally {
      backbone.dispose()
      await c.close()
    }
  }, 120_000)
})

describe('a run kept before backbone.views existed', () => {
  it('carries on under a task file with the default views, and tells its participants the original alone', async () => {
    const folder = mkdtempSync(join(work, 'viewless-'))
    const task = await realTaskFile('viewless', { head: { labels: LABELS } }, folder)
    expect(task.backbone.views).toEqual(['original'])
    const database = await testDatabase()
    const store = await openStore(database)
    let runId: number
    try {
      // the settings as an older coordinator kept them: no backbone.views
      const { views: _, ...oldBackbone } = task.backbone
      const settings = JSON.parse(JSON.stringify({ ...task, backbone: oldBackbone }))
      await store.tasks.submit({ name: 'viewless', file: settings, submittedBy: 'test' })
      runId = (await store.runs.create({ task: 'viewless', settings })).id
    } finally {
      await store.close()
    }
    const c = await coordinatorOf(folder, database, task)
    const sockets: Socket[] = []
    try {
      expect(c.run.id).toBe(runId)
      const joined = await taskOf(
        { url: c.url, sockets, enrol: (name, kind, key) => enrolIn(c.store, 'viewless', name, kind, key) },
        'h',
      )
      expect(joined.backbone.views).toEqual(['original'])
    } finally {
      for (const s of sockets.splice(0)) s.disconnect()
      await c.close()
    }
  }, 120_000)
})
