// The volunteer page's curve code (protocol/src/secagg), bundled on its own by strict-curves.test.ts
// and run in headless Chromium: the page's WebCrypto Ed25519 and X25519 behind our strict checks.
import { naclCrypto, verifyEach, x25519All } from '../../protocol/src/secagg/crypto.ts'
import { isStrictEd25519Signature } from '../../protocol/src/secagg/ed25519-strict.ts'
import {
  type CurveSubtle,
  webCryptoVerifyEach,
  webCryptoX25519Each,
} from '../../protocol/src/secagg/webcrypto-curves.ts'

export type PageInput = {
  readonly signed: readonly { readonly pk: string; readonly msg: string; readonly sig: string }[]
  readonly agreements: readonly { readonly private: string; readonly public: string }[]
}

export type PageVerdicts = {
  readonly secureContext: boolean
  /** naclCrypto.verifyEach, as the page's participant checks its neighbours' advertisements. */
  readonly verifyEach: readonly boolean[]
  /** WebCrypto alone behind the strict checks: a fallback to tweetnacl would throw. */
  readonly webCryptoVerify: readonly boolean[]
  /** naclCrypto's x25519All, one agreement each: the shared secret's hex, or the refusal. */
  readonly x25519All: readonly string[]
  /** WebCrypto's X25519 alone: the shared secret's hex, or null for an all-zero result. */
  readonly webCryptoX25519: readonly (string | null)[]
}

const bytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16))
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
const subtle = (globalThis as unknown as { crypto: { subtle: CurveSubtle } }).crypto.subtle
const noFallback = (): never => {
  throw new Error('expected the page’s WebCrypto to answer, not the tweetnacl fallback')
}

export async function verdicts(input: PageInput): Promise<PageVerdicts> {
  const items = input.signed.map((s) => ({
    publicKey: bytes(s.pk),
    message: bytes(s.msg),
    signature: bytes(s.sig),
  }))
  const webCryptoVerify = webCryptoVerifyEach({
    subtle,
    strict: isStrictEd25519Signature,
    fallback: noFallback,
  })
  const webCryptoAgree = webCryptoX25519Each({ subtle, fallback: noFallback })
  const agreed: string[] = []
  const webCryptoAgreed: (string | null)[] = []
  for (const a of input.agreements) {
    const [secret, peer] = [bytes(a.private), bytes(a.public)]
    agreed.push(
      await x25519All(naclCrypto, secret, [peer]).then(
        ([shared]) => hex(shared as Uint8Array),
        (error: Error) => `refused: ${error.message}`,
      ),
    )
    const [shared] = await webCryptoAgree(secret, [peer])
    webCryptoAgreed.push(shared === null || shared === undefined ? null : hex(shared))
  }
  return {
    secureContext: (globalThis as unknown as { isSecureContext: boolean }).isSecureContext,
    verifyEach: await verifyEach(naclCrypto, items),
    webCryptoVerify: await webCryptoVerify(items),
    x25519All: agreed,
    webCryptoX25519: webCryptoAgreed,
  }
}
