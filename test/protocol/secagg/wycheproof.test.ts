import { maskPool, nodeCrypto } from '@fedtune/protocol/node'
import { describe, expect, it } from 'vitest'
import { isStrictEd25519Signature } from '../../../protocol/src/secagg/ed25519-strict.ts'
import {
  type CurveSubtle,
  isSmallOrderX25519,
  naclCrypto,
  type SecaggCrypto,
  type Signed,
  verifyEach,
  webCryptoVerifyEach,
  webCryptoX25519Each,
  x25519All,
} from '../../../protocol/src/secagg/index.ts'
import { ed25519Vectors, ourEd25519Verdict, ourX25519Verdict, x25519Vectors } from './wycheproof.ts'

/**
 * Project Wycheproof's Ed25519 and X25519 vectors against every backend: node:crypto, tweetnacl, and
 * the browser's (naclCrypto with WebCrypto's curves, here through Node's globalThis.crypto.subtle;
 * test/browser/strict-curves.test.ts runs the same in headless Chromium). Our verdict on the
 * `acceptable` cases is pinned in wycheproof.ts and explained in docs/secure-aggregation.md.
 */
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

const ed25519 = ed25519Vectors()
const x25519 = x25519Vectors()
const edCases = ed25519.cases.map((c) => ({
  ...c,
  publicKey: bytes(c.pk),
  message: bytes(c.msg),
  signature: bytes(c.sig),
}))
const xCases = x25519.cases

const subtle = globalThis.crypto.subtle as unknown as CurveSubtle
const noFallback = () => {
  throw new Error('expected WebCrypto to answer, not the tweetnacl fallback')
}

/** Every Ed25519 verifier a participant or the coordinator may run, each as a batch. */
const verifiers: readonly { name: string; verify: (items: readonly Signed[]) => Promise<boolean[]> }[] = [
  { name: 'node:crypto', verify: async (items) => items.map(sync(nodeCrypto)) },
  { name: 'tweetnacl', verify: async (items) => items.map(sync(naclCrypto)) },
  { name: 'browser (naclCrypto.verifyEach)', verify: (items) => verifyEach(naclCrypto, items) },
  {
    name: 'WebCrypto alone',
    verify: webCryptoVerifyEach({ subtle, strict: isStrictEd25519Signature, fallback: noFallback }),
  },
]

function sync(crypto: SecaggCrypto) {
  return (s: Signed) => crypto.verify(s.publicKey, s.message, s.signature)
}

/** X25519 on every path: each backend's one-at-a-time and batched agreement (mask threads, WebCrypto). */
const agreements: readonly {
  name: string
  agree: (secret: Uint8Array, peer: Uint8Array) => Promise<Uint8Array>
}[] = [
  { name: 'node:crypto x25519', agree: async (s, p) => nodeCrypto.x25519(s, p) },
  {
    name: 'node:crypto x25519All (mask threads)',
    agree: async (s, p) => first(x25519All(nodeCrypto, s, [p])),
  },
  { name: 'tweetnacl x25519', agree: async (s, p) => naclCrypto.x25519(s, p) },
  { name: 'browser x25519All (WebCrypto)', agree: async (s, p) => first(x25519All(naclCrypto, s, [p])) },
]

async function first(all: Promise<Uint8Array[]>): Promise<Uint8Array> {
  return (await all)[0] as Uint8Array
}

describe('Wycheproof Ed25519 (151 cases) on every verifier', () => {
  it('reads all the cases from ../shared', () => {
    expect(edCases).toHaveLength(151)
    expect(ed25519.numberOfTests).toBe(151)
    // The file has no `acceptable` case: each is valid or invalid, and each verifier must agree.
    expect(new Set(edCases.map((c) => c.result))).toEqual(new Set(['valid', 'invalid']))
  })

  for (const { name, verify } of verifiers)
    it(`${name}: accepts every valid case and refuses every invalid one`, async () => {
      // A signature of another length never reaches a verifier: the wire's parsers refuse it first.
      const sized = edCases.filter((c) => c.signature.length === 64)
      const verdicts = await verify(sized)
      const wrong = sized
        .filter((c, i) => verdicts[i] !== (ourEd25519Verdict(c) === 'accept'))
        .map((c) => `tcId ${c.tcId} (${c.result}, ${c.flags.join(', ')}): ${c.comment}`)
      expect(wrong).toEqual([])
      expect(sized).toHaveLength(139)
    })

  it('the 12 signatures of another length than 64 bytes (all invalid) are refused by size, on every backend', () => {
    const unsized = edCases.filter((c) => c.signature.length !== 64)
    expect(unsized.map((c) => c.result)).toEqual(Array(12).fill('invalid'))
    for (const crypto of [nodeCrypto, naclCrypto])
      for (const c of unsized) {
        expect(() => crypto.verify(c.publicKey, c.message, c.signature)).toThrow(
          /signature: expected 64 bytes/,
        )
        expect(() => verifyEach(crypto, [c])).toThrow(/signature: expected 64 bytes/)
      }
  })

  it('the strict checks alone let every valid case through: they never refuse a signature RFC 8032 accepts', () => {
    for (const c of edCases.filter((c) => c.result === 'valid'))
      expect(isStrictEd25519Signature(c.publicKey, c.signature), `tcId ${c.tcId}`).toBe(true)
  })
})

describe('Wycheproof X25519 (518 cases) on every agreement path', () => {
  it('reads all the cases from ../shared', () => {
    expect(xCases).toHaveLength(518)
    expect(x25519.numberOfTests).toBe(518)
    // the mask threads exist here, so x25519All below really runs on them
    expect(maskPool()).not.toBeNull()
  })

  for (const { name, agree } of agreements)
    it(`${name}: the expected shared secret where we accept, a refusal where we refuse`, async () => {
      const wrong: string[] = []
      for (const c of xCases) {
        const verdict = ourX25519Verdict(c)
        const got = await agree(bytes(c.private), bytes(c.public)).then(hex, (e: Error) => e)
        const ok =
          verdict === 'accept'
            ? got === c.shared
            : got instanceof Error && /the X25519 shared secret is all zero/.test(got.message)
        if (!ok)
          wrong.push(
            `tcId ${c.tcId} (${c.result}, ${c.flags.join(', ')}): expected to ${verdict}, got ${got}`,
          )
      }
      expect(wrong).toEqual([])
    })

  it('WebCrypto itself (no tweetnacl fallback) computes every accepted case and refuses the rest', async () => {
    const each = webCryptoX25519Each({ subtle, fallback: noFallback })
    for (const c of xCases) {
      const [got] = await each(bytes(c.private), [bytes(c.public)])
      expect(got === null || got === undefined ? null : hex(got), `tcId ${c.tcId}`).toBe(
        ourX25519Verdict(c) === 'accept' ? c.shared : null,
      )
    }
  })

  it('the small-order blocklist flags exactly the public keys whose shared secret is all zero', () => {
    for (const c of xCases)
      expect(isSmallOrderX25519(bytes(c.public)), `tcId ${c.tcId}: ${c.comment}`).toBe(
        /^(00)+$/.test(c.shared),
      )
    expect(xCases.filter((c) => isSmallOrderX25519(bytes(c.public))).length).toBe(
      xCases.filter((c) => ourX25519Verdict(c) === 'refuse').length,
    )
  })
})
