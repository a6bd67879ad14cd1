import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Federation, RoundRecord } from '@fedtune/coordinator'
import { accuracy, classify, type ModelCard } from '@fedtune/model'
import * as tf from '@tensorflow/tfjs'
import { runDataSplit } from 'fedtune/data'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { buildConsole } from '../../console/node/build-console.ts'
import {
  connectTo,
  type MainCoordinator,
  type SentStage,
  sayHello,
  silentFrom,
  startMainCoordinator,
  testParticipant,
} from '../harness.ts'
import { fileHandler, labelledImages, unpackModel } from '../model-folder.ts'
import { addOperator } from '../test-store.ts'
import { signIn } from './console-sign-in.ts'

/**
 * The operator console in a real headless Chromium (Debian's, driven by playwright-core), served by a
 * real coordinator at /console: operators sign in through the page, steer a run with confirmations,
 * read the coordinator's refusals in the page; a viewer sees no control and its forged requests are
 * refused. Screenshots at 1280 px and at a phone's 390 px go to the folder printed at the start.
 */
const work = mkdtempSync(join(tmpdir(), 'fedtune-console-'))
const shared = join(fileURLToPath(new URL('../../', import.meta.url)), '..', 'shared')
const shots = join(tmpdir(), 'fedtune-console-screenshots')

let browser: Browser
/** What the pages logged as errors; the last test checks there were only the refusals it caused. */
const pageErrors: string[] = []
let c: MainCoordinator
let consoleDir: string

beforeAll(async () => {
  mkdirSync(shots, { recursive: true })
  console.info(`console screenshots: ${shots}`)
  const data = join(work, 'data')
  // a small held-out set of real chest X-rays, so each round has a held-out ACC and AUC to chart
  const split = runDataSplit(
    [
      ...['--dataset', join(shared, 'datasets', 'pneumoniamnist.npz'), '--out', data],
      ...['--hospitals', '1', '--per-hospital', '4', '--test-limit', '24', '--seed', '5'],
    ],
    { log: () => {} },
  )
  ;[consoleDir, browser] = await Promise.all([buildConsole(join(work, 'console')), launchChromium(), split])
  // secure rounds of three hospitals; the run waits for them (and for operators) meanwhile
  c = await startMainCoordinator(
    {
      head: { labels: ['normal', 'pneumonia'] },
      training: { rounds: 6 },
      participation: {
        minParticipants: 3,
        participantsPerRound: 4,
        gatherSeconds: 0,
        roundDeadlineSeconds: 600,
      },
      evaluation: { test: join(data, 'test') },
    },
    {},
    { consoleDir },
  )
  await addOperator(c.store, 'admin', 'ada')
  await addOperator(c.store, 'viewer', 'vic')
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await c?.close()
  rmSync(work, { recursive: true, force: true })
})

