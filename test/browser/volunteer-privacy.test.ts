import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import {
  epsilonOf,
  formatEpsilon,
  type PrivacySettings,
  privacyStatement,
  roundPrivacyEvent,
  type SpentRound,
  type TaskInfo,
} from '@fedtune/protocol'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPage } from '../../client-web/node/build-page.ts'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { examplePrivacy as example, participantPrivacy as participant } from '../privacy-fixture.ts'

/**
 * The volunteers' page and a task's differential privacy, in a real headless Chromium: the page as
 * built for /join, served with the task info it reads (GET /api/task) by a plain HTTP server on port 0;
 * no coordinator, no socket, no backbone. What is checked happens before anything is downloaded.
 */
let work: string
let webDir: string
let server: Server
let base: string
let browser: Browser
/** Every path the page asked for, in order. */
const requested: string[] = []

const head = { layers: [], labels: ['normal', 'pneumonia'] }
function taskInfo(name: string, privacy: PrivacySettings | null): TaskInfo {
  const file = 'cd'.repeat(32)
  return {
    taskId: name,
    name,
    description: 'Chest X-rays: tell pneumonia from normal.',
    rounds: 20,
    ordinal: false,
    backbone: {
      digest: createHash('sha256').update(`${file}  model.json\n`).digest('hex'),
      path: '/backbone/x/',
      files: [{ name: 'model.json', sha256: file, bytes: 10 }],
      inputSize: 224,
      embeddingDim: 8,
      views: ['original'],
    },
    head,
    paramCount: 18,
    aggregation: 'secure',
    browsers: { enabled: true, maxPerRound: 1 },
    privacy,
    inputCentre: null,
  }
}
const tasks = new Map<string, TaskInfo>(
  [taskInfo('plain', null), taskInfo('volunteers', participant), taskInfo('images', example)].map((t) => [
    t.name,
    t,
  ]),
)

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-volunteer-privacy-'))
  ;[webDir, browser] = await Promise.all([buildPage(join(work, 'web')), launchChromium()])
  // As the coordinator serves the page: index.html for /join/<task>, the files beside it, the task info.
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x')
    requested.push(url.pathname)
    response.setHeader('cross-origin-opener-policy', 'same-origin')
    response.setHeader('cross-origin-embedder-policy', 'require-corp')
    response.setHeader('cross-origin-resource-policy', 'same-origin')
    if (url.pathname === '/api/task') {
      const task = tasks.get(url.searchParams.get('task') ?? '')
      if (!task) return response.writeHead(404).end()
      return response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(task))
    }
    if (!url.pathname.startsWith('/join/')) return response.writeHead(404).end()
    const rest = normalize(url.pathname.slice('/join/'.length))
    const file = rest.startsWith('assets/') ? join(webDir, rest) : join(webDir, 'index.html')
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    response.end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => server?.close(resolve))
  rmSync(work, { recursive: true, force: true })
})

async function open(task: string): Promise<Page> {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(`${base}/join/${task}`)
  await page.waitForSelector('#status[data-state="idle"]')
  expect(errors).toEqual([])
  return page
}

const statementShown = (page: Page) =>
  page.$$eval('#privacy-statement li', (items) => items.map((li) => li.textContent))

/** Whether the privacy statement comes before the opt-in checkbox in the page (as it is read). */
const beforeOptIn = (page: Page) =>
  page.evaluate(
    // Strings, not functions: this file is type-checked without the DOM's types (strict-curves.test.ts).
    "(document.getElementById('privacy-statement').compareDocumentPosition(document.getElementById('opt-in')) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0",
  )

const fact = (page: Page, term: string) =>
  page.evaluate(
    `[...document.querySelectorAll('#task-facts dt')].find((d) => d.textContent === ${JSON.stringify(term)})?.nextElementSibling?.textContent ?? null`,
  )

