import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, Participant } from '@fedtune/client-node'
import { headFile, parseTaskFile, privacySettingsFor, type TaskFile } from '@fedtune/coordinator'
import { type RunningCoordinator, startCoordinator } from '@fedtune/coordinator/start'
import { initBackend, readBackboneFolder } from '@fedtune/model/node'
import {
  epsilonOf,
  formatEpsilon,
  type ImageView,
  type PrivacyEvent,
  roundPrivacyEvent,
  type SpentRound,
} from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPage } from '../../client-web/node/build-page.ts'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { testDatabase } from '../harness.ts'
import { splitPneumonia } from '../pneumonia-split.ts'

/**
 * A volunteer in a real headless Chromium (Debian's, driven by playwright-core) takes part in
 * secure rounds with two Node hospital clients: the page served by the coordinator at /join,
 * opt-in, a folder of real PneumoniaMNIST X-rays picked through the folder input, embedding with
 * the backbone in the page, training in a Web Worker, SecAgg+ on tweetnacl and WebCrypto.
 */
const repo = fileURLToPath(new URL('../../', import.meta.url))
const shared = join(repo, '..', 'shared')
/** Screenshots land here (git-ignored), one per test. */
const output = join(repo, 'test-output', 'browser')

let work: string
let webDir: string
let data: string
let backbone: { source: string; sha256: string }
let browser: Browser
const running: { coordinators: RunningCoordinator[]; hospitals: Participant[] } = {
  coordinators: [],
  hospitals: [],
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fedtune-browser-'))
  mkdirSync(output, { recursive: true })
  data = join(work, 'data')
  // Hospitals 1 and 2 are Node clients; "hospital-3"'s folder is the volunteer's pick.
  await splitPneumonia(data, { hospitals: 3, perHospital: 48, testLimit: 120, valLimit: 40, seed: 11 })
  const backboneDir = join(shared, 'backbones', 'mobilenet_v2_0.35_224')
  backbone = { source: backboneDir, sha256: (await readBackboneFolder(backboneDir)).digest }
  await initBackend()
  ;[webDir, browser] = await Promise.all([buildPage(join(work, 'web')), launchChromium()])
}, 180_000)

afterAll(async () => {
  for (const h of running.hospitals) h.close()
  await Promise.all(running.coordinators.map((c) => c.close()))
  await browser?.close()
})

/** Each coordinator's operator lines, by task name, to whoever waits for one (see `recorded`). */
const printed = new Map<string, ((line: string) => void)[]>()

/** Resolves when the coordinator of task `name` has recorded `round` (and printed "round <n>/…"). */
function recorded(name: string, round: number): Promise<void> {
  return new Promise((resolve) => {
    const listeners = printed.get(name) ?? []
    printed.set(name, [...listeners, (line) => line.startsWith(`round ${round}/`) && resolve()])
  })
}

/**
 * Deadlines here must not pass on a loaded machine: rounds and stages get minutes, and no test
 * waits for one. `gatherSeconds` (how long a round waits for more than `minParticipants`) is short
 * unless a test needs a round to wait for everyone and then ends the window itself.
 */
async function coordinator(
  name: string,
  minParticipants: number,
  browsers = true,
  host?: string,
  gatherSeconds = 3,
  privacy?: Record<string, unknown>,
  views?: readonly ImageView[],
): Promise<RunningCoordinator> {
  const task = parseTaskFile(
    {
      name,
      description: 'Chest X-rays (PneumoniaMNIST): tell pneumonia from normal.',
      backbone: views === undefined ? backbone : { ...backbone, views },
      head: { layers: [], labels: ['normal', 'pneumonia'], seed: 7 },
      training: { rounds: 2, localEpochs: 2, batchSize: 16, optimizer: 'adam', learningRate: 0.01 },
      participation: {
        minParticipants,
        participantsPerRound: 3,
        gatherSeconds,
        roundDeadlineSeconds: 600,
        joinTimeoutSeconds: 600,
        browsers: { enabled: browsers, maxPerRound: 1 },
      },
      aggregation: { stageDeadlineSeconds: 300 },
      // a private task with a validation set centres every embedding on its mean, the page's too
      evaluation: { test: join(data, 'test'), ...(privacy ? { validation: join(data, 'validation') } : {}) },
      ...(privacy ? { privacy } : {}),
    },
    work,
  )
  const c = await startCoordinator({
    task,
    port: 0,
    outDir: join(work, `run-${name}`),
    // a database of its own on the run's PostgreSQL server, cloned in milliseconds
    database: await testDatabase(),
    cacheDir: join(work, 'coordinator-cache'),
    quiet: true,
    print: (line) => {
      for (const listener of printed.get(name) ?? []) listener(line)
    },
    webDir,
    ...(host === undefined ? {} : { host }),
  })
  running.coordinators.push(c)
  return c
}

