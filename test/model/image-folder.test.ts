import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { embed } from '@fedtune/model'
import {
  DataFolderError,
  decodeImage,
  embeddingCacheDir,
  embedFolder,
  initBackend,
  loadBackbone,
  progressBar,
  scanImageFolder,
  viewsKey,
} from '@fedtune/model/node'
import { IMAGE_VIEWS } from '@fedtune/protocol'
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

/** The temporary root with its symbolic links resolved (macOS puts tmpdir behind one). */
async function realRoot(): Promise<string> {
  const { realpath } = await import('node:fs/promises')
  return realpath(root)
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
    await expect(scanImageFolder(dir)).rejects.toThrow(/normal: the class folder "normal" holds no files/)
  })

  it('refuses a subfolder that is not a class of the task, naming the allowed labels', async () => {
    const dir = await makeTree({ normal: ['1.png'], covid: ['2.png'] })
    await expect(scanImageFolder(dir, ['normal', 'pneumonia'])).rejects.toThrow(
      /"covid" is not a class of this task; expected subfolders named "normal", "pneumonia"/,
    )
  })

  it('lists every file under a class folder at any depth, whatever its name ends with, sorted by path', async () => {
    const dir = await makeTree({
      normal: ['b.png', 'notes.txt'],
      'normal/P002/study1': ['IM0002', 'IM0001.dcm', '.hidden'],
      'normal/P001': ['IM0001'],
      'normal/.trash/P003': ['IM0001.dcm'],
      'pneumonia/P004/study 1': ['1.DCM'],
    })
    const { files } = await scanImageFolder(dir, ['normal', 'pneumonia'])
    expect(files.map((f) => [path.relative(dir, f.path), f.label])).toEqual([
      ['normal/P001/IM0001', 0],
      ['normal/P002/study1/IM0001.dcm', 0],
      ['normal/P002/study1/IM0002', 0],
      ['normal/b.png', 0],
      ['normal/notes.txt', 0],
      ['pneumonia/P004/study 1/1.DCM', 1],
    ])
  })

  it('counts a class folder holding only empty folders and hidden files as empty', async () => {
    const dir = await makeTree({ 'normal/P001/study1': ['.DS_Store'], pneumonia: ['1.png'] })
    await expect(scanImageFolder(dir)).rejects.toThrow(/the class folder "normal" holds no files/)
  })

  it('follows a symbolic link inside the data folder, listing a file reached twice once and ending a link loop', async () => {
    const dir = await makeTree({ normal: ['1.png'], 'pneumonia/P1': ['2.png'] })
    await symlink(path.join(dir, 'pneumonia', 'P1'), path.join(dir, 'pneumonia', 'same-patient'))
    await symlink('..', path.join(dir, 'pneumonia', 'P1', 'loop'))
    await symlink('../../normal/1.png', path.join(dir, 'pneumonia', 'P1', 'link.png'))
    const { files } = await scanImageFolder(dir, ['normal', 'pneumonia'])
    expect(files.map((f) => [path.relative(dir, f.path), f.label])).toEqual([
      ['normal/1.png', 0],
      ['pneumonia/P1/2.png', 1],
    ])
  })

  it('refuses every symbolic link leading outside the data folder or nowhere, in one error, and reads none', async () => {
    const dir = await makeTree({ normal: ['1.png'], pneumonia: ['2.png'], outside: ['secret.png'] })
    await rm(path.join(dir, 'outside'), { recursive: true })
    await mkdir(path.join(root, 'outside'))
    await writeFile(path.join(root, 'outside', 'secret.png'), grayPng(9))
    await symlink(path.join(root, 'outside', 'secret.png'), path.join(dir, 'normal', 'a.png'))
    await symlink('../../outside', path.join(dir, 'pneumonia', 'more'))
    await symlink('gone.png', path.join(dir, 'pneumonia', 'broken.png'))
    const error = await scanImageFolder(dir).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DataFolderError)
    const outside = path.join(await realRoot(), 'outside')
    expect((error as DataFolderError).problems).toEqual([
      `normal/a.png: a symbolic link leading outside the data folder (to ${outside}/secret.png)`,
      'pneumonia/broken.png: a broken symbolic link (its target does not exist)',
      `pneumonia/more: a symbolic link leading outside the data folder (to ${outside})`,
    ])
    expect((error as Error).message).toMatch(
      /^.*\/data: 3 problems, nothing was read; only files inside the data folder are read: copy the files in, or remove the links\n {2}normal\/a\.png: /,
    )
  })

  it('explains the expected layout, and the labels file, when the images lie directly in the folder', async () => {
    const dir = await makeTree({})
    await mkdir(dir)
    await writeFile(path.join(dir, 'scan.png'), grayPng(1))
    await expect(scanImageFolder(dir)).rejects.toThrow(
      /no class subfolders.*one subfolder per class.*or a labels file \(--labels\)/,
    )
  })

  it('refuses a data folder that does not exist, saying so', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fedtune-images-'))
    await expect(scanImageFolder(path.join(root, 'nope'))).rejects.toThrow(/nope: no such folder/)
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

describe('embedFolder in several views', () => {
  it('keys the cache of a list of views by a readable folder, and the original alone by the backbone’s folder as before', () => {
    expect(viewsKey(['original'])).toBeNull()
    expect(viewsKey(['original', 'horizontal-flip'])).toBe('views-original+horizontal-flip')
    expect(viewsKey(IMAGE_VIEWS.slice(0, 4))).toBe('views-original+horizontal-flip+vertical-flip+rotate-180')
    expect(viewsKey(IMAGE_VIEWS)).toBe(
      'views-original+horizontal-flip+vertical-flip+rotate-180+transpose+rotate-90+rotate-270+transverse',
    )
    expect(embeddingCacheDir('/c', 'abc', ['original'])).toBe(path.join('/c', 'embeddings', 'abc'))
    expect(embeddingCacheDir('/c', 'abc', ['horizontal-flip'])).toBe(
      path.join('/c', 'embeddings', 'abc', 'views-horizontal-flip'),
    )
    expect(() => viewsKey([])).toThrow('viewsKey: expected at least one view')
  })

  it('caches the averaged embeddings under the views’ key, serves a rerun from there, and never shares files with the original alone', async () => {
    const dir = await makeTree({ normal: ['1.png', '2.png'], pneumonia: ['3.png'] })
    const cacheDir = path.join(root, 'cache')
    const labels = ['normal', 'pneumonia']
    const views = ['original', 'horizontal-flip'] as const
    const backbone = await loadBackbone(v2Dir)
    try {
      const plain = await embedFolder(backbone, dir, { cacheDir, labels })
      const first = await embedFolder(backbone, dir, { cacheDir, labels, views })
      // the original alone's files do not serve another list of views
      expect(first.fromCache).toBe(0)
      const digestDir = path.join(cacheDir, 'embeddings', backbone.digest)
      const entries = await readdir(digestDir)
      expect(entries.filter((f) => f.endsWith('.f32'))).toHaveLength(3)
      expect(entries.filter((f) => !f.endsWith('.f32'))).toEqual(['views-original+horizontal-flip'])
      expect(await readdir(path.join(digestDir, 'views-original+horizontal-flip'))).toHaveLength(3)
      // what is cached is the mean over the views, as embed() takes it
      const file = path.join(dir, 'normal', '1.png')
      const direct = embed(backbone, [await decodeImage(new Uint8Array(await readFile(file)), file)], views)
      const row = first.dataset.x.subarray(0, backbone.embeddingDim)
      expect(direct.reduce((m, v, j) => Math.max(m, Math.abs(v - (row[j] as number))), 0)).toBeLessThan(1e-4)
      expect(first.dataset.x).not.toEqual(plain.dataset.x)

      const second = await embedFolder(backbone, dir, { cacheDir, labels, views })
      expect(second.fromCache).toBe(3)
      expect(second.dataset.x).toEqual(first.dataset.x)
      // and the original alone still reads its own files
      const again = await embedFolder(backbone, dir, { cacheDir, labels })
      expect(again.fromCache).toBe(3)
      expect(again.dataset.x).toEqual(plain.dataset.x)
    } finally {
      backbone.dispose()
    }
  }, 60_000)
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
