import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DataError, readMedmnist, readNpz } from '../../cli/src/data/index.ts'
import { buildNpy, buildZip } from './zip-fixture.ts'

const datasets = new URL('../../../shared/datasets/', import.meta.url)
const pneumonia = readFileSync(new URL('pneumoniamnist.npz', datasets))

function countLabels(labels: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (const label of labels) counts[label] = (counts[label] ?? 0) + 1
  return counts
}

function refusal(run: () => unknown): DataError {
  try {
    run()
  } catch (error) {
    if (error instanceof DataError) return error
    throw error
  }
  throw new Error('expected a DataError, but nothing was thrown')
}

describe('reading MedMNIST', () => {
  it('PneumoniaMNIST has the documented arrays, shapes and uint8 dtype', () => {
    const arrays = readNpz(pneumonia, 'pneumoniamnist.npz')
    expect([...arrays.keys()].sort()).toEqual([
      'test_images',
      'test_labels',
      'train_images',
      'train_labels',
      'val_images',
      'val_labels',
    ])
    expect(arrays.get('train_images')?.shape).toEqual([4708, 28, 28])
    expect(arrays.get('train_labels')?.shape).toEqual([4708, 1])
    expect(arrays.get('val_images')?.shape).toEqual([524, 28, 28])
    expect(arrays.get('test_images')?.shape).toEqual([624, 28, 28])
    expect(arrays.get('test_images')?.dtype).toBe('uint8')
    expect(arrays.get('test_images')?.data.length).toBe(624 * 28 * 28)
  })

  it('PneumoniaMNIST splits into 4708 / 524 / 624 grayscale images with 234 normal and 390 pneumonia in test', () => {
    const data = readMedmnist(pneumonia, 'pneumoniamnist')
    expect(data.classes).toEqual(['normal', 'pneumonia'])
    expect(data.splits.train.count).toBe(4708)
    expect(data.splits.val.count).toBe(524)
    expect(data.splits.test.count).toBe(624)
    expect(data.splits.train).toMatchObject({ height: 28, width: 28, channels: 1 })
    expect(countLabels(data.splits.test.labels, 2)).toEqual([234, 390])
    // The majority-class baseline in README.md: 390 / 624 = 62.5 %.
    expect(390 / data.splits.test.count).toBeCloseTo(0.625, 3)
  })

  it('RetinaMNIST is RGB with five grades and BreastMNIST has its two named classes', () => {
    const retina = readMedmnist(readFileSync(new URL('retinamnist.npz', datasets)), 'retinamnist')
    expect(retina.classes).toEqual(['grade-0', 'grade-1', 'grade-2', 'grade-3', 'grade-4'])
    expect(retina.splits.train).toMatchObject({ count: 1080, channels: 3, height: 28, width: 28 })
    expect(retina.splits.test.images.length).toBe(400 * 28 * 28 * 3)
    const breast = readMedmnist(readFileSync(new URL('breastmnist.npz', datasets)), 'breastmnist')
    expect(breast.classes).toEqual(['malignant', 'normal-or-benign'])
    expect([breast.splits.train.count, breast.splits.val.count, breast.splits.test.count]).toEqual([
      546, 78, 156,
    ])
  })

  it('an unknown data set names its classes class-<label>', () => {
    const npz = buildZip([
      ...['train', 'val', 'test'].flatMap((split) => [
        { name: `${split}_images.npy`, method: 8 as const, data: buildNpy([2, 2, 2], new Uint8Array(8)) },
        { name: `${split}_labels.npy`, method: 8 as const, data: buildNpy([2, 1], Uint8Array.of(0, 2)) },
      ]),
    ])
    expect(readMedmnist(npz, 'organamnist').classes).toEqual(['class-0', 'class-1', 'class-2'])
  })

  it('a data set without a val split is refused with the arrays it does have', () => {
    const npz = buildZip([
      { name: 'train_images.npy', method: 0, data: buildNpy([1, 1, 1], new Uint8Array(1)) },
      { name: 'train_labels.npy', method: 0, data: buildNpy([1, 1], new Uint8Array(1)) },
    ])
    const error = refusal(() => readMedmnist(npz, 'tiny'))
    expect(error.code).toBe('bad-dataset')
    expect(error.message).toMatch(/expected arrays val_images and val_labels, got train_images, train_labels/)
  })
})

