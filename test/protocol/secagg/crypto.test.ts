import { createCipheriv, randomBytes } from 'node:crypto'
import { ProtocolError } from '@fedtune/protocol'
import { nodeAesCtr, nodeCrypto } from '@fedtune/protocol/node'
import nacl from 'tweetnacl'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  naclCrypto,
  type SecaggCrypto,
  verifyEach,
  webCryptoAesCtr,
  x25519All,
} from '../../../protocol/src/secagg/crypto.ts'
import { isStrictEd25519Signature } from '../../../protocol/src/secagg/ed25519-strict.ts'
import {
  type CurveSubtle,
  webCryptoVerifyEach,
  webCryptoX25519Each,
} from '../../../protocol/src/secagg/webcrypto-curves.ts'
import { littleEndianWords } from '../../../protocol/src/secagg/words.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'))
const random = (n: number) => new Uint8Array(randomBytes(n))
const backends: readonly SecaggCrypto[] = [naclCrypto, nodeCrypto]

// RFC 7748 §6.1.
const alice = {
  secret: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  public: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
}
const bob = {
  secret: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  public: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
}
const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'

// RFC 8032 §7.1, TEST 1 (empty message).
const test1 = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
}

// NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt): keystream = plaintext ⊕ ciphertext.
const f51 = {
  key: '2b7e151628aed2a6abf7158809cf4f3c',
  counter: 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
  plaintext:
    '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
  ciphertext:
    '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee',
}

/** Low-order points of Curve25519 (u = 0, 1, and a point of order 8): X25519 with them is all zero. */
const lowOrder = [
  '00'.repeat(32),
  `01${'00'.repeat(31)}`,
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
]

/**
 * Two good signatures, then one on another message, one by another key, one malleated (S + L), and
 * one under a public key that is not a curve point (y = 2^255 − 1 does not reduce to a point).
 */
function signedBatch(crypto: SecaggCrypto) {
  const seeds = [random(32), random(32)]
  const message = Uint8Array.of(1, 2, 3)
  type Item = { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }
  const [first, second] = seeds.map(
    (seed): Item => ({
      publicKey: crypto.ed25519PublicKey(seed),
      message,
      signature: crypto.sign(seed, message),
    }),
  ) as [Item, Item]
  const notAPoint = new Uint8Array(32).fill(0xff)
  notAPoint[31] = 0x7f
  return [
    first,
    second,
    { ...first, message: Uint8Array.of(9) },
    { ...first, publicKey: second.publicKey },
    { ...first, signature: malleate(first.signature) },
    { ...first, publicKey: notAPoint },
  ]
}

/** The signature with S replaced by S + L: the same point equation holds, so only the S < L rule rejects it. */
function malleate(signature: Uint8Array): Uint8Array {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n
  let s = 0n
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i] as number)
  s += L
  const out = signature.slice()
  for (let i = 32; i < 64; i++, s >>= 8n) out[i] = Number(s & 0xffn)
  return out
}

