import { readFileSync } from 'node:fs'
import { storedZip } from '@fedtune/coordinator/zip-store'
import {
  classify,
  composeModel,
  disposeModel,
  embed,
  headlineFigures,
  initHead,
  MODEL_CARD_FORMAT,
  MODEL_CARD_FORMAT_1,
  type ModelCard,
  type ModelCardV1,
  type ModelFiles,
  modelFiles,
  parseModelCard,
  predictHead,
  preprocessingFor,
  viewOf,
  WEIGHTS_FILE,
} from '@fedtune/model'
import { decodeImage, initBackend, loadBackbone } from '@fedtune/model/node'
import { type HeadSpec, IMAGE_VIEWS } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { readZip } from '../../cli/src/data/zip.ts'
import { clinical } from '../clinical-fixture.ts'
import { catJpg, daisyJpg, v2Dir } from './shared.ts'

/**
 * The whole model (issue 13, item 2): the frozen backbone and a head as one TF.js layers model gives
 * what the coordinator's two steps give (embed, then predictHead), survives saving and loading, and
 * owns every tensor it makes.
 */
beforeAll(async () => {
  await initBackend()
})

const spec: HeadSpec = {
  layers: [
    { type: 'dense', units: 16, activation: 'relu' },
    { type: 'dropout', rate: 0.3 },
  ],
  labels: ['cat', 'daisy', 'other'],
}
const images = () => Promise.all([catJpg, daisyJpg].map((f) => decodeImage(readFileSync(f), f)))

