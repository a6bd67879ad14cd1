/**
 * The curve operations of a participant's round through WebCrypto, where the platform has Ed25519
 * and X25519 (current Chromium, Firefox and Safari, and Node). Per round a participant checks the
 * signature of each of its k − 1 neighbours' advertisements and agrees two keys with each of them;
 * in V8, tweetnacl takes about 14 ms per verification and 1 ms per agreement, natively both take
 * well under 0.1 ms. Each operation is probed once on a published vector; where WebCrypto lacks it
 * or gets the vector wrong, the same answers come from tweetnacl (the `fallback`), only slower:
 * speed is what differs, not the result.
 */

/** One signature to check: Ed25519 over `message` by `publicKey`. */
export type Signed = {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

/** The subset of WebCrypto these need; protocol/src has no DOM lib. */
export type CurveSubtle = {
  importKey(
    format: 'raw' | 'pkcs8',
    keyData: Uint8Array,
    algorithm: { readonly name: 'Ed25519' | 'X25519' },
    extractable: false,
    usages: readonly ('verify' | 'deriveBits')[],
  ): Promise<unknown>
  verify(
    algorithm: { readonly name: 'Ed25519' },
    key: unknown,
    signature: Uint8Array,
    data: Uint8Array,
  ): Promise<boolean>
  deriveBits(
    algorithm: { readonly name: 'X25519'; readonly public: unknown },
    baseKey: unknown,
    length: number,
  ): Promise<ArrayBuffer>
}

const ED25519 = { name: 'Ed25519' } as const
const X25519 = { name: 'X25519' } as const

/**
 * `items` verified, in order, through WebCrypto's Ed25519 if it passes RFC 8032 §7.1 TEST 1, else
 * by `fallback`. `strict` (ed25519-strict.ts: canonical A and R, neither of small order, S < L) is
 * checked first, so a malleated or keyless signature is refused here exactly as by the other
 * verifiers: WebCrypto's own checks differ between browsers.
 */
export function webCryptoVerifyEach(options: {
  readonly subtle: CurveSubtle | undefined
  readonly strict: (publicKey: Uint8Array, signature: Uint8Array) => boolean
  readonly fallback: (signed: Signed) => boolean
}): (items: readonly Signed[]) => Promise<boolean[]> {
  const { subtle, strict, fallback } = options
  let usable: Promise<boolean> | undefined
  return async (items) => {
    usable ??= ed25519Works(subtle)
    if (subtle === undefined || !(await usable)) return items.map(fallback)
    return Promise.all(
      items.map(async ({ publicKey, message, signature }) => {
        if (!strict(publicKey, signature)) return false
        try {
          const key = await subtle.importKey('raw', publicKey, ED25519, false, ['verify'])
          return await subtle.verify(ED25519, key, signature, message)
        } catch {
          // A public key that is not a curve point: as tweetnacl and OpenSSL, no valid signature.
          return false
        }
      }),
    )
  }
}

/**
 * X25519(secretKey, p) for each p, in order, through WebCrypto if it passes RFC 7748 §6.1, else by
 * `fallback`. A shared secret of all zeros (a low-order public key) is `null`, for the caller to
 * refuse as it refuses tweetnacl's.
 */
export function webCryptoX25519Each(options: {
  readonly subtle: CurveSubtle | undefined
  readonly fallback: (secretKey: Uint8Array, publicKey: Uint8Array) => Uint8Array | null
}): (secretKey: Uint8Array, publicKeys: readonly Uint8Array[]) => Promise<(Uint8Array | null)[]> {
  const { subtle, fallback } = options
  let usable: Promise<boolean> | undefined
  return async (secretKey, publicKeys) => {
    usable ??= x25519Works(subtle)
    if (subtle === undefined || !(await usable)) return publicKeys.map((p) => fallback(secretKey, p))
    const own = await subtle.importKey('pkcs8', pkcs8(secretKey), X25519, false, ['deriveBits'])
    return Promise.all(publicKeys.map((p) => agree(subtle, own, p)))
  }
}

async function agree(subtle: CurveSubtle, own: unknown, publicKey: Uint8Array): Promise<Uint8Array | null> {
  const peer = await subtle.importKey('raw', publicKey, X25519, false, [])
  try {
    return new Uint8Array(await subtle.deriveBits({ ...X25519, public: peer }, own, 256))
  } catch {
    // WebCrypto refuses an all-zero result (a low-order public key) with an OperationError.
    return null
  }
}

/** RFC 8410 PrivateKeyInfo of a raw X25519 secret key: WebCrypto imports private keys no other way. */
function pkcs8(secretKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(PKCS8_PREFIX.length + 32)
  out.set(PKCS8_PREFIX)
  out.set(secretKey, PKCS8_PREFIX.length)
  return out
}
const PKCS8_PREFIX = hex('302e020100300506032b656e04220420')

// RFC 8032 §7.1, TEST 1: the public key and the signature of the empty message.
const TEST1_PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
const TEST1_SIGNATURE = hex(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
)
// RFC 7748 §6.1: Alice's secret key, Bob's public key, and their shared secret.
const ALICE_SECRET = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
const BOB_PUBLIC = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
const SHARED = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')

async function ed25519Works(subtle: CurveSubtle | undefined): Promise<boolean> {
  if (subtle === undefined) return false
  try {
    const key = await subtle.importKey('raw', TEST1_PUBLIC, ED25519, false, ['verify'])
    const good = await subtle.verify(ED25519, key, TEST1_SIGNATURE, new Uint8Array(0))
    const flipped = Uint8Array.from(TEST1_SIGNATURE, (b, i) => (i === 0 ? b ^ 1 : b))
    const bad = await subtle.verify(ED25519, key, flipped, new Uint8Array(0))
    return good && !bad
  } catch {
    return false
  }
}

async function x25519Works(subtle: CurveSubtle | undefined): Promise<boolean> {
  if (subtle === undefined) return false
  try {
    const own = await subtle.importKey('pkcs8', pkcs8(ALICE_SECRET), X25519, false, ['deriveBits'])
    const shared = await agree(subtle, own, BOB_PUBLIC)
    return shared !== null && shared.length === 32 && shared.every((b, i) => b === SHARED[i])
  } catch {
    return false
  }
}

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (b) => Number.parseInt(b, 16))
}
