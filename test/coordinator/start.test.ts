import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTaskFile } from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const backboneDir = join(repo, '..', 'shared', 'backbones', 'mobilenet_v2_0.35_224')

let server: Server
let base: string
let requests: string[] = []

beforeAll(async () => {
  await initBackend()
  server = createServer((req, res) => {
    requests.push(req.url ?? '')
    try {
      res.end(readFileSync(join(backboneDir, (req.url ?? '/').slice('/models/'.length))))
    } catch (error) {
      res.statusCode = 404
      res.end((error as Error).message)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/`
})

afterAll(() => server.close())

describe('a coordinator whose backbone lives at an http(s) URL', () => {
  it('fetches it once, verifies it against the task’s digest and serves it to participants', async () => {
    const { digest } = await readBackboneFolder(backboneDir)
    const cacheDir = mkdtempSync(join(tmpdir(), 'fedtune-url-'))
    const task = parseTaskFile(
      {
        name: 'url',
        backbone: { source: `${base}model.json`, sha256: digest },
        head: { labels: ['a', 'b'] },
        training: { rounds: 1 },
      },
      '/',
    )
    for (let run = 0; run < 2; run++) {
      requests = []
      const coordinator = await startCoordinator({
        task,
        port: 0,
        outDir: join(cacheDir, `run-${run}`),
        cacheDir,
        quiet: true,
        print: () => {},
      })
      try {
        expect(coordinator.federation.task.backbone.digest).toBe(digest)
        const path = `${coordinator.federation.task.backbone.path}weights.bin`
        const res = await coordinator.app.inject({ method: 'GET', url: path })
        const expected = createHash('sha256')
          .update(readFileSync(join(backboneDir, 'weights.bin')))
          .digest('hex')
        expect(createHash('sha256').update(res.rawPayload).digest('hex')).toBe(expected)
      } finally {
        await coordinator.close()
      }
      // the first start downloads model.json and weights.bin; the second uses the verified cache
      expect(requests.length).toBe(run === 0 ? 2 : 0)
    }
  })

  it('refuses a URL whose content does not match the digest, with both digests', async () => {
    const wrong = '0'.repeat(64)
    const task = parseTaskFile(
      {
        name: 'url',
        backbone: { source: `${base}model.json`, sha256: wrong },
        head: { labels: ['a', 'b'] },
        training: { rounds: 1 },
      },
      '/',
    )
    const cacheDir = mkdtempSync(join(tmpdir(), 'fedtune-url-'))
    const { digest } = await readBackboneFolder(backboneDir)
    const start = startCoordinator({
      task,
      port: 0,
      outDir: join(cacheDir, 'run'),
      cacheDir,
      quiet: true,
      print: () => {},
    })
    await expect(start).rejects.toThrow(wrong)
    await expect(start).rejects.toThrow(digest)
  })
})