/** A fresh browser context (its own cookies) on the console, `width` px wide, signed in as `name`. */
async function signedIn(name: string, width = 1280): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: width > 600 ? 900 : 844 } })
  const page = await context.newPage()
  page.on('pageerror', (error) => {
    throw error
  })
  // a script or style the page's CSP blocks, or any other error the page logs
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${name}: ${message.text()}`)
  })
  await signIn(page, c.url, name)
  return { context, page }
}

let admin: Page | undefined

/**
 * The admin's page (signed in once: a sign-in costs an scrypt), freshly loaded at `hash`, `width` px
 * wide, so no notice of an earlier test is on it.
 */
async function adminAt(hash: string, width = 1280): Promise<Page> {
  admin ??= (await signedIn('ada')).page
  await admin.setViewportSize({ width, height: width > 600 ? 900 : 844 })
  await admin.goto('about:blank')
  await admin.goto(`${c.url}/console${hash}`)
  await admin.locator('#who').getByText('ada').waitFor()
  return admin
}

/** Clicks an action's button, then the confirmation's. */
async function confirmed(page: Page, button: string, confirm: string): Promise<void> {
  await page.getByRole('button', { name: button, exact: true }).click()
  const dialog = page.getByRole('dialog')
  await dialog.waitFor()
  await dialog.getByRole('button', { name: confirm, exact: true }).click()
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })

describe('the operator console in Chromium', () => {
  it('a wrong password is refused in the page; the admin then signs in and sees the runs list', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${c.url}/console`)
    await page.getByLabel('Name').fill('ada')
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('wrong name or password')
    await context.close()

    expect(await c.line(/^operator console /)).toBe(`operator console at ${c.url}/console`)
    const console_ = await adminAt('#/')
    const row = console_.locator('#runs tr[data-task="main"]')
    await row.waitFor()
    expect(await row.getAttribute('data-state')).toMatch(/^(waiting|running)$/)
    expect(await row.locator('td').nth(2).textContent()).toBe('0/6')
    await shot(console_, 'runs-1280')
  })

  it('pauses, resumes and stops nothing without a confirmation, and shows the refusal of an action the state does not allow', async () => {
    const page = await adminAt('#/run/main')
    await page.locator('#run[data-task="main"]').waitFor()

    // resume while not paused: the coordinator's reason, in the page
    await confirmed(page, 'Resume', 'Resume')
    const alert = page.getByRole('alert')
    await alert.waitFor()
    expect(await alert.textContent()).toMatch(/not paused/)

    // cancelled: nothing happens
    await page.getByRole('button', { name: 'Pause after this round' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
    expect(await page.getByRole('dialog').count()).toBe(0)
    expect(c.federation.state.paused).toBe(false)

    await confirmed(page, 'Pause after this round', 'Pause')
    await page.locator('#run[data-state="paused"]').waitFor()
    expect(c.federation.state.paused).toBe(true)
    await shot(page, 'run-paused-1280')
    await confirmed(page, 'Resume', 'Resume')
    // resumed: it waits for its participants again
    await page.locator('#run[data-state="waiting"]').waitFor()
    expect(c.federation.state.paused).toBe(false)

    // the live feed can show the new state before the action's audit row is written
    const audit = async () => (await c.store.audit.list({ actor: 'ada' })).map((e) => [e.action, e.outcome])
    await expect.poll(audit).toEqual(
      expect.arrayContaining([
        ['run.resume', 'refused'],
        ['run.pause', 'ok'],
        ['run.resume', 'ok'],
      ]),
    )
  })

  it('a task file with errors lists every one of them in the page', async () => {
    const page = await adminAt('#/', 390)
    const bad = { name: 'bad name!', training: { rounds: -1 }, surplus: true }
    await page.locator('input[name="task-file"]').setInputFiles({
      name: 'bad-task.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(bad)),
    })
    await confirmed(page, 'Submit task…', 'Submit')
    const problems = page.getByRole('alert').locator('.problems li')
    await problems.first().waitFor()
    const listed = await problems.allTextContents()
    expect(listed.length).toBeGreaterThanOrEqual(4)
    expect(listed.join('\n')).toMatch(/^name: expected/m)
    expect(listed.join('\n')).toMatch(/training\.rounds: expected/)
    expect(listed.join('\n')).toMatch(/unknown field "surplus"/)
    expect(listed.join('\n')).toMatch(/^backbone: expected/m)
    await shot(page, 'task-errors-390')
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390)
  })

  it('a viewer sees every run but no control, and its forged requests are refused and audited', async () => {
    const { context, page } = await signedIn('vic')
    await page.locator('#runs tr[data-task="main"]').waitFor()
    expect(await page.locator('input[name="task-file"]').count()).toBe(0)
    await page.goto(`${c.url}/console#/run/main`)
    await page.locator('#participants').waitFor()
    for (const name of [
      'Start',
      'Pause after this round',
      'Resume',
      'Stop',
      'Abort round',
      'Extend deadline',
      'Invite…',
    ])
      expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0)
    await shot(page, 'viewer-run-1280')

    // the page's own cookie and CSRF token, sent by hand: the role is what refuses it
    const csrf = (await context.cookies()).find((k) => k.name === 'fedtune_csrf')?.value ?? ''
    expect(csrf).not.toBe('')
    const forged = await page.evaluate(async (token) => {
      const response = await fetch('/api/tasks/main/pause', {
        method: 'POST',
        headers: { 'x-csrf-token': token },
      })
      return { status: response.status, body: await response.json() }
    }, csrf)
    expect(forged).toMatchObject({ status: 403, body: { error: 'forbidden' } })
    expect(c.federation.state.paused).toBe(false)
    const refused = (await c.store.audit.list({ actor: 'vic' })).filter((e) => e.outcome === 'refused')
    expect(refused.map((e) => e.action)).toContain('access.refused')
    await context.close()
  })

  it('a stale CSRF token and a request without a session each get their own message, and are audited', async () => {
    const { context, page } = await signedIn('ada')
    await page.goto(`${c.url}/console#/run/main`)
    await page.locator('#run').waitFor()
    // another tab signed in since: this page's token is not the session's any more
    await context.addCookies([{ name: 'fedtune_csrf', value: 'stale-token', url: c.url }])
    await page.reload()
    await page.locator('#run').waitFor()
    await confirmed(page, 'Pause after this round', 'Pause')
    await page.getByRole('alert').waitFor()
    expect(await page.getByRole('alert').textContent()).toMatch(/does not match this session's CSRF token/)
    expect(c.federation.state.paused).toBe(false)

    await context.clearCookies()
    await confirmed(page, 'Stop', 'Stop')
    // no session: back to the sign-in form, saying why
    await page.getByLabel('Password').waitFor()
    expect(await page.getByRole('alert').textContent()).toMatch(/sign in|session|credentials/i)
    const codes = (await c.store.audit.list({ action: 'access.refused' })).map((e) => e.detail.code)
    expect(codes).toEqual(expect.arrayContaining(['csrf-mismatch', 'unauthenticated']))
    await context.close()
  })

  it('stops the run from the page, with a confirmation', async () => {
    const page = await adminAt('#/run/main', 390)
    await page.locator('#run').waitFor()
    await page.locator('input[name="reason"]').fill('enough for today')
    await confirmed(page, 'Stop', 'Stop')
    await page.locator('#run[data-state="stopped"]').waitFor()
    expect(await page.getByRole('status').first().textContent()).toMatch(/stopped by ada: enough for today/)
    await shot(page, 'run-stopped-390')
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390)
    expect((await c.store.runs.get(c.run.id))?.state).toBe('stopped')
  })

  it('starts a new run and watches three hospitals live: stages advance, a chart point per round, a dropout with its stage; approves a pending hospital that joins the next round, revokes one mid-run, stops it', async () => {
    const page = await adminAt('#/run/main')
    // every stage the run page shows, in order, as the live feed moved it (recorded in the page)
    await page.evaluate(`window.__stages = [];
      new MutationObserver(() => {
        const live = document.getElementById('live')
        const seen = live && live.dataset.round ? live.dataset.round + '/' + live.dataset.stage : null
        if (seen && window.__stages.at(-1) !== seen) window.__stages.push(seen)
      }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-stage', 'data-round'] })`)
    await page.locator('#feed[data-status="live"]').waitFor()
    await confirmed(page, 'Start', 'Start')
    // run 1 was stopped above: this is run 2
    await page
      .getByRole('status')
      .getByText(/^Start: run 2 is /)
      .waitFor()
    await page.locator('#run[data-state="waiting"]').waitFor()
    const federation = (): Federation => c.host.open('main', true).federation

    // paused before anyone joins: three hospitals come, no round starts until the resume
    await confirmed(page, 'Pause after this round', 'Pause')
    await page.locator('#run[data-state="paused"]').waitFor()
    expect(await page.locator('#run-waiting').textContent()).toMatch(/resume/)
    let h3Socket: { disconnect(): void } | undefined
    // hospital-3 drops out of round 2 in its masked-input stage
    const dropAt = (round: number, stage: SentStage) => (message: { stage: SentStage }, at: number) => {
      if (at === round && message.stage === stage) {
        h3Socket?.disconnect()
        return undefined
      }
      return message
    }
    const hospitals = [
      testParticipant(c, 'hospital-1'),
      testParticipant(c, 'hospital-2'),
      testParticipant(c, 'hospital-3', { alter: dropAt(2, 'masked-input') as never }),
    ]
    h3Socket = hospitals[2]?.socket
    for (const h of hospitals) expect((await h.joined).ok).toBe(true)
    expect(federation().state.round).toBe(0)
    await confirmed(page, 'Resume', 'Resume')

    // rounds 1 and 2 run; round 2 loses hospital-3 at masked input; then the run waits for a third
    await page.locator('#timeline tr[data-round="2"]').waitFor({ timeout: 30_000 })
    const dropout = page.locator('#timeline tr[data-round="2"] .dropouts [data-participant="hospital-3"]')
    await dropout.waitFor()
    expect(await dropout.getAttribute('data-stage')).toBe('masked-input')
    expect(await dropout.textContent()).toBe('hospital-3 at masked input')
    // a round needs three masked inputs: round 2 failed, and the chart marks it with its reason
    expect(await page.locator('#timeline tr[data-round="2"]').getAttribute('data-status')).toBe('failed')
    expect(await page.locator('#chart').getAttribute('data-points')).toBe('1')
    expect(await page.locator('#chart').getAttribute('data-failed')).toBe('1')
    expect(await page.locator('.chart .failed li').first().textContent()).toMatch(
      /^Round 2 failed: secure aggregation failed: only 2 masked inputs arrived/,
    )
    // and has no head to download: the page says why
    await page.locator('#timeline tr[data-round="2"]').getByRole('button', { name: 'download' }).click()
    await page
      .getByRole('alert')
      .getByText(/round 2 failed: secure aggregation failed: .*; no head was produced/)
      .waitFor()
    // with hospital-3 gone, the run waits for participants to join, and says so
    await page
      .locator('#run-waiting')
      .getByText(/^participants to join \(2 of 3 online\)$/)
      .waitFor()
    const stages = (await page.evaluate('window.__stages')) as string[]
    expect(stages).toEqual(expect.arrayContaining(['1/advertise', '1/unmask', '2/advertise']))
    expect(stages.indexOf('1/advertise')).toBeLessThan(stages.indexOf('1/unmask'))
    await shot(page, 'run-live-1280')

    // a fourth hospital says hello unknown: listed pending, approved from the page, and joins round 3
    const pending = await sayHello(connectTo(c), { participant: 'hospital-4', enrol: false })
    expect(pending).toMatchObject({ ok: false, code: 'pending-approval' })
    const row = page.locator('#participants tr[data-participant="hospital-4"]')
    await row.and(page.locator('[data-state="pending"]')).waitFor()
    await row.getByRole('button', { name: 'Approve' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Approve' }).click()
    await page.locator('#participants tr[data-participant="hospital-4"][data-state="approved"]').waitFor()
    // it keeps round 4 waiting in share keys, so the run is mid-round when hospital-1 is revoked
    const h4 = testParticipant(c, 'hospital-4', { alter: silentFrom(4, 'share-keys') })
    expect((await h4.joined).ok).toBe(true)
    await page.locator('#timeline tr[data-round="3"]').waitFor({ timeout: 30_000 })
    await page
      .locator('#live[data-round="4"][data-stage="share-keys"] .waiting-for')
      .getByText(/hospital-4/)
      .waitFor()
    expect(await page.locator('#live').textContent()).toMatch(/to the deadline/)
    // its deadline extended from the page
    const before = federation().state.deadlineAt ?? 0
    await page.locator('input[name="extend-seconds"]').fill('120')
    await confirmed(page, 'Extend deadline', 'Extend')
    await page
      .getByRole('status')
      .getByText(/^Extend: run 2 is running/)
      .waitFor()
    expect(federation().state.deadlineAt).toBeGreaterThanOrEqual(before + 120_000)
    expect(await page.locator('#chart').getAttribute('data-points')).toBe('2')
    // round 3's head on the 24 held-out X-rays: its confusion matrix, each class's recall beside it
    await page.locator('#evaluation[data-round="3"]').waitFor()
    const matrix = page.getByRole('table', { name: /^Confusion matrix of round 3's head on the test set/ })
    const counts = (await matrix.locator('td.count').allTextContents()).map(Number)
    expect(counts).toHaveLength(4)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(24)
    expect(await matrix.locator('tbody th').allTextContents()).toEqual(['normal', 'pneumonia'])
    for (const recall of await matrix.locator('td.recall').allTextContents())
      expect(recall).toMatch(/^(0|1)\.\d{3}$|^—$/)
    const run = (await c.store.runs.list({ task: 'main' })).at(-1)
    const round3 = run && (await c.store.rounds.get(run.id, 3))
    expect((round3?.record as { selected: string[] } | undefined)?.selected).toContain('hospital-4')

    // hospital-1 revoked mid-round: out of it at once
    const h1 = page.locator('#participants tr[data-participant="hospital-1"]')
    await h1.getByRole('button', { name: 'Revoke' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click()
    await page.locator('#participants tr[data-participant="hospital-1"][data-state="revoked"]').waitFor()
    expect((await c.store.participants.byName('main', 'hospital-1'))?.state).toBe('revoked')

    // round 4 aborted from the page: failed, and marked on the chart with its reason
    await page.locator('input[name="reason"]').fill('hospital-4 is silent')
    await confirmed(page, 'Abort round', 'Abort round')
    await page.locator('#timeline tr[data-round="4"][data-status="failed"]').waitFor()
    expect(await page.locator('#chart').getAttribute('data-failed')).toBe('2')
    expect(await page.locator('.chart .failed li').nth(1).textContent()).toMatch(
      /^Round 4 failed: .*hospital-4 is silent/,
    )

    // the head after round 1, downloaded through the page
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#timeline tr[data-round="1"]').getByRole('button', { name: 'download' }).click(),
    ])
    const saved = join(work, 'head-1.bin')
    await download.saveAs(saved)
    expect((await readFile(saved)).byteLength).toBeGreaterThan(0)

    // the whole model, downloaded through the page: loaded in Node as a user would, it gets the
    // held-out accuracy the coordinator recorded for its round, on the same images
    const [whole] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('#download-model').click(),
    ])
    const zip = join(work, 'model.zip')
    await whole.saveAs(zip)
    const dir = unpackModel(await readFile(zip), join(work, 'model'))
    const card = JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')) as ModelCard
    const stored = await c.store.rounds.get(card.run.id, card.run.round)
    const kept = (stored?.record as RoundRecord | undefined)?.test
    expect(kept?.examples).toBe(24)
    expect(card.run.round).toBe(3)
    const model = await tf.loadLayersModel(fileHandler(dir))
    try {
      const { pixels, labels } = await labelledImages(join(work, 'data', 'test'), ['normal', 'pneumonia'])
      const probs = classify(model, pixels, card.preprocessing.inputSize)
      expect(accuracy(probs, labels, 2)).toBeCloseTo(kept?.accuracy as number, 10)
    } finally {
      model.dispose()
    }

    await confirmed(page, 'Stop', 'Stop')
    await page.locator('#run[data-state="stopped"]').waitFor()
    await page.setViewportSize({ width: 390, height: 844 })
    await shot(page, 'run-live-390')
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390)
  }, 90_000)

  it('filters the audit log by action and by operator; an invite code is shown once', async () => {
    const page = await adminAt('#/audit')
    await page.locator('#audit tbody tr').first().waitFor()
    await page.locator('input[name="audit-action"]').fill('run.pause')
    await page.getByRole('button', { name: 'Filter' }).click()
    await expect
      .poll(async () => [
        ...new Set(
          await page
            .locator('#audit tbody tr')
            .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action'))),
        ),
      ])
      .toEqual(['run.pause'])
    await page.locator('input[name="audit-action"]').fill('')
    await page.locator('input[name="audit-actor"]').fill('vic')
    await page.getByRole('button', { name: 'Filter' }).click()
    await expect
      .poll(() => page.locator('#audit tbody tr td:nth-child(2)').allTextContents())
      .toContain('vic')
    expect(new Set(await page.locator('#audit tbody tr td:nth-child(2)').allTextContents())).toEqual(
      new Set(['vic']),
    )
    await shot(page, 'audit-1280')

    // an invite's code is shown once, and is gone once noted
    await page.goto(`${c.url}/console#/run/main`)
    await page.locator('input[name="invite-name"]').fill('hospital-5')
    await confirmed(page, 'Invite…', 'Invite')
    const code = await page.locator('#invite-code').textContent()
    expect(code).toMatch(/\S{16,}/)
    await page.getByRole('button', { name: 'I have noted it' }).click()
    expect(await page.locator('#invite-code').count()).toBe(0)
    expect(await page.content()).not.toContain(code)
    expect((await c.store.audit.list({ action: 'participant.invite' })).map((e) => e.outcome)).toEqual(['ok'])
  })

  it('no page logged an error but the refusals the tests asked for', () => {
    // the browser logs each refused request (401, 403, 404, 409) it made; nothing else may appear
    const unexpected = pageErrors.filter(
      (e) => !/Failed to load resource: the server responded with a status of (400|401|403|404|409)/.test(e),
    )
    expect(unexpected).toEqual([])
  })
})
