import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { headFile, type RoundRecord } from '@fedtune/coordinator'
import type { RunningCoordinator } from '@fedtune/coordinator/start'
import { openStore } from '@fedtune/coordinator/store'
import {
  type ClinicalMetrics,
  countEvaluation,
  dominantWarning,
  evaluatePredictions,
  pooledMetrics,
} from '@fedtune/model'
import { loadBackbone } from '@fedtune/model/node'
import { paramCount } from '@fedtune/protocol'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { buildConsole } from '../../console/node/build-console.ts'
import { realTaskFile, testDatabase } from '../harness.ts'
import { addOperator } from '../test-store.ts'
import { signIn } from './console-sign-in.ts'

/**
 * Issue 15, item 3 in the operator console, in a real headless Chromium: a coordinator restarted
 * mid-run carries on a run of three grades whose kept rounds were measured on the coordinator's
 * validation and test sets and by the participants' pooled counts. Its run page shows the latest
 * round's confusion matrix with each grade's recall and precision, every set's figures side by
 * side (QWK and MAE for grades), the one-grade warning in a banner, and the best round on the chart.
 */
const work = mkdtempSync(join(tmpdir(), 'fedtune-console-evaluation-'))
const shots = join(tmpdir(), 'fedtune-console-screenshots')
const labels = ['none', 'mild', 'severe']

/** Three grades' probabilities, one row per image: what a head predicts on a set. */
const probs = (rows: readonly (readonly number[])[]) => Float32Array.from(rows.flat())
const grades = (ys: readonly number[]) => Int32Array.from(ys)
const repeat = <T>(n: number, row: T): T[] => Array.from({ length: n }, () => row)

// Round 1's head tells the grades apart on validation (7 of 10 right); round 3's calls every image
// "none": 12 none, 5 mild, 3 severe, all predicted none (100 % of one grade: the warning).
const ROUND_1 = evaluatePredictions(
  probs([
    ...repeat(4, [0.7, 0.2, 0.1]),
    [0.3, 0.6, 0.1],
    ...repeat(2, [0.2, 0.7, 0.1]),
    [0.6, 0.3, 0.1],
    [0.1, 0.2, 0.7],
    [0.1, 0.6, 0.3],
  ]),
  grades([0, 0, 0, 0, 0, 1, 1, 1, 2, 2]),
  3,
  { ordinal: true },
)
const ROUND_3 = evaluatePredictions(
  probs([...repeat(12, [0.8, 0.15, 0.05]), ...repeat(5, [0.6, 0.3, 0.1]), ...repeat(3, [0.5, 0.3, 0.2])]),
  grades([...repeat(12, 0), ...repeat(5, 1), ...repeat(3, 2)]),
  3,
  { ordinal: true },
)
const TEST_3 = evaluatePredictions(
  probs([...repeat(6, [0.8, 0.15, 0.05]), [0.3, 0.6, 0.1], [0.5, 0.3, 0.2]]),
  grades([0, 0, 0, 0, 0, 0, 1, 2]),
  3,
  { ordinal: true },
)
const THEIRS_3 = pooledMetrics(
  countEvaluation(
    probs([
      [0.7, 0.2, 0.1],
      [0.2, 0.7, 0.1],
      [0.6, 0.3, 0.1],
      [0.1, 0.2, 0.7],
    ]),
    grades([0, 1, 1, 2]),
    3,
  ),
  3,
  { ordinal: true },
)
const WARNING = dominantWarning(ROUND_3, labels, 'validation')

const record = (
  round: number,
  status: RoundRecord['status'],
  sets: { validation?: ClinicalMetrics; test?: ClinicalMetrics; participants?: ClinicalMetrics | null } = {},
  warnings: readonly string[] = [],
): RoundRecord => ({
  round,
  status,
  reason: status === 'failed' ? 'secure aggregation failed: only 2 masked inputs arrived' : null,
  startedAt: `2026-12-03T00:0${round}:00.000Z`,
  durationMs: 1000,
  selected: ['h1', 'h2', 'h3'],
  contributions: [],
  dropped: [],
  examples: status === 'aggregated' ? 60 : 0,
  labelCounts: status === 'aggregated' ? [30, 20, 10] : null,
  validation: sets.validation ?? null,
  test: sets.test ?? null,
  participants: sets.participants ?? null,
  prior: null,
  best: { round: 1, value: ROUND_1.auc ?? 0 },
  warnings,
  ...(status === 'aggregated' ? { survivors: ['h1', 'h2', 'h3'] } : {}),
})

