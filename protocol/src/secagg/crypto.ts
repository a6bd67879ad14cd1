import nacl from 'tweetnacl'
import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { isStrictEd25519Signature } from './ed25519-strict.ts'
import { hmacSha512 } from './hkdf.ts'
import type { Mask } from './mask.ts'
import {
  type CurveSubtle,
  type Signed,
  webCryptoVerifyEach,
  webCryptoX25519Each,
} from './webcrypto-curves.ts'
import { type AesCtrSubtle, webCryptoApplyMasks, zeroBytes } from './webcrypto-masks.ts'
import { littleEndianWords } from './words.ts'

/**
 * The public-key and stream primitives SecAgg needs, behind one interface so that Node participants and
 * the coordinator use native code (`nodeCrypto` from "@fedtune/protocol/node") while the browser uses
 * {@link naclCrypto}. The two are bit-identical: a browser and a Node participant can share a round.
 * Every method checks its argument sizes and throws a ProtocolError that names the argument.
 */
export type SecaggCrypto = {
  readonly name: string
  /** n bytes from a cryptographically secure generator. */
  randomBytes(n: number): Uint8Array
  /** The X25519 public key (RFC 7748 §6.1) of a 32-byte secret key. */
  x25519Base(secretKey: Uint8Array): Uint8Array
  /** The 32-byte X25519 shared secret; ProtocolError if it is all zero (a low-order public key). */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array
  /**
   * `x25519(secretKey, p)` for each p, in order: one secret key against many peers, as a participant
   * agrees with each neighbour and the coordinator with each survivor of a dropped participant. A
   * backend may prepare the secret key once (node:crypto's import costs more than the agreement).
   */
  x25519Each(secretKey: Uint8Array, publicKeys: readonly Uint8Array[]): Uint8Array[]
  /**
   * `x25519Each`, asynchronously. Optional: a backend with a faster asynchronous agreement has it
   * (the browser's WebCrypto X25519); without it {@link x25519All} calls `x25519Each`.
   */
  x25519All?(secretKey: Uint8Array, publicKeys: readonly Uint8Array[]): Promise<Uint8Array[]>
  /** The 32-byte Ed25519 public key (RFC 8032 §5.1.5) of a 32-byte seed. */
  ed25519PublicKey(seed: Uint8Array): Uint8Array
  /** A 64-byte detached Ed25519 signature of `message` by the key with this 32-byte seed. */
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array
  /**
   * Whether `signature` is a valid Ed25519 signature of `message` under `publicKey`, strictly: a
   * canonical A and R, neither of small order, and S < L (ed25519-strict.ts), then the equation.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /**
   * `verify` on each, in order. Optional: a backend with a faster asynchronous verifier has it (the
   * browser's WebCrypto Ed25519); without it {@link verifyEach} calls `verify` in turn.
   */
  verifyEach?(items: readonly Signed[]): Promise<boolean[]>
  /** HMAC-SHA-512 (RFC 2104, RFC 4231) of `message` under `key`: what every key derivation (HKDF) runs on. */
  hmacSha512(key: Uint8Array, message: Uint8Array): Uint8Array
  /** AES-128-CTR keystream under `key` (16 bytes), counter block 0 (128-bit big-endian counter),
   *  read as little-endian uint32 words. */
  keystream(key: Uint8Array, words: number): Promise<Uint32Array>
  /**
   * acc ← acc + Σ sign · keystream(key) mod 2^32 over all `masks`, in place: exactly what applying each
   * mask in turn gives. Optional: a backend may fuse the keystream with the addition and spread the
   * vector over threads (nodeCrypto does); without it {@link applyMasks} runs the keystreams itself.
   */
  applyMasks?(acc: Uint32Array, masks: readonly Mask[]): Promise<void>
}

export type { Signed } from './webcrypto-curves.ts'

