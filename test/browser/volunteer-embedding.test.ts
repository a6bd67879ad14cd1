import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { embed, type Pixels } from '@fedtune/model'
import { decodeImage, initBackend, loadBackbone } from '@fedtune/model/node'
import type { ImageView } from '@fedtune/protocol'
import type { Browser, Page } from 'playwright-core'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { bundlePageScript } from '../../client-web/node/page-script.ts'
import { catJpg, daisyJpg, v2Dir } from '../model/shared.ts'
import type { PageEmbeddings, PageInput } from './page-embedding-input.ts'

/**
 * The volunteer page's embeddings in a real headless Chromium (its own embedImages and backbone
 * loading, bundled by Vite, on WebAssembly as on a machine without a GPU) are the Node client's
 * `embed` of the same images, also with a task's views: the browser averages the same views of each
 * image in the same order. The images are PNGs, so both decoders give the same samples.
 */
const ALL_VIEWS: readonly ImageView[] = ['original', 'horizontal-flip', 'vertical-flip', 'rotate-180']
/** The backends differ (the page's WebAssembly build, Node's tfjs-node or wasm): a small tolerance. */
const TOLERANCE = 1e-3

let server: Server
let browser: Browser
let page: Page
let pixels: Pixels[]
const images: Record<string, Uint8Array> = {}

/** An image as a PNG (RGBA), lossless, and its pixels as a PNG decoder gives them back. */
function asPng(p: Pixels): Uint8Array {
  const png = new PNG({ width: p.width, height: p.height })
  for (let i = 0; i < p.width * p.height; i++)
    for (let c = 0; c < 4; c++)
      png.data[4 * i + c] = c === 3 ? 255 : (p.data[i * p.channels + (p.channels === 1 ? 0 : c)] as number)
  return new Uint8Array(PNG.sync.write(png))
}

beforeAll(async () => {
  await initBackend()
  const jpegs = await Promise.all([catJpg, daisyJpg].map((f) => decodeImage(readFileSync(f), f)))
  jpegs.forEach((p, i) => {
    images[`image-${i}.png`] = asPng(p)
  })
  pixels = await Promise.all(
    Object.entries(images).map(([name, bytes]) => decodeImage(Buffer.from(bytes), name)),
  )
  // localhost is a secure context (the page's SHA-256 and WebCrypto); the page itself is empty
  server = createServer((req, res) => {
    const url = req.url ?? ''
    const body = url.startsWith('/backbone/')
      ? readFileSync(join(v2Dir, url.slice('/backbone/'.length)))
      : url.startsWith('/images/')
        ? images[url.slice('/images/'.length)]
        : new TextEncoder().encode('<!doctype html><title>volunteer embedding</title>')
    if (body === undefined) {
      res.statusCode = 404
      res.end()
      return
    }
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const entry = fileURLToPath(new URL('page-embedding.ts', import.meta.url))
  const [code, launched] = await Promise.all([bundlePageScript(entry, 'fedtuneEmbedding'), launchChromium()])
  browser = launched
  page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  await page.addScriptTag({ content: code })
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => server?.close(resolve))
})

/** The page's embeddings of the served images with `views`. */
async function inPage(views: readonly ImageView[]): Promise<PageEmbeddings> {
  const input: PageInput = {
    backboneFiles: ['model.json', 'weights.bin'],
    images: Object.keys(images),
    views,
    backend: 'wasm',
  }
  // A string, not a function: the transform would wrap named functions in a helper the page lacks.
  return (await page.evaluate(
    `globalThis.fedtuneEmbedding.embedInPage(${JSON.stringify(input)})`,
  )) as PageEmbeddings
}

async function inNode(views: readonly ImageView[]): Promise<Float32Array> {
  const backbone = await loadBackbone(v2Dir)
  try {
    return embed(backbone, pixels, views)
  } finally {
    backbone.dispose()
  }
}

function largestDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let most = 0
  for (let i = 0; i < a.length; i++) most = Math.max(most, Math.abs((a[i] as number) - (b[i] as number)))
  return most
}

describe('the volunteer page’s embeddings in headless Chromium', () => {
  it('are the Node client’s embed() of the same images, of the original alone', async () => {
    const [page, node] = await Promise.all([inPage(['original']), inNode(['original'])])
    expect(page.backend).toBe('wasm')
    expect(page.x).toHaveLength(node.length)
    expect(largestDifference(page.x, node)).toBeLessThan(TOLERANCE)
  }, 120_000)

  it('with a task’s views, are the mean of the views’ embeddings as Node’s embed(…, views) computes it', async () => {
    const [page, node, original] = await Promise.all([
      inPage(ALL_VIEWS),
      inNode(ALL_VIEWS),
      inNode(['original']),
    ])
    expect(page.x).toHaveLength(node.length)
    expect(largestDifference(page.x, node)).toBeLessThan(TOLERANCE)
    // the views change the embeddings by far more than the tolerance: the page did average them
    expect(largestDifference(node, original)).toBeGreaterThan(100 * TOLERANCE)
    expect(largestDifference(page.x, original)).toBeGreaterThan(100 * TOLERANCE)
  }, 120_000)
})