/** A Node hospital client, enrolled first as an operator's approval would enrol it. */
async function hospital(c: RunningCoordinator, i: number): Promise<Participant> {
  const identitySeed = nodeCrypto.randomBytes(32)
  await c.store.participants.enrolOpen({
    task: c.federation.task.name,
    name: `hospital-${i}`,
    kind: 'hospital',
    identityKey: nodeCrypto.ed25519PublicKey(identitySeed),
  })
  const h = new Participant({
    coordinatorUrl: c.url,
    dataDir: join(data, `hospital-${i}`),
    cacheDir: join(work, `cache-${i}`),
    name: `hospital-${i}`,
    valFraction: 0.1,
    agent: 'test',
    log: createLogger('text', () => {}),
    progress: undefined,
    identitySeed,
    allowPlaintext: false,
  })
  h.done.catch(() => {})
  running.hospitals.push(h)
  return h
}

/** Opens /join, picks the volunteer's folder, opts in and joins; resolves once the page waits for rounds. */
async function volunteer(c: RunningCoordinator, on: Browser = browser, query = ''): Promise<Page> {
  const page = await on.newPage()
  await joinOn(page, c, query)
  return page
}

async function joinOn(page: Page, c: RunningCoordinator, query = ''): Promise<void> {
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(`${c.url}/join/${query}`)
  await expect.poll(() => page.textContent('#task-title')).toContain(c.federation.task.name)
  // Nothing may run before the opt-in: the join button stays disabled with images chosen.
  await page.setInputFiles('#folder', join(data, 'hospital-3'))
  await expect.poll(() => page.textContent('#counts')).toMatch(/48 images: normal \d+, pneumonia \d+/)
  expect(await page.isDisabled('#join')).toBe(true)
  await page.check('#opt-in')
  await page.click('#join')
  await page.waitForSelector('#status[data-state="waiting"]', { timeout: 240_000 })
  expect(errors).toEqual([])
}

/** The global head after `round`, from the run folder (GET /api/rounds/<n>/head is for operators). */
function headOf(name: string, round: number): Buffer {
  return readFileSync(headFile(join(work, `run-${name}`), round))
}

/** Names of the page's IndexedDB databases (evaluated in the page; the test's own types have no DOM). */
function databases(page: Page): Promise<string[]> {
  type Databases = { databases(): Promise<{ name?: string }[]> }
  return page.evaluate(async () =>
    (await (globalThis as unknown as { indexedDB: Databases }).indexedDB.databases()).map(
      (d) => d.name ?? '',
    ),
  )
}

/** The keys in the page's IndexedDB store, sorted. */
function storedKeys(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        type Request<T> = { result: T; onsuccess: () => void; onerror: () => void }
        type Db = {
          transaction(s: string): { objectStore(s: string): { getAllKeys(): Request<unknown[]> } }
          close(): void
        }
        const idb = (globalThis as unknown as { indexedDB: { open(name: string): Request<Db> } }).indexedDB
        const open = idb.open('fedtune-volunteer')
        open.onerror = reject
        open.onsuccess = () => {
          const keys = open.result.transaction('kv').objectStore('kv').getAllKeys()
          keys.onerror = reject
          keys.onsuccess = () => {
            // Closed at once: an open connection would hold off the page's own deletion.
            open.result.close()
            resolve(keys.result.map(String).sort())
          }
        }
      }),
  )
}