/** Whether each of `items` is a valid signature: the backend's `verifyEach` if it has one, else `verify` on each. */
export function verifyEach(crypto: SecaggCrypto, items: readonly Signed[]): Promise<boolean[]> {
  for (const [i, { publicKey, signature }] of items.entries()) {
    expectBytes(publicKey, 32, `verifyEach: items[${i}].publicKey`)
    expectBytes(signature, 64, `verifyEach: items[${i}].signature`)
  }
  if (crypto.verifyEach !== undefined) return crypto.verifyEach(items)
  return Promise.resolve(items.map((s) => crypto.verify(s.publicKey, s.message, s.signature)))
}

/** The backend's `x25519All` if it has one, else `x25519Each`: the same shared secrets, in order. */
export function x25519All(
  crypto: SecaggCrypto,
  secretKey: Uint8Array,
  publicKeys: readonly Uint8Array[],
): Promise<Uint8Array[]> {
  expectBytes(secretKey, 32, 'x25519All: secretKey')
  for (const [i, p] of publicKeys.entries()) expectBytes(p, 32, `x25519All: publicKeys[${i}]`)
  if (crypto.x25519All !== undefined) return crypto.x25519All(secretKey, publicKeys)
  return Promise.resolve(crypto.x25519Each(secretKey, publicKeys))
}

export type { Mask } from './mask.ts'

/** Throws unless every mask has a 16-byte key and a sign of 1 or −1. */
export function expectMasks(masks: readonly Mask[], what: string): void {
  for (const [i, mask] of masks.entries()) {
    expectBytes(mask.key, 16, `${what}: masks[${i}].key`)
    if (mask.sign !== 1 && mask.sign !== -1)
      throw new ProtocolError(
        'invalid-spec',
        `${what}: masks[${i}].sign: expected 1 or -1, got ${describe(mask.sign)}`,
      )
  }
}

/** Largest keystream we hand out in one call: 2^28 words = 1 GiB, far above any model we mask. */
export const MAX_KEYSTREAM_WORDS = 2 ** 28

/** Throws unless `bytes` is a Uint8Array of exactly `length` bytes; `what` names the argument. */
export function expectBytes(bytes: unknown, length: number, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length)
    throw new ProtocolError('wrong-size', `${what}: expected ${length} bytes, got ${describe(bytes)}`)
}

/** Throws unless `words` is a keystream length this module will produce. */
export function expectWords(words: unknown, what: string): asserts words is number {
  if (typeof words !== 'number' || !Number.isInteger(words) || words < 0 || words > MAX_KEYSTREAM_WORDS)
    throw new ProtocolError(
      'invalid-spec',
      `${what}: expected a word count from 0 to ${MAX_KEYSTREAM_WORDS}, got ${describe(words)}`,
    )
}

/**
 * Throws if a Diffie–Hellman output is all zero. RFC 7748 §6.1 lets implementations check this; we
 * must, because a low-order public key would otherwise give a pairwise mask key everyone can compute.
 * The OR over all bytes runs in constant time.
 */
export function rejectAllZero(shared: Uint8Array, what: string): Uint8Array {
  let acc = 0
  for (let i = 0; i < shared.length; i++) acc |= shared[i] as number
  if (acc === 0)
    throw new ProtocolError(
      'malformed',
      `${what}: the X25519 shared secret is all zero (the peer's public key is a low-order point)`,
    )
  return shared
}

function subtle(): AesCtrSubtle {
  const found = (globalThis as unknown as { crypto?: { subtle?: AesCtrSubtle } }).crypto?.subtle
  if (found === undefined)
    // Never a weaker fallback: a page that is not a secure context (https or localhost) has no SubtleCrypto.
    throw new ProtocolError(
      'invalid-spec',
      'keystream: expected WebCrypto (globalThis.crypto.subtle) for AES-CTR, but it is missing — serve the page over https or localhost',
    )
  return found
}

/**
 * AES-128-CTR over `byteLength` zero bytes from the 16-byte counter block `counter` (incremented as one
 * 128-bit big-endian integer, NIST SP 800-38A §B.1 with m = 128), through WebCrypto — one encrypt call.
 * Exposed so the NIST SP 800-38A F.5.1 vectors can test the cipher with their own counter block.
 */