/** Puts `value` under `key` in the page's store, as an earlier visit would have (client-web/src/store.ts). */
const stored = (page: Page, key: string, value: unknown) =>
  page.evaluate(`new Promise((resolve, reject) => {
    const r = indexedDB.open('fedtune-volunteer', 1)
    r.onupgradeneeded = () => r.result.createObjectStore('kv')
    r.onerror = () => reject(r.error)
    r.onsuccess = () => {
      const tx = r.result.transaction('kv', 'readwrite')
      tx.objectStore('kv').put(${JSON.stringify(value)}, ${JSON.stringify(key)})
      tx.oncomplete = () => {
        r.result.close()
        resolve()
      }
    }
  })`)

describe('the volunteers’ page says the task’s privacy before the opt-in', () => {
  it('a task with participant-level privacy: the statement in the task’s words, and no count leaves', async () => {
    const page = await open('volunteers')
    expect(await statementShown(page)).toEqual(privacyStatement(participant))
    expect(await beforeOptIn(page)).toBe(true)
    expect(await page.getAttribute('#privacy', 'data-unit')).toBe('participant')
    expect(await fact(page, 'Differential privacy')).toBe('ε = 8.00, δ = 1e-5 for each participant')
    expect(await page.textContent('#leaves-counts')).toMatch(/^No count at all: /)
    expect(await page.isChecked('#opt-in')).toBe(false)
    await page.close()
  })

  it('a task without privacy says plainly that it gives no differential-privacy guarantee', async () => {
    const page = await open('plain')
    const shown = await statementShown(page)
    expect(shown[0]).toBe('This task gives no differential-privacy guarantee.')
    expect(shown).toEqual(privacyStatement(null))
    expect(await beforeOptIn(page)).toBe(true)
    expect(await fact(page, 'Differential privacy')).toBe(
      'none: this task gives no differential-privacy guarantee',
    )
    expect(await page.textContent('#leaves-counts')).toMatch(/^Inside the same masked sum: how many images/)
    await page.close()
  })
})

describe('the volunteers’ page keeps its own privacy budget', () => {
  it('rounds kept from an earlier visit that leave no room for another: told so with the figures at the join, nothing fetched', async () => {
    const page = await open('images')
    const round = roundPrivacyEvent(example, { steps: example.stepsPerRound, scale: 1, dimension: 18 })
    let fits = 0
    while (epsilonOf(Array(fits + 1).fill(round), example.delta) <= example.epsilon) fits++
    const kept: SpentRound[] = Array.from({ length: fits }, (_, i) => ({
      task: 'images',
      round: i + 1,
      time: '2026-12-03T10:00:00.000Z',
      event: round,
    }))
    // what an earlier visit kept (client-web/src/spent-rounds.ts)
    await stored(page, 'privacy:images', kept)
    const png = Buffer.from('89504e470d0a1a0a', 'hex')
    await page.setInputFiles('#files', [
      { name: 'a.png', mimeType: 'image/png', buffer: png },
      { name: 'b.png', mimeType: 'image/png', buffer: png },
    ])
    await page.click('#add-files')
    await page.check('#opt-in')
    const before = requested.length
    await page.click('#join')
    await page.waitForSelector('#status[data-state="budget-spent"]')
    const spent = formatEpsilon(epsilonOf(Array(fits).fill(round), 1e-5))
    const after = formatEpsilon(epsilonOf(Array(fits + 1).fill(round), 1e-5))
    expect(await page.textContent('#status')).toBe(
      `another round would take this participant's privacy budget to ε ${after}, past the task's target ε 3.00 (δ 1e-5); ${fits} rounds trained so far spent ε ${spent}. This browser does not take part again.`,
    )
    expect(await page.textContent('#privacy-budget')).toBe(
      `Your privacy budget for this task: ε spent ${spent} of 3.00 (δ 1e-5), ${fits} rounds trained before.`,
    )
    expect(requested.slice(before)).toEqual([])
    expect(await page.isDisabled('#join')).toBe(true)
    expect(await page.isEnabled('#stop')).toBe(true)
    await page.close()
  })
})
