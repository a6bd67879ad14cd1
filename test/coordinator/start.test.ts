import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTaskFile } from '@fedtune/coordinator'
import { startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness.ts'

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
        // a database of its own on the run's PostgreSQL server, cloned in milliseconds
        database: await testDatabase(),
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
      // a database of its own on the run's PostgreSQL server, cloned in milliseconds
      database: await testDatabase(),
      cacheDir,
      quiet: true,
      print: () => {},
    })
    await expect(start).rejects.toThrow(wrong)
    await expect(start).rejects.toThrow(digest)
  })
})

describe('a coordinator whose task takes browser participants', () => {
  it('prints where the page is when it is built, why /join is unavailable when not, and nothing without browsers', async () => {
    const { digest } = await readBackboneFolder(backboneDir)
    const work = mkdtempSync(join(tmpdir(), 'fedtune-join-'))
    const built = join(work, 'dist')
    mkdirSync(built)
    writeFileSync(join(built, 'index.html'), '<!doctype html>')
    const taskWith = (participation: object) =>
      parseTaskFile(
        {
          name: 'browsers',
          backbone: { source: backboneDir, sha256: digest },
          head: { labels: ['a', 'b'] },
          training: { rounds: 1 },
          participation,
        },
        '/',
      )
    const withBrowsers = taskWith({ browsers: { enabled: true, maxPerRound: 2 }, participantsPerRound: 3 })
    const cases = [
      { task: withBrowsers, webDir: built, status: 200 },
      { task: withBrowsers, webDir: join(work, 'not-built'), status: 503 },
      { task: taskWith({}), webDir: built, status: 200 },
    ]
    const printed: string[][] = []
    for (const [i, { task, webDir, status }] of cases.entries()) {
      const lines: string[] = []
      const coordinator = await startCoordinator({
        task,
        port: 0,
        outDir: join(work, `run-${i}`),
        // a database of its own on the run's PostgreSQL server, cloned in milliseconds
        database: await testDatabase(),
        cacheDir: join(work, 'cache'),
        quiet: true,
        print: (line) => lines.push(line),
        webDir,
      })
      try {
        expect((await coordinator.app.inject({ method: 'GET', url: '/join' })).statusCode).toBe(status)
        printed.push(
          lines.filter((line) => line.includes('/join')).map((l) => l.replace(coordinator.url, 'URL')),
        )
      } finally {
        await coordinator.close()
      }
    }
    expect(printed).toEqual([
      ['browser participants: up to 2 per round, from the page at URL/join/browsers'],
      [
        `browser participants: enabled, but /join is unavailable: the browser page is not built (${join(work, 'not-built', 'index.html')} is missing); run \`npm run build:web\` and reload`,
      ],
      [],
    ])
  })
})
