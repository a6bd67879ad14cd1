import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { buildConsole } from '../../console/node/build-console.ts'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'
import { addOperator, TEST_PASSWORD } from '../test-store.ts'

/**
 * The operator console in a real headless Chromium (Debian's, driven by playwright-core), served by a
 * real coordinator at /console: operators sign in through the page, steer a run with confirmations,
 * read the coordinator's refusals in the page; a viewer sees no control and its forged requests are
 * refused. Screenshots at 1280 px and at a phone's 390 px go to the folder printed at the start.
 */
const work = mkdtempSync(join(tmpdir(), 'fedtune-console-'))
const shots = join(tmpdir(), 'fedtune-console-screenshots')

let browser: Browser
let c: MainCoordinator
let consoleDir: string

beforeAll(async () => {
  mkdirSync(shots, { recursive: true })
  console.info(`console screenshots: ${shots}`)
  ;[consoleDir, browser] = await Promise.all([buildConsole(join(work, 'console')), launchChromium()])
  // secure rounds of three hospitals; the run waits for them (and for operators) meanwhile
  c = await startMainCoordinator(
    {
      participation: { minParticipants: 3, gatherSeconds: 0, roundDeadlineSeconds: 600 },
      training: { rounds: 3 },
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
  await page.goto(`${c.url}/console`)
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Password').fill(TEST_PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('#who').getByText(name).waitFor()
  return { context, page }
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

    const { context: signed, page: console_ } = await signedIn('ada')
    const row = console_.locator('#runs tr[data-task="main"]')
    await row.waitFor()
    expect(await row.getAttribute('data-state')).toMatch(/^(waiting|running)$/)
    expect(await row.locator('td').nth(2).textContent()).toBe('0/3')
    await shot(console_, 'runs-1280')
    await signed.close()
  })

  it('pauses, resumes and stops nothing without a confirmation, and shows the refusal of an action the state does not allow', async () => {
    const { context, page } = await signedIn('ada')
    await page.goto(`${c.url}/console#/run/main`)
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
    await page.locator('#run[data-state="running"]').waitFor()
    expect(c.federation.state.paused).toBe(false)

    const audit = (await c.store.audit.list({ actor: 'ada' })).map((e) => [e.action, e.outcome])
    expect(audit).toEqual(
      expect.arrayContaining([
        ['run.resume', 'refused'],
        ['run.pause', 'ok'],
        ['run.resume', 'ok'],
      ]),
    )
    await context.close()
  })

  it('a task file with errors lists every one of them in the page', async () => {
    const { context, page } = await signedIn('ada', 390)
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
    await context.close()
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
    const { context, page } = await signedIn('ada', 390)
    await page.goto(`${c.url}/console#/run/main`)
    await page.locator('#run').waitFor()
    await page.locator('input[name="reason"]').fill('enough for today')
    await confirmed(page, 'Stop', 'Stop')
    await page.locator('#run[data-state="stopped"]').waitFor()
    expect(await page.getByRole('status').first().textContent()).toMatch(/stopped by ada: enough for today/)
    await shot(page, 'run-stopped-390')
    expect((await c.store.runs.get(c.run.id))?.state).toBe('stopped')
    await context.close()
  })
})
