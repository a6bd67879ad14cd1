import { ProtocolError } from '../errors.ts'

/**
 * Uniform random 32-bit words: where privacy noise draws its randomness. A participant draws from
 * {@link cryptoRandom}; a simulation or a test passes a seeded source for reproducible runs.
 */
export type RandomSource = {
  /** A uniform integer in [0, 2^32). */
  readonly nextUint32: () => number
}

/** Words fetched from the platform at a time: one getRandomValues call per 1 KiB. */
const BATCH = 256

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