describe.each(backends)('$name against published vectors', (crypto) => {
  it('derives the RFC 7748 §6.1 X25519 public keys and shared secret', () => {
    expect(hex(crypto.x25519Base(fromHex(alice.secret)))).toBe(alice.public)
    expect(hex(crypto.x25519Base(fromHex(bob.secret)))).toBe(bob.public)
    expect(hex(crypto.x25519(fromHex(alice.secret), fromHex(bob.public)))).toBe(shared)
    expect(hex(crypto.x25519(fromHex(bob.secret), fromHex(alice.public)))).toBe(shared)
  })

  it('refuses a low-order public key instead of returning an all-zero shared secret', () => {
    for (const point of lowOrder) {
      expect(() => crypto.x25519(fromHex(alice.secret), fromHex(point))).toThrow(ProtocolError)
      expect(() => crypto.x25519(fromHex(alice.secret), fromHex(point))).toThrow(/all zero .*low-order point/)
      expect(() => crypto.x25519Each(fromHex(alice.secret), [fromHex(bob.public), fromHex(point)])).toThrow(
        /all zero .*low-order point/,
      )
    }
  })

  it('agrees with many peers under one secret key as with each alone', () => {
    const peers = [fromHex(bob.public), fromHex(alice.public), random(32)]
    expect(crypto.x25519Each(fromHex(alice.secret), peers).map(hex)).toEqual(
      peers.map((p) => hex(crypto.x25519(fromHex(alice.secret), p))),
    )
    expect(hex(crypto.x25519Each(fromHex(alice.secret), [fromHex(bob.public)])[0] as Uint8Array)).toBe(shared)
    expect(crypto.x25519Each(fromHex(alice.secret), [])).toEqual([])
  })

  it('computes HMAC-SHA-512 as RFC 4231 test case 2 gives it', () => {
    const mac = crypto.hmacSha512(
      new Uint8Array(Buffer.from('Jefe')),
      new Uint8Array(Buffer.from('what do ya want for nothing?')),
    )
    expect(mac).toBeInstanceOf(Uint8Array)
    expect(hex(mac)).toBe(
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    )
  })

  it('signs and verifies RFC 8032 §7.1 TEST 1', () => {
    const seed = fromHex(test1.seed)
    expect(hex(crypto.ed25519PublicKey(seed))).toBe(test1.public)
    expect(hex(crypto.sign(seed, new Uint8Array(0)))).toBe(test1.signature)
    expect(crypto.verify(fromHex(test1.public), new Uint8Array(0), fromHex(test1.signature))).toBe(true)
  })

  it('rejects a signature on another message, by another key, or tampered', () => {
    const signature = fromHex(test1.signature)
    expect(crypto.verify(fromHex(test1.public), Uint8Array.of(0), signature)).toBe(false)
    expect(crypto.verify(crypto.ed25519PublicKey(random(32)), new Uint8Array(0), signature)).toBe(false)
    const tampered = signature.slice()
    tampered[5] = (tampered[5] as number) ^ 1
    expect(crypto.verify(fromHex(test1.public), new Uint8Array(0), tampered)).toBe(false)
  })

  it('rejects a malleated signature (S + L), as RFC 8032 §5.1.7 requires', () => {
    expect(crypto.verify(fromHex(test1.public), new Uint8Array(0), malleate(fromHex(test1.signature)))).toBe(
      false,
    )
  })

  it('verifies many signatures at once with the answers of verify, one by one', async () => {
    const items = signedBatch(crypto)
    expect(await verifyEach(crypto, items)).toEqual(
      items.map((s) => crypto.verify(s.publicKey, s.message, s.signature)),
    )
    expect(await verifyEach(crypto, items)).toEqual([true, true, false, false, false, false])
  })

  it('produces the AES-128 keystream of counter block 0, as OpenSSL does with a zero IV', async () => {
    const key = fromHex(f51.key)
    const words = await crypto.keystream(key, 8)
    const expected = createCipheriv('aes-128-ctr', key, new Uint8Array(16)).update(new Uint8Array(32))
    expect(Array.from(words)).toEqual(Array.from({ length: 8 }, (_, i) => expected.readUInt32LE(4 * i)))
  })

  it('names the argument and its size when one is wrong', async () => {
    expect(() => crypto.x25519Base(new Uint8Array(31))).toThrow(
      /x25519Base: secretKey: expected 32 bytes, got a Uint8Array of 31 bytes/,
    )
    expect(() => crypto.x25519(random(32), new Uint8Array(33))).toThrow(
      /x25519: publicKey: expected 32 bytes/,
    )
    expect(() => crypto.sign(new Uint8Array(64), new Uint8Array(0))).toThrow(/sign: seed: expected 32 bytes/)
    expect(() => crypto.verify(random(32), new Uint8Array(0), new Uint8Array(63))).toThrow(
      /verify: signature: expected 64 bytes, got a Uint8Array of 63 bytes/,
    )
    await expect(crypto.keystream(new Uint8Array(32), 4)).rejects.toThrow(/keystream: key: expected 16 bytes/)
    await expect(crypto.keystream(random(16), -1)).rejects.toThrow(
      /word count from 0 to 268435456, got number -1/,
    )
    await expect(crypto.keystream(random(16), 2.5)).rejects.toThrow(/got number 2.5/)
    expect(() => crypto.randomBytes(-1)).toThrow(/byte count ≥ 0, got number -1/)
  })

  it('returns fresh random bytes of the requested length', () => {
    const a = crypto.randomBytes(32)
    expect(a).toBeInstanceOf(Uint8Array)
    expect(a.length).toBe(32)
    expect(hex(a)).not.toBe(hex(crypto.randomBytes(32)))
    expect(crypto.randomBytes(0).length).toBe(0)
  })
})