export async function webCryptoAesCtr(
  key: Uint8Array,
  counter: Uint8Array,
  byteLength: number,
): Promise<Uint8Array> {
  expectBytes(key, 16, 'keystream: key')
  expectBytes(counter, 16, 'keystream: counter block')
  const s = subtle()
  const aes = await s.importKey('raw', key, 'AES-CTR', false, ['encrypt'])
  return new Uint8Array(
    await s.encrypt({ name: 'AES-CTR', counter, length: 128 }, aes, zeroBytes(byteLength)),
  )
}

const ZERO_BLOCK = new Uint8Array(16)

const curveSubtle = (globalThis as unknown as { crypto?: { subtle?: CurveSubtle } }).crypto?.subtle

/** naclCrypto's `x25519All`: WebCrypto's X25519 where the platform has it, tweetnacl otherwise. */
const agreeWithWebCrypto = webCryptoX25519Each({
  subtle: curveSubtle,
  fallback: (secretKey, publicKey) => nacl.scalarMult(secretKey, publicKey),
})

/** naclCrypto's `verifyEach`: WebCrypto's Ed25519 where the platform has it, tweetnacl otherwise. */
const verifyWithWebCrypto = webCryptoVerifyEach({
  subtle: curveSubtle,
  strict: isStrictEd25519Signature,
  fallback: ({ publicKey, message, signature }) => naclCrypto.verify(publicKey, message, signature),
})

/**
 * The browser's SecaggCrypto: tweetnacl (a direct port of the audited NaCl) for randomness, curves and
 * signatures, WebCrypto's AES-CTR for the keystream — the only part that runs over whole model-sized
 * vectors, and which every browser implements natively; masks are applied in segments
 * (webcrypto-masks.ts).
 */
export const naclCrypto: SecaggCrypto = {
  name: 'tweetnacl+webcrypto',
  randomBytes(n) {
    if (!Number.isInteger(n) || n < 0)
      throw new ProtocolError('invalid-spec', `randomBytes: expected a byte count ≥ 0, got ${describe(n)}`)
    return nacl.randomBytes(n)
  },
  x25519Base(secretKey) {
    expectBytes(secretKey, 32, 'x25519Base: secretKey')
    return nacl.scalarMult.base(secretKey)
  },
  x25519(secretKey, publicKey) {
    expectBytes(secretKey, 32, 'x25519: secretKey')
    expectBytes(publicKey, 32, 'x25519: publicKey')
    return rejectAllZero(nacl.scalarMult(secretKey, publicKey), 'x25519')
  },
  x25519Each(secretKey, publicKeys) {
    return publicKeys.map((publicKey) => naclCrypto.x25519(secretKey, publicKey))
  },
  async x25519All(secretKey, publicKeys) {
    const shared = await agreeWithWebCrypto(secretKey, publicKeys)
    return shared.map((s) => rejectAllZero(s ?? new Uint8Array(32), 'x25519'))
  },
  ed25519PublicKey(seed) {
    expectBytes(seed, 32, 'ed25519PublicKey: seed')
    return nacl.sign.keyPair.fromSeed(seed).publicKey
  },
  sign(seed, message) {
    expectBytes(seed, 32, 'sign: seed')
    return nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey)
  },
  verify(publicKey, message, signature) {
    expectBytes(publicKey, 32, 'verify: publicKey')
    expectBytes(signature, 64, 'verify: signature')
    // Strict first: tweetnacl alone accepts S ≥ L, y ≥ p and small-order keys (ed25519-strict.ts).
    return (
      isStrictEd25519Signature(publicKey, signature) &&
      nacl.sign.detached.verify(message, signature, publicKey)
    )
  },
  verifyEach(items) {
    return verifyWithWebCrypto(items)
  },
  hmacSha512(key, message) {
    return hmacSha512(key, message)
  },
  async keystream(key, words) {
    expectWords(words, 'keystream')
    return littleEndianWords(await webCryptoAesCtr(key, ZERO_BLOCK, words * 4))
  },
  async applyMasks(acc, masks) {
    expectMasks(masks, 'applyMasks')
    await webCryptoApplyMasks(subtle(), acc, masks)
  },
}