/** The value under `key` in the page's IndexedDB store (client-web/src/store.ts); undefined if none. */
function storedValue(page: Page, key: string): Promise<unknown> {
  return page.evaluate(
    (k) =>
      new Promise<unknown>((resolve, reject) => {
        type Request<T> = { result: T; onsuccess: () => void; onerror: () => void }
        type Db = {
          transaction(s: string): { objectStore(s: string): { get(k: string): Request<unknown> } }
          close(): void
        }
        const idb = (globalThis as unknown as { indexedDB: { open(name: string): Request<Db> } }).indexedDB
        const open = idb.open('fedtune-volunteer')
        open.onerror = reject
        open.onsuccess = () => {
          const get = open.result.transaction('kv').objectStore('kv').get(k)
          get.onerror = reject
          get.onsuccess = () => {
            open.result.close()
            resolve(get.result)
          }
        }
      }),
    key,
  )
}

/** Puts `value` under `key` in the page's store, as an earlier visit of the page would have. */
function putStored(page: Page, key: string, value: unknown): Promise<void> {
  return page.evaluate(
    ([k, v]) =>
      new Promise<void>((resolve, reject) => {
        type Db = {
          createObjectStore(s: string): unknown
          transaction(
            s: string,
            m: string,
          ): { objectStore(s: string): { put(v: unknown, k: string): unknown }; oncomplete: () => void }
          close(): void
        }
        type Open = { result: Db; onupgradeneeded: () => void; onsuccess: () => void; onerror: () => void }
        const idb = (globalThis as unknown as { indexedDB: { open(name: string, version: number): Open } })
          .indexedDB
        const open = idb.open('fedtune-volunteer', 1)
        open.onupgradeneeded = () => open.result.createObjectStore('kv')
        open.onerror = reject
        open.onsuccess = () => {
          const tx = open.result.transaction('kv', 'readwrite')
          tx.objectStore('kv').put(v, k)
          tx.oncomplete = () => {
            open.result.close()
            resolve()
          }
        }
      }),
    [key, value] as const,
  )
}