describe('many signatures through WebCrypto (naclCrypto.verifyEach)', () => {
  const options = {
    strict: isStrictEd25519Signature,
    fallback: (s: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }) =>
      naclCrypto.verify(s.publicKey, s.message, s.signature),
  }
  const expected = [true, true, false, false, false, false]
  const subtle = globalThis.crypto.subtle as unknown as CurveSubtle

  it("uses WebCrypto's Ed25519 where the platform has it, with tweetnacl's answers", async () => {
    const verified: Uint8Array[] = []
    const watched: CurveSubtle = {
      ...subtle,
      importKey: (...a) => subtle.importKey(...a),
      verify: (...a) => {
        verified.push(a[2])
        return subtle.verify(...a)
      },
      deriveBits: (...a) => subtle.deriveBits(...a),
    }
    const verify = webCryptoVerifyEach({ ...options, subtle: watched })
    const batch = signedBatch(naclCrypto)
    expect(await verify(batch)).toEqual(expected)
    // The RFC 8032 probe's two, then the batch's: the good ones among them, and never the malleated one.
    expect(verified.length).toBeGreaterThanOrEqual(2 + 4)
    for (const good of batch.slice(0, 2)) expect(verified).toContainEqual(good.signature)
    expect(verified).not.toContainEqual((batch[4] as { signature: Uint8Array }).signature)
  })

  it('falls back to tweetnacl where WebCrypto is missing or fails the RFC 8032 probe', async () => {
    const missing = webCryptoVerifyEach({ ...options, subtle: undefined })
    expect(await missing(signedBatch(naclCrypto))).toEqual(expected)
    const yesMan: CurveSubtle = {
      importKey: async () => ({}),
      verify: async () => true,
      deriveBits: async () => new ArrayBuffer(32),
    }
    const broken = webCryptoVerifyEach({ ...options, subtle: yesMan })
    expect(await broken(signedBatch(naclCrypto))).toEqual(expected)
  })
})

describe('many key agreements through WebCrypto (naclCrypto.x25519All)', () => {
  const subtle = globalThis.crypto.subtle as unknown as CurveSubtle
  const fallback = (secretKey: Uint8Array, publicKey: Uint8Array) => nacl.scalarMult(secretKey, publicKey)

  it('gives the shared secrets of x25519Each, the RFC 7748 one among them, on both backends', async () => {
    const secret = fromHex(alice.secret)
    const peers = [fromHex(bob.public), ...Array.from({ length: 5 }, () => nodeCrypto.x25519Base(random(32)))]
    const expected = nodeCrypto.x25519Each(secret, peers).map(hex)
    for (const crypto of backends) expect((await x25519All(crypto, secret, peers)).map(hex)).toEqual(expected)
    expect(expected[0]).toBe(shared)
  })

  it('refuses a low-order public key as x25519 does, on both backends', async () => {
    for (const crypto of backends)
      for (const point of lowOrder)
        await expect(
          crypto.x25519All?.(fromHex(alice.secret), [fromHex(bob.public), fromHex(point)]),
        ).rejects.toThrow(/all zero .*low-order point/)
  })

  it("uses WebCrypto's X25519 where it passes the RFC 7748 probe, tweetnacl where it is missing or fails it", async () => {
    const secret = random(32)
    const peers = Array.from({ length: 3 }, () => nodeCrypto.x25519Base(random(32)))
    const expected = peers.map((p) => hex(nacl.scalarMult(secret, p)))
    let derived = 0
    const watched: CurveSubtle = {
      ...subtle,
      importKey: (...a) => subtle.importKey(...a),
      verify: (...a) => subtle.verify(...a),
      deriveBits: (...a) => {
        derived++
        return subtle.deriveBits(...a)
      },
    }
    const native = await webCryptoX25519Each({ subtle: watched, fallback })(secret, peers)
    expect(native.map((s) => hex(s as Uint8Array))).toEqual(expected)
    expect(derived).toBe(1 + 3)
    const missing = await webCryptoX25519Each({ subtle: undefined, fallback })(secret, peers)
    expect(missing.map((s) => hex(s as Uint8Array))).toEqual(expected)
    const zeros: CurveSubtle = { ...watched, deriveBits: async () => new ArrayBuffer(32) }
    const broken = await webCryptoX25519Each({ subtle: zeros, fallback })(secret, peers)
    expect(broken.map((s) => hex(s as Uint8Array))).toEqual(expected)
  })
})

describe('AES-128-CTR against NIST SP 800-38A F.5.1', () => {
  const key = fromHex(f51.key)
  const counter = fromHex(f51.counter)
  const plaintext = fromHex(f51.plaintext)
  const ciphertext = fromHex(f51.ciphertext)
  const keystream = hex(plaintext.map((p, i) => p ^ (ciphertext[i] as number)))

  it('through WebCrypto', async () => {
    expect(hex(await webCryptoAesCtr(key, counter, 64))).toBe(keystream)
  })

  it('through node:crypto', () => {
    expect(hex(nodeAesCtr(key, counter, 64))).toBe(keystream)
  })

  it('carries the counter across all 128 bits, identically in both', async () => {
    // ff…ff wraps to 00…00; 00…00ff…ff carries into the upper 64 bits (WebCrypto length 128).
    for (const start of ['ff'.repeat(16), `${'00'.repeat(8)}${'ff'.repeat(8)}`]) {
      const c = fromHex(start)
      expect(hex(await webCryptoAesCtr(key, c, 48))).toBe(hex(nodeAesCtr(key, c, 48)))
    }
  })
})