describe('composeModel', () => {
  it('gives the probabilities of embed then predictHead, through model.json and weights.bin and back', async () => {
    const before = tf.memory().numTensors
    const backbone = await loadBackbone(v2Dir)
    const weights = initHead(spec, backbone.embeddingDim, 11)
    const twoSteps = predictHead(spec, backbone.embeddingDim, weights, embed(backbone, await images()), 2)
    const model = composeModel(backbone, spec, weights)
    const files = await modelFiles(model)
    model.dispose()
    expect(tf.memory().numTensors).toBe(before)

    expect(files.modelJson.weightsManifest).toEqual([{ paths: [WEIGHTS_FILE], weights: expect.any(Array) }])
    const names = files.modelJson.weightsManifest[0]?.weights.map((w) => w.name) ?? []
    expect(names.filter((n) => n.startsWith('head_'))).toEqual([
      'head_dense0/kernel',
      'head_dense0/bias',
      'head_output/kernel',
      'head_output/bias',
    ])
    const loaded = await reloaded(files)
    const whole = classify(loaded, await images(), 224)
    loaded.dispose()
    expect(tf.memory().numTensors).toBe(before)
    expect(whole).toHaveLength(6)
    for (const [i, p] of whole.entries()) expect(p).toBeCloseTo(twoSteps[i] as number, 5)
  })

  it.each([
    ['the four flips', IMAGE_VIEWS.slice(0, 4)],
    ['all eight views', IMAGE_VIEWS],
  ])(
    "with %s, the head reads the mean of the views' embeddings: one flat model of standard layers, through model.json and back, gives predictHead on embed(…, views)",
    async (_, views) => {
      const before = tf.memory().numTensors
      const backbone = await loadBackbone(v2Dir)
      const weights = initHead(spec, backbone.embeddingDim, 11)
      const embeddings = embed(backbone, await images(), views)
      // the views change the embedding: a model of the original alone would not pass this test
      expect(embeddings).not.toEqual(embed(backbone, await images()))
      const twoSteps = predictHead(spec, backbone.embeddingDim, weights, embeddings, 2)
      const model = composeModel(backbone, spec, weights, views)
      const files = await modelFiles(model)
      disposeModel(model)
      expect(tf.memory().numTensors).toBe(before)

      const topology = files.modelJson.modelTopology as {
        config: { layers: { class_name: string; name: string; inbound_nodes: unknown[] }[] }
      }
      const layers = topology.config.layers
      // flat: no nested model; the backbone's layers are called once per view (one inbound node each)
      expect(layers.filter((l) => l.class_name === 'Model' || l.class_name === 'Functional')).toEqual([])
      const conv = layers.find((l) => l.class_name === 'Conv2D')
      expect(conv?.inbound_nodes).toHaveLength(views.length)
      expect(layers.find((l) => l.name === 'view_mean')?.class_name).toBe('Average')
      // one frozen reversal kernel (s×s) beside the backbone's and the head's weights
      const names = files.modelJson.weightsManifest[0]?.weights.map((w) => w.name) ?? []
      expect(names.filter((n) => n.startsWith('view_'))).toEqual(['view_reverse/kernel'])

      const loaded = await reloaded(files)
      const whole = classify(loaded, await images(), 224)
      disposeModel(loaded)
      expect(tf.memory().numTensors).toBe(before)
      expect(whole).toHaveLength(6)
      for (const [i, p] of whole.entries()) expect(Math.abs(p - (twoSteps[i] as number))).toBeLessThan(1e-4)
    },
  )

  it('a flip in the model is exact: the view layers give tf.reverse of the input, bit for bit', async () => {
    const backbone = await loadBackbone(v2Dir)
    const model = composeModel(backbone, spec, initHead(spec, backbone.embeddingDim, 11), [
      'original',
      'rotate-180',
    ])
    try {
      const input = model.inputs[0] as tf.SymbolicTensor
      const flipped = model.getLayer('view_permute3').output as tf.SymbolicTensor
      const views = tf.model({ inputs: input, outputs: flipped })
      tf.tidy(() => {
        const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 5)
        const got = views.predict(x) as tf.Tensor
        expect(got.dataSync()).toEqual(tf.reverse(x, [1, 2]).dataSync())
      })
    } finally {
      disposeModel(model)
    }
  })

  it('a transpose, a quarter turn or the other diagonal in the model is exact: the view layers give viewOf of the input, bit for bit', async () => {
    // each view's last layer: a transpose is one Permute, each flip of it two more
    for (const [view, last] of [
      ['transpose', 'view_permute0'],
      ['rotate-90', 'view_permute2'],
      ['rotate-270', 'view_permute2'],
      ['transverse', 'view_permute4'],
    ] as const) {
      const backbone = await loadBackbone(v2Dir)
      const model = composeModel(backbone, spec, initHead(spec, backbone.embeddingDim, 11), [
        'original',
        view,
      ])
      try {
        const input = model.inputs[0] as tf.SymbolicTensor
        const turned = model.getLayer(last).output as tf.SymbolicTensor
        const views = tf.model({ inputs: input, outputs: turned })
        tf.tidy(() => {
          const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 7) as tf.Tensor4D
          const got = views.predict(x) as tf.Tensor
          expect(got.dataSync(), view).toEqual(viewOf(x, view).dataSync())
        })
      } finally {
        disposeModel(model)
      }
    }
  })

  it('refuses head weights of the wrong length, and leaves the backbone to its owner', async () => {
    const backbone = await loadBackbone(v2Dir)
    try {
      expect(() => composeModel(backbone, spec, new Float32Array(10))).toThrow(
        /head: expected \d+ weights for this head on 1280-d inputs, got 10/,
      )
    } finally {
      backbone.dispose()
    }
  })
})

describe('storedZip', () => {
  it('writes an archive the CLI’s zip reader reads back, file for file, CRC-checked', () => {
    const files = [
      { name: 'model.json', bytes: new TextEncoder().encode('{"a":1}') },
      { name: 'weights.bin', bytes: Uint8Array.from({ length: 1000 }, (_, i) => i % 251) },
      { name: 'empty', bytes: new Uint8Array(0) },
    ]
    const read = readZip(storedZip(files), 'the archive')
    expect([...read.keys()]).toEqual(['model.json', 'weights.bin', 'empty'])
    for (const f of files) expect(read.get(f.name)).toEqual(f.bytes)
    expect(storedZip(files)).toEqual(storedZip(files))
  })
})