let browser: Browser
let c: RunningCoordinator
const pageErrors: string[] = []

beforeAll(async () => {
  mkdirSync(shots, { recursive: true })
  const outDir = join(work, 'run')
  const database = await testDatabase()
  const task = await realTaskFile(
    'grades',
    { head: { labels }, training: { rounds: 10 }, participation: { minParticipants: 3 } },
    work,
  )
  // what the coordinator kept before it stopped: three rounds in the store, the last head on disk
  const store = await openStore(database)
  try {
    await store.tasks.submit({ name: task.name, file: JSON.parse(JSON.stringify(task)), submittedBy: 'ada' })
    const run = await store.runs.create({ task: task.name, settings: JSON.parse(JSON.stringify(task)) })
    await store.runs.setState(run.id, 'running')
    const kept = [
      record(1, 'aggregated', { validation: ROUND_1 }),
      record(2, 'failed'),
      record(3, 'aggregated', { validation: ROUND_3, test: TEST_3, participants: THEIRS_3 }, [WARNING ?? '']),
    ]
    for (const r of kept)
      await store.rounds.commit(run.id, r, r.status === 'aggregated' ? `h${r.round}` : null)
  } finally {
    await store.close()
  }
  const backbone = await loadBackbone(task.backbone.source)
  const params = paramCount({ layers: task.head.layers, labels }, backbone.embeddingDim)
  backbone.dispose()
  mkdirSync(join(outDir, 'heads'), { recursive: true })
  writeFileSync(headFile(outDir, 3), new Uint8Array(params * 4))

  const { startCoordinator } = await import('@fedtune/coordinator/start')
  const consoleDir = await buildConsole(join(work, 'console'))
  ;[c, browser] = await Promise.all([
    startCoordinator({
      task,
      port: 0,
      outDir,
      database,
      cacheDir: join(work, 'cache'),
      quiet: true,
      consoleDir,
      print: () => {},
    }),
    launchChromium(),
  ])
  await addOperator(c.store, 'viewer', 'vic')
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await c?.close()
  rmSync(work, { recursive: true, force: true })
})

/** The run page signed in as a viewer; `feed: false` refuses its live feed's socket, so it reads REST only. */
async function runPage(width: number, { feed = true } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 } })
  // installed before the page opens its socket: an unrouted one would connect
  if (!feed) await context.routeWebSocket(/\/console\/socket\.io\//, (ws) => ws.close())
  const page = await context.newPage()
  page.on('pageerror', (error) => {
    throw error
  })
  page.on('console', (message) => {
    // the page asks the REST API once before the sign-in: those 401s are expected; so is a refused feed
    if (message.type() === 'error' && !/status of 401/.test(message.text()) && feed)
      pageErrors.push(message.text())
  })
  await signIn(page, c.url, 'vic')
  await page.goto(`${c.url}/console#/run/grades`)
  await page.locator('#evaluation[data-round="3"]').waitFor()
  return page
}

