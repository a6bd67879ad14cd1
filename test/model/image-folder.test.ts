import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { embedFolder, initBackend, loadBackbone, progressBar, scanImageFolder } from '@fedtune/model/node'
import * as tf from '@tensorflow/tfjs'
import { PNG } from 'pngjs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { v2Dir } from './shared.ts'

let root: string

beforeAll(async () => {
  await initBackend()
})

afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

/** A 28x28 gray PNG whose pixels depend on `seed`. */
function grayPng(seed: number): Buffer {
  const image = new PNG({ width: 28, height: 28 })
  for (let i = 0; i < 28 * 28; i++) {
    const v = (i * (seed + 3) * 37) % 256
    image.data.set([v, v, v, 255], i * 4)
  }
  return PNG.sync.write(image, { colorType: 0 })
}

/** Creates `tree` (folder → file names) under a fresh temporary root. */
async function makeTree(tree: Record<string, string[]>): Promise<string> {
  root = await mkdtemp(path.join(tmpdir(), 'fedtune-images-'))
  let seed = 0
  for (const [folder, files] of Object.entries(tree)) {
    await mkdir(path.join(root, 'data', folder), { recursive: true })
    for (const f of files)
      await writeFile(path.join(root, 'data', folder, f), f.endsWith('.txt') ? 'text' : grayPng(seed++))
  }
  return path.join(root, 'data')
}

describe('scanImageFolder', () => {
  it('labels files by the index of their folder in the task labels, allowing a missing class and ignoring hidden files', async () => {
    const dir = await makeTree({ pneumonia: ['b.png', 'a.jpg', '.DS_Store'], '.cache': ['x.png'] })
    const { classes, files } = await scanImageFolder(dir, ['normal', 'pneumonia'])
    expect(classes).toEqual(['normal', 'pneumonia'])
    expect(files.map((f) => [path.basename(f.path), f.label])).toEqual([
      ['a.jpg', 1],
      ['b.png', 1],
    ])
  })

  it('without labels takes the sorted subfolder names as classes', async () => {
    const dir = await makeTree({ zebra: ['1.png'], ant: ['2.png'] })
    const { classes, files } = await scanImageFolder(dir)
    expect(classes).toEqual(['ant', 'zebra'])
    expect(files.map((f) => f.label)).toEqual([0, 1])
  })

  it('refuses an empty class folder', async () => {
    const dir = await makeTree({ normal: [], pneumonia: ['1.png'] })
    await expect(scanImageFolder(dir)).rejects.toThrow(/normal: the class folder "normal" holds no images/)
  })

  it('refuses a subfolder that is not a class of the task, naming the allowed labels', async () => {
    const dir = await makeTree({ normal: ['1.png'], covid: ['2.png'] })
    await expect(scanImageFolder(dir, ['normal', 'pneumonia'])).rejects.toThrow(
      /"covid" is not a class of this task; expected subfolders named "normal", "pneumonia"/,
    )
  })

  it('refuses a file that is not an image, naming it', async () => {
    const dir = await makeTree({ normal: ['1.png', 'notes.txt'] })
    await expect(scanImageFolder(dir)).rejects.toThrow(/normal\/notes\.txt: not an image file/)
  })

  it('explains the expected layout when the images lie directly in the folder', async () => {
    const dir = await makeTree({})
    await mkdir(dir)
    await writeFile(path.join(dir, 'scan.png'), grayPng(1))
    await expect(scanImageFolder(dir)).rejects.toThrow(/no class subfolders.*one subfolder per class/)
  })
})

describe('embedFolder', () => {
  it('embeds each image once and serves a rerun from the cache with identical embeddings', async () => {
    const dir = await makeTree({ normal: ['1.png', '2.png'], pneumonia: ['3.png'] })
    const cacheDir = path.join(root, 'cache')
    const backbone = await loadBackbone(v2Dir)
    try {
      const before = tf.memory().numTensors
      const seen: number[] = []
      const first = await embedFolder(backbone, dir, {
        cacheDir,
        labels: ['normal', 'pneumonia'],
        batchSize: 2,
        onProgress: (done) => seen.push(done),
      })
      expect(first.fromCache).toBe(0)
      expect(first.classes).toEqual(['normal', 'pneumonia'])
      expect(first.dataset).toMatchObject({ n: 3, dim: 1280 })
      expect([...first.dataset.y]).toEqual([0, 0, 1])
      expect(seen).toEqual([2, 3])
      expect(await readdir(path.join(cacheDir, 'embeddings', backbone.digest))).toHaveLength(3)

      const second = await embedFolder(backbone, dir, { cacheDir, labels: ['normal', 'pneumonia'] })
      expect(second.fromCache).toBe(3)
      expect(second.dataset.x).toEqual(first.dataset.x)
      expect(tf.memory().numTensors).toBe(before)
    } finally {
      backbone.dispose()
    }
  })
})

describe('progressBar', () => {
  it('writes at most about one line per tenth on a non-terminal stream', () => {
    const lines: string[] = []
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream
    const bar = progressBar('embedding', 1000, stream)
    for (let i = 0; i < 1000; i++) bar.tick()
    bar.done()
    expect(lines.length).toBeLessThanOrEqual(11)
    expect(lines.length).toBeGreaterThanOrEqual(5)
    expect(lines.at(-1)).toMatch(/^embedding 1000\/1000 100%/)
  })
})