describe('parseModelCard', () => {
  const card = { format: MODEL_CARD_FORMAT, labels: ['a', 'b'], preprocessing: preprocessingFor(224) }

  it('takes a card with its format, labels and preprocessing', () => {
    expect(MODEL_CARD_FORMAT).toBe('fedtune-model-card/2')
    expect(parseModelCard(card, 'card.json').labels).toEqual(['a', 'b'])
  })

  it('still reads a card of format 1 (a model exported before validation and test sets): predict needs only its labels and preprocessing', () => {
    const old = { ...card, format: MODEL_CARD_FORMAT_1, heldOut: { accuracy: 0.8, auc: 0.9, examples: 50 } }
    expect(MODEL_CARD_FORMAT_1).toBe('fedtune-model-card/1')
    expect(parseModelCard(old, 'card.json')).toMatchObject({
      format: MODEL_CARD_FORMAT_1,
      labels: ['a', 'b'],
    })
  })

  it('names the field, what it expected and what it found', () => {
    expect(() => parseModelCard([], 'card.json')).toThrow(
      'card.json: the card: expected a JSON object, got []',
    )
    expect(() => parseModelCard({ ...card, format: 'other/2' }, 'card.json')).toThrow(
      'card.json: format: expected "fedtune-model-card/2" or "fedtune-model-card/1", got "other/2"',
    )
    expect(() => parseModelCard({ ...card, labels: ['a', 'a'] }, 'card.json')).toThrow(
      'card.json: labels: expected at least two distinct non-empty class names, got ["a","a"]',
    )
    expect(() =>
      parseModelCard({ ...card, preprocessing: { ...card.preprocessing, inputSize: 0 } }, 'card.json'),
    ).toThrow('card.json: preprocessing.inputSize: expected an integer from 1 to 4096, got 0')
    expect(() => parseModelCard({ ...card, preprocessing: undefined }, 'card.json')).toThrow(
      'card.json: preprocessing: expected an object, got nothing',
    )
  })
})

describe('headlineFigures', () => {
  // only the fields it reads: the rest of a card does not bear on its figures
  const v2 = (sets: Pick<ModelCard, 'validation' | 'test'>) =>
    ({ format: MODEL_CARD_FORMAT, ...sets }) as ModelCard
  const v1 = (heldOut: ModelCardV1['heldOut']) => ({ format: MODEL_CARD_FORMAT_1, heldOut }) as ModelCardV1

  it("gives a card's test figures, else its validation figures, else none", () => {
    expect(
      headlineFigures(v2({ validation: clinical(0.7, 0.8, 20), test: clinical(0.75, null, 40) })),
    ).toEqual({
      set: 'test',
      accuracy: 0.75,
      auc: null,
      examples: 40,
    })
    expect(headlineFigures(v2({ validation: clinical(0.7, 0.8, 20), test: null }))).toEqual({
      set: 'validation',
      accuracy: 0.7,
      auc: 0.8,
      examples: 20,
    })
    expect(headlineFigures(v2({ validation: null, test: null }))).toBeNull()
  })

  it('gives a format 1 card its held-out figures', () => {
    expect(headlineFigures(v1({ accuracy: 0.8, auc: 0.9, examples: 50 }))).toEqual({
      set: 'held-out',
      accuracy: 0.8,
      auc: 0.9,
      examples: 50,
    })
    expect(headlineFigures(v1(null))).toBeNull()
  })
})

/** The model files read back as a user would, with `tf.loadLayersModel`. */
function reloaded(files: ModelFiles): Promise<tf.LayersModel> {
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology,
      weightSpecs: files.modelJson.weightsManifest[0]?.weights,
      weightData: files.weights.slice().buffer,
    }),
  )
}
