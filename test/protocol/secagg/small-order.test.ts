import { createHash, randomBytes } from 'node:crypto'
import { nodeCrypto } from '@fedtune/protocol/node'
import nacl from 'tweetnacl'
import { describe, expect, it } from 'vitest'
import {
  isCanonicalEd25519Point,
  isSmallOrderEd25519Point,
  isStrictEd25519Key,
  isStrictEd25519Signature,
  signatureScalarIsCanonical,
} from '../../../protocol/src/secagg/ed25519-strict.ts'
import {
  advertisementRecords,
  type CurveSubtle,
  isSmallOrderX25519,
  type NeighbourAdvertisements,
  naclCrypto,
  type SecaggCrypto,
  SecaggParticipant,
  transcript,
  verifyEach,
  webCryptoVerifyEach,
  x25519All,
} from '../../../protocol/src/secagg/index.ts'
import { setupRound } from './round.ts'

/**
 * The eight points of small order, derived here from the curve itself (not copied from libsodium's
 * blocklist): L·P for a point P whose torsion part has order 8 lands in the 8-torsion, and its
 * multiples are all of it. Every encoding of them, canonical or not, is refused as an Ed25519 key
 * and as R, and their Montgomery u (with the twist's −1) as X25519 public keys, on every backend.
 */
const p = 2n ** 255n - 19n
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const mod = (a: bigint) => ((a % p) + p) % p
function pow(b: bigint, e: bigint): bigint {
  let r = 1n
  for (let x = mod(b), k = e; k > 0n; k >>= 1n, x = (x * x) % p) if (k & 1n) r = (r * x) % p
  return r
}
const inv = (a: bigint) => pow(a, p - 2n)
const d = mod(-121665n * inv(121666n))
const sqrtM1 = pow(2n, (p - 1n) / 4n)

type Point = { x: bigint; y: bigint }
const identity: Point = { x: 0n, y: 1n }

