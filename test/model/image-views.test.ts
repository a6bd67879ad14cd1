import { type Backbone, embed, type Pixels } from '@fedtune/model'
import { initBackend, loadBackbone } from '@fedtune/model/node'
import { IMAGE_VIEWS } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { v2Dir } from './shared.ts'

/**
 * `embed(backbone, images, views)`: the head's input is the mean of the backbone's embeddings of each
 * view of an image. The image is the backbone's input size, so the views act on the very pixels.
 */
let backbone: Backbone

beforeAll(async () => {
  await initBackend()
  backbone = await loadBackbone(v2Dir)
}, 60_000)

afterAll(() => backbone?.dispose())

/** A 224×224 RGB image with no symmetry: its mirror images are other images. */
function lopsided(size = 224): Pixels {
  const data = new Uint8Array(size * size * 3)
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3
      data[i] = (x * 7 + y * 3) % 256
      data[i + 1] = x < size / 3 && y < size / 2 ? 230 : 20
      data[i + 2] = (x * y) % 199
    }
  return { width: size, height: size, channels: 3, data }
}

/** `p` mirrored left–right (`flipX`), upside down (`flipY`), or both. */
function flipped(p: Pixels, flipX: boolean, flipY: boolean): Pixels {
  const data = new Uint8Array(p.data.length)
  for (let y = 0; y < p.height; y++)
    for (let x = 0; x < p.width; x++) {
      const from = ((flipY ? p.height - 1 - y : y) * p.width + (flipX ? p.width - 1 - x : x)) * p.channels
      data.set(p.data.subarray(from, from + p.channels), (y * p.width + x) * p.channels)
    }
  return { ...p, data }
}

/** Square `p` with its pixels moved: the pixel at (x, y) is the source's at `from(x, y)`. */
function moved(p: Pixels, from: (x: number, y: number) => readonly [number, number]): Pixels {
  const data = new Uint8Array(p.data.length)
  for (let y = 0; y < p.height; y++)
    for (let x = 0; x < p.width; x++) {
      const [sx, sy] = from(x, y)
      const at = (sy * p.width + sx) * p.channels
      data.set(p.data.subarray(at, at + p.channels), (y * p.width + x) * p.channels)
    }
  return { ...p, data }
}

const LAST = 223
/** The transpose's four views, written as where each pixel comes from. */
const TURNS = [
  ['transpose', (x: number, y: number) => [y, x] as const],
  ['rotate-90', (x: number, y: number) => [y, LAST - x] as const],
  ['rotate-270', (x: number, y: number) => [LAST - y, x] as const],
  ['transverse', (x: number, y: number) => [LAST - y, LAST - x] as const],
] as const

const maxDifference = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0)

describe('embedding an image in several views', () => {
  it('gives an image and its mirror image the very same embedding with the original and horizontal-flip views, unlike the original alone', () => {
    const image = lopsided()
    const mirror = flipped(image, true, false)
    const views = ['original', 'horizontal-flip'] as const
    const both = embed(backbone, [image], views)
    // the same two embeddings, added in the other order: float addition is commutative
    expect(embed(backbone, [mirror], views)).toEqual(both)
    expect(both).toHaveLength(backbone.embeddingDim)
    const original = embed(backbone, [image])
    expect(maxDifference(original, both)).toBeGreaterThan(1e-3)
    expect(maxDifference(original, embed(backbone, [mirror]))).toBeGreaterThan(1e-3)
  }, 60_000)

  it('is the mean of the embeddings of each view', () => {
    const image = lopsided()
    const original = embed(backbone, [image])
    const mirrored = embed(backbone, [flipped(image, true, false)])
    const both = embed(backbone, [image], ['original', 'horizontal-flip'])
    for (const [j, v] of both.entries())
      expect(v).toBeCloseTo(((original[j] as number) + (mirrored[j] as number)) / 2, 5)
  }, 60_000)

  it('turns an image a quarter turn clockwise (rotate-90) or anticlockwise (rotate-270), or mirrors it in its diagonal (transpose) or the other one (transverse): each view embeds as the image so moved, pixel by pixel', () => {
    const image = lopsided()
    const top = moved(image, TURNS[1][1])
    // clockwise: the top-left corner goes to the top right
    expect(Array.from(top.data.subarray(LAST * 3, LAST * 3 + 3))).toEqual(
      Array.from(image.data.subarray(0, 3)),
    )
    for (const [view, from] of TURNS)
      expect(embed(backbone, [image], [view]), view).toEqual(embed(backbone, [moved(image, from)]))
  }, 60_000)

  it('gives the same embedding, up to rounding, to every turn and mirror image of an image when all eight views are averaged', () => {
    const image = lopsided()
    const all = embed(backbone, [image], IMAGE_VIEWS)
    const scale = Math.max(...all.map(Math.abs))
    const others = [
      flipped(image, true, false),
      flipped(image, false, true),
      flipped(image, true, true),
      ...TURNS.map(([, from]) => moved(image, from)),
    ]
    for (const other of others)
      expect(maxDifference(all, embed(backbone, [other], IMAGE_VIEWS))).toBeLessThan(1e-5 * scale)
    // the four flips alone are not enough for a quarter turn
    const four = IMAGE_VIEWS.slice(0, 4)
    const turned = moved(image, TURNS[1][1])
    expect(maxDifference(embed(backbone, [image], four), embed(backbone, [turned], four))).toBeGreaterThan(
      1e-3,
    )
  }, 60_000)

  it('gives the same embedding, up to rounding, to an image mirrored either way or turned a half turn when all four views are averaged', () => {
    const image = lopsided()
    const four = IMAGE_VIEWS.slice(0, 4)
    const all = embed(backbone, [image], four)
    const scale = Math.max(...all.map(Math.abs))
    for (const [flipX, flipY] of [
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      // the same four embeddings, summed in another order: equal up to float rounding
      const other = embed(backbone, [flipped(image, flipX, flipY)], four)
      expect(maxDifference(all, other)).toBeLessThan(1e-5 * scale)
    }
    expect(maxDifference(all, embed(backbone, [image]))).toBeGreaterThan(1e-3)
  }, 60_000)

  it('embeds a batch in several views leaking no tensors, each image as it would be alone', () => {
    const images = [lopsided(), flipped(lopsided(), false, true)]
    const before = tf.memory().numTensors
    const batch = embed(backbone, images, IMAGE_VIEWS)
    expect(tf.memory().numTensors).toBe(before)
    const dim = backbone.embeddingDim
    const alone = embed(backbone, [images[1] as Pixels], IMAGE_VIEWS)
    expect(maxDifference(batch.subarray(dim), alone)).toBeLessThan(1e-4)
  }, 60_000)

  it('refuses an empty list of views', () => {
    expect(() => embed(backbone, [lopsided()], [])).toThrow('embed: expected at least one view')
  })
})
