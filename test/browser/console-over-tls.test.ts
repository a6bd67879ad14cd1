import { createHash, createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { CONSOLE_NAMESPACE } from '@fedtune/protocol'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { type MainCoordinator, startMainCoordinator } from '../harness.ts'
import { type TestPki, testPki } from '../net/test-pki.ts'
import { addOperator } from '../test-store.ts'
import { signIn } from './console-sign-in.ts'

/**
 * The operator console in Chromium from a coordinator serving HTTPS itself: the page, the sign-in
 * (a Secure cookie) and the console's live socket, which connects over WSS to the same origin.
 * Chromium trusts the test's certificate by its public key alone
 * (--ignore-certificate-errors-spki-list), as a browser trusts a CA its machine installed.
 */
const consoleDir = fileURLToPath(new URL('../../console/dist', import.meta.url))
let pki: TestPki
let c: MainCoordinator
let browser: Browser

beforeAll(async () => {
  pki = testPki()
  const cert = pki.issue('console', ['127.0.0.1'])
  const key = readFileSync(cert.keyFile, 'utf8')
  const spki = createHash('sha256')
    .update(createPublicKey(key).export({ type: 'spki', format: 'der' }))
    .digest('base64')
  ;[c, browser] = await Promise.all([
    startMainCoordinator(
      { participation: { minParticipants: 3 } },
      {},
      { tls: { cert: readFileSync(cert.certFile, 'utf8'), key }, consoleDir },
    ),
    launchChromium([`--ignore-certificate-errors-spki-list=${spki}`]),
  ])
  await addOperator(c.store, 'viewer', 'vic')
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await c?.close()
  pki?.remove()
})

describe('the operator console over HTTPS and WSS', () => {
  it('signs in with a Secure cookie and keeps its live socket open over WSS', async () => {
    expect(c.url).toMatch(/^https:/)
    const context = await browser.newContext()
    const page = await context.newPage()
    await signIn(page, c.url, 'vic')
    const cookies = await context.cookies()
    expect(cookies.length).toBeGreaterThan(0)
    expect(cookies.every((cookie) => cookie.secure)).toBe(true)
    await expect.poll(() => c.consoles.io.of(CONSOLE_NAMESPACE).sockets.size).toBe(1)
    await page.locator('#runs tr[data-task="main"]').waitFor()
    await context.close()
  })
})