/** Twisted Edwards addition, a = −1 (RFC 8032 §5.1.4), affine: slow and plain, fine for a test. */
function add(a: Point, b: Point): Point {
  const t = mod(d * a.x * b.x * a.y * b.y)
  return {
    x: mod((a.x * b.y + a.y * b.x) * inv(1n + t)),
    y: mod((a.y * b.y + a.x * b.x) * inv(1n - t)),
  }
}
function times(k: bigint, point: Point): Point {
  let r = identity
  for (let q = point, n = k; n > 0n; n >>= 1n, q = add(q, q)) if (n & 1n) r = add(r, q)
  return r
}
/** The point with this y and an even x (RFC 8032 §5.1.3), or undefined off the curve. */
function fromY(y: bigint): Point | undefined {
  const u = mod(y * y - 1n)
  const v = mod(d * y * y + 1n)
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (p - 5n) / 8n))
  if (mod(v * x * x) !== u) x = mod(x * sqrtM1)
  if (mod(v * x * x) !== u) return undefined
  return { x: x & 1n ? p - x : x, y }
}
function littleEndian(n: bigint): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))
}
const encode = (point: Point) => {
  const out = littleEndian(point.y)
  out[31] = (out[31] as number) | (Number(point.x & 1n) << 7)
  return out
}
const withSign = (encoding: Uint8Array, sign: 0 | 1) => {
  const out = encoding.slice()
  out[31] = ((out[31] as number) & 0x7f) | (sign << 7)
  return out
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function torsion(): Point[] {
  for (let y = 2n; ; y++) {
    const point = fromY(y)
    if (point === undefined) continue
    const t = times(L, point)
    if (times(4n, t).x !== 0n || times(4n, t).y !== 1n)
      return Array.from({ length: 8 }, (_, k) => times(BigInt(k), t))
  }
}
const eight = torsion()
const canonical = eight.map(encode)
/** Every 255-bit y that is ≥ p but reduces to a small-order y (0 and 1 only: p − 1 + p ≥ 2^255). */
const nonCanonical = [p, p + 1n].flatMap((y) =>
  [0, 1].map((sign) => withSign(littleEndian(y), sign as 0 | 1)),
)
/** Both x signs of each small-order y: for x = 0 the odd one is itself non-canonical (RFC 8032 §5.1.3 step 4). */
const allEncodings = [...canonical.flatMap((e) => [withSign(e, 0), withSign(e, 1)]), ...nonCanonical]

const subtle = globalThis.crypto.subtle as unknown as CurveSubtle
const webCryptoOnly = webCryptoVerifyEach({
  subtle,
  strict: isStrictEd25519Signature,
  fallback: () => {
    throw new Error('expected WebCrypto to answer')
  },
})

/** Each verifier's verdicts on a batch: both backends one by one and in batches, and WebCrypto alone. */
async function verdicts(items: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[]) {
  const backends: SecaggCrypto[] = [nodeCrypto, naclCrypto]
  return [
    ...backends.map((c) => items.map((s) => c.verify(s.publicKey, s.message, s.signature))),
    ...(await Promise.all(backends.map((c) => verifyEach(c, items)))),
    await webCryptoOnly(items),
  ]
}

/** The clamped secret scalar of an Ed25519 seed (RFC 8032 §5.1.5), as a number. */
function secretScalar(seed: Uint8Array): bigint {
  const h = createHash('sha512').update(seed).digest()
  h[0] = (h[0] as number) & 248
  h[31] = ((h[31] as number) & 127) | 64
  return leToBig(h.subarray(0, 32))
}
function leToBig(b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number)
  return n
}
/** h = SHA-512(R ‖ A ‖ M) mod L (RFC 8032 §5.1.7). */
function challenge(r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint {
  return leToBig(createHash('sha512').update(r).update(a).update(m).digest()) % L
}
const signature = (r: Uint8Array, s: bigint) => {
  const out = new Uint8Array(64)
  out.set(r)
  out.set(littleEndian(s), 32)
  return out
}

describe('the eight points of small order', () => {
  it('are eight distinct points, of orders 1, 2, 4 and 8, and match libsodium’s blocklist', () => {
    expect(new Set(canonical.map(hex)).size).toBe(8)
    const orders = eight.map((t) =>
      [1n, 2n, 4n, 8n].find((n) => times(n, t).x === 0n && times(n, t).y === 1n),
    )
    expect(orders.sort()).toEqual([1n, 2n, 4n, 4n, 8n, 8n, 8n, 8n])
    for (const e of allEncodings) expect(isSmallOrderEd25519Point(e), hex(e)).toBe(true)
    for (const e of nonCanonical) expect(isCanonicalEd25519Point(e), hex(e)).toBe(false)
    for (const e of canonical) expect(isCanonicalEd25519Point(e), hex(e)).toBe(true)
  })

  it('no other key is refused: random keys are strict, and every y ≥ p is non-canonical', () => {
    for (let i = 0; i < 200; i++)
      expect(isStrictEd25519Key(nodeCrypto.ed25519PublicKey(randomBytes(32)))).toBe(true)
    for (let y = p; y < 2n ** 255n; y++)
      for (const sign of [0, 1] as const) {
        const e = withSign(littleEndian(y), sign)
        expect(isCanonicalEd25519Point(e)).toBe(false)
        expect(isStrictEd25519Key(e)).toBe(false)
      }
  })

  it('as an identity key, each verifies a keyless "signature" with raw tweetnacl, and every backend refuses it', async () => {
    // R ranges over the 8-torsion, S = 0: the equation R = −h·A holds for some R with probability
    // about 1 − (7/8)^8 per message; tweetnacl alone (cofactorless, no small-order check) accepts it.
    const forged: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[] = []
    for (const [k, publicKey] of canonical.entries()) {
      for (let n = 0; forged.length <= k; n++) {
        const message = Uint8Array.of(n)
        const h = challenge
        for (const [j, r] of eight.entries()) {
          const rEncoding = canonical[j] as Uint8Array
          const a = eight[k] as Point
          const expected = times(8n - (h(rEncoding, publicKey, message) % 8n), a) // −h·A, as 8·A = 0
          if (expected.x === r.x && expected.y === r.y) {
            forged.push({ publicKey, message, signature: signature(rEncoding, 0n) })
            break
          }
        }
      }
    }
    expect(forged).toHaveLength(8)
    for (const f of forged) expect(nacl.sign.detached.verify(f.message, f.signature, f.publicKey)).toBe(true)
    for (const v of await verdicts(forged)) expect(v).toEqual(Array(8).fill(false))
  })

  it('the identity key with R = identity and S = 0 (the hello of issue 11, finding 3) is refused everywhere', async () => {
    const publicKey = canonical[0] as Uint8Array
    expect(hex(publicKey)).toBe(`01${'00'.repeat(31)}`)
    const items = [0, 1, 2].map((n) => ({
      publicKey,
      message: Uint8Array.of(n),
      signature: signature(publicKey, 0n),
    }))
    for (const i of items) expect(nacl.sign.detached.verify(i.message, i.signature, i.publicKey)).toBe(true)
    for (const v of await verdicts(items)) expect(v).toEqual([false, false, false])
  })

  it('as R under an honest key, each encoding is refused, even where the equation holds (R = identity, S = h·a)', async () => {
    const seed = new Uint8Array(randomBytes(32))
    const publicKey = nodeCrypto.ed25519PublicKey(seed)
    const a = secretScalar(seed)
    const message = Uint8Array.of(7)
    // S·B = R + h·A with R the identity: S = h·a mod L. The cofactorless equation holds.
    const valid = canonical[0] as Uint8Array
    const holds = signature(valid, (challenge(valid, publicKey, message) * a) % L)
    expect(nacl.sign.detached.verify(message, holds, publicKey)).toBe(true)
    const items = allEncodings.map((r) => ({
      publicKey,
      message,
      signature: signature(r, (challenge(r, publicKey, message) * a) % L),
    }))
    for (const v of await verdicts(items)) expect(v).toEqual(Array(items.length).fill(false))
    // ...while the same key's real signature passes everywhere
    const real = [{ publicKey, message, signature: nodeCrypto.sign(seed, message) }]
    for (const v of await verdicts(real)) expect(v).toEqual([true])
  })

  it('S ≥ L is refused and S = L − 1 is not refused by the scalar check', () => {
    const sig = (s: bigint) => signature(new Uint8Array(32), s)
    expect(signatureScalarIsCanonical(sig(L - 1n))).toBe(true)
    expect(signatureScalarIsCanonical(sig(L))).toBe(false)
    expect(signatureScalarIsCanonical(sig(2n ** 256n - 1n))).toBe(false)
  })
})

describe('X25519 public keys of small order', () => {
  // Montgomery u = (1 + y)/(1 − y) (RFC 7748 §4.1) of the 8-torsion but the identity, which has none.
  const onCurve = [...new Set(eight.filter((t) => t.y !== 1n).map((t) => mod((1n + t.y) * inv(1n - t.y))))]
  // −1 is of order 4 on the twist; u ≥ p reduces mod p (RFC 7748 §5): p and p + 1 are 0 and 1 again.
  const us = [...onCurve, p - 1n, p, p + 1n]
  const encodings = us.flatMap((u) => [0, 1].map((bit) => withSign(littleEndian(u), bit as 0 | 1)))

  it('are the u = 0, 1, the two of order 8, the twist’s −1, and p, p + 1, with bit 255 either way', () => {
    expect(onCurve).toHaveLength(4)
    expect(onCurve).toContain(0n)
    expect(onCurve).toContain(1n)
    expect(encodings).toHaveLength(14)
    for (const e of encodings) expect(isSmallOrderX25519(e), hex(e)).toBe(true)
    for (let i = 0; i < 200; i++)
      expect(isSmallOrderX25519(nodeCrypto.x25519Base(randomBytes(32)))).toBe(false)
  })

  it('give the all-zero secret, refused on every agreement path', async () => {
    const secret = new Uint8Array(randomBytes(32))
    const honest = nodeCrypto.x25519Base(new Uint8Array(randomBytes(32)))
    for (const crypto of [nodeCrypto, naclCrypto])
      for (const e of encodings) {
        expect(() => crypto.x25519(secret, e)).toThrow(/shared secret is all zero/)
        expect(() => crypto.x25519Each(secret, [honest, e])).toThrow(/shared secret is all zero/)
        // the batched paths: node:crypto's mask threads (many peers, several threads), WebCrypto
        await expect(x25519All(crypto, secret, [honest, e, ...Array(15).fill(honest)])).rejects.toThrow(
          /shared secret is all zero/,
        )
      }
  })
})

describe('a participant given a small-order key among its neighbours’ advertisements', () => {
  it('complains against its signer, signed, before agreeing any key, even when the advertisement is validly signed', async () => {
    for (const crypto of [nodeCrypto, naclCrypto])
      for (const which of ['cPublic', 'sPublic'] as const) {
        const { context, seeds, ids } = setupRound({ crypto, n: 3, dim: 4, neighbourCount: 3, threshold: 2 })
        const parties = seeds.map((identitySeed) => new SecaggParticipant({ crypto, identitySeed, context }))
        const ads = parties.map((p) => ({ id: p.id, ...p.advertise() }))
        // the third participant signs a small-order key of its own: a coordinator that relayed it
        const weak = { ...(ads[2] as (typeof ads)[number]), [which]: new Uint8Array(32) }
        weak.signature = crypto.sign(
          seeds[2] as Uint8Array,
          transcript(
            'advertise',
            context.taskId,
            context.round,
            ids[2] as string,
            weak.cPublic,
            weak.sPublic,
          ),
        )
        const relay: NeighbourAdvertisements = {
          taskId: context.taskId,
          round: context.round,
          stage: 'advertise',
          advertisements: advertisementRecords(
            [ads[0], ads[1], weak]
              .map((a) => {
                const { id, cPublic, sPublic, signature } = a as (typeof ads)[number]
                return { id, cPublic, sPublic, signature }
              })
              .sort((x, y) => (x.id < y.id ? -1 : 1)),
          ),
        }
        const answer = await (parties[0] as SecaggParticipant).shareKeys(relay)
        expect(answer).toMatchObject({ stage: 'complaint', against: ids[2], kind: 'small-order-key' })
        // it takes no further part in the round: nothing sealed, its secrets zeroed
        expect((parties[0] as SecaggParticipant).stage).toBe('done')
      }
  })
})
