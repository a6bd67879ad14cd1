import { mkdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_WEB_DIR } from '@fedtune/coordinator'
import type { Store } from '@fedtune/coordinator/store'
import type { FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import { startTestCoordinator } from '../harness.ts'
import { storeWithViewer } from '../test-store.ts'

/** The browser participants' page under /join, as client-web's Vite build lays it out. */
const repo = fileURLToPath(new URL('../../', import.meta.url))

/** A plaintext task open to browsers whose page folder `web` lays out under the coordinator's temp folder. */
const page = (web: (dir: string) => string | undefined, store?: Store) =>
  startTestCoordinator({
    ...(store ? { store } : {}),
    secure: false,
    rounds: 1,
    minParticipants: 1,
    participantsPerRound: 1,
    browsers: { maxPerRound: 1 },
    web,
  })

const INDEX = '<!doctype html><script type="module" src="/join/assets/index-3f9a1c.js"></script>'
const SECRET = 'the-operators-secret-7c41'
const WASM = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])

/** A built page in `<root>/dist`, and beside it a file no URL may reach. */
function builtPage(root: string): string {
  const dist = join(root, 'dist')
  mkdirSync(join(dist, 'assets'), { recursive: true })
  mkdirSync(join(dist, '.vite'))
  writeFileSync(join(root, 'secret.txt'), SECRET)
  writeFileSync(join(dist, 'index.html'), INDEX)
  writeFileSync(join(dist, '.vite', 'manifest.json'), '{}')
  writeFileSync(join(dist, 'favicon.ico'), 'ico')
  writeFileSync(join(dist, 'robots.txt'), 'User-agent: *')
  const assets: Record<string, string | Uint8Array> = {
    'index-3f9a1c.js': 'export {}',
    'worker-77aa01.mjs': 'export {}',
    'index-3f9a1c.css': 'body{}',
    'tfjs-backend-wasm-simd-0c1d2e.wasm': WASM,
    'index-3f9a1c.js.map': '{}',
    'labels-9e8f7a.json': '[]',
    'logo-1a2b3c.svg': '<svg/>',
    'logo-1a2b3c.png': 'png',
    'data-4d5e6f.bin': 'bytes',
  }
  for (const [name, content] of Object.entries(assets)) writeFileSync(join(dist, 'assets', name), content)
  return dist
}

const get = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url })

