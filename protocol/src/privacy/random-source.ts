import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'

/**
 * Uniform random 32-bit words: where privacy noise draws its randomness. A participant draws from
 * {@link cryptoRandom}; a simulation or a test passes a seeded source for reproducible runs.
 */
export type RandomSource = {
  /** A uniform integer in [0, 2^32). */
  readonly nextUint32: () => number
}

/**
 * Words fetched from the platform at a time: one getRandomValues call per 32 KiB (half its 64 KiB
 * limit). A call costs a fixed ~17 µs in Node 20 (measured), then ~1 ns a word: at 1 KiB a call the
 * calls, not the sampling, were the cost of privacy noise.
 */
const BATCH = 8192

type RandomValues = { getRandomValues: (array: Uint32Array) => Uint32Array }

/**
 * The platform's cryptographic random source (WebCrypto's getRandomValues, in Node 20 and every
 * browser). Privacy noise must never fall back to Math.random: without it this throws.
 */
export function cryptoRandom(): RandomSource {
  const crypto = (globalThis as { crypto?: Partial<RandomValues> }).crypto
  if (typeof crypto?.getRandomValues !== 'function')
    throw new ProtocolError(
      'unsupported',
      'privacy noise needs a cryptographic random source (crypto.getRandomValues), and this platform has none: refusing to add noise from a weaker one',
    )
  const fill = crypto.getRandomValues.bind(crypto) as RandomValues['getRandomValues']
  const words = new Uint32Array(BATCH)
  let next = BATCH
  return {
    nextUint32: () => {
      if (next === BATCH) {
        fill(words)
        next = 0
      }
      return words[next++] as number
    },
  }
}

/** A uniform double in [0, 1) with 53 random bits. */
export function uniform53(random: RandomSource): number {
  const high = random.nextUint32() >>> 5 // 27 bits
  const low = random.nextUint32() >>> 6 // 26 bits
  return (high * 67108864 + low) / 9007199254740992
}

/**
 * A standard normal sample (Box–Muller on two 53-bit uniforms). For DP-SGD's float noise; the
 * secure sum's noise is the exact discrete Gaussian instead (discrete-gaussian.ts).
 */
export function standardNormal(random: RandomSource): number {
  let u = 0
  while (u === 0) u = uniform53(random)
  const v = uniform53(random)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** 2^21, 2^32, 2^53: a word times n below 2^21 is an exact double; one word's range; a double's integers. */
const TWO_21 = 2097152
const TWO_32 = 4294967296
const TWO_53 = 9007199254740992

/**
 * A uniform integer in [0, n), 1 ≤ n ≤ 2^53, by rejection from whole words: never a modulo bias. No
 * float ever rounds: every product and quotient below is an integer under 2^53 or a division by 2^32.
 */
export function uniformInt(n: number, random: RandomSource): number {
  if (!(Number.isInteger(n) && n >= 1 && n <= TWO_53))
    throw new ProtocolError(
      'invalid-spec',
      `uniformInt: expected an integer n from 1 to 2^53 (uniformBigInt beyond), got ${describe(n)}`,
    )
  return uniformBelow(n, random)
}

/** {@link uniformInt} without the argument check, for the samplers' inner loops. */
export function uniformBelow(n: number, random: RandomSource): number {
  if (n <= TWO_21) {
    // Lemire's multiply-and-shift ("Fast random integer generation in an interval", 2019): ⌊w·n / 2^32⌋,
    // refusing the 2^32 mod n words whose low part would favour some values; w·n < 2^53 is exact.
    for (;;) {
      const x = random.nextUint32() * n
      const high = Math.floor(x / TWO_32)
      const low = x - high * TWO_32
      if (low >= n || low >= (TWO_32 - n) % n) return high
    }
  }
  if (n <= TWO_32) {
    // The word cut to n's bit length, drawn again while ≥ n (probability below 1/2).
    const shift = Math.clz32(n - 1)
    for (;;) {
      const x = random.nextUint32() >>> shift
      if (x < n) return x
    }
  }
  // A high word cut to the bit length of n's high part, then a low word; drawn again while ≥ n.
  const mask = 2 ** (32 - Math.clz32(Math.floor((n - 1) / TWO_32))) - 1
  for (;;) {
    const x = (random.nextUint32() & mask) * TWO_32 + random.nextUint32()
    if (x < n) return x
  }
}

/**
 * A uniform integer in [0, n) for any n ≥ 1: {@link uniformInt} up to 2^53; above, as many words as n
 * has 32-bit digits, the top one cut to n's bit length, drawn again while ≥ n (probability below 1/2).
 */
export function uniformBigInt(n: bigint, random: RandomSource): bigint {
  if (n < 1n) throw new ProtocolError('invalid-spec', `uniformBigInt: expected n ≥ 1, got ${n}`)
  if (n <= TWO_53_BIG) return BigInt(uniformBelow(Number(n), random))
  const bits = (n - 1n).toString(2).length
  const words = Math.ceil(bits / 32)
  const shift = 32 * words - bits
  for (;;) {
    let x = BigInt(random.nextUint32() >>> shift)
    for (let i = 1; i < words; i++) x = (x << 32n) | BigInt(random.nextUint32())
    if (x < n) return x
  }
}

const TWO_53_BIG = 2n ** 53n
