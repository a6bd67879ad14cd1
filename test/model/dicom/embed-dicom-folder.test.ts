import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pixels } from '@fedtune/model'
import { decodeImage, embedFolder, initBackend, loadBackbone } from '@fedtune/model/node'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { v2Dir } from '../shared.ts'
import { convert, img2dcm, modify, read } from './dcmtk.ts'

/**
 * A class folder mixing PNG and DICOM: the DICOM images are embedded like the PNGs they came from,
 * and the files that cannot be decoded are left out and listed with their reasons.
 */
let work: string
const labels = ['normal', 'pneumonia']

/** A 28x28 gray image whose pixels depend on `seed`. */
function gray(seed: number): Pixels {
  const data = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * (seed + 3) * 37 + seed * 11) % 256)
  return { width: 28, height: 28, channels: 1, data }
}

function png(p: Pixels): Buffer {
  const image = new PNG({ width: p.width, height: p.height })
  for (let i = 0; i < p.width * p.height; i++) {
    const v = p.data[i] as number
    image.data.set([v, v, v, 255], i * 4)
  }
  return PNG.sync.write(image, { colorType: 0 })
}

beforeAll(async () => {
  await initBackend()
  work = mkdtempSync(join(tmpdir(), 'fedtune-dicom-folder-'))
})
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('embedFolder on DICOM', () => {
  it('embeds DICOM files as the PNGs they were made from, and skips the undecodable ones with their reasons', async () => {
    const made = join(work, 'made')
    mkdirSync(made)
    const a = img2dcm(gray(1), made, 'a')
    const c = convert(img2dcm(gray(2), made, 'c'), 'dcmcrle', [], join(made, 'c-rle.dcm'))
    const w0 = modify(a, join(made, 'w0.dcm'), ['WindowCenter=100', 'WindowWidth=0'])
    const dicoms = join(work, 'dicom')
    const pngs = join(work, 'png')
    for (const root of [dicoms, pngs]) for (const l of labels) mkdirSync(join(root, l), { recursive: true })
    writeFileSync(join(pngs, 'normal', 'a.png'), png(gray(1)))
    writeFileSync(join(pngs, 'normal', 'b.png'), png(gray(3)))
    writeFileSync(join(pngs, 'pneumonia', 'c.png'), png(gray(2)))
    copyFileSync(a, join(dicoms, 'normal', 'a.dcm'))
    writeFileSync(join(dicoms, 'normal', 'b.png'), png(gray(3)))
    copyFileSync(c, join(dicoms, 'pneumonia', 'c.dcm'))
    writeFileSync(join(dicoms, 'pneumonia', 'cut.dcm'), read(a).subarray(0, 300))
    copyFileSync(w0, join(dicoms, 'pneumonia', 'w0.dcm'))
    expect((await decodeImage(read(a), 'a')).data).toEqual(gray(1).data)

    const backbone = await loadBackbone(v2Dir)
    try {
      const fromDicom = await embedFolder(backbone, dicoms, { cacheDir: join(work, 'cache-dicom'), labels })
      const fromPng = await embedFolder(backbone, pngs, { cacheDir: join(work, 'cache-png'), labels })
      expect(fromDicom.dataset.n).toBe(3)
      expect([...fromDicom.dataset.y]).toEqual([0, 0, 1])
      expect(fromDicom.dataset.x).toEqual(fromPng.dataset.x)
      expect(fromPng.skipped).toEqual([])
      expect(fromDicom.skipped).toEqual([
        { path: join(dicoms, 'pneumonia', 'cut.dcm'), reason: expect.stringMatching(/truncated/) },
        {
          path: join(dicoms, 'pneumonia', 'w0.dcm'),
          reason: 'window width (0028,1051) is 0; the standard requires at least 1',
        },
      ])
      // a rerun reads the decodable ones from the cache and skips the others again
      const again = await embedFolder(backbone, dicoms, { cacheDir: join(work, 'cache-dicom'), labels })
      expect(again.fromCache).toBe(3)
      expect(again.skipped.map((s) => s.path)).toEqual(fromDicom.skipped.map((s) => s.path))
    } finally {
      backbone.dispose()
    }
  })

  it('a folder none of whose files can be decoded is an error naming the first', async () => {
    const dir = join(work, 'bad')
    mkdirSync(join(dir, 'normal'), { recursive: true })
    writeFileSync(join(dir, 'normal', 'x.dcm'), new Uint8Array(200))
    const backbone = await loadBackbone(v2Dir)
    try {
      await expect(embedFolder(backbone, dir, { cacheDir: join(work, 'cache-bad'), labels })).rejects.toThrow(
        /none of its 1 files could be decoded; the first: .*x\.dcm: expected a PNG, JPEG or DICOM image/,
      )
    } finally {
      backbone.dispose()
    }
  })
})