describe('the browser participants’ page at /join', () => {
  it('serves index.html at /join and /join/, never from a stale cache, cross-origin isolated', async () => {
    const { app } = await page(builtPage)
    for (const url of ['/join', '/join/', '/join?from=poster']) {
      const res = await get(app, url)
      expect(res.statusCode).toBe(200)
      expect(res.body).toBe(INDEX)
      expect(res.headers).toMatchObject({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'cross-origin-resource-policy': 'same-origin',
      })
    }
  })

  it('serves the hashed assets with their content types and a long immutable cache', async () => {
    const { app } = await page(builtPage)
    const types: Record<string, string> = {
      'index-3f9a1c.js': 'text/javascript; charset=utf-8',
      'worker-77aa01.mjs': 'text/javascript; charset=utf-8',
      'index-3f9a1c.css': 'text/css; charset=utf-8',
      'tfjs-backend-wasm-simd-0c1d2e.wasm': 'application/wasm',
      'index-3f9a1c.js.map': 'application/json; charset=utf-8',
      'labels-9e8f7a.json': 'application/json; charset=utf-8',
      'logo-1a2b3c.svg': 'image/svg+xml',
      'logo-1a2b3c.png': 'image/png',
      'data-4d5e6f.bin': 'application/octet-stream',
    }
    for (const [name, type] of Object.entries(types)) {
      const res = await get(app, `/join/assets/${name}`)
      expect(res.statusCode, name).toBe(200)
      expect(res.headers, name).toMatchObject({
        'content-type': type,
        'cache-control': 'public, max-age=31536000, immutable',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'cross-origin-resource-policy': 'same-origin',
        'x-content-type-options': 'nosniff',
      })
    }
    const wasm = await get(app, '/join/assets/tfjs-backend-wasm-simd-0c1d2e.wasm')
    expect(new Uint8Array(wasm.rawPayload)).toEqual(WASM)
    expect(wasm.headers['content-length']).toBe(String(WASM.byteLength))
  })

  it('files beside index.html, outside assets/, are revalidated on every load', async () => {
    const { app } = await page(builtPage)
    const icon = await get(app, '/join/favicon.ico')
    expect(icon.headers).toMatchObject({ 'content-type': 'image/x-icon', 'cache-control': 'no-cache' })
    const robots = await get(app, '/join/robots.txt')
    expect(robots.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8' })
  })

  it('refuses every path that leaves the folder, encoded or not, sent as typed, with a 404', async () => {
    // Over a real socket: inject() and browsers resolve "..", even percent-encoded, before sending.
    const { url } = await page(builtPage)
    const address = new URL(url)
    const raw = (path: string) =>
      new Promise<{ status: number; body: string; coep: unknown }>((resolve, reject) => {
        const req = request({ host: address.hostname, port: address.port, path }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (body += chunk))
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, coep: res.headers['cross-origin-embedder-policy'] }),
          )
        })
        req.on('error', reject)
        req.end()
      })
    for (const path of [
      '/join/../secret.txt',
      '/join/assets/../../secret.txt',
      '/join/./../secret.txt',
      '/join/..%2Fsecret.txt',
      '/join/%2e%2e/secret.txt',
      '/join/%2E%2E%2Fsecret.txt',
      '/join/assets/..%2F..%2Fsecret.txt',
      '/join/assets/%2e%2e%5c%2e%2e%5csecret.txt',
      '/join/%2Ftmp%2Fsecret.txt',
      '/join//etc/passwd',
    ]) {
      const res = await raw(path)
      expect(res.status, path).toBe(404)
      expect(res.body, path).not.toContain(SECRET)
      expect(res.coep, path).toBe('require-corp')
    }
    expect((await raw('/join/assets/index-3f9a1c.js')).status).toBe(200)
  })

  it('hidden files, folders and files that are not there are a 404 too', async () => {
    const { app } = await page(builtPage)
    for (const url of [
      '/join/.vite/manifest.json',
      '/join/assets',
      '/join/assets/',
      '/join/assets/missing-000000.js',
    ]) {
      const res = await get(app, url)
      expect(res.statusCode, url).toBe(404)
      expect(res.headers['cross-origin-embedder-policy'], url).toBe('require-corp')
    }
  })

  it('without a built page, answers 503 saying to run `npm run build:web`, and the rest keeps working', async () => {
    let empty = ''
    const { store, viewer } = await storeWithViewer()
    const { app } = await page((dir) => {
      empty = join(dir, 'empty')
      mkdirSync(empty)
      return empty
    }, store)
    for (const url of ['/join', '/join/', '/join/assets/index-3f9a1c.js']) {
      const res = await get(app, url)
      expect(res.statusCode, url).toBe(503)
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
      expect(res.body).toBe(
        `the browser page is not built (${join(empty, 'index.html')} is missing); run \`npm run build:web\` and reload\n`,
      )
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin')
    }
    expect((await app.inject({ method: 'GET', url: '/api/status', headers: viewer })).statusCode).toBe(200)
    const { app: missing } = await page(() => join(empty, 'no-such-folder'))
    expect((await get(missing, '/join')).statusCode).toBe(503)
  })

  it('a coordinator built without a page folder says so at /join', async () => {
    const res = await get((await page(() => undefined)).app, '/join')
    expect(res.statusCode).toBe(503)
    expect(res.body).toBe('this coordinator was started without a folder for the browser page\n')
  })

  it('looks for the page in client-web/dist of this repository by default', () => {
    expect(DEFAULT_WEB_DIR).toBe(join(repo, 'client-web', 'dist'))
  })
})
