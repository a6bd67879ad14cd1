import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { embed } from '@fedtune/model'
import { decodeImage, initBackend, loadBackbone, readBackboneFolder } from '@fedtune/model/node'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { catJpg, classifierDir, daisyJpg, v2Dir } from './shared.ts'

beforeAll(async () => {
  await initBackend()
})

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex')
const image = async (file: string) => decodeImage(new Uint8Array(await readFile(file)), file)

describe('backbone', () => {
  it('classifies cat.jpg as "Egyptian cat" with the ImageNet MobileNet, so preprocessing and weight loading are right', async () => {
    const backbone = await loadBackbone(classifierDir)
    try {
      const { labels } = JSON.parse(await readFile(path.join(classifierDir, 'metadata.json'), 'utf8')) as {
        labels: string[]
      }
      expect(backbone.inputSize).toBe(224)
      expect(backbone.embeddingDim).toBe(1000)
      const probs = embed(backbone, [await image(catJpg)])
      const top = probs.indexOf(Math.max(...probs))
      expect(labels[top]).toBe('Egyptian cat')
      expect(probs[top]).toBeGreaterThan(0.5)
    } finally {
      backbone.dispose()
    }
  })

  it('pools MobileNetV2-0.35 to a 1280-d embedding and leaks no tensors while embedding', async () => {
    const backbone = await loadBackbone(v2Dir)
    try {
      expect(backbone.embeddingDim).toBe(1280)
      expect(backbone.inputSize).toBe(224)
      expect(backbone.model.outputs[0]?.shape).toEqual([null, 1280])
      const images = [await image(catJpg), await image(daisyJpg)]
      const before = tf.memory().numTensors
      const e = embed(backbone, images)
      expect(tf.memory().numTensors).toBe(before)
      expect(e.length).toBe(2 * 1280)
      // After ReLU and average pooling every feature is non-negative; two different photos differ.
      expect(Math.min(...e)).toBeGreaterThanOrEqual(0)
      expect(e.subarray(0, 1280)).not.toEqual(e.subarray(1280))
      const again = embed(backbone, [images[0] as (typeof images)[0]])
      for (let i = 0; i < 1280; i += 97) expect(again[i]).toBeCloseTo(e[i] as number, 4)
    } finally {
      backbone.dispose()
    }
  })

  it('frees the backbone weights on dispose', async () => {
    const before = tf.memory().numTensors
    const backbone = await loadBackbone(v2Dir)
    expect(tf.memory().numTensors).toBeGreaterThan(before)
    backbone.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('has a digest equal to the SHA-256 of the sha256sum-style listing of model.json then the weight files', async () => {
    const modelJson = await readFile(path.join(classifierDir, 'model.json'))
    const manifest = JSON.parse(modelJson.toString()).weightsManifest as { paths: string[] }[]
    const names = ['model.json', ...manifest.flatMap((g) => g.paths)]
    let listing = ''
    for (const name of names)
      listing += `${sha256(await readFile(path.join(classifierDir, name)))}  ${name}\n`
    const { files, digest } = await readBackboneFolder(classifierDir)
    expect(files.map((f) => f.name)).toEqual(names)
    expect(files[1]?.name).toBe('group1-shard1of1')
    expect(digest).toBe(sha256(listing))
    const sums = await readFile(path.join(v2Dir, '..', 'SHA256SUMS'), 'utf8')
    const v2 = await readBackboneFolder(v2Dir)
    for (const f of v2.files) expect(sums).toContain(`${f.sha256}  mobilenet_v2_0.35_224/${f.name}`)
  })

  it('refuses a backbone whose digest is not the expected one, naming both digests', async () => {
    const { digest } = await readBackboneFolder(v2Dir)
    const wrong = 'ab'.repeat(32)
    const before = tf.memory().numTensors
    const load = loadBackbone(v2Dir, wrong)
    await expect(load).rejects.toThrow(wrong)
    await expect(load).rejects.toThrow(digest)
    expect(tf.memory().numTensors).toBe(before)
  })

  it('names the file that differs when the expected file list is known', async () => {
    const { files, digest } = await readBackboneFolder(v2Dir)
    const expected = files.map((f) => (f.name === 'weights.bin' ? { ...f, sha256: '0'.repeat(64) } : f))
    await expect(loadBackbone(v2Dir, `${digest.slice(0, 63)}0`, expected)).rejects.toThrow(
      /weights\.bin has sha256 [0-9a-f]{64}, expected 0{64}/,
    )
  })
})
