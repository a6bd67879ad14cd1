import {
  createCipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  randomFillSync,
  sign,
  verify,
} from 'node:crypto'
import { describe } from '../src/describe.ts'
import { ProtocolError } from '../src/errors.ts'
import {
  expectBytes,
  expectMasks,
  expectWords,
  rejectAllZero,
  type SecaggCrypto,
} from '../src/secagg/crypto.ts'
import { isStrictEd25519Signature } from '../src/secagg/ed25519-strict.ts'
import { applyKeystreams } from '../src/secagg/masking.ts'
import { littleEndianWords } from '../src/secagg/words.ts'
import { maskPool } from './mask-pool.ts'

/** Unpadded base64url (RFC 4648 §5), as JWK carries key bytes; a view of the bytes, not a copy. */
function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/**
 * A private key from its raw 32 bytes. node:crypto takes raw curve keys only inside JWK (RFC 8037 §2) or
 * DER; JWK is the fast door — importing PKCS#8 DER goes through OpenSSL 3's decoder and costs ~1 ms,
 * 20× the X25519 itself. RFC 8037 makes `x` (the public key) a required member and node checks it is a
 * string, but node builds the private key from `d` alone (and derives the public key from it), so we
 * pass an empty `x` rather than compute the public key first. The RFC vectors in the tests pin this
 * down; were node ever to check `x` against `d`, the import would throw, never mis-derive.
 */
function privateKey(crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv, d: base64url(raw), x: '' }, format: 'jwk' })
}

/** A public key from its raw 32 bytes, through JWK (the fast door, as for {@link privateKey}). */
function publicKey(crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: base64url(raw) }, format: 'jwk' })
}

/** Identity keys imported and kept between calls; beyond this many the oldest are dropped. */
const MAX_CACHED_IDENTITY_KEYS = 8192
const identityKeys = new Map<string, KeyObject>()

/**
 * An Ed25519 public key, imported once: the coordinator verifies each participant's advertisement
 * under the same long-term identity key round after round, and the import costs as much as the
 * verification. (X25519 keys are fresh every round; caching them would only evict these.)
 */
function identityKey(raw: Uint8Array): KeyObject {
  const id = base64url(raw)
  const cached = identityKeys.get(id)
  if (cached !== undefined) return cached
  const key = publicKey('Ed25519', raw)
  if (identityKeys.size >= MAX_CACHED_IDENTITY_KEYS)
    identityKeys.delete(identityKeys.keys().next().value as string)
  identityKeys.set(id, key)
  return key
}

/** The raw 32-byte public key of a private key, as a plain Uint8Array. */
function rawPublic(key: KeyObject): Uint8Array {
  const { x } = createPublicKey(key).export({ format: 'jwk' })
  return plain(Buffer.from(x as string, 'base64url'))
}

/** A plain Uint8Array with the bytes of a Buffer, so results compare equal to tweetnacl's. */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer)
}

/**
 * AES-128-CTR over `byteLength` zero bytes from counter block `counter` (a 128-bit big-endian counter,
 * as OpenSSL's aes-128-ctr and WebCrypto's AES-CTR with length 128 both increment it). One update call
 * over a shared all-zero input: the only allocation is the output, which the keystream then views.
 * Exposed for the NIST SP 800-38A F.5.1 vectors.
 */
export function nodeAesCtr(key: Uint8Array, counter: Uint8Array, byteLength: number): Uint8Array {
  expectBytes(key, 16, 'keystream: key')
  expectBytes(counter, 16, 'keystream: counter block')
  const cipher = createCipheriv('aes-128-ctr', key, counter)
  const out = cipher.update(zeros(byteLength))
  // CTR is a stream mode: final() has nothing buffered to emit.
  cipher.final()
  return out
}

/** Largest all-zero input kept between calls (16 MiB, a 4M-parameter model); larger ones are transient. */
const MAX_SHARED_ZEROS = 16 * 2 ** 20
let sharedZeros = new Uint8Array(0)

/** `n` zero bytes, from a buffer that is reused (never written) so masking does not re-zero memory each round. */
function zeros(n: number): Uint8Array {
  if (n > MAX_SHARED_ZEROS) return new Uint8Array(n)
  if (sharedZeros.length < n) sharedZeros = new Uint8Array(n)
  return sharedZeros.subarray(0, n)
}