describe('the volunteer page, before anything runs', () => {
  it('says what the task is and what leaves the browser, and starts nothing without the opt-in', async () => {
    const c = await coordinator('volunteer-consent', 3)
    const page = await browser.newPage()
    await page.goto(`${c.url}/join/`)
    await expect.poll(() => page.textContent('#task-title')).toBe('Task: volunteer-consent')
    expect(await page.textContent('#task-description')).toContain('PneumoniaMNIST')
    expect(await page.textContent('#task')).toMatch(
      /What leaves this browser.*masked.*What never leaves.*Your images/s,
    )
    expect(await page.textContent('#data-needs')).toContain('"normal" and "pneumonia"')
    // one view, the original: one pass of the backbone per image, nothing to say about it
    expect(await page.textContent('#task-facts')).not.toContain('Views')
    // Files labelled per batch: a few normals, then a few pneumonias.
    const folder = (label: string) => join(data, 'hospital-3', label)
    const some = async (label: string) =>
      (await readdir(folder(label))).slice(0, 3).map((n) => join(folder(label), n))
    await page.setInputFiles('#files', await some('normal'))
    await page.selectOption('#label', '0')
    await page.click('#add-files')
    await page.setInputFiles('#files', await some('pneumonia'))
    await page.selectOption('#label', '1')
    await page.click('#add-files')
    expect(await page.textContent('#counts')).toBe('6 images: normal 3, pneumonia 3')
    // Images chosen, no opt-in: Join stays disabled and nothing is stored.
    expect(await page.isDisabled('#join')).toBe(true)
    expect(await databases(page)).not.toContain('fedtune-volunteer')
    expect(await page.getAttribute('#status', 'data-state')).toBe('idle')
    await page.check('#opt-in')
    expect(await page.isDisabled('#join')).toBe(false)
    await page.uncheck('#opt-in')
    expect(await page.isDisabled('#join')).toBe(true)
    await page.screenshot({ path: join(output, 'consent.png'), fullPage: true })
    // Joining: this Chromium's WebGL is SwiftShader, a software renderer, so the page embeds on
    // WebAssembly instead and says why.
    await page.check('#opt-in')
    await page.click('#join')
    await page.waitForSelector('#status[data-state="waiting"]', { timeout: 240_000 })
    expect(await page.getAttribute('body', 'data-backend')).toBe('wasm')
    expect(await page.textContent('#embedded')).toMatch(
      /Embedded 6 images .* on wasm: WebGL here is a software renderer \(.*SwiftShader.*\), slower than WebAssembly/,
    )
    expect(await page.getAttribute('body', 'data-backbone')).toBe('download')

    // The backbone is downloaded once: after a reload it comes from IndexedDB, checked again.
    const joinAgain = async () => {
      await page.reload()
      await page.waitForSelector('#status[data-state="idle"]')
      await page.setInputFiles('#files', [...(await some('normal')), ...(await some('pneumonia'))])
      await page.click('#add-files')
      await page.check('#opt-in')
      await page.click('#join')
      await page.waitForSelector('#status:is([data-state="waiting"], [data-state="error"])', {
        timeout: 240_000,
      })
    }
    await joinAgain()
    expect(await page.getAttribute('#status', 'data-state')).toBe('waiting')
    expect(await page.getAttribute('body', 'data-backbone')).toBe('cache')

    // A cached backbone that changed (one flipped bit) is refused, naming the file; nothing runs.
    const digest = c.federation.task.backbone.digest
    await page.evaluate(
      (key) =>
        new Promise<void>((resolve, reject) => {
          type Files = { files: { name: string; bytes: Uint8Array }[] }
          type Store = {
            get(k: string): { result: Files; onsuccess: () => void }
            put(v: Files, k: string): unknown
          }
          type Db = {
            transaction(s: string, m?: string): { objectStore(s: string): Store; oncomplete: () => void }
            close(): void
          }
          const idb = (
            globalThis as unknown as {
              indexedDB: { open(n: string): { result: Db; onsuccess: () => void; onerror: () => void } }
            }
          ).indexedDB
          const open = idb.open('fedtune-volunteer')
          open.onerror = reject
          open.onsuccess = () => {
            const tx = open.result.transaction('kv', 'readwrite')
            const store = tx.objectStore('kv')
            const get = store.get(key)
            get.onsuccess = () => {
              const record = get.result
              const first = record.files[0] as { bytes: Uint8Array }
              first.bytes[10] = (first.bytes[10] as number) ^ 1
              store.put(record, key)
            }
            tx.oncomplete = () => {
              open.result.close()
              resolve()
            }
          }
        }),
      `backbone:${digest}`,
    )
    await joinAgain()
    expect(await page.getAttribute('#status', 'data-state')).toBe('error')
    expect(await page.textContent('#status')).toMatch(
      /backbone: cached model\.json has SHA-256 [0-9a-f]{64}, the task lists [0-9a-f]{64}; refusing to use a different model/,
    )
    await page.close()
  }, 300_000)

  it('refuses to run outside a secure context (plain http from another machine): no WebCrypto, no way in', async () => {
    // This machine's own non-loopback address (IPv4, else IPv6): http there is no secure context.
    const addresses = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && !a.internal && !a.address.startsWith('fe80:'))
    const own = addresses.find((a) => a?.family === 'IPv4') ?? addresses.find((a) => a?.family === 'IPv6')
    expect(own, 'a non-loopback address of this machine to open the page from').toBeDefined()
    const v6 = own?.family === 'IPv6'
    const c = await coordinator('plain-http', 3, true, v6 ? '::' : '0.0.0.0')
    const page = await browser.newPage()
    await page.goto(`http://${v6 ? `[${own?.address}]` : own?.address}:${new URL(c.url).port}/join/`)
    await page.waitForSelector('#status[data-state="error"]')
    expect(await page.textContent('#status')).toMatch(/opened over plain http .* no WebCrypto/)
    await page.setInputFiles('#folder', join(data, 'hospital-3'))
    await page.check('#opt-in')
    expect(await page.isDisabled('#join')).toBe(true)
    await page.close()
  }, 120_000)

  it('says, where it describes the work, that each image is embedded once per view of the task', async () => {
    const views: ImageView[] = ['original', 'horizontal-flip', 'vertical-flip', 'rotate-180']
    const c = await coordinator('volunteer-views', 3, true, undefined, 3, undefined, views)
    const page = await browser.newPage()
    await page.goto(`${c.url}/join/`)
    await expect.poll(() => page.textContent('#task-title')).toBe('Task: volunteer-views')
    expect(await page.textContent('#task-facts')).toContain(
      'Viewseach image is embedded 4 times (as it is, mirrored left to right, upside down and turned half a turn) and the head learns from the mean of those embeddings',
    )
    await page.close()
  }, 120_000)

  it('tells a volunteer when the task takes no browsers, and offers no way in', async () => {
    const c = await coordinator('hospitals-only', 2, false)
    const page = await browser.newPage()
    await page.goto(`${c.url}/join/`)
    await page.waitForSelector('#status[data-state="error"]')
    expect(await page.textContent('#status')).toBe('This task does not take browser participants.')
    await page.setInputFiles('#folder', join(data, 'hospital-3'))
    await page.check('#opt-in')
    expect(await page.isDisabled('#join')).toBe(true)
    await page.close()
  }, 120_000)
})

