import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Project Wycheproof's Ed25519 and X25519 vectors (C2SP/wycheproof, testvectors_v1), read from
 * ../shared at test time (never copied into the repository; ../shared/test-vectors/README.md), and
 * our verdict on each: for Node's backends (wycheproof.test.ts) and the page's (test/browser).
 */
const folder = fileURLToPath(new URL('../../../../shared/test-vectors/wycheproof/', import.meta.url))
const read = (name: string) => JSON.parse(readFileSync(`${folder}${name}`, 'utf8'))

export type EddsaCase = {
  readonly tcId: number
  readonly result: string
  readonly flags: readonly string[]
  readonly comment: string
  /** Hex, as in the file. */
  readonly pk: string
  readonly msg: string
  readonly sig: string
}

export type XdhCase = {
  readonly tcId: number
  readonly public: string
  readonly private: string
  readonly shared: string
  readonly result: string
  readonly flags: readonly string[]
  readonly comment: string
}

type EddsaFile = {
  numberOfTests: number
  testGroups: { publicKey: { pk: string }; tests: Omit<EddsaCase, 'pk'>[] }[]
}

export function ed25519Vectors(): { readonly numberOfTests: number; readonly cases: readonly EddsaCase[] } {
  const file = read('ed25519_test.json') as EddsaFile
  return {
    numberOfTests: file.numberOfTests,
    cases: file.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, pk: g.publicKey.pk }))),
  }
}

export function x25519Vectors(): { readonly numberOfTests: number; readonly cases: readonly XdhCase[] } {
  const file = read('x25519_test.json') as { numberOfTests: number; testGroups: { tests: XdhCase[] }[] }
  return { numberOfTests: file.numberOfTests, cases: file.testGroups.flatMap((g) => g.tests) }
}

/**
 * Our verdict on each X25519 case. Everything in X25519's domain is computed as RFC 7748 §5 says
 * (twist points and non-canonical u ≥ p included, reduced mod p), except a public key of small
 * order, which gives the all-zero secret and is refused (x25519-strict.ts). docs/secure-aggregation.md,
 * "Strict curves", says why for each kind of `acceptable` case.
 */
export function ourX25519Verdict(c: XdhCase): 'accept' | 'refuse' {
  if (c.result === 'valid') return 'accept'
  if (c.result === 'invalid') return 'refuse'
  return c.flags.includes('LowOrderPublic') || c.flags.includes('ZeroSharedSecret') ? 'refuse' : 'accept'
}

/** Ed25519 has no `acceptable` case in the file: valid is accepted, invalid refused, on every verifier. */
export function ourEd25519Verdict(c: EddsaCase): 'accept' | 'refuse' {
  if (c.result === 'acceptable')
    throw new Error(`tcId ${c.tcId}: an acceptable Ed25519 case needs a decision`)
  return c.result === 'valid' ? 'accept' : 'refuse'
}