/** The X25519 shared secret of an imported private key and a raw public key, refused if all zero. */
function agree(secretKey: KeyObject, peer: Uint8Array): Uint8Array {
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey: secretKey, publicKey: publicKey('X25519', peer) })
  } catch (error) {
    // OpenSSL refuses to derive an all-zero secret (RFC 7748 §6.1); report it as tweetnacl's path does.
    if ((error as { code?: unknown }).code === 'ERR_OSSL_FAILED_DURING_DERIVATION')
      return rejectAllZero(new Uint8Array(32), 'x25519')
    throw error
  }
  return rejectAllZero(plain(shared), 'x25519')
}

/**
 * SecaggCrypto on node:crypto (OpenSSL): X25519, Ed25519 and AES-CTR natively, 20–50× faster than
 * tweetnacl — what Node participants and the coordinator (which verifies every signature) use. It is
 * bit-identical to `naclCrypto`, which the tests check on random inputs.
 */
export const nodeCrypto: SecaggCrypto = {
  name: 'node:crypto',
  randomBytes(n) {
    if (!Number.isInteger(n) || n < 0)
      throw new ProtocolError('invalid-spec', `randomBytes: expected a byte count ≥ 0, got ${describe(n)}`)
    // A fresh Uint8Array, not crypto.randomBytes's Buffer, which may be a slice of a shared pool.
    return randomFillSync(new Uint8Array(n))
  },
  x25519Base(secretKey) {
    expectBytes(secretKey, 32, 'x25519Base: secretKey')
    return rawPublic(privateKey('X25519', secretKey))
  },
  x25519(secretKey, peer) {
    expectBytes(secretKey, 32, 'x25519: secretKey')
    expectBytes(peer, 32, 'x25519: publicKey')
    return agree(privateKey('X25519', secretKey), peer)
  },
  x25519Each(secretKey, peers) {
    expectBytes(secretKey, 32, 'x25519Each: secretKey')
    for (const [i, peer] of peers.entries()) expectBytes(peer, 32, `x25519Each: publicKeys[${i}]`)
    // The private import derives the public key (a scalar multiplication, ~60 µs); once for all peers.
    const key = privateKey('X25519', secretKey)
    return peers.map((peer) => agree(key, peer))
  },
  async x25519All(secretKey, peers) {
    expectBytes(secretKey, 32, 'x25519All: secretKey')
    for (const [i, peer] of peers.entries()) expectBytes(peer, 32, `x25519All: publicKeys[${i}]`)
    const pool = maskPool()
    if (pool === null) return nodeCrypto.x25519Each(secretKey, peers)
    return (await pool.agree(secretKey, peers)).map((shared) => rejectAllZero(shared, 'x25519'))
  },
  hmacSha512(key, message) {
    return plain(createHmac('sha512', key).update(message).digest())
  },
  ed25519PublicKey(seed) {
    expectBytes(seed, 32, 'ed25519PublicKey: seed')
    return rawPublic(privateKey('Ed25519', seed))
  },
  sign(seed, message) {
    expectBytes(seed, 32, 'sign: seed')
    return plain(sign(null, message, privateKey('Ed25519', seed)))
  },
  verify(key, message, signature) {
    expectBytes(key, 32, 'verify: publicKey')
    expectBytes(signature, 64, 'verify: signature')
    // OpenSSL checks S < L but takes small-order keys and R; the same strict rule as naclCrypto's.
    return isStrictEd25519Signature(key, signature) && verify(null, message, identityKey(key), signature)
  },
  async keystream(key, words) {
    expectWords(words, 'keystream')
    return littleEndianWords(nodeAesCtr(key, new Uint8Array(16), words * 4))
  },
  async applyMasks(acc, masks) {
    const pool = maskPool()
    // No WebAssembly SIMD or a big-endian host: the same words, keystream by keystream.
    if (pool === null) return applyKeystreams(nodeCrypto, acc, masks)
    expectMasks(masks, 'applyMasks')
    return pool.apply(acc, masks)
  },
}
