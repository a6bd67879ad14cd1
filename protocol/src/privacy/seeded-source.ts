import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { sha256 } from '../sha256.ts'
import type { RandomSource } from './random-source.ts'

/**
 * A reproducible {@link RandomSource} for tests and simulations: the ChaCha20 keystream (RFC 8439 §2.3)
 * under a key derived from the seed, read as little-endian 32-bit words. It is plain integer
 * JavaScript, so the same seed gives the same words in Node and in every browser, and a simulated
 * federation can be rerun draw for draw.
 *
 * Not for a participant's real noise: anyone who knows or guesses the seed can subtract the noise
 * again. Participants draw from `cryptoRandom()`.
 */
export function seededSource(seed: number | Uint8Array): RandomSource {
  const state = new Uint32Array(16)
  state.set(SIGMA)
  const key = new DataView(sha256(seedMaterial(seed)).buffer)
  for (let i = 0; i < 8; i++) state[4 + i] = key.getUint32(4 * i, true)
  // Words 12–13 are a 64-bit block counter (Bernstein's original layout, not RFC 8439's 32-bit one), so
  // the stream does not repeat within 2^64 blocks; words 14–15, the nonce, stay zero: one key, one stream.
  const block = new Uint32Array(16)
  let next = 16
  return {
    nextUint32: () => {
      if (next === 16) {
        chacha20Block(state, block)
        const low = ((state[12] as number) + 1) >>> 0
        state[12] = low
        if (low === 0) state[13] = ((state[13] as number) + 1) >>> 0
        next = 0
      }
      return block[next++] as number
    },
  }
}

/** "expand 32-byte k" as four little-endian words (RFC 8439 §2.3). */
const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]

/** Domain separation, so that a seed here never gives the key some other use of SHA-256 gives it. */
const DOMAIN = Uint8Array.from('fedtune seeded-source v1\0', (c) => c.charCodeAt(0))

/** The bytes hashed into the key: the domain, then the seed (a number as its 8 little-endian bytes). */
function seedMaterial(seed: number | Uint8Array): Uint8Array {
  let bytes: Uint8Array
  if (seed instanceof Uint8Array) bytes = seed
  else if (Number.isSafeInteger(seed) && seed >= 0) {
    bytes = new Uint8Array(8)
    const view = new DataView(bytes.buffer)
    view.setUint32(0, seed >>> 0, true)
    view.setUint32(4, Math.floor(seed / 2 ** 32), true)
  } else
    throw new ProtocolError(
      'invalid-spec',
      `seededSource: expected a seed that is a non-negative safe integer or a Uint8Array, got ${describe(seed)}`,
    )
  const material = new Uint8Array(DOMAIN.length + bytes.length)
  material.set(DOMAIN)
  material.set(bytes, DOMAIN.length)
  return material
}

/**
 * The ChaCha20 block function (RFC 8439 §2.3): `out` ← 20 rounds of `input` (16 words: constants,
 * key, counter, nonce) added to `input`. Exported for the RFC's known-answer vector.
 */