describe('the run page shows what evaluation measures', () => {
  it("the latest round's confusion matrix with each grade's recall and precision, every set's figures, the warning, the best round", async () => {
    expect(WARNING).toMatch(/predicts "none" for 20 of 20 images/)
    const page = await runPage(1280)

    // the one-grade warning, in a banner an assistive technology announces
    const banner = page.getByRole('alert').filter({ hasText: 'Warning' })
    expect(await banner.textContent()).toContain(WARNING)

    // true grades in rows, predicted in columns, named by the task's labels; counts in the cells
    const matrix = page.getByRole('table', {
      name: /^Confusion matrix of round 3's head on the validation set/,
    })
    const header = await matrix.locator('thead th').allTextContents()
    expect(header).toEqual([
      'true \\ predicted',
      ...labels,
      'images',
      'recall',
      'precision',
      'F1',
      'specificity',
    ])
    const row = (grade: string) => matrix.getByRole('row', { name: new RegExp(`^${grade}\\b`) })
    expect(await row('none').locator('td.count').allTextContents()).toEqual(['12', '0', '0'])
    expect(await row('mild').locator('td.count').allTextContents()).toEqual(['5', '0', '0'])
    expect(await row('severe').locator('td.count').allTextContents()).toEqual(['3', '0', '0'])
    // recall per grade: everything "none" is found, nothing else; precision of "none" is its share
    expect(await row('none').locator('td.recall').textContent()).toBe('1.000')
    expect(await row('mild').locator('td.recall').textContent()).toBe('0.000')
    expect(await row('severe').locator('td.recall').textContent()).toBe('0.000')
    expect(await row('none').locator('td.precision').textContent()).toBe('0.600')
    expect(await row('mild').locator('td.precision').textContent()).toBe('—')
    // shaded by the share of the row: the whole "mild" row is in its first cell
    const shades = await row('mild')
      .locator('td.count')
      .evaluateAll((cells) =>
        cells.map(
          (cell) => (cell as unknown as { style: { backgroundColor: string } }).style.backgroundColor,
        ),
      )
    expect(shades).toEqual(['rgba(31, 111, 235, 0.6)', 'rgba(31, 111, 235, 0)', 'rgba(31, 111, 235, 0)'])

    // every set side by side: the coordinator's validation and test, the participants' pooled counts
    const sets = page.getByRole('table', { name: "Round 3's head on each set" })
    expect(await sets.locator('tbody th').allTextContents()).toEqual([
      'validation set (coordinator)',
      'test set (coordinator)',
      expect.stringMatching(/^participants' pooled validation data.*received at the round's start/),
    ])
    expect(await sets.locator('thead th').allTextContents()).toEqual([
      'set',
      'images',
      'ACC',
      'balanced ACC',
      'AUC',
      'ECE',
      'QWK',
      'MAE (grades)',
    ])
    const validation = sets.locator('tr[data-set="validation"]')
    expect(await validation.locator('td.accuracy').textContent()).toBe('0.600')
    expect(await validation.locator('td.balanced-accuracy').textContent()).toBe('0.333')
    expect(await validation.locator('td.mae').textContent()).toBe(ROUND_3.ordinal?.mae.toFixed(3))
    expect(await sets.locator('tr[data-set="participants"] td.accuracy').textContent()).toBe(
      THEIRS_3?.accuracy.toFixed(3),
    )

    // the chart: validation and test lines, the participants' pooled accuracy, the best round marked
    const chart = page.locator('#chart')
    expect(await chart.getAttribute('data-best')).toBe('1')
    expect((await chart.getAttribute('data-lines'))?.split('|')).toEqual([
      'validation ACC',
      'validation AUC',
      'test ACC',
      'test AUC',
      "participants' pooled ACC",
    ])
    expect(await page.locator('#chart-best').textContent()).toMatch(
      /round 1, the best so far by validation AUC/,
    )
    expect(await page.locator('#run-best').textContent()).toBe(
      `1 (validation AUC ${ROUND_1.auc?.toFixed(3)})`,
    )
    await page.screenshot({ path: join(shots, 'run-evaluation-1280.png'), fullPage: true })
    await page.context().close()

    // on a phone the tables scroll inside their boxes; the page itself does not
    const phone = await runPage(390)
    expect(await phone.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390)
    await phone.screenshot({ path: join(shots, 'run-evaluation-390.png'), fullPage: true })
    await phone.context().close()
    expect(pageErrors).toEqual([])
  }, 60_000)

  it('shows the same matrix, recall and precision without its live feed, read over REST', async () => {
    const page = await runPage(1280, { feed: false })
    expect(await page.locator('#feed').getAttribute('data-status')).not.toBe('live')
    expect(await page.getByRole('alert').filter({ hasText: 'Warning' }).textContent()).toContain(WARNING)
    const matrix = page.getByRole('table', {
      name: /^Confusion matrix of round 3's head on the validation set/,
    })
    const row = (grade: string) => matrix.getByRole('row', { name: new RegExp(`^${grade}\\b`) })
    expect(await row('none').locator('td.count').allTextContents()).toEqual(['12', '0', '0'])
    expect(await row('mild').locator('td.count').allTextContents()).toEqual(['5', '0', '0'])
    expect(await row('none').locator('td.recall').textContent()).toBe('1.000')
    expect(await row('mild').locator('td.recall').textContent()).toBe('0.000')
    expect(await row('none').locator('td.precision').textContent()).toBe('0.600')
    const sets = page.getByRole('table', { name: "Round 3's head on each set" })
    expect(await sets.locator('tr[data-set="validation"] td.mae').textContent()).toBe(
      ROUND_3.ordinal?.mae.toFixed(3),
    )
    await page.context().close()
  }, 60_000)
})
