import { type Pixels, preprocess } from '@fedtune/model'
import { initBackend } from '@fedtune/model/node'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'

beforeAll(async () => {
  await initBackend()
})

const constant = (width: number, height: number, channels: 1 | 3 | 4, values: number[]): Pixels => ({
  width,
  height,
  channels,
  data: Uint8Array.from({ length: width * height * channels }, (_, i) => values[i % channels] as number),
})

describe('preprocess', () => {
  it('maps a constant image to the exact values x/127.5 − 1', () => {
    const t = preprocess([constant(4, 4, 3, [0, 255, 51])], 4)
    const values = t.dataSync()
    t.dispose()
    expect(values[0]).toBeCloseTo(-1, 6)
    expect(values[1]).toBeCloseTo(1, 6)
    expect(values[2]).toBeCloseTo(51 / 127.5 - 1, 6)
    expect(values[45]).toBeCloseTo(-1, 6)
  })

  it('repeats a gray image over three equal channels', () => {
    const gray: Pixels = {
      width: 3,
      height: 2,
      channels: 1,
      data: Uint8Array.from([0, 40, 80, 120, 160, 255]),
    }
    const t = preprocess([gray], 3)
    const v = t.dataSync()
    t.dispose()
    for (let i = 0; i < 6; i++) {
      expect(v[i * 3]).toBe(v[i * 3 + 1])
      expect(v[i * 3]).toBe(v[i * 3 + 2])
    }
  })

  it('drops the alpha channel', () => {
    const t = preprocess([constant(2, 2, 4, [255, 0, 255, 0])], 2)
    expect(t.shape).toEqual([1, 2, 2, 3])
    expect([...t.dataSync().subarray(0, 3)]).toEqual([1, -1, 1])
    t.dispose()
  })

  it('resizes a batch of differently sized images to [n, s, s, 3] with values in [-1, 1]', () => {
    const noise = (w: number, h: number, c: 1 | 3): Pixels => ({
      width: w,
      height: h,
      channels: c,
      data: Uint8Array.from({ length: w * h * c }, (_, i) => (i * 97) % 256),
    })
    const before = tf.memory().numTensors
    const t = preprocess([noise(28, 28, 1), noise(50, 30, 3)], 224)
    expect(t.shape).toEqual([2, 224, 224, 3])
    const v = t.dataSync() as Float32Array
    t.dispose()
    expect(tf.memory().numTensors).toBe(before)
    expect(v.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(-1)
    expect(v.reduce((a, b) => Math.max(a, b))).toBeLessThanOrEqual(1)
  })

  it('keeps a constant image constant through the bilinear resize', () => {
    const t = preprocess([constant(28, 28, 1, [102])], 224)
    const v = t.dataSync()
    t.dispose()
    for (const x of [v[0], v[1000], v[v.length - 1]]) expect(x).toBeCloseTo(102 / 127.5 - 1, 5)
  })

  it('refuses pixels whose data does not match width·height·channels', () => {
    expect(() => preprocess([{ width: 2, height: 2, channels: 3, data: new Uint8Array(11) }], 4)).toThrow(
      /expected 12 bytes for 2x2x3, got 11/,
    )
  })
})