describe('a volunteer in headless Chromium', () => {
  it('opts in, embeds its images and completes two secure rounds with two hospitals', async () => {
    // Three are needed before a round starts, so the volunteer is in every round.
    const c = await coordinator('volunteer-rounds', 3)
    // WebGL forced: the GPU path, end to end (here on SwiftShader).
    const page = await volunteer(c, browser, '?backend=webgl')
    await hospital(c, 1)
    await hospital(c, 2)

    await page.waitForSelector('#rounds tr[data-round="2"]', { timeout: 540_000 })
    await page.screenshot({ path: join(output, 'two-rounds.png'), fullPage: true })
    const rows = await page.$$eval('#rounds tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    expect(rows.map((r) => r[0])).toEqual(['1', '2'])
    // the global model on the volunteer's own held-out images, computed in its worker and never sent
    expect(await page.textContent('#on-your-images')).toMatch(
      /^Round 2: the global model on your \d+ held-out images: ACC [\d.]+; balanced ACC [\d.]+; AUC [\d.-]+; recall /,
    )
    for (const [, yourPart, result, participants, acc, auc] of rows) {
      expect(yourPart).toMatch(/^trained on \d+; ACC [\d.]+ on your images$/)
      expect(result).toBe('aggregated')
      expect(participants).toBe('3')
      expect(Number(acc)).toBeGreaterThan(0.5)
      expect(Number(auc)).toBeGreaterThan(0.5)
    }
    const volunteerName = (c.records[0]?.survivors ?? []).find((n) => n.startsWith('volunteer-'))
    expect(volunteerName).toBeDefined()
    for (const record of c.records) {
      expect(record.status).toBe('aggregated')
      expect(record.survivors).toContain(volunteerName)
    }
    // The global head moved: round 2's head differs from the initial one and from round 1's.
    const [initial, first, second] = [0, 1, 2].map((r) => headOf('volunteer-rounds', r)) as [
      Buffer,
      Buffer,
      Buffer,
    ]
    expect(first.equals(initial)).toBe(false)
    expect(second.equals(first)).toBe(false)
    expect(await page.getAttribute('body', 'data-backend')).toBe('webgl')
    // The coordinator's chart of the run is shown, and loaded (a cross-origin-isolated page may embed it).
    expect(await page.isVisible('#chart')).toBe(true)
    await expect
      .poll(() => page.$eval('#chart', (img) => (img as unknown as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0)

    // What the page stored: the verified backbone under its digest, and this browser's identity.
    expect(await storedKeys(page)).toEqual([`backbone:${c.federation.task.backbone.digest}`, 'identity'])
    // Stop deletes what the page stored: the IndexedDB database is gone.
    expect(await databases(page)).toContain('fedtune-volunteer')
    await page.click('#stop')
    await page.waitForSelector('#status[data-state="stopped"]')
    expect(await databases(page)).not.toContain('fedtune-volunteer')
    await page.close()
  }, 600_000)

  it('under participant-level privacy: keeps each round in its store before sending, and shows ε spent as the coordinator accounts it', async () => {
    const c = await coordinator('volunteer-private', 3, true, undefined, 3, {
      unit: 'participant',
      epsilon: 8,
      delta: 1e-5,
      clipNorm: 0.5,
    })
    expect(c.federation.task.inputCentre).toHaveLength(c.federation.task.backbone.embeddingDim)
    const page = await volunteer(c)
    await hospital(c, 1)
    await hospital(c, 2)
    await page.waitForSelector('#rounds tr[data-round="2"]', { timeout: 540_000 })
    const rows = await page.$$eval('#rounds tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    const epsilons = c.records.map((r) => formatEpsilon(r.privacy?.epsilon ?? Number.NaN))
    expect(c.records.map((r) => r.survivors?.length)).toEqual([3, 3])
    // the volunteer's own account (three survivors at worst, as the task's minimum) is the coordinator's
    expect(rows.map((r) => r[1])).toEqual(
      epsilons.map((e) => expect.stringMatching(new RegExp(`; ε spent ${e} of 8\\.00 \\(δ 1e-5\\)$`))),
    )
    expect(await page.textContent('#privacy-budget')).toBe(
      `After round 2: ε spent ${epsilons[1]} of 8.00 (δ 1e-5).`,
    )
    // beside it, after each result, the coordinator's ε in the hospital client's words; they agree: no warning
    expect(rows.map((r) => r[6])).toEqual(epsilons)
    expect(await page.textContent('#privacy-reported')).toBe(
      `round 2: ε spent ${epsilons[1]} of 8.00 (δ 1e-5) by this browser's ledger (2 rounds it released, each at the worst case of 3 survivors) · the coordinator reports ε ${epsilons[1]} (every round the federation released, with its survivors)`,
    )
    expect(await page.isHidden('#privacy-excess')).toBe(true)
    // kept in the page's store, one event a round, before each masked input went out
    expect(await storedKeys(page)).toContain('privacy:volunteer-private')
    await page.close()
  }, 600_000)

  it('under participant-level privacy: takes part in a round, refuses the next one its budget cannot take, says so with the figures and leaves; the hospitals finish the run', async () => {
    // Two survivors may aggregate a round, so the hospitals go on without the volunteer; a gather
    // window that does not pass makes round 1 wait for all three, and round 2 starts with all three.
    const c = await coordinator('volunteer-budget', 2, true, undefined, 3600, {
      unit: 'participant',
      epsilon: 8,
      delta: 1e-5,
      clipNorm: 0.5,
    })
    const [round1, round2] = [recorded('volunteer-budget', 1), recorded('volunteer-budget', 2)]
    const info = c.federation.task
    // What the run serves, by the coordinator's own function: z, and the ring's scale each round carries.
    const file = c.run.settings as TaskFile
    if (file.privacy === null) throw new Error('expected a private task')
    const served = privacySettingsFor({ ...file, privacy: file.privacy }, info.paramCount)
    if (!served.ok || served.value.fixedPoint === null)
      throw new Error('expected a served secure private task')
    const privacy = served.value.settings
    expect(info.privacy).toEqual(privacy)
    // One round as the browser's accountant counts it: the worst case of minParticipants survivors.
    const event: PrivacyEvent = roundPrivacyEvent(privacy, {
      steps: 0,
      scale: served.value.fixedPoint.scale,
      dimension: info.paramCount,
    })
    const epsilonAfter = (rounds: number) => epsilonOf(Array(rounds).fill(event), privacy.delta)
    let fits = 0
    while (epsilonAfter(fits + 1) <= privacy.epsilon) fits++
    // z is derived so that the task's 2 rounds fit, in this worst case too
    expect(fits).toBeGreaterThanOrEqual(2)
    // An earlier visit kept all but one of them: this browser's budget has room for one round more.
    const earlier: SpentRound[] = Array.from({ length: fits - 1 }, (_, i) => ({
      task: info.taskId,
      round: i + 1,
      time: '2026-12-01T10:00:00.000Z',
      event,
    }))
    const page = await browser.newPage()
    // Every frame the page sends, seen on its way to the coordinator (installed before the socket opens).
    const sent: string[] = []
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer()
      ws.onMessage((message) => {
        // a binary event's JSON header travels in ASCII (docs/protocol.md, "Framing")
        sent.push(typeof message === 'string' ? message : message.toString('latin1'))
        server.send(message)
      })
      server.onMessage((message) => ws.send(message))
    })
    await page.goto(`${c.url}/join/`)
    await putStored(page, `privacy:${info.taskId}`, earlier)
    await joinOn(page, c)
    expect(await page.textContent('#privacy-budget')).toContain(
      `ε spent ${formatEpsilon(epsilonAfter(fits - 1))} of 8.00 (δ 1e-5), ${fits - 1} round`,
    )
    await hospital(c, 1)
    await hospital(c, 2)

    // Whatever ends its part (a run it finished, an error) ends the wait, not only the one expected.
    await page.waitForSelector(
      '#status:is([data-state="budget-spent"], [data-state="finished"], [data-state="error"])',
      { timeout: 300_000 },
    )
    await page.screenshot({ path: join(output, 'budget-spent.png'), fullPage: true })
    expect(await page.getAttribute('#status', 'data-state')).toBe('budget-spent')
    expect(await page.textContent('#status')).toBe(
      `Round 2 would take this participant's privacy budget to ε ${formatEpsilon(epsilonAfter(fits + 1))}, past the task's target ε 8.00 (δ 1e-5); ${fits} rounds trained so far spent ε ${formatEpsilon(epsilonAfter(fits))}. This browser left the run; its record stays here until you stop.`,
    )
    // It had taken part before: round 1's result is on the page, with the part it trained and its ε,
    const rows = await page.$$eval('#rounds tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    expect(rows.map((r) => r.slice(0, 4))).toEqual([
      [
        '1',
        expect.stringMatching(
          new RegExp(
            `^trained on \\d+; ACC [\\d.]+ on your images; ε spent ${formatEpsilon(epsilonAfter(fits))} of 8\\.00 \\(δ 1e-5\\)$`,
          ),
        ),
        'aggregated',
        '3',
      ],
      // and the round it refused, whose result it no longer waits for
      ['2', 'refused: privacy budget', 'this browser left before it ended', '–'],
    ])
    expect(await page.textContent('#privacy-budget')).toBe(
      `After round 1: ε spent ${formatEpsilon(epsilonAfter(fits))} of 8.00 (δ 1e-5).`,
    )
    // Left for good: no way to join again until a stop, which would delete the record.
    expect(await page.isDisabled('#join')).toBe(true)
    expect(await page.isEnabled('#stop')).toBe(true)
    // The page's ledger: the earlier visit's rounds and round 1, kept before its masked input went out; no round 2.
    expect(await storedValue(page, `privacy:${info.taskId}`)).toEqual([
      ...earlier,
      { task: info.taskId, round: 1, time: expect.any(String), event },
    ])

    // The coordinator: round 1 with the volunteer among its survivors; round 2 without it, from the hospitals.
    await round1
    await round2
    const [first, second] = c.records
    const volunteerName = first?.survivors?.find((n) => n.startsWith('volunteer-'))
    expect(volunteerName).toBeDefined()
    expect(first).toMatchObject({ status: 'aggregated', privacy: { survivors: 3 } })
    expect(first?.survivors).toHaveLength(3)
    expect(second?.status).toBe('aggregated')
    expect(second?.selected).toContain(volunteerName)
    expect(second?.dropped).toContain(volunteerName)
    expect([...(second?.survivors ?? [])].sort()).toEqual(['hospital-1', 'hospital-2'])
    expect(second?.privacy?.survivors).toBe(2)
    // Its secure-aggregation messages: all four stages of round 1, nothing at all of round 2.
    const stages = sent.flatMap((frame) => {
      const stage = /"stage":"([a-z-]+)"/.exec(frame)?.[1]
      return stage === undefined ? [] : [`${/"round":(\d+)/.exec(frame)?.[1]} ${stage}`]
    })
    expect(stages).toEqual(['1 advertise', '1 share-keys', '1 masked-input', '1 unmask'])
    // The run ends as it would have with the volunteer: both rounds done.
    expect(await c.federation.done).toMatchObject({ completed: 2, failed: 0 })
    await page.close()
  }, 600_000)

  it('closing the tab mid-round is a dropout that the round survives (a browser without WebGL, on wasm)', async () => {
    // Round 1 must wait for all three, however far apart the hospitals join (a gather window that
    // does not pass); round 2, without the volunteer, starts when the test ends that window.
    const c = await coordinator('volunteer-leaves', 2, true, undefined, 3600)
    const [round1, round2] = [recorded('volunteer-leaves', 1), recorded('volunteer-leaves', 2)]
    // WebGL switched off: the page must fall back to WebAssembly for the backbone.
    const noWebgl = await launchChromium(['--disable-gpu', '--disable-software-rasterizer'])
    // The tab dies at a fixed point of round 1, not whenever the test gets to it: its socket is
    // routed through the test, which lets everything pass until the page sends its masked input
    // (after it has shared its keys, so its masks are in the other inputs), drops that message and
    // closes the page — the costliest dropout, which the coordinator must undo with the shares.
    const page = await noWebgl.newPage()
    let dying = false
    let killed: () => void = () => {}
    const closeAt = new Promise<void>((resolve) => {
      killed = resolve
    })
    // Installed before the page opens its socket (awaited: an unrouted socket would never be cut).
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer()
      ws.onMessage((message) => {
        // a binary event travels packed in one frame, its JSON header in ASCII (docs/protocol.md, "Framing")
        const text = typeof message === 'string' ? message : message.toString('latin1')
        if (text.includes('"stage":"masked-input"')) {
          dying = true
          killed()
        }
        if (!dying) server.send(message)
      })
      server.onMessage((message) => ws.send(message))
    })
    await joinOn(page, c)
    expect(await page.getAttribute('body', 'data-backend')).toBe('wasm')
    expect(await page.textContent('#embedded')).toMatch(/on wasm: WebGL (did not initialise|failed)/)
    await hospital(c, 1)
    await hospital(c, 2)
    let guard: NodeJS.Timeout | undefined
    await Promise.race([
      closeAt,
      new Promise((_, reject) => {
        guard = setTimeout(
          () =>
            reject(
              new Error(
                `the volunteer sent no masked input in 300 s; rounds so far: ${JSON.stringify(c.records.map((r) => [r.round, r.status, r.reason, r.selected]))}`,
              ),
            ),
          300_000,
        )
      }),
    ])
    clearTimeout(guard)
    await page.screenshot({ path: join(output, 'before-closing.png'), fullPage: true })
    expect(await page.getAttribute('#stage', 'data-round')).toBe('1')
    await page.close()
    await noWebgl.close()
    // Round 1 closes once the coordinator sees the tab gone; the two hospitals then wait in the
    // gather window, which the test ends as its timer would.
    await round1
    expect(c.federation.state).toMatchObject({ phase: 'waiting', gathering: 'waiting' })
    c.federation.dispatch({ type: 'gather-timeout' })
    await round2
    const [first, second] = c.records
    const volunteerName = first?.selected.find((n) => n.startsWith('volunteer-'))
    expect(volunteerName).toBeDefined()
    // Round 1: the volunteer shared keys, then vanished; the sum is the two hospitals'.
    expect(first?.status).toBe('aggregated')
    expect([...(first?.survivors ?? [])].sort()).toEqual(['hospital-1', 'hospital-2'])
    expect(first?.dropped).toContain(volunteerName)
    expect(second?.status).toBe('aggregated')
    expect([...(second?.survivors ?? [])].sort()).toEqual(['hospital-1', 'hospital-2'])
  }, 600_000)
})