export function chacha20Block(input: Uint32Array, out: Uint32Array): void {
  let x0 = input[0] as number
  let x1 = input[1] as number
  let x2 = input[2] as number
  let x3 = input[3] as number
  let x4 = input[4] as number
  let x5 = input[5] as number
  let x6 = input[6] as number
  let x7 = input[7] as number
  let x8 = input[8] as number
  let x9 = input[9] as number
  let x10 = input[10] as number
  let x11 = input[11] as number
  let x12 = input[12] as number
  let x13 = input[13] as number
  let x14 = input[14] as number
  let x15 = input[15] as number
  // Ten double rounds (§2.3): quarter rounds on the columns, then on the diagonals, unrolled.
  for (let i = 0; i < 10; i++) {
    x0 = (x0 + x4) | 0
    x12 ^= x0
    x12 = (x12 << 16) | (x12 >>> 16)
    x8 = (x8 + x12) | 0
    x4 ^= x8
    x4 = (x4 << 12) | (x4 >>> 20)
    x0 = (x0 + x4) | 0
    x12 ^= x0
    x12 = (x12 << 8) | (x12 >>> 24)
    x8 = (x8 + x12) | 0
    x4 ^= x8
    x4 = (x4 << 7) | (x4 >>> 25)

    x1 = (x1 + x5) | 0
    x13 ^= x1
    x13 = (x13 << 16) | (x13 >>> 16)
    x9 = (x9 + x13) | 0
    x5 ^= x9
    x5 = (x5 << 12) | (x5 >>> 20)
    x1 = (x1 + x5) | 0
    x13 ^= x1
    x13 = (x13 << 8) | (x13 >>> 24)
    x9 = (x9 + x13) | 0
    x5 ^= x9
    x5 = (x5 << 7) | (x5 >>> 25)

    x2 = (x2 + x6) | 0
    x14 ^= x2
    x14 = (x14 << 16) | (x14 >>> 16)
    x10 = (x10 + x14) | 0
    x6 ^= x10
    x6 = (x6 << 12) | (x6 >>> 20)
    x2 = (x2 + x6) | 0
    x14 ^= x2
    x14 = (x14 << 8) | (x14 >>> 24)
    x10 = (x10 + x14) | 0
    x6 ^= x10
    x6 = (x6 << 7) | (x6 >>> 25)

    x3 = (x3 + x7) | 0
    x15 ^= x3
    x15 = (x15 << 16) | (x15 >>> 16)
    x11 = (x11 + x15) | 0
    x7 ^= x11
    x7 = (x7 << 12) | (x7 >>> 20)
    x3 = (x3 + x7) | 0
    x15 ^= x3
    x15 = (x15 << 8) | (x15 >>> 24)
    x11 = (x11 + x15) | 0
    x7 ^= x11
    x7 = (x7 << 7) | (x7 >>> 25)

    x0 = (x0 + x5) | 0
    x15 ^= x0
    x15 = (x15 << 16) | (x15 >>> 16)
    x10 = (x10 + x15) | 0
    x5 ^= x10
    x5 = (x5 << 12) | (x5 >>> 20)
    x0 = (x0 + x5) | 0
    x15 ^= x0
    x15 = (x15 << 8) | (x15 >>> 24)
    x10 = (x10 + x15) | 0
    x5 ^= x10
    x5 = (x5 << 7) | (x5 >>> 25)

    x1 = (x1 + x6) | 0
    x12 ^= x1
    x12 = (x12 << 16) | (x12 >>> 16)
    x11 = (x11 + x12) | 0
    x6 ^= x11
    x6 = (x6 << 12) | (x6 >>> 20)
    x1 = (x1 + x6) | 0
    x12 ^= x1
    x12 = (x12 << 8) | (x12 >>> 24)
    x11 = (x11 + x12) | 0
    x6 ^= x11
    x6 = (x6 << 7) | (x6 >>> 25)

    x2 = (x2 + x7) | 0
    x13 ^= x2
    x13 = (x13 << 16) | (x13 >>> 16)
    x8 = (x8 + x13) | 0
    x7 ^= x8
    x7 = (x7 << 12) | (x7 >>> 20)
    x2 = (x2 + x7) | 0
    x13 ^= x2
    x13 = (x13 << 8) | (x13 >>> 24)
    x8 = (x8 + x13) | 0
    x7 ^= x8
    x7 = (x7 << 7) | (x7 >>> 25)

    x3 = (x3 + x4) | 0
    x14 ^= x3
    x14 = (x14 << 16) | (x14 >>> 16)
    x9 = (x9 + x14) | 0
    x4 ^= x9
    x4 = (x4 << 12) | (x4 >>> 20)
    x3 = (x3 + x4) | 0
    x14 ^= x3
    x14 = (x14 << 8) | (x14 >>> 24)
    x9 = (x9 + x14) | 0
    x4 ^= x9
    x4 = (x4 << 7) | (x4 >>> 25)
  }
  // Storing into a Uint32Array reduces each sum mod 2^32.
  out[0] = x0 + (input[0] as number)
  out[1] = x1 + (input[1] as number)
  out[2] = x2 + (input[2] as number)
  out[3] = x3 + (input[3] as number)
  out[4] = x4 + (input[4] as number)
  out[5] = x5 + (input[5] as number)
  out[6] = x6 + (input[6] as number)
  out[7] = x7 + (input[7] as number)
  out[8] = x8 + (input[8] as number)
  out[9] = x9 + (input[9] as number)
  out[10] = x10 + (input[10] as number)
  out[11] = x11 + (input[11] as number)
  out[12] = x12 + (input[12] as number)
  out[13] = x13 + (input[13] as number)
  out[14] = x14 + (input[14] as number)
  out[15] = x15 + (input[15] as number)
}