describe('reading zip and npy', () => {
  const pixels = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 37) % 256)
  const labels = Uint8Array.of(1, 0, 1)

  it('a zip with one stored and one deflated entry parses to the same bytes', () => {
    const npz = buildZip([
      { name: 'images.npy', method: 0, data: buildNpy([3, 4, 5], pixels) },
      { name: 'labels.npy', method: 8, data: buildNpy([3, 1], labels) },
    ])
    const arrays = readNpz(npz, 'fixture.npz')
    expect(arrays.get('images')).toEqual({ dtype: 'uint8', shape: [3, 4, 5], data: pixels })
    expect(arrays.get('labels')?.shape).toEqual([3, 1])
    expect([...(arrays.get('labels')?.data ?? [])]).toEqual([1, 0, 1])
  })

  it('a corrupted byte is caught by the CRC-32 check, naming the entry', () => {
    const npz = buildZip([{ name: 'images.npy', method: 0, data: buildNpy([3, 4, 5], pixels) }])
    const pixel = 30 + 'images.npy'.length + 128 + 7 // past the local header and the 128-byte npy header
    npz[pixel] = (npz[pixel] as number) ^ 0xff
    const error = refusal(() => readNpz(npz, 'fixture.npz'))
    expect(error.code).toBe('corrupt')
    expect(error.message).toMatch(/fixture\.npz: entry images\.npy: CRC-32 mismatch, expected 0x[0-9a-f]{8}/)
  })

  it('a file that is not a zip is refused, showing the bytes that arrived', () => {
    const error = refusal(() =>
      readNpz(new TextEncoder().encode('this is plainly not an archive'), 'notes.npz'),
    )
    expect(error.code).toBe('not-a-zip')
    expect(error.message).toMatch(/notes\.npz: expected a zip archive .*got bytes 74 68 69 73/)
  })

  it('a zip cut short is refused as truncated', () => {
    const npz = buildZip([{ name: 'images.npy', method: 8, data: buildNpy([3, 4, 5], pixels) }])
    const error = refusal(() => readNpz(npz.subarray(0, npz.length - 30), 'cut.npz'))
    expect(error.code).toBe('truncated')
    expect(error.message).toMatch(/cut\.npz/)
  })

  it('an entry compressed with another method (bzip2) is refused, naming the method', () => {
    const npz = buildZip([{ name: 'images.npy', method: 0, data: buildNpy([3, 4, 5], pixels) }])
    const centralAt = npz.length - 22 - 46 - 'images.npy'.length
    new DataView(npz.buffer).setUint16(centralAt + 10, 12, true)
    const error = refusal(() => readNpz(npz, 'bz.npz'))
    expect(error.code).toBe('unsupported-zip')
    expect(error.message).toMatch(/expected compression method 0 \(stored\) or 8 \(deflate\), got 12/)
  })

  it('a Fortran-order array is refused rather than read transposed', () => {
    const npz = buildZip([
      { name: 'images.npy', method: 8, data: buildNpy([3, 4, 5], pixels, { fortranOrder: true }) },
    ])
    const error = refusal(() => readNpz(npz, 'f.npz'))
    expect(error.code).toBe('bad-npy')
    expect(error.message).toMatch(
      /f\.npz: entry images\.npy: expected C-order data \(fortran_order False\), got fortran_order True/,
    )
  })

  it('a float32 array is refused, saying which dtype arrived', () => {
    const npz = buildZip([
      { name: 'x.npy', method: 0, data: buildNpy([2], new Uint8Array(8), { descr: '<f4' }) },
    ])
    const error = refusal(() => readNpz(npz, 'floats.npz'))
    expect(error.code).toBe('unsupported-dtype')
    expect(error.message).toMatch(/expected dtype uint8 \('\|u1'\), got '<f4'/)
  })

  it('an entry without the npy magic is refused', () => {
    const npz = buildZip([{ name: 'x.npy', method: 0, data: new TextEncoder().encode('hello world') }])
    const error = refusal(() => readNpz(npz, 'text.npz'))
    expect(error.code).toBe('bad-npy')
    expect(error.message).toMatch(/expected the \.npy magic 93 4e 55 4d 50 59, got 68 65 6c 6c 6f 20/)
  })

  it('an array whose data is shorter than its shape is refused', () => {
    const npz = buildZip([{ name: 'x.npy', method: 0, data: buildNpy([3, 4, 5], pixels.subarray(0, 50)) }])
    const error = refusal(() => readNpz(npz, 'short.npz'))
    expect(error.message).toMatch(/shape \(3, 4, 5\) needs 60 bytes of uint8 data, got 50/)
  })
})