describe('naclCrypto and nodeCrypto are bit-identical', () => {
  it('on X25519 and Ed25519 with random keys and messages', () => {
    for (let i = 0; i < 16; i++) {
      const a = random(32)
      const b = random(32)
      const aPublic = nodeCrypto.x25519Base(a)
      expect(hex(naclCrypto.x25519Base(a))).toBe(hex(aPublic))
      const bPublic = naclCrypto.x25519Base(b)
      expect(hex(nodeCrypto.x25519(b, aPublic))).toBe(hex(naclCrypto.x25519(a, bPublic)))
      // Any 32 bytes are an X25519 public key (RFC 7748 §5 masks the top bit): both must agree on them.
      const anyPoint = random(32)
      expect(hex(nodeCrypto.x25519(a, anyPoint))).toBe(hex(naclCrypto.x25519(a, anyPoint)))

      const message = random(i * 37)
      const edPublic = naclCrypto.ed25519PublicKey(a)
      expect(hex(nodeCrypto.ed25519PublicKey(a))).toBe(hex(edPublic))
      const signature = nodeCrypto.sign(a, message)
      expect(hex(naclCrypto.sign(a, message))).toBe(hex(signature))
      expect(naclCrypto.verify(edPublic, message, signature)).toBe(true)
      expect(nodeCrypto.verify(edPublic, message, signature)).toBe(true)
      // Random "public keys" (about half are not curve points) and random signatures: same verdict.
      const garbageKey = random(32)
      const garbage = random(64)
      expect(nodeCrypto.verify(garbageKey, message, garbage)).toBe(
        naclCrypto.verify(garbageKey, message, garbage),
      )
      expect(nodeCrypto.verify(garbageKey, message, signature)).toBe(
        naclCrypto.verify(garbageKey, message, signature),
      )
    }
  })

  it('on HMAC-SHA-512 with keys shorter and longer than a block', () => {
    for (const keyLength of [0, 16, 64, 128, 129, 300]) {
      const key = random(keyLength)
      const message = random(keyLength * 3 + 1)
      expect(hex(nodeCrypto.hmacSha512(key, message))).toBe(hex(naclCrypto.hmacSha512(key, message)))
    }
  })

  it('on keystreams of every length class', async () => {
    for (const words of [0, 1, 3, 4, 5, 1000, 100_003]) {
      const key = random(16)
      const [web, native] = await Promise.all([
        naclCrypto.keystream(key, words),
        nodeCrypto.keystream(key, words),
      ])
      expect(native.length).toBe(words)
      expect(
        Buffer.from(web.buffer, web.byteOffset, web.byteLength).equals(
          Buffer.from(native.buffer, native.byteOffset, native.byteLength),
        ),
      ).toBe(true)
    }
  })

  it('returns plain Uint8Arrays from node:crypto, not pooled Buffers', () => {
    for (const bytes of [
      nodeCrypto.randomBytes(8),
      nodeCrypto.x25519Base(random(32)),
      nodeCrypto.sign(random(32), random(3)),
    ]) {
      expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype)
      expect(bytes.byteOffset).toBe(0)
      expect(bytes.buffer.byteLength).toBe(bytes.length)
    }
  })

  it('differs from tweetnacl alone only in refusing malleated signatures', () => {
    // Why verify checks S < L itself: tweetnacl accepts S + L, OpenSSL does not.
    const malleated = malleate(fromHex(test1.signature))
    expect(nacl.sign.detached.verify(new Uint8Array(0), malleated, fromHex(test1.public))).toBe(true)
  })
})

describe('keystream words', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('are read little-endian, also from unaligned bytes', () => {
    const bytes = random(4 * 9 + 1)
    const unaligned = bytes.subarray(1)
    const view = new DataView(unaligned.buffer, unaligned.byteOffset, unaligned.byteLength)
    expect(Array.from(littleEndianWords(unaligned))).toEqual(
      Array.from({ length: 9 }, (_, i) => view.getUint32(4 * i, true)),
    )
    expect(littleEndianWords(Uint8Array.of(1, 2, 3, 4))[0]).toBe(0x04030201)
    expect(() => littleEndianWords(new Uint8Array(5))).toThrow(/multiple of 4 bytes, got 5/)
  })

  it('are a view of the cipher output, not a copy, on the native path', async () => {
    const words = await nodeCrypto.keystream(random(16), 1 << 16)
    expect(words.byteOffset).toBe(0)
    expect(words.buffer.byteLength).toBe(words.byteLength)
  })

  it('refuse to fall back when WebCrypto is missing (a page outside a secure context)', async () => {
    vi.stubGlobal('crypto', {})
    await expect(naclCrypto.keystream(random(16), 4)).rejects.toThrow(
      /WebCrypto .* missing .*https or localhost/,
    )
  })
})
