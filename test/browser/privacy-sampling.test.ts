import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { bundlePageScript } from '../../client-web/node/page-script.ts'
import { cryptoDraws, type SeededDraws, type SeededInput, seededDraws } from './page-privacy.ts'

/**
 * The exact samplers in a real headless Chromium, bundled by Vite as the volunteer page bundles them:
 * from the same seed the browser draws the same words, discrete Gaussians (on the double and the bigint
 * paths), conditional rounding and noised update as Node, and its own WebCrypto source works.
 */
const input: SeededInput = {
  seed: 2026,
  // the double path, a dyadic 7.3, the bigint path at σ = 10^5, a rational, σ ≈ 10^6 kept in doubles
  variances: [0.25, 7.3, 1e4, 1e10, { num: '10000000001', den: '3' }, 1_000_001_000_000],
  samples: 2000,
  vector: Array.from({ length: 257 }, (_, j) => Math.sin(j) / 20),
  clip: 1,
  scale: 2 ** 12,
}

let server: Server
let browser: Browser
let page: Page
let inBrowser: SeededDraws
let browserCrypto: { mean: number; variance: number; secureContext: boolean }

beforeAll(async () => {
  server = createServer((_, res) => res.end('<!doctype html><title>privacy sampling</title>'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const [code, launched] = await Promise.all([
    bundlePageScript(fileURLToPath(new URL('page-privacy.ts', import.meta.url)), 'fedtunePrivacy'),
    launchChromium(),
  ])
  browser = launched
  page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  await page.addScriptTag({ content: code })
  // Strings, not functions, as strict-curves.test.ts explains.
  inBrowser = (await page.evaluate(
    `globalThis.fedtunePrivacy.seededDraws(${JSON.stringify(input)})`,
  )) as SeededDraws
  browserCrypto = (await page.evaluate(
    '({ ...globalThis.fedtunePrivacy.cryptoDraws(20000), secureContext: globalThis.isSecureContext })',
  )) as typeof browserCrypto
})

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => server?.close(resolve))
})

describe('exact sampling in headless Chromium is Node’s, draw for draw', () => {
  const inNode = seededDraws(input)

  it('the seeded source gives the same words', () => {
    expect(inBrowser.words).toEqual(inNode.words)
  })

  it('the discrete Gaussian gives the same draws for every variance, double and bigint paths alike', () => {
    expect(inBrowser.gaussians).toHaveLength(input.variances.length)
    for (const [i, draws] of inNode.gaussians.entries())
      expect(inBrowser.gaussians[i], `variance ${i}`).toEqual(draws)
  })

  it('conditional randomized rounding and the noised update give the same integers and words', () => {
    expect(inBrowser.rounded).toEqual(inNode.rounded)
    expect(inBrowser.update).toEqual(inNode.update)
  })

  it('the page’s own WebCrypto source draws N_Z(0, 100) with the right mean and variance', () => {
    expect(browserCrypto.secureContext).toBe(true)
    expect(Math.abs(browserCrypto.mean)).toBeLessThan(0.4)
    expect(Math.abs(browserCrypto.variance - 100)).toBeLessThan(6)
    // and Node's, for comparison, by the same code
    const node = cryptoDraws(20000)
    expect(Math.abs(node.variance - 100)).toBeLessThan(6)
  })
})
