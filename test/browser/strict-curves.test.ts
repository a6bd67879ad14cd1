import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from '../../client-web/node/chromium.ts'
import { bundlePageScript } from '../../client-web/node/page-script.ts'
import {
  ed25519Vectors,
  ourEd25519Verdict,
  ourX25519Verdict,
  x25519Vectors,
} from '../protocol/secagg/wycheproof.ts'
import type { PageInput, PageVerdicts } from './page-curves.ts'

/**
 * The browser backend's strict curves in a real headless Chromium: the page's own curve code
 * (naclCrypto's verifyEach and x25519All, WebCrypto behind ed25519-strict.ts), bundled by Vite,
 * on Wycheproof's Ed25519 and X25519 vectors and on every encoding of the small-order points.
 */
const ed25519 = ed25519Vectors().cases.filter((c) => c.sig.length === 128)
const x25519 = x25519Vectors().cases

const fromHex = (s: string) => Buffer.from(s, 'hex')
const bothSigns = (y: string) => [
  y,
  `${y.slice(0, 62)}${((fromHex(y.slice(62))[0] as number) | 0x80).toString(16)}`,
]
/** libsodium's small-order blocklists (ed25519-strict.ts, x25519-strict.ts), each entry with bit 255 clear and set. */
const SMALL_ORDER_ED25519 = [
  `00${'00'.repeat(31)}`,
  `01${'00'.repeat(31)}`,
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  `ec${'ff'.repeat(30)}7f`,
  `ed${'ff'.repeat(30)}7f`,
  `ee${'ff'.repeat(30)}7f`,
].flatMap(bothSigns)
const SMALL_ORDER_X25519 = [
  `00${'00'.repeat(31)}`,
  `01${'00'.repeat(31)}`,
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  `ec${'ff'.repeat(30)}7f`,
  `ed${'ff'.repeat(30)}7f`,
  `ee${'ff'.repeat(30)}7f`,
].flatMap(bothSigns)

let server: Server
let browser: Browser
let page: Page
let result: PageVerdicts

/** The page code as one script (an IIFE exposing `fedtuneCurves`), as bench:browser bundles its own. */
async function pageCode(): Promise<string> {
  return bundlePageScript(fileURLToPath(new URL('page-curves.ts', import.meta.url)), 'fedtuneCurves')
}

beforeAll(async () => {
  // localhost is a secure context, which WebCrypto needs; the page itself is empty.
  server = createServer((_, res) => res.end('<!doctype html><title>strict curves</title>'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const [code, launched] = await Promise.all([pageCode(), launchChromium()])
  browser = launched
  page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  await page.addScriptTag({ content: code })
  const secret = randomBytes(32).toString('hex')
  const input: PageInput = {
    signed: [
      ...ed25519.map(({ pk, msg, sig }) => ({ pk, msg, sig })),
      // every small-order key with the keyless proof R = identity, S = 0
      ...SMALL_ORDER_ED25519.map((pk) => ({ pk, msg: '00', sig: `01${'00'.repeat(63)}` })),
    ],
    agreements: [
      ...x25519.map((c) => ({ private: c.private, public: c.public })),
      ...SMALL_ORDER_X25519.map((pub) => ({ private: secret, public: pub })),
    ],
  }
  // A string, not a function, as bench:browser does: the transform would wrap named functions in a helper the page lacks.
  result = (await page.evaluate(
    `globalThis.fedtuneCurves.verdicts(${JSON.stringify(input)})`,
  )) as PageVerdicts
})

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => server?.close(resolve))
})

describe('strict curves in headless Chromium (the browser backend)', () => {
  it('runs in a secure context, on the page’s own WebCrypto', () => {
    expect(result.secureContext).toBe(true)
    expect(result.verifyEach).toHaveLength(ed25519.length + SMALL_ORDER_ED25519.length)
  })

  it('Wycheproof Ed25519: every valid case accepted and every invalid one refused, by verifyEach and by WebCrypto alone', () => {
    const expected = ed25519.map((c) => ourEd25519Verdict(c) === 'accept')
    expect(ed25519).toHaveLength(139)
    expect(result.verifyEach.slice(0, ed25519.length)).toEqual(expected)
    expect(result.webCryptoVerify.slice(0, ed25519.length)).toEqual(expected)
  })

  it('every encoding of the eight small-order points, as a key with R = identity and S = 0, is refused', () => {
    const tail = SMALL_ORDER_ED25519.length
    expect(result.verifyEach.slice(-tail)).toEqual(Array(tail).fill(false))
    expect(result.webCryptoVerify.slice(-tail)).toEqual(Array(tail).fill(false))
  })

  it('Wycheproof X25519: our shared secret where we accept, a refusal where we refuse, on x25519All and WebCrypto alone', () => {
    const wrong = x25519.filter((c, i) => {
      const accept = ourX25519Verdict(c) === 'accept'
      const viaAll = result.x25519All[i] as string
      const viaWebCrypto = result.webCryptoX25519[i]
      return accept
        ? viaAll !== c.shared || viaWebCrypto !== c.shared
        : !/shared secret is all zero/.test(viaAll) || viaWebCrypto !== null
    })
    expect(wrong.map((c) => `tcId ${c.tcId} (${c.flags.join(', ')})`)).toEqual([])
  })

  it('every small-order X25519 public key, in every encoding, gives a refusal', () => {
    const tail = SMALL_ORDER_X25519.length
    for (const got of result.x25519All.slice(-tail))
      expect(got).toMatch(/refused: .*shared secret is all zero/)
    expect(result.webCryptoX25519.slice(-tail)).toEqual(Array(tail).fill(null))
  })
})
