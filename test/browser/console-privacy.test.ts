import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RoundRecord, writeUnmaskingMark } from '@fedtune/coordinator'
import type { RunningCoordinator, StartOptions } from '@fedtune/coordinator/start'
import { formatEpsilon, privacyStatement } from '@fedtune/protocol'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { buildConsole } from '../../console/node/build-console.ts'
import { realTaskFile, startQuietCoordinator, testDatabase } from '../harness.ts'
import { addOperator } from '../test-store.ts'
import { signIn } from './console-sign-in.ts'

/**
 * Issue 16, items 4 and 5 in the operator console, in a real headless Chromium: a private task's run
 * page says the ε spent of the target with a meter, the statement every participant is told before
 * it joins, and each round's ε in the timeline. The round here is one the coordinator kept as failed
 * and accounted after a restart, because the coordinator before it had asked its three survivors to
 * unmask and crashed: the budget counts what was released even when no head came of it.
 */
const work = mkdtempSync(join(tmpdir(), 'fedtune-console-privacy-'))
const shots = join(tmpdir(), 'fedtune-console-screenshots')
let browser: Browser
let c: RunningCoordinator

beforeAll(async () => {
  mkdirSync(shots, { recursive: true })
  const task = await realTaskFile(
    'private',
    {
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 20 },
      participation: { minParticipants: 3 },
      privacy: { unit: 'participant', epsilon: 8, delta: 1e-5, clipNorm: 0.5 },
    },
    work,
  )
  const database = await testDatabase()
  const start = (more: Partial<StartOptions> = {}) => startQuietCoordinator(task, work, database, more)
  // the first coordinator opens the run, asks round 1's survivors to unmask, and dies
  await (await start()).close()
  writeUnmaskingMark(join(work, 'run'), {
    round: 1,
    survivors: 3,
    selected: ['a', 'b', 'c'],
    startedAt: Date.now() - 30_000,
  })
  const consoleDir = await buildConsole(join(work, 'console'))
  ;[c, browser] = await Promise.all([start({ consoleDir }), launchChromium()])
  await addOperator(c.store, 'viewer', 'vic')
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await c?.close()
  rmSync(work, { recursive: true, force: true })
})

describe('the run page of a private task', () => {
  it('shows ε spent of the target with a meter, the participants’ privacy statement, and each round’s ε', async () => {
    const privacy = c.federation.task.privacy
    if (privacy?.unit !== 'participant') throw new Error('expected participant-level privacy')
    const runId = (await c.store.runs.list({ task: 'private' }))[0]?.id as number
    const [kept] = await c.store.rounds.list<RoundRecord>(runId)
    const spent = kept?.record.privacy?.epsilon
    if (spent === undefined) throw new Error('expected round 1 accounted')
    expect(spent).toBeGreaterThan(0)
    expect(spent).toBeLessThan(8)

    const page = await browser.newPage()
    page.on('pageerror', (error) => {
      throw error
    })
    await signIn(page, c.url, 'vic')
    await page.goto(`${c.url}/console#/run/private`)
    await page.locator('#timeline tr[data-round="1"]').waitFor()
    await page.screenshot({ path: join(shots, 'console-privacy.png'), fullPage: true })

    expect(await page.locator('#run-privacy').textContent()).toBe(
      `ε ${formatEpsilon(spent)} of 8.00 spent (δ = 1e-5, per participant)`,
    )
    const meter = page.locator('#run-privacy meter')
    expect(Number(await meter.getAttribute('value'))).toBeCloseTo(spent, 9)
    expect(await meter.getAttribute('max')).toBe('8')
    // what the hospitals print and the volunteers' page shows before the opt-in, word for word
    expect(await page.locator('#privacy-statement p').allTextContents()).toEqual(privacyStatement(privacy))
    // the timeline: the round kept as failed, with the reason and the ε it cost
    const row = page.locator('#timeline tr[data-round="1"]')
    expect(await row.getAttribute('data-status')).toBe('failed')
    expect(await row.locator('.reason').textContent()).toMatch(/its 3 survivors are accounted/)
    expect(await row.locator('td.epsilon').textContent()).toBe(formatEpsilon(spent))
    expect(await page.locator('#timeline th').allTextContents()).toContain('ε')
    await page.close()
  })
})
