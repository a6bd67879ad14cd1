import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  downloadBackbone,
  fetchBackboneFromUrl,
  readBackboneFolder,
  readBackboneUrl,
} from '@fedtune/model/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { v2Dir } from './shared.ts'

/** Serves the shared backbone folder; `tamper` flips a byte of weights.bin on the way out. */
let server: Server
let base: string
let requests: string[] = []
let tamper = false
let cacheDir: string

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/v2\//, '')
    requests.push(name)
    try {
      const bytes = await readFile(path.join(v2Dir, path.basename(name)))
      if (tamper && name === 'weights.bin') bytes[1000] = (bytes[1000] as number) ^ 1
      res.writeHead(200, { 'content-length': bytes.byteLength }).end(bytes)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

afterEach(async () => {
  requests = []
  tamper = false
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true })
})

const freshCache = async () => {
  cacheDir = await mkdtemp(path.join(tmpdir(), 'fedtune-dl-'))
  return cacheDir
}

describe('downloadBackbone', () => {
  it('downloads and verifies every file, then serves the second call from the cache without a request', async () => {
    const expected = await readBackboneFolder(v2Dir)
    const cache = await freshCache()
    const progress: number[] = []
    const dir = await downloadBackbone(base, expected, cache, (done) => progress.push(done))
    expect(dir).toBe(path.join(cache, 'backbones', expected.digest))
    expect(requests).toEqual(['model.json', 'weights.bin'])
    expect((await readBackboneFolder(dir)).digest).toBe(expected.digest)
    expect(progress.at(-1)).toBe(expected.files.reduce((s, f) => s + f.bytes, 0))

    requests = []
    expect(await downloadBackbone(base, expected, cache)).toBe(dir)
    expect(requests).toEqual([])
  })

  it('refuses a file whose bytes were tampered with and leaves nothing in its place', async () => {
    const expected = await readBackboneFolder(v2Dir)
    const cache = await freshCache()
    tamper = true
    await expect(downloadBackbone(base, expected, cache)).rejects.toThrow(
      /weights\.bin .*has sha256 [0-9a-f]{64}.*expected/,
    )
    await expect(readFile(path.join(cache, 'backbones', expected.digest, 'weights.bin'))).rejects.toThrow(
      /ENOENT/,
    )
  })

  it('refuses a file list that does not hash to the expected digest before downloading anything', async () => {
    const expected = await readBackboneFolder(v2Dir)
    await expect(
      downloadBackbone(base, { ...expected, digest: 'c'.repeat(64) }, await freshCache()),
    ).rejects.toThrow(/not the expected digest c{64}/)
    expect(requests).toEqual([])
  })
})

describe('fetchBackboneFromUrl', () => {
  it('fetches model.json and its weights relative to it, and reuses the verified copy', async () => {
    const { digest } = await readBackboneFolder(v2Dir)
    const cache = await freshCache()
    const dir = await fetchBackboneFromUrl(`${base}model.json`, cache, digest)
    expect((await readBackboneFolder(dir)).digest).toBe(digest)
    requests = []
    await fetchBackboneFromUrl(`${base}model.json`, cache, digest)
    expect(requests).toEqual([])
  })

  it('refuses a model whose digest differs, naming the expected and the actual digest', async () => {
    const { digest } = await readBackboneFolder(v2Dir)
    const wrong = 'd'.repeat(64)
    await expect(fetchBackboneFromUrl(`${base}model.json`, await freshCache(), wrong)).rejects.toThrow(
      new RegExp(`expected digest ${wrong}, got ${digest}`),
    )
  })
})

describe('readBackboneUrl (fedtune backbone digest <url>, fedtune task init)', () => {
  it('fetches model.json and its weights relative to it, keeps nothing, and gives the folder’s digest and files', async () => {
    const folder = await readBackboneFolder(v2Dir)
    const progress: number[] = []
    const read = await readBackboneUrl(`${base}model.json`, (done) => progress.push(done))
    expect(read).toEqual(folder)
    expect(requests).toEqual(['model.json', 'weights.bin'])
    expect(progress.at(-1)).toBe(folder.files.reduce((sum, f) => sum + f.bytes, 0))
  })

  it('gives another digest for other bytes, and refuses a URL that is not http(s)', async () => {
    const folder = await readBackboneFolder(v2Dir)
    tamper = true
    expect((await readBackboneUrl(`${base}model.json`)).digest).not.toBe(folder.digest)
    await expect(readBackboneUrl('file:///etc/model.json')).rejects.toThrow(
      /expected an http\(s\) URL of a model\.json, got file:\/\/\/etc\/model\.json/,
    )
  })
})
