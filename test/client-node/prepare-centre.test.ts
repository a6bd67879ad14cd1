import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger, prepare } from '@fedtune/client-node'
import { type Dataset, meanEmbedding } from '@fedtune/model'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { type ImageView, paramCount, type TaskInfo } from '@fedtune/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SHARED, splitPneumonia } from '../pneumonia-split.ts'

/**
 * A hospital centres its embeddings on the task's input centre right after embedding them, before
 * its split: every example it trains on (DP-SGD included) and every one it evaluates on is its
 * embedding minus the centre the coordinator sent, and the cached embeddings stay raw. A task with
 * several views (`backbone.views`) is embedded in them, as the coordinator embeds its own sets.
 */
const backboneDir = join(SHARED, 'backbones', 'mobilenet_v2_0.35_224')
const LABELS = ['normal', 'pneumonia']
let work: string

beforeAll(async () => {
  await initBackend()
  work = await mkdtemp(join(tmpdir(), 'fedtune-prepare-centre-'))
  await splitPneumonia(join(work, 'data'), { hospitals: 1, perHospital: 12, testLimit: 2, seed: 4 })
}, 120_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

async function taskInfo(
  inputCentre: readonly number[] | null,
  dim: number,
  views: readonly ImageView[] = ['original'],
): Promise<TaskInfo> {
  const { files, digest } = await readBackboneFolder(backboneDir)
  const head = { layers: [], labels: LABELS }
  return {
    taskId: 'centred',
    name: 'centred',
    description: '',
    rounds: 1,
    backbone: {
      digest,
      path: `/backbone/${digest}/`,
      files,
      inputSize: 224,
      embeddingDim: dim,
      views,
    },
    head,
    ordinal: false,
    paramCount: paramCount(head, dim),
    aggregation: 'secure',
    browsers: { enabled: false, maxPerRound: 1 },
    privacy: null,
    inputCentre,
  }
}

/** The backbone's files, as the coordinator serves them, read from its folder. */
const fromFolder = async (url: string) => {
  const bytes = readFileSync(join(backboneDir, decodeURIComponent(url.split('/').at(-1) as string)))
  return {
    ok: true,
    status: 200,
    statusText: 'OK',
    body: (async function* () {
      yield new Uint8Array(bytes)
    })(),
  }
}

async function prepared(task: TaskInfo, lines: string[] = []) {
  return prepare(task, {
    coordinatorUrl: 'http://coordinator.invalid/',
    dataDir: join(work, 'data', 'hospital-1'),
    cacheDir: join(work, 'cache'),
    valFraction: 0.25,
    seed: 1,
    log: createLogger('text', (line) => void lines.push(line)),
    progress: undefined,
    fetchUrl: fromFolder,
  })
}

const rows = (d: Dataset) =>
  Array.from({ length: d.n }, (_, i) => [...d.x.subarray(i * d.dim, (i + 1) * d.dim)])

describe('a hospital preparing its data', () => {
  it('trains and evaluates on its embeddings minus the task’s input centre; null leaves them as embedded', async () => {
    const dim = 1280
    const plain = await prepared(await taskInfo(null, dim))
    expect(plain.train.dim).toBe(dim)
    const centre = Array.from(meanEmbedding(plain.train))
    const centred = await prepared(await taskInfo(centre, dim))
    // the same split (it depends on labels and seed only), every value moved by the centre
    expect([...centred.train.y]).toEqual([...plain.train.y])
    expect([...centred.val.y]).toEqual([...plain.val.y])
    for (const [part, raw] of [
      [centred.train, plain.train],
      [centred.val, plain.val],
    ] as const)
      for (const [i, row] of rows(part).entries())
        for (const [j, v] of row.entries())
          expect(v).toBeCloseTo((rows(raw)[i]?.[j] as number) - (centre[j] as number), 4)
    // centred on its own training mean, the training part's mean is now about zero
    expect(Math.hypot(...meanEmbedding(centred.train))).toBeLessThan(1e-3)
    expect(Math.hypot(...centre)).toBeGreaterThan(5)
  }, 120_000)
})

describe('a hospital preparing its data for a task with several views', () => {
  it('embeds each image in the task’s views, says so once before embedding, and caches the averages apart from the original’s', async () => {
    const dim = 1280
    const plain = await prepared(await taskInfo(null, dim))
    const lines: string[] = []
    const views = ['original', 'horizontal-flip'] as const
    const task = await taskInfo(null, dim, views)
    const flipped = await prepared(task, lines)
    expect(lines.filter((l) => /views/.test(l))).toEqual([
      'each image is embedded in 2 views (original, horizontal-flip): 2 backbone passes per image, averaged into one embedding\n',
    ])
    expect(lines.findIndex((l) => /views/.test(l))).toBeLessThan(lines.findIndex((l) => /^data /.test(l)))
    const digestDir = join(work, 'cache', 'embeddings', task.backbone.digest)
    expect(readdirSync(join(digestDir, 'views-original+horizontal-flip'))).toHaveLength(12)
    // the same split of the same images, each row another (averaged) embedding
    expect([...flipped.train.y]).toEqual([...plain.train.y])
    for (const [i, row] of rows(flipped.train).entries()) expect(row).not.toEqual(rows(plain.train)[i])
    // a rerun reads them back from that cache
    const again: string[] = []
    const reread = await prepared(task, again)
    expect(reread.train.x).toEqual(flipped.train.x)
    expect(again.some((l) => /\(12 embeddings from cache\)/.test(l))).toBe(true)
  }, 120_000)
})
