import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RoundRecord } from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import {
  cardViews,
  classify,
  disposeModel,
  embed,
  type ModelCard,
  parseModelCard,
  predictHead,
} from '@fedtune/model'
import { decodeImage, loadBackbone } from '@fedtune/model/node'
import type { ImageView } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import type { Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enrolIn, realTaskFile, type Target, testDatabase, testParticipant } from '../harness.ts'
import { catJpg, daisyJpg, v2Dir } from '../model/shared.ts'
import { fileHandler } from '../model-folder.ts'
import { downloadRunModel, roundHeadAsMeasured } from './run-model.ts'

/**
 * `backbone.views` in the exported model: GET /api/runs/:id/model of a task that averages an
 * image's views gives one layers model that computes every view itself, so a user's
 * `tf.loadLayersModel` predicts on images as they are what the run's head predicts on the mean of
 * the views' embeddings; its card names the views.
 */
const LABELS = ['cat', 'daisy']
const VIEWS: readonly ImageView[] = ['original', 'horizontal-flip', 'vertical-flip', 'rotate-180']
let work: string

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-model-views-'))
})

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('the model of a task with views', () => {
  it('predicts on raw images what its head predicts on the mean of the views’ embeddings, and its card names the views', async () => {
    const file = await realTaskFile(
      'views',
      {
        head: { labels: LABELS },
        participation: { minParticipants: 2, participantsPerRound: 2, gatherSeconds: 0 },
      },
      work,
    )
    const task = { ...file, backbone: { ...file.backbone, views: VIEWS } }
    const c = await startCoordinator({
      task,
      port: 0,
      outDir: join(work, 'run'),
      database: await testDatabase(),
      cacheDir: join(work, 'cache'),
      quiet: true,
      print: () => {},
    })
    const sockets: Socket[] = []
    const target: Target = {
      url: c.url,
      sockets,
      enrol: (name, kind, key) => enrolIn(c.store, 'views', name, kind, key),
    }
    const backbone = await loadBackbone(v2Dir)
    try {
      const acks = await Promise.all([
        testParticipant(target, 'a').joined,
        testParticipant(target, 'b').joined,
      ])
      for (const ack of acks) expect(ack.ok && ack.task.backbone.views).toEqual(VIEWS)
      await c.host.whenIdle()
      const record = c.records.find((r) => r.round === 1 && r.status === 'aggregated') as RoundRecord
      expect(record).toBeDefined()
      const dir = await downloadRunModel(c, 1, join(work, 'model'))
      const card = parseModelCard(
        JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')),
        'model-card.json',
      ) as ModelCard
      expect(card.backbone.views).toEqual(VIEWS)
      expect(cardViews(card)).toEqual(VIEWS)
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(
        "- Views: the head reads the mean of the backbone's embeddings of original, horizontal-flip, vertical-flip, rotate-180 of each image; the model computes every view itself",
      )

      // the run's head, its round's prior folded in as the export does, on embed(…, views)
      const spec = { layers: [], labels: LABELS }
      const dim = backbone.embeddingDim
      const weights = roundHeadAsMeasured(c, record, spec, dim)
      const pixels = await Promise.all([catJpg, daisyJpg].map((f) => decodeImage(readFileSync(f), f)))
      const want = predictHead(spec, dim, weights, embed(backbone, pixels, VIEWS), pixels.length)
      // a model of the original alone would predict otherwise
      const original = predictHead(spec, dim, weights, embed(backbone, pixels), pixels.length)
      expect(Math.max(...want.map((p, i) => Math.abs(p - (original[i] as number))))).toBeGreaterThan(1e-3)

      const before = tf.memory().numTensors
      const model = await tf.loadLayersModel(fileHandler(dir))
      try {
        const got = classify(model, pixels, card.preprocessing.inputSize)
        expect(got).toHaveLength(want.length)
        for (const [i, p] of got.entries()) expect(Math.abs(p - (want[i] as number))).toBeLessThan(1e-4)
      } finally {
        disposeModel(model)
      }
      expect(tf.memory().numTensors).toBe(before)
    } finally {
      backbone.dispose()
      for (const s of sockets) s.disconnect()
      await c.close()
    }
  }, 120_000)
})
